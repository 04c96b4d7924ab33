/* SPDX-License-Identifier: MIT */
/* Discovery's path backend and board matching, in a temporary device dir. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "discovery/discovery-private.h"
#include "kf-test.h"
#include "libkflash-private.h"

#define OCTOPUS_SERIAL "1A2B3C4D5E6F708192A3B4C5"
#define OCTOPUS_KLIPPER "usb-Klipper_stm32f446xx_" OCTOPUS_SERIAL "-if00"
#define OCTOPUS_KATAPULT "usb-katapult_stm32f446xx_" OCTOPUS_SERIAL "-if00"

static char *dir;
static char dev[4200];
static struct kflash_context *ctx;

static void
setup(void)
{
	char cmd[13000];

	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(dev, sizeof(dev), "%s/dev", dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/serial/by-id' '%s/serial/by-path' '%s/bus/usb/001'", dev, dev, dev);
	ck_assert_int_eq(system(cmd), 0);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static const char *
in_dev(const char *rel)
{
	static char path[2][4400];
	static int slot;

	slot ^= 1;
	snprintf(path[slot], sizeof(path[slot]), "%s/%s", dev, rel);
	return path[slot];
}

/* A link under the device dir to a character device (or to @target). */
static void
link_to(const char *rel, const char *target)
{
	ck_assert_int_eq(symlink(target, in_dev(rel)), 0);
}

/* A usbfs node holding a USB device descriptor. */
static void
usbfs(const char *name, unsigned int vid, unsigned int pid)
{
	unsigned char d[18] = { 18, 1, 0x00, 0x02 };
	char rel[64];
	int fd;

	d[8] = vid & 0xff;
	d[9] = vid >> 8;
	d[10] = pid & 0xff;
	d[11] = pid >> 8;
	snprintf(rel, sizeof(rel), "bus/usb/001/%s", name);
	fd = open(in_dev(rel), O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, d, sizeof(d)), (ssize_t)sizeof(d));
	close(fd);
}

static struct kflash_discovery *
scan(size_t expect)
{
	struct kflash_discovery *d = NULL;

	ck_assert_msg(kflash_discovery_scan(ctx, &d) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_discovery_get_device_count(d), expect);
	return d;
}

static struct kflash_board *
board(const char *name, const char *serial_path)
{
	struct kflash_board *b;

	ck_assert_int_eq(kflash_board_new(ctx, name, &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, "stm32f446xx"), 0);
	if (serial_path)
		ck_assert_int_eq(kflash_board_set_serial_path(b, serial_path), 0);
	return b;
}

START_TEST(discovery_mode_names)
{
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_KLIPPER), "klipper");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_KATAPULT), "katapult");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_DFU), "dfu");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_RP2_BOOT), "rp2-boot");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_CAN_BRIDGE), "can-bridge");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_SERIAL_ADAPTER), "serial-adapter");
	ck_assert_str_eq(kflash_device_mode_name(KFLASH_MODE_UNKNOWN), "unknown");
	ck_assert_str_eq(kflash_device_mode_name((enum kflash_device_mode)99), "unknown");
}
END_TEST

START_TEST(discovery_usb_port_from_by_path)
{
	static const struct {
		const char *name, *port;
	} cases[] = {
		{ "platform-sim-usb-0:1.2:1.0", "1.2" },
		{ "pci-0000:00:14.0-usb-0:3:1.0", "3" },
		{ "platform-xhci-hcd.0-usb-0:1.4.2:1.0-port0", "1.4.2" },
		{ "platform-fe201000.serial", NULL },
		{ "pci-usb-0:x:1.0", NULL },
		{ "pci-usb-0::1.0", NULL },
		{ "pci-usb-0:1", NULL },
	};

	for (size_t i = 0; i < KF_ARRAY_SIZE(cases); i++) {
		char *port = kf_usb_port_from_by_path(cases[i].name);

		if (cases[i].port)
			ck_assert_msg(port && strcmp(port, cases[i].port) == 0, "%s: %s",
				      cases[i].name, port ? port : "NULL");
		else
			ck_assert_msg(!port, "%s: %s", cases[i].name, port);
		free(port);
	}
}
END_TEST

