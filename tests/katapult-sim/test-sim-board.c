/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim as a board: the 1200-baud touch and re-enumeration, whole
 * flash cycles, the flash rules, the UART request string, a clean exit and
 * the rate limit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"
#include "test-sim-tty.h"

/* The Klipper board, its touch, and Katapult on a fresh pty. */
START_TEST(test_touch_reenumerates)
{
	struct sim *s = sim_start("--mode", "usb");
	char *klipper = sim_link(s, "Klipper"), *katapult = sim_link(s, "katapult");
	char *bypath = sim_bypath(s);
	char *node2 = sim_usbfs(s, 2), *node3 = sim_usbfs(s, 3);
	char *slave, *slave2, *target;
	struct connect_info ci;
	int fd;

	ck_assert_str_eq(s->path, klipper);
	ck_assert(sim_log_wait(s, "start usb %s", klipper));
	ck_assert(sim_log_wait(s, "enumerate klipper %s", klipper));
	slave = assert_pty_link(klipper);
	target = assert_pty_link(bypath);
	ck_assert_str_eq(target, slave);
	free(target);
	assert_usbfs(node2, 0x1d50, 0x614e);
	ck_assert(!exists(katapult));

	touch_1200(klipper);
	assert_log(s, "touch 1200");
	assert_log(s, "remove %s", klipper);
	assert_log(s, "remove %s", node2);
	assert_log(s, "enumerate katapult %s", katapult);
	ck_assert(!exists(klipper));
	ck_assert(!exists(node2));
	slave2 = assert_pty_link(katapult);
	target = assert_pty_link(bypath);
	ck_assert_str_eq(target, slave2);
	assert_usbfs(node3, 0x1d50, 0x6177);

	fd = port_open(katapult);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_str_eq(ci.version, "v0.0.1-sim");
	ck_assert_uint_eq(ci.start, APP);
	ck_assert_uint_eq(ci.block, BLOCK);
	close(fd);

	/* Katapult ignores the touch */
	touch_1200(katapult);
	sleep_ms(100);
	ck_assert_int_eq(sim_log_count(s, "touch"), 1);
	ck_assert(exists(katapult));

	free(target);
	free(slave);
	free(slave2);
	free(klipper);
	free(katapult);
	free(bypath);
	free(node2);
	free(node3);
	sim_stop(s);
}
END_TEST

/* A host that sets 1200 through termios2 (BOTHER) touches just the same. */
START_TEST(test_touch_termios2)
{
	struct sim *s = sim_start("--mode", "usb");
	char *katapult = sim_link(s, "katapult");
	int fd = port_open(s->path);
	unsigned speed = 0;

	ck_assert_int_eq(test_tty_set_speed(fd, 1200), 0);
	ck_assert_int_eq(test_tty_get_speed(fd, &speed), 0);
	ck_assert_uint_eq(speed, 1200);
	close(fd);
	assert_log(s, "touch 1200");
	assert_log(s, "enumerate katapult %s", katapult);
	free(katapult);
	sim_stop(s);
}
END_TEST

static void
flash_cycle(struct sim *s, size_t size, uint32_t seed, uint32_t pages, unsigned round)
{
	char *klipper = sim_link(s, "Klipper"), *katapult = sim_link(s, "katapult");
	uint8_t *data = make_image(size, seed);
	size_t len;
	uint8_t *padded = pad_image(data, size, &len);
	struct connect_info ci;
	int fd;

	free(assert_pty_link(klipper));
	fd = enter_katapult(s);
	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.start, APP);
	flash_image(fd, padded, len, ci.start);
	ck_assert_uint_eq(send_eof(fd), pages);
	assert_log(s, "tx ACK SEND_EOF pages=%u", pages);
	verify_image(fd, padded, len, ci.start);
	send_complete(fd);
	assert_log_count(s, (int)round, "complete");
	assert_log_count(s, (int)round, "boot klipper");
	ck_assert(!exists(katapult));
	free(assert_pty_link(klipper));
	close(fd);

	{
		struct stat st;
		uint8_t *got = malloc(len);
		int ifd = open(s->image, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(ifd, 0);
		ck_assert_int_eq(fstat(ifd, &st), 0);
		ck_assert_uint_eq((size_t)st.st_size, len);
		ck_assert_int_eq(read(ifd, got, len), (ssize_t)len);
		close(ifd);
		ck_assert(memcmp(got, padded, len) == 0);
		free(got);
	}
	free(data);
	free(padded);
	free(klipper);
	free(katapult);
}

