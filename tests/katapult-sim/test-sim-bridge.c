/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim as a USB-to-CAN bridge: what it publishes (the bus socket,
 * sysfs, usbfs), its whole cycle through Katapult over USB and back, the
 * nodes on its bus, and its faults; and sysfs for a plain USB board.
 */
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "can-client.h"
#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"

#define SERIAL_A "140028000951313339373836"
#define UUID_A "c1980e2023a1"

struct bed {
	char *dir, *can, *sys;
	char *usbdir;  /* sys/bus/usb/devices/1-1.2 */
	char *netdir;  /* its 1-1.2:1.0/net/can0 */
	char *netlink; /* sys/class/net/can0 */
	char uuid[13]; /* the bridge's, from its serial */
	struct sim *s;
};

static void
bed_init(struct bed *b)
{
	memset(b, 0, sizeof(*b));
	b->dir = kf_test_mkdtemp();
	b->can = strf("%s/can", b->dir);
	b->sys = strf("%s/sys", b->dir);
	b->usbdir = strf("%s/bus/usb/devices/1-1.2", b->sys);
	b->netdir = strf("%s/1-1.2:1.0/net/can0", b->usbdir);
	b->netlink = strf("%s/class/net/can0", b->sys);
	test_uuid_hex(SERIAL, b->uuid);
}

static void
bed_start(struct bed *b, const char *const *extra)
{
	const char *argv[24] = { "--mode", "bridge", "--can-dir", b->can, "--sys-dir", b->sys };
	size_t n = 6;

	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	b->s = sim_start_v(argv);
}

#define bed_run(b, ...) bed_start(b, (const char *const[]){ __VA_ARGS__, NULL })

static void
bed_free(struct bed *b)
{
	kf_test_rmtree(b->dir);
	free(b->dir);
	free(b->can);
	free(b->sys);
	free(b->usbdir);
	free(b->netdir);
	free(b->netlink);
}

/* A sysfs attribute without its newline. */
static char *
attr(const char *dir, const char *name)
{
	char *path = strf("%s/%s", dir, name);
	char *text = kf_test_read_file(path);
	size_t n;

	ck_assert_msg(text != NULL, "no %s", path);
	n = strlen(text);
	ck_assert_msg(n && text[n - 1] == '\n', "%s has no newline", path);
	text[n - 1] = '\0';
	free(path);
	return text;
}

static void
assert_attr(const char *dir, const char *name, const char *want)
{
	char *got = attr(dir, name);

	ck_assert_msg(strcmp(got, want) == 0, "%s/%s is '%s', not '%s'", dir, name, got, want);
	free(got);
}

/* The sysfs USB device: ids, strings and its device number. */
static void
assert_usb_device(const char *dir,
		  const char *vid,
		  const char *pid,
		  const char *mfr,
		  const char *product,
		  unsigned devnum)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", devnum);
	assert_attr(dir, "idVendor", vid);
	assert_attr(dir, "idProduct", pid);
	assert_attr(dir, "manufacturer", mfr);
	assert_attr(dir, "product", product);
	assert_attr(dir, "serial", SERIAL);
	assert_attr(dir, "busnum", "1");
	assert_attr(dir, "devnum", num);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The bridge as Klipper runs it: the socket, sysfs with the net interface. */
static void
assert_bridge(struct bed *b, unsigned devnum)
{
	char *usbfs = sim_usbfs(b->s, devnum);
	char *target = link_target(b->netlink);
	char real_link[PATH_MAX], real_dir[PATH_MAX];
	struct stat st;

	ck_assert_int_eq(stat(b->s->path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	assert_usb_device(b->usbdir, "1d50", "606f", "Klipper", MCU, devnum);
	assert_attr(b->usbdir, "bDeviceClass", "00");
	ck_assert(is_dir(b->netdir));
	ck_assert_msg(target &&
			      strcmp(target, "../../bus/usb/devices/1-1.2/1-1.2:1.0/net/can0") == 0,
		      "class/net/can0 points to %s", target);
	ck_assert(realpath(b->netlink, real_link) != NULL);
	ck_assert(realpath(b->netdir, real_dir) != NULL);
	ck_assert_str_eq(real_link, real_dir);
	assert_usbfs(usbfs, 0x1d50, 0x606f);
	free(target);
	free(usbfs);
}

static int nondir_count;

static int
count_nondir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_D && type != FTW_DP) {
		fprintf(stderr, "left behind: %s\n", path);
		nondir_count++;
	}
	return 0;
}

/* Nothing but directories under @dir. */
static void
assert_nothing_left(const char *dir)
{
	nondir_count = 0;
	ck_assert_int_eq(nftw(dir, count_nondir, 8, FTW_PHYS), 0);
	ck_assert_int_eq(nondir_count, 0);
}