START_TEST(discovery_empty_or_missing_dev_dir)
{
	struct kflash_discovery *d;

	setup();
	d = scan(0);
	ck_assert_ptr_null(kflash_discovery_get_device(d, 0));
	kflash_discovery_unref(d);
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, "/nonexistent/kflash-dev"), 0);
	d = scan(0);
	kflash_discovery_unref(d);
	kf_assert_error(ctx, kflash_discovery_scan(ctx, NULL), KFLASH_ERR_INVALID, "no place");
	ck_assert_ptr_null(kflash_discovery_unref(NULL));
	ck_assert_ptr_null(kflash_device_unref(NULL));
	teardown();
}
END_TEST

START_TEST(discovery_path_backend_finds_every_kind)
{
	struct kflash_discovery *d;
	const struct kflash_device *klipper = NULL, *adapter = NULL, *dfu = NULL, *boot = NULL,
				   *bridge = NULL, *uart = NULL;

	setup();
	/* A Klipper board with its by-path link: one device, two links. */
	link_to("serial/by-id/" OCTOPUS_KLIPPER, "/dev/null");
	link_to("serial/by-path/platform-sim-usb-0:1.2:1.0", "/dev/null");
	/* An adapter on another node. */
	link_to("serial/by-id/usb-1a86_USB_Serial-if00-port0", "/dev/zero");
	/* A board that is gone: a dangling link is absent. */
	link_to("serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00", "/nonexistent/ttyACM9");
	/* A Pi UART and its serial0 link: one device. */
	link_to("ttyAMA0", "/dev/full");
	link_to("serial0", "ttyAMA0");
	/* ROM bootloaders, a bridge, and a Klipper board's own usbfs node. */
	usbfs("004", 0x0483, 0xdf11);
	usbfs("005", 0x2e8a, 0x0003);
	usbfs("006", 0x1d50, 0x606f);
	usbfs("002", 0x1d50, 0x614e);
	kf_test_write_file(in_dev("bus/usb/001/007"), "short");

	d = scan(6);
	for (size_t i = 0; i < 6; i++) {
		const struct kflash_device *x = kflash_discovery_get_device(d, i);

		switch (kflash_device_get_mode(x)) {
		case KFLASH_MODE_KLIPPER:
			klipper = x;
			break;
		case KFLASH_MODE_SERIAL_ADAPTER:
			adapter = x;
			break;
		case KFLASH_MODE_DFU:
			dfu = x;
			break;
		case KFLASH_MODE_RP2_BOOT:
			boot = x;
			break;
		case KFLASH_MODE_CAN_BRIDGE:
			bridge = x;
			break;
		case KFLASH_MODE_UNKNOWN:
			uart = x;
			break;
		default:
			ck_abort_msg("unexpected mode");
		}
	}
	ck_assert_str_eq(kflash_device_get_path(klipper), in_dev("serial/by-id/" OCTOPUS_KLIPPER));
	ck_assert_str_eq(kflash_device_get_by_path(klipper),
			 in_dev("serial/by-path/platform-sim-usb-0:1.2:1.0"));
	ck_assert_str_eq(kflash_device_get_devnode(klipper), "/dev/null");
	ck_assert_str_eq(kflash_device_get_mcu(klipper), "stm32f446xx");
	ck_assert_str_eq(kflash_device_get_serial_number(klipper), OCTOPUS_SERIAL);
	ck_assert_str_eq(kflash_device_get_usb_port(klipper), "1.2");

	ck_assert_ptr_null(kflash_device_get_mcu(adapter));
	ck_assert_ptr_null(kflash_device_get_serial_number(adapter));

	ck_assert_str_eq(kflash_device_get_path(dfu), in_dev("bus/usb/001/004"));
	ck_assert_uint_eq(kflash_device_get_vid(dfu), 0x0483);
	ck_assert_uint_eq(kflash_device_get_pid(dfu), 0xdf11);
	ck_assert_ptr_null(kflash_device_get_by_id(dfu));
	ck_assert_str_eq(kflash_device_get_mcu(boot), "rp2040");
	ck_assert_uint_eq(kflash_device_get_pid(bridge), 0x606f);
	ck_assert_ptr_null(kflash_device_get_net_interface(bridge));
	/* Known by its name in the device dir; serial0 sorts first. */
	ck_assert_str_eq(kflash_device_get_devnode(uart), in_dev("serial0"));
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

#define BRIDGE_SERIAL "140028000951313339373836"
#define BRIDGE_UUID "c1980e2023a1" /* fasthash64 of the chip id, from the reference */

/* A USB device in sysfs under the sys dir, as a host without udev sees it. */
static void
sysfs_usb(const char *name,
	  const char *vid,
	  const char *pid,
	  const char *serial,
	  unsigned int devnum,
	  const char *net)
{
	char cmd[13000];

	snprintf(cmd, sizeof(cmd),
		 "d='%s/sys/bus/usb/devices/%s' && mkdir -p \"$d\" && cd \"$d\" && "
		 "echo %s > idVendor && echo %s > idProduct && echo Klipper > manufacturer && "
		 "echo stm32h723xx > product && echo %s > serial && echo 1 > busnum && "
		 "echo %u > devnum",
		 dir, name, vid, pid, serial, devnum);
	ck_assert_int_eq(system(cmd), 0);
	if (net) {
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/sys/bus/usb/devices/%s/%s:1.0/net/%s'",
			 dir, name, name, net);
		ck_assert_int_eq(system(cmd), 0);
	}
}