/* Touch, write, EOF, verify, COMPLETE, and Klipper again; twice. */
START_TEST(test_full_cycle)
{
	struct sim *s = sim_start("--mode", "usb");

	flash_cycle(s, 3000, 1, 1, 1);
	/* a larger image over two pages, on the same board */
	flash_cycle(s, PAGE + 5000, 2, 2, 2);
	/* and a small one again: the image file is what was written last */
	flash_cycle(s, 100, 3, 1, 3);
	sim_stop(s);
}
END_TEST

/* A known count: 44 512 bytes at 0x8008000 are 696 blocks on 3 pages. */
START_TEST(test_eof_page_count)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *data = make_image(44512, 9);
	size_t len;
	uint8_t *padded = pad_image(data, 44512, &len);

	ck_assert_uint_eq(len / BLOCK, 696);
	flash_image(fd, padded, len, APP);
	ck_assert_uint_eq(send_eof(fd), 3);
	close(fd);
	free(data);
	free(padded);
	sim_stop(s);
}
END_TEST

/* A board started in Katapult boots Klipper after COMPLETE. */
START_TEST(test_katapult_mode_boots_klipper)
{
	struct sim *s = sim_start("--mode", "katapult");
	char *klipper = sim_link(s, "Klipper"), *node2 = sim_usbfs(s, 2), *node3 = sim_usbfs(s, 3);
	int fd = port_open(s->path);

	assert_usbfs(node2, 0x1d50, 0x6177);
	send_complete(fd);
	assert_log(s, "complete");
	assert_log(s, "remove %s", s->path);
	assert_log(s, "enumerate klipper %s", klipper);
	assert_log(s, "boot klipper");
	ck_assert(!exists(s->path));
	ck_assert(!exists(node2));
	assert_usbfs(node3, 0x1d50, 0x614e);
	free(assert_pty_link(klipper));
	close(fd);
	free(klipper);
	free(node2);
	free(node3);
	sim_stop(s);
}
END_TEST

/* A block sent again (its ACK was lost) is ACKed without a second write. */
START_TEST(test_retransmission)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 4), *b = make_image(BLOCK, 5), got[BLOCK];

	write_block(fd, APP, a);
	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, b);
	write_block(fd, APP + BLOCK, b);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, b, BLOCK) == 0);
	/* the retransmitted page start did not count as another page */
	ck_assert_uint_eq(send_eof(fd), 1);
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* The page start sent again after later blocks erases the page again, as
 * on the device: a host retries a block right away, never later. */