/* What the bridge publishes, and a clean exit. */
START_TEST(test_bridge_publishes)
{
	struct bed b;
	char *sock, *q, *want, *byid;
	int fd;

	bed_init(&b);
	bed_run(&b, NULL);
	sock = strf("%s/can0", b.can);
	ck_assert_str_eq(b.s->path, sock);
	assert_log(b.s, "start bridge %s", sock);
	assert_log(b.s, "bus listen %s", sock);
	assert_log(b.s, "enumerate bridge %s", sock);
	assert_log(b.s, "enumerate can-klipper can0 %s", b.uuid);
	assert_bridge(&b, 2);
	/* no tty at all */
	byid = strf("%s/serial", b.s->dev);
	ck_assert(!exists(byid));
	free(byid);
	/* its own node answers on its bus */
	fd = can_open(sock);
	q = query_nodes(fd);
	want = strf("%s:01", b.uuid);
	ck_assert_str_eq(q, want);
	free(q);
	free(want);
	assert_log(b.s, "can tx admin NEED_NODEID %s klipper", b.uuid);

	ck_assert_int_eq(sim_stop_with(b.s, SIGTERM), 0);
	can_expect_closed(fd);
	close(fd);
	ck_assert(!exists(sock));
	ck_assert(!exists(b.netlink));
	ck_assert(!exists(b.usbdir));
	assert_nothing_left(b.sys);
	assert_nothing_left(b.s->dev);
	sim_free(b.s);
	free(sock);
	bed_free(&b);
}
END_TEST

/*
 * Bridge -> REQUEST_BOOTLOADER -> Katapult over USB -> flashed -> bridge
 * again, with a node on its bus that loses it and finds it again.
 */
START_TEST(test_bridge_cycle)
{
	struct bed b;
	struct sim *node;
	char *katapult, *bypath, *q, *want;
	uint8_t *data = make_image(3000, 41);
	size_t len;
	uint8_t *padded = pad_image(data, 3000, &len);
	struct connect_info ci;
	struct frame f;
	int fd, port;

	bed_init(&b);
	/* Klipper owns the bridge's node: it does not answer a query */
	bed_run(&b, "--can-node-id", "4");
	assert_log(b.s, "can nodeid 4");
	node = sim_add("--mode", "can", "--can-dir", b.can, "--serial", SERIAL_A);
	katapult = sim_link(b.s, "katapult");
	bypath = sim_bypath(b.s);
	fd = can_open(b.s->path);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":01");
	free(q);

	/* honoured with a node id assigned: the bus goes with the bridge */
	admin_request_bootloader(fd, b.uuid);
	assert_log(b.s, "request-bootloader");
	can_expect_closed(fd);
	close(fd);
	assert_log(node, "can bus gone");
	assert_log(b.s, "remove %s", b.s->path);
	assert_log(b.s, "remove %s", b.netlink);
	assert_log(b.s, "remove %s", b.usbdir);
	assert_log(b.s, "enumerate katapult %s", katapult);
	ck_assert(!exists(b.s->path));
	ck_assert(!exists(b.netlink));
	/* the same USB port, now Katapult */
	assert_usb_device(b.usbdir, "1d50", "6177", "katapult", MCU, 3);
	assert_attr(b.usbdir, "bDeviceClass", "02");
	ck_assert(!exists(b.netdir));
	{
		char *old = sim_usbfs(b.s, 2), *now = sim_usbfs(b.s, 3);

		ck_assert(!exists(old));
		assert_usbfs(now, 0x1d50, 0x6177);
		free(old);
		free(now);
	}
	free(assert_pty_link(katapult));
	free(assert_pty_link(bypath));
	ck_assert_int_eq(sim_log_count(node, "request-bootloader"), 0);

	/* flashed over serial like any USB board */
	port = port_open(katapult);
	client_connect(port, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	transact(port, GET_CANBUS_ID, NULL, 0, &f);
	expect_type(&f, ERROR); /* a USB build has no CAN id */
	flash_image(port, padded, len, ci.start);
	ck_assert_uint_eq(send_eof(port), 1);
	verify_image(port, padded, len, ci.start);
	send_complete(port);
	close(port);
	assert_log(b.s, "complete");
	assert_log(b.s, "remove %s", katapult);
	{
		char *line = strf("enumerate bridge %s", b.s->path);

		assert_log_count(b.s, 2, line);
		free(line);
	}
	assert_log(b.s, "boot klipper");
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	assert_bridge(&b, 4);
	{
		struct stat st;
		char *image = kf_test_read_file(b.s->image);

		ck_assert_int_eq(stat(b.s->image, &st), 0);
		ck_assert_uint_eq((size_t)st.st_size, len);
		ck_assert(memcmp(image, padded, len) == 0);
		free(image);
	}

	/* the node is back on the bus, and the bridge's node has no id now */
	assert_log(node, "can bus back");
	fd = can_open(b.s->path);
	q = query_nodes(fd);
	want = strf("%s:01 %s:01", b.uuid, UUID_A);
	if (strcmp(b.uuid, UUID_A) > 0) {
		free(want);
		want = strf("%s:01 %s:01", UUID_A, b.uuid);
	}
	ck_assert_str_eq(q, want);
	free(q);
	free(want);
	close(fd);
	sim_stop(node);
	sim_stop(b.s);
	free(katapult);
	free(bypath);
	free(data);
	free(padded);
	bed_free(&b);
}
END_TEST