START_TEST(discovery_path_backend_reads_sysfs_for_a_bridge)
{
	struct kflash_discovery *d;
	const struct kflash_device *bridge = NULL, *dfu = NULL;
	char cmd[9000];

	setup();
	usbfs("006", 0x1d50, 0x606f);
	usbfs("007", 0x0483, 0xdf11);
	sysfs_usb("1-1.4", "1d50", "606f", BRIDGE_SERIAL, 6, "can0");
	/* A sysfs device naming node 007 with other ids describes nothing. */
	sysfs_usb("1-1.5", "1d50", "614e", "4E0031000B50415833323520", 7, NULL);
	/* What is no device: a root hub, an interface, one without numbers. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/sys/bus/usb/devices' && mkdir usb1 1-1.4:1.1 1-1.6 && "
		 "echo 1 > usb1/busnum && echo 6 > usb1/devnum && echo 1d50 > 1-1.6/idVendor",
		 dir);
	ck_assert_int_eq(system(cmd), 0);

	d = scan(2);
	for (size_t i = 0; i < 2; i++) {
		const struct kflash_device *x = kflash_discovery_get_device(d, i);

		if (kflash_device_get_mode(x) == KFLASH_MODE_CAN_BRIDGE)
			bridge = x;
		else
			dfu = x;
	}
	ck_assert_ptr_nonnull(bridge);
	ck_assert_str_eq(kflash_device_get_serial_number(bridge), BRIDGE_SERIAL);
	ck_assert_str_eq(kflash_device_get_manufacturer(bridge), "Klipper");
	ck_assert_str_eq(kflash_device_get_mcu(bridge), "stm32h723xx");
	ck_assert_str_eq(kflash_device_get_usb_port(bridge), "1.4");
	ck_assert_str_eq(kflash_device_get_net_interface(bridge), "can0");
	ck_assert_str_eq(kflash_device_get_can_uuid(bridge), BRIDGE_UUID);
	ck_assert_int_eq(kflash_device_get_mode(dfu), KFLASH_MODE_DFU);
	ck_assert_ptr_null(kflash_device_get_serial_number(dfu));
	ck_assert_ptr_null(kflash_device_get_can_uuid(dfu));
	ck_assert_ptr_null(kflash_device_get_usb_port(dfu));
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

/* Registered by its UUID alone (as printer.cfg names it), a bridge is still found. */
START_TEST(discovery_finds_a_bridge_by_its_can_uuid)
{
	struct kflash_discovery *d;
	struct kflash_device *found = NULL;
	struct kflash_board *b, *node;

	setup();
	usbfs("006", 0x1d50, 0x606f);
	sysfs_usb("1-1.4", "1d50", "606f", BRIDGE_SERIAL, 6, "can0");
	ck_assert_int_eq(kflash_board_new(ctx, "mainboard", &b), 0);
	ck_assert_int_eq(kflash_board_set_can_uuid(b, "C1980E2023A1"), 0);
	ck_assert_int_eq(kflash_board_get_link(b), KFLASH_LINK_CAN);
	ck_assert_int_eq(kflash_board_new(ctx, "ebb", &node), 0);
	ck_assert_int_eq(kflash_board_set_can_uuid(node, "aabbccddeeff"), 0);

	d = scan(1);
	ck_assert_int_eq(kflash_discovery_find_board(d, b, &found), 0);
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_CAN_BRIDGE);
	found = kflash_device_unref(found);
	/* A CAN node that is no bridge is found on its bus, not here. */
	ck_assert_int_eq(kflash_discovery_find_board(d, node, &found), KFLASH_ERR_NOT_SUPPORTED);
	ck_assert_ptr_null(found);
	kflash_discovery_unref(d);

	/* The same board in Katapult: a tty whose serial number gives the UUID. */
	ck_assert_int_eq(unlink(in_dev("bus/usb/001/006")), 0);
	link_to("serial/by-id/usb-katapult_stm32h723xx_" BRIDGE_SERIAL "-if00", "/dev/null");
	d = scan(1);
	ck_assert_int_eq(kflash_discovery_find_board(d, b, &found), 0);
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_KATAPULT);
	ck_assert_ptr_null(kflash_device_get_can_uuid(found));
	kflash_device_unref(found);
	kflash_discovery_unref(d);
	kflash_board_unref(node);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(discovery_matches_a_board_in_any_mode)
{
	struct kflash_discovery *d;
	struct kflash_device *found;
	struct kflash_board *b;

	setup();
	/* Registered from its Klipper name, present only in Katapult. */
	b = board("octopus", "/dev/serial/by-id/" OCTOPUS_KLIPPER);
	link_to("serial/by-id/" OCTOPUS_KATAPULT, "/dev/null");
	d = scan(1);
	ck_assert_int_eq(kflash_discovery_find_board(d, b, &found), 0);
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_KATAPULT);
	ck_assert_str_eq(kflash_device_get_path(found), in_dev("serial/by-id/" OCTOPUS_KATAPULT));
	kflash_device_unref(found);
	kflash_discovery_unref(d);

	/* Serial numbers match case-insensitively. */
	ck_assert_int_eq(kflash_board_set_usb_serial(b, "1a2b3c4d5e6f708192a3b4c5"), 0);
	ck_assert_int_eq(kflash_discovery_locate(ctx, b, &found), 0);
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_KATAPULT);
	/* The device outlives the scan. */
	ck_assert_str_eq(kflash_device_get_mcu(found), "stm32f446xx");
	kflash_device_unref(found);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(discovery_missing_board_says_what_was_looked_for)
{
	struct kflash_device *found = (struct kflash_device *)1;
	struct kflash_board *b;

	setup();
	link_to("serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00", "/dev/null");
	b = board("octopus", "/dev/serial/by-id/" OCTOPUS_KLIPPER);
	kf_assert_error(
		ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_NOT_FOUND,
		"board octopus is not connected: no device with USB serial number " OCTOPUS_SERIAL);
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), dev));
	ck_assert_ptr_null(found);
	kflash_board_unref(b);

	/* Without a serial number: by path, dangling or missing. */
	link_to("ttyAMA1", "/nonexistent/ttyAMA1");
	b = board("uart", in_dev("ttyAMA1"));
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_NOT_FOUND,
			"is a link to nothing");
	kflash_board_unref(b);
	b = board("uart", in_dev("ttyAMA5"));
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_NOT_FOUND,
			"ttyAMA5 does not exist");
	kflash_board_unref(b);
	kf_test_write_file(in_dev("ttyAMA6"), "a file");
	b = board("uart", in_dev("ttyAMA6"));
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_NOT_FOUND,
			"is not a serial device");
	kflash_board_unref(b);

	b = board("nothing", NULL);
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_INVALID,
			"neither a USB serial number nor a serial path");
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, NULL), KFLASH_ERR_INVALID, "no place");
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(discovery_two_devices_for_one_board_is_ambiguous)
{
	struct kflash_device *found;
	struct kflash_board *b;

	setup();
	link_to("serial/by-id/" OCTOPUS_KLIPPER, "/dev/null");
	link_to("serial/by-id/" OCTOPUS_KATAPULT, "/dev/zero");
	b = board("octopus", "/dev/serial/by-id/" OCTOPUS_KLIPPER);
	kf_assert_error(ctx, kflash_discovery_locate(ctx, b, &found), KFLASH_ERR_AMBIGUOUS,
			"two devices have USB serial number " OCTOPUS_SERIAL);
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), OCTOPUS_KLIPPER));
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), OCTOPUS_KATAPULT));
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(discovery_identical_boards_stay_apart)
{
	struct kflash_discovery *d;
	struct kflash_device *a, *b2;
	struct kflash_board *pa, *pb;

	setup();
	link_to("serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00", "/dev/null");
	link_to("serial/by-id/usb-Klipper_rp2040_E66138935F2A4D29-if00", "/dev/zero");
	pa = board("pico-a", "/dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00");
	pb = board("pico-b", "/dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D29-if00");
	d = scan(2);
	ck_assert_int_eq(kflash_discovery_find_board(d, pa, &a), 0);
	ck_assert_int_eq(kflash_discovery_find_board(d, pb, &b2), 0);
	ck_assert_str_eq(kflash_device_get_devnode(a), "/dev/null");
	ck_assert_str_eq(kflash_device_get_devnode(b2), "/dev/zero");
	kflash_device_unref(a);
	kflash_device_unref(b2);
	kflash_discovery_unref(d);
	kflash_board_unref(pa);
	kflash_board_unref(pb);
	teardown();
}
END_TEST