START_TEST(test_page_start_again)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 4), *b = make_image(BLOCK, 5), got[BLOCK];

	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, b);
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	read_block(fd, APP + BLOCK, got);
	for (unsigned i = 0; i < BLOCK; i++)
		ck_assert_uint_eq(got[i], 0xff);
	ck_assert_uint_eq(send_eof(fd), 2);
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* A block inside a page that holds other data is refused as out of order. */
START_TEST(test_out_of_order)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 6), *b = make_image(BLOCK, 7), got[BLOCK];
	struct frame f;

	/* the old firmware is still in the first page */
	send_block(fd, APP + BLOCK, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK order"));

	write_block(fd, APP, a);         /* erases the page */
	write_block(fd, APP + BLOCK, a); /* lands on erased flash */
	send_block(fd, APP + BLOCK, b, &f);
	expect_type(&f, ERROR);
	ck_assert_int_eq(sim_log_count(s, "tx ERROR SEND_BLOCK order"), 2);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);

	/* REQUEST_BLOCK reads any address: erased flash, the bootloader */
	read_block(fd, APP + 2 * PAGE, got);
	for (unsigned i = 0; i < BLOCK; i++)
		ck_assert_uint_eq(got[i], 0xff);
	read_block(fd, 0x8000000, got);
	ck_assert(sim_log_wait(s, "tx ACK REQUEST_BLOCK 0x8000000"));
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* SEND_BLOCK's checks: arguments, address, alignment, the end of flash. */
START_TEST(test_block_errors)
{
	struct sim *s = sim_start("--mode", "katapult", "--flash-size", "0x10000");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 8), payload[4 + BLOCK];
	struct frame f;

	send_block(fd, APP - BLOCK, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK address"));
	send_block(fd, APP + 4, a, &f);
	expect_type(&f, ERROR);
	ck_assert_int_eq(sim_log_count(s, "tx ERROR SEND_BLOCK address"), 2);
	/* the flash ends at 0x8010000 */
	send_block(fd, 0x8010000, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK write"));
	/* 16 data words instead of 16 + 1 */
	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	transact(fd, SEND_BLOCK, payload, BLOCK, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK args"));
	/* REQUEST_BLOCK needs its address */
	transact(fd, REQUEST_BLOCK, NULL, 0, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR REQUEST_BLOCK args"));
	write_block(fd, 0x8010000 - BLOCK, a);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

static const char request[] = "~ \x1c Request Serial Bootloader!! ~";

/* A UART board: Klipper until the request string, then Katapult on the
 * same path, and Klipper again after COMPLETE. */
START_TEST(test_uart_request_string)
{
	struct sim *s = sim_start("--mode", "uart");
	char *link = strf("%s/ttyAMA0", s->dev);
	char *slave, *again;
	struct connect_info ci;
	int fd;

	ck_assert_str_eq(s->path, link);
	ck_assert(sim_log_wait(s, "start uart %s", link));
	slave = assert_pty_link(link);
	fd = port_open_baud(link, 250000);
	client_send(fd, CONNECT, NULL, 0);
	expect_quiet(fd); /* Klipper does not speak Katapult */

	write_all(fd, request, strlen(request));
	assert_log(s, "request-string");
	assert_log(s, "enumerate katapult %s", link);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	again = assert_pty_link(link);
	ck_assert_str_eq(again, slave);
	free(again);

	send_complete(fd);
	assert_log(s, "complete");
	assert_log(s, "boot klipper");
	client_send(fd, CONNECT, NULL, 0);
	expect_quiet(fd);
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 0);

	/* and again: the request string still works */
	write_all(fd, request, strlen(request));
	for (int i = 0; i < 500 && sim_log_count(s, "request-string") < 2; i++)
		sleep_ms(10);
	ck_assert_int_eq(sim_log_count(s, "request-string"), 2);
	client_connect(fd, &ci);
	ck_assert_int_eq(sim_log_count(s, "remove"), 0);
	close(fd);
	free(slave);
	free(link);
	sim_stop(s);
}
END_TEST

/* A line at another baud still carries bytes (a pty has no baud), but the
 * simulator says so once. */
START_TEST(test_uart_baud_mismatch)
{
	struct sim *s = sim_start("--mode", "uart", "--uart-link", "serial0", "--baud", "115200");
	char *link = strf("%s/serial0", s->dev);
	int fd;

	ck_assert_str_eq(s->path, link);
	fd = port_open_baud(link, 250000);
	write_all(fd, request, 10);
	assert_log(s, "baud-mismatch 250000");
	write_all(fd, request + 10, strlen(request) - 10);
	assert_log(s, "request-string");
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 1);
	ck_assert_int_eq(test_tty_set_speed(fd, 115200), 0);
	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 1);
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* Exit on each signal: every link and node removed, the slave never held. */
START_TEST(test_clean_exit)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sim *s = sim_start("--mode", "usb");
	char *katapult = sim_link(s, "katapult"), *bypath = sim_bypath(s);
	char *node3 = sim_usbfs(s, 3);
	char *fddir = strf("/proc/%d/fd", (int)s->pid);
	int fds_before = kf_test_count_fds();
	int fd, held = 0;
	char *log, *last;
	struct dirent *e;
	DIR *d;

	fd = enter_katapult(s);
	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });

	/* the simulator holds the pty master, never a slave */
	d = opendir(fddir);
	ck_assert(d != NULL);
	while ((e = readdir(d))) {
		char *p = strf("%s/%s", fddir, e->d_name);
		char *t = link_target(p);

		if (t) {
			ck_assert_msg(strncmp(t, "/dev/pts/", 9) != 0, "the simulator holds %s", t);
			held += strcmp(t, "/dev/ptmx") == 0;
		}
		free(t);
		free(p);
	}
	closedir(d);
	ck_assert_int_eq(held, 1);
	close(fd);
	ck_assert_int_eq(kf_test_count_fds(), fds_before);

	ck_assert_int_eq(sim_stop_with(s, sigs[_i]), 0);
	log = sim_log_text(s);
	ck_assert(sim_log_wait(s, "remove %s", katapult));
	ck_assert(sim_log_wait(s, "remove %s", node3));
	last = strrchr(log, '\n');
	ck_assert(last != NULL);
	*last = '\0';
	last = strrchr(log, '\n');
	ck_assert_str_eq(last ? last + 1 : log, "exit");
	free(log);
	ck_assert(!exists(s->ready));
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	ck_assert(!exists(node3));
	free(katapult);
	free(bypath);
	free(node3);
	free(fddir);
	sim_free(s);
}
END_TEST