/* dfu: the bridge comes back as STM32 ROM DFU, and stays. */
START_TEST(test_bridge_dfu)
{
	struct bed b;
	char *node3;
	int fd;

	bed_init(&b);
	bed_run(&b, "--fault", "dfu");
	node3 = sim_usbfs(b.s, 3);
	fd = can_open(b.s->path);
	admin_request_bootloader(fd, b.uuid);
	can_expect_closed(fd);
	close(fd);
	assert_log(b.s, "enumerate dfu %s", node3);
	assert_usbfs(node3, 0x0483, 0xdf11);
	assert_usb_device(b.usbdir, "0483", "df11", "STMicroelectronics", "STM32  BOOTLOADER", 3);
	ck_assert(!exists(b.s->path));
	ck_assert(!exists(b.netlink));
	sleep_ms(100);
	ck_assert_int_eq(sim_log_count(b.s, "enumerate"), 3);
	ck_assert_int_eq(sim_stop_with(b.s, SIGTERM), 0);
	ck_assert(!exists(node3));
	assert_nothing_left(b.sys);
	sim_free(b.s);
	free(node3);
	bed_free(&b);
}
END_TEST

/* no-return: after COMPLETE the bridge never comes back; Katapult faults work. */
START_TEST(test_bridge_no_return)
{
	struct bed b;
	char *katapult;
	struct frame f;
	int fd, port;

	bed_init(&b);
	bed_run(&b, "--fault", "no-return", "--fault", "busy:CONNECT#1");
	katapult = sim_link(b.s, "katapult");
	fd = can_open(b.s->path);
	admin_request_bootloader(fd, b.uuid);
	can_expect_closed(fd);
	close(fd);
	assert_log(b.s, "enumerate katapult %s", katapult);
	port = port_open(katapult);
	transact(port, CONNECT, NULL, 0, &f);
	expect_type(&f, BUSY);
	assert_log(b.s, "fault busy CONNECT#1");
	send_complete(port);
	close(port);
	assert_log(b.s, "fault no-return COMPLETE#1");
	assert_log(b.s, "complete");
	assert_log(b.s, "remove %s", katapult);
	sleep_ms(100);
	ck_assert(!exists(b.s->path));
	ck_assert(!exists(b.usbdir));
	ck_assert(!exists(b.netlink));
	ck_assert_int_eq(sim_log_count(b.s, "boot klipper"), 0);
	ck_assert_int_eq(sim_log_count(b.s, "enumerate bridge"), 1);
	free(katapult);
	sim_stop(b.s);
	bed_free(&b);
}
END_TEST

/* --sys-dir on a plain USB board: Klipper, Katapult, Klipper at one port. */
START_TEST(test_usb_sysfs)
{
	char *dir = kf_test_mkdtemp(), *sys = strf("%s/sys", dir);
	char *usbdir = strf("%s/bus/usb/devices/1-1.4", sys);
	struct sim *s = sim_start("--mode", "usb", "--sys-dir", sys, "--usb-port", "1.4");
	int fd;

	assert_usb_device(usbdir, "1d50", "614e", "Klipper", MCU, 2);
	assert_attr(usbdir, "bDeviceClass", "02");
	assert_attr(usbdir, "bcdDevice", "0100");
	fd = enter_katapult(s);
	assert_usb_device(usbdir, "1d50", "6177", "katapult", MCU, 3);
	send_complete(fd);
	close(fd);
	assert_log(s, "boot klipper");
	assert_usb_device(usbdir, "1d50", "614e", "Klipper", MCU, 4);
	{
		char *class = strf("%s/class", sys);

		ck_assert(!exists(class)); /* no network interface */
		free(class);
	}
	sim_stop(s);
	assert_nothing_left(sys);
	kf_test_rmtree(dir);
	free(dir);
	free(sys);
	free(usbdir);
}
END_TEST

KF_TEST_SUITE(sim_bridge)
{
	kf_test_add(test_bridge_publishes);
	kf_test_add_timeout(test_bridge_cycle, 60);
	kf_test_add(test_bridge_dfu);
	kf_test_add(test_bridge_no_return);
	kf_test_add(test_usb_sysfs);
}