START_TEST(discovery_uart_board_matches_by_path)
{
	struct kflash_device *found;
	struct kflash_board *b;
	char other[4400];

	setup();
	link_to("ttyAMA0", "/dev/full");
	link_to("serial0", "ttyAMA0");
	/* Registered as ttyAMA0; the scan found the node as serial0 first. */
	b = board("pi", in_dev("ttyAMA0"));
	ck_assert_int_eq(kflash_discovery_locate(ctx, b, &found), 0);
	ck_assert_str_eq(kflash_device_get_devnode(found), in_dev("serial0"));
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_UNKNOWN);
	kflash_device_unref(found);
	kflash_board_unref(b);

	/* A tty outside the device dir is still a device of its own. */
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink("/dev/zero", other), 0);
	b = board("other", other);
	ck_assert_int_eq(kflash_discovery_locate(ctx, b, &found), 0);
	ck_assert_str_eq(kflash_device_get_devnode(found), "/dev/zero");
	kflash_device_unref(found);
	kflash_board_unref(b);
	teardown();
}
END_TEST

KF_TEST_SUITE(discovery)
{
	kf_test_add(discovery_mode_names);
	kf_test_add(discovery_usb_port_from_by_path);
	kf_test_add(discovery_empty_or_missing_dev_dir);
	kf_test_add(discovery_path_backend_finds_every_kind);
	kf_test_add(discovery_path_backend_reads_sysfs_for_a_bridge);
	kf_test_add(discovery_finds_a_bridge_by_its_can_uuid);
	kf_test_add(discovery_matches_a_board_in_any_mode);
	kf_test_add(discovery_missing_board_says_what_was_looked_for);
	kf_test_add(discovery_two_devices_for_one_board_is_ambiguous);
	kf_test_add(discovery_identical_boards_stay_apart);
	kf_test_add(discovery_uart_board_matches_by_path);
}