static int nondir_count;

static int
count_nondir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_D && type != FTW_DP)
		nondir_count++;
	return 0;
}

/* Nothing but directories is left in the device dir. */
START_TEST(test_exit_leaves_nothing)
{
	struct sim *s = sim_start("--mode", "usb");
	char *dev = strdup(s->dev);
	int fd = enter_katapult(s);

	close(fd);
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	nondir_count = 0;
	ck_assert_int_eq(nftw(dev, count_nondir, 8, FTW_PHYS), 0);
	ck_assert_int_eq(nondir_count, 0);
	free(dev);
	sim_free(s);
}
END_TEST

/* --rate makes the link as slow as a UART: a lower bound, never an upper one. */
START_TEST(test_rate)
{
	struct sim *s = sim_start("--mode", "katapult", "--rate", "1000");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK * 10, 10);
	uint64_t start = now_ms();

	/* 10 frames of 76 bytes are 760 bytes in: at least 0.7 s at 1000 bytes/s */
	flash_image(fd, a, BLOCK * 10, APP);
	ck_assert_uint_ge(now_ms() - start, 600);
	ck_assert_int_eq(sim_log_count(s, "tx ACK SEND_BLOCK"), 10);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

KF_TEST_SUITE(sim_board)
{
	kf_test_add(test_touch_reenumerates);
	kf_test_add(test_touch_termios2);
	kf_test_add_timeout(test_full_cycle, 60);
	kf_test_add_timeout(test_eof_page_count, 60);
	kf_test_add(test_katapult_mode_boots_klipper);
	kf_test_add(test_retransmission);
	kf_test_add(test_page_start_again);
	kf_test_add(test_out_of_order);
	kf_test_add(test_block_errors);
	kf_test_add(test_uart_request_string);
	kf_test_add(test_uart_baud_mismatch);
	kf_test_add_loop(test_clean_exit, 3);
	kf_test_add(test_exit_leaves_nothing);
	kf_test_add(test_rate);
}
