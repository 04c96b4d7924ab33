/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim's frames, byte for byte, against the reference: the CRC
 * check value, CONNECT in both protocols, NACK, unknown commands and the
 * frame limit.
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

START_TEST(test_crc_check_value)
{
	ck_assert_uint_eq(client_crc((const uint8_t *)"123456789", 9), 0x6f91);
}
END_TEST

START_TEST(test_known_frames)
{
	uint8_t buf[64], addr[4];
	size_t n;

	n = encode(buf, CONNECT, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 11 00 f1 7c 99 03"));
	n = encode(buf, SEND_EOF, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 13 00 41 4f 99 03"));
	n = encode(buf, COMPLETE, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 15 00 91 1b 99 03"));
	n = encode(buf, GET_CANBUS_ID, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 16 00 f9 31 99 03"));
	n = encode(buf, 0x90, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 90 00 e5 e9 99 03"));
	put32(addr, 0x08008000);
	n = encode(buf, REQUEST_BLOCK, addr, 4);
	ck_assert(bytes_eq_hex(buf, n, "01 88 14 01 00 80 00 08 8c d1 99 03"));
	n = encode(buf, NACK, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f1 00 68 95 99 03"));
	n = encode(buf, ERROR, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f2 00 00 bf 99 03"));
	n = encode(buf, BUSY, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f3 00 d8 a6 99 03"));
}
END_TEST

/* A known CONNECT response (stm32f446xx, v0.0.1-abc), byte for byte. */
START_TEST(test_connect_bytes)
{
	struct sim *s = sim_start("--mode", "katapult", "--katapult-version", "v0.0.1-abc");
	char *link = sim_link(s, "katapult");
	int fd;
	struct frame f;
	struct connect_info ci;

	ck_assert_str_eq(s->path, link);
	fd = port_open(s->path);
	write_all(fd, "\x01\x88\x11\x00\xf1\x7c\x99\x03", 8);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len,
				   "01 88 a0 0b | 11 00 00 00 | 00 01 01 00 | 00 80 00 08 | "
				   "40 00 00 00 | 73 74 6d 33 32 66 34 34 36 78 78 00 | "
				   "00 00 00 00 | 76 30 2e 30 2e 31 2d 61 62 63 00 00 | "
				   "32 96 99 03"),
		      "CONNECT response %s", hex(f.raw, f.len));
	parse_connect(&f, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_str_eq(ci.version, "v0.0.1-abc");
	ck_assert(sim_log_wait(s, "rx CONNECT"));
	ck_assert(sim_log_wait(s, "tx ACK CONNECT"));
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* Protocol 1.0 sends the MCU and nothing after it. */
START_TEST(test_connect_protocol_10)
{
	struct sim *s = sim_start("--mode", "katapult", "--protocol", "1.0");
	int fd = port_open(s->path);
	struct frame f;
	uint8_t payload[28] = { 0x11, 0, 0, 0, 0x00, 0x00, 0x01, 0x00 };
	uint8_t want[64];
	size_t n;

	put32(payload + 8, APP);
	put32(payload + 12, BLOCK);
	memcpy(payload + 16, MCU, strlen(MCU) + 1);
	n = encode(want, ACK, payload, 16 + 12);
	transact(fd, CONNECT, NULL, 0, &f);
	ck_assert_msg(f.len == n && memcmp(f.raw, want, n) == 0, "got %s", hex(f.raw, f.len));
	close(fd);
	sim_stop(s);
}
END_TEST

/* Every CONNECT field follows the options. */
START_TEST(test_connect_configured)
{
	struct sim *s =
		sim_start("--mode", "katapult", "--mcu", "rp2040", "--serial", "E66158C4B3522C2A",
			  "--flash-start", "0x10000000", "--app-start", "0x10004000", "--page-size",
			  "4096", "--flash-size", "0x200000", "--block-size", "32",
			  "--katapult-version", "", "--usb-port", "1.4.2");
	char *link = strf("%s/serial/by-id/usb-katapult_rp2040_E66158C4B3522C2A-if00", s->dev);
	char *bypath = strf("%s/serial/by-path/platform-sim-usb-0:1.4.2:1.0", s->dev);
	int fd = port_open(s->path);
	struct connect_info ci;
	char *a, *b;

	ck_assert_str_eq(s->path, link);
	a = assert_pty_link(link);
	b = assert_pty_link(bypath);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	free(bypath);
	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.proto, 0x00010100);
	ck_assert_uint_eq(ci.start, 0x10004000);
	ck_assert_uint_eq(ci.block, 32);
	ck_assert_str_eq(ci.mcu, "rp2040");
	ck_assert_str_eq(ci.version, "");
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* One NACK per burst of garbage, then the next valid frame is served. */
START_TEST(test_garbage_one_nack)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	struct frame f;
	struct connect_info ci;
	const char garbage[] = "This is not a Katapult frame at all.";

	for (int i = 0; i < 3; i++) {
		write_all(fd, garbage, strlen(garbage));
		sleep_ms(30);
	}
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert(bytes_eq_hex(f.raw, f.len, "01 88 f1 00 68 95 99 03"));
	ck_assert_uint_eq(f.skipped, 0);
	expect_quiet(fd);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_int_eq(sim_log_count(s, "tx NACK"), 1);
	ck_assert_uint_eq(sim_log_garbage(s), 3 * strlen(garbage));

	/* the valid frame re-armed the NACK */
	write_all(fd, "xyzzy-xyzzy", 11);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	ck_assert(sim_log_wait(s, "rx garbage 11"));
	ck_assert_int_eq(sim_log_count(s, "tx NACK"), 2);
	close(fd);
	sim_stop(s);
}
END_TEST

/* A frame with a bad CRC is a burst of garbage: one NACK, and the next
 * frame, sent right behind it, is served. */
START_TEST(test_bad_crc_frame)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t bad[8], good[8];
	uint8_t both[16];
	struct frame f;

	encode(bad, CONNECT, NULL, 0);
	bad[4] ^= 0xff;
	encode(good, CONNECT, NULL, 0);
	memcpy(both, bad, 8);
	memcpy(both + 8, good, 8);
	write_all(fd, both, sizeof(both));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_ack(&f, CONNECT);
	ck_assert(sim_log_wait(s, "rx garbage 8"));
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* Unknown commands, the host's 0x90 prime among them, get 0xf2. */
START_TEST(test_unknown_command)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	struct frame f;

	write_all(fd, "\x01\x88\x90\x00\xe5\xe9\x99\x03", 8);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len, "01 88 f2 00 00 bf 99 03"), "got %s",
		      hex(f.raw, f.len));
	/* a serial board has no CAN id */
	transact(fd, GET_CANBUS_ID, NULL, 0, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "rx UNKNOWN 0x90"));
	ck_assert(sim_log_wait(s, "tx ERROR UNKNOWN unknown"));
	ck_assert(sim_log_wait(s, "rx GET_CANBUS_ID"));
	ck_assert(sim_log_wait(s, "tx ERROR GET_CANBUS_ID unknown"));
	close(fd);
	sim_stop(s);
}
END_TEST

/* 128 bytes is the largest frame: 132 is refused with one NACK. */
START_TEST(test_frame_limit)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t payload[124], buf[140];
	struct frame f;
	size_t n;

	memset(payload, 0x55, sizeof(payload));
	/* 30 words: 128 bytes, a frame (of an unknown command) */
	n = encode(buf, 0x42, payload, 120);
	ck_assert_uint_eq(n, 128);
	write_all(fd, buf, n);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "rx UNKNOWN 0x42"));

	/* 31 words: 132 bytes, too long */
	n = encode(buf, CONNECT, payload, 124);
	ck_assert_uint_eq(n, 132);
	write_all(fd, buf, n);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	expect_quiet(fd);
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 0);
	ck_assert_uint_eq(sim_log_garbage(s), 132);

	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	close(fd);
	sim_stop(s);
}
END_TEST

KF_TEST_SUITE(sim_frames)
{
	kf_test_add(test_crc_check_value);
	kf_test_add(test_known_frames);
	kf_test_add(test_connect_bytes);
	kf_test_add(test_connect_protocol_10);
	kf_test_add(test_connect_configured);
	kf_test_add(test_garbage_one_nack);
	kf_test_add(test_bad_crc_frame);
	kf_test_add(test_unknown_command);
	kf_test_add(test_frame_limit);
}
