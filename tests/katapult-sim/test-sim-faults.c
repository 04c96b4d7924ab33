/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim's fault injection: every fault, by command number, count
 * and probability.
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

/* drop: no response; the retry is a retransmission. */
START_TEST(test_fault_drop)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "drop");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 11), got[BLOCK];
	uint8_t payload[4 + BLOCK];

	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });
	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	expect_quiet(fd);
	ck_assert(sim_log_wait(s, "fault drop SEND_BLOCK#1"));
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	ck_assert_uint_eq(send_eof(fd), 1);
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* drop:NAME drops every such command. */
START_TEST(test_fault_drop_every)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "drop:CONNECT");
	int fd = port_open(s->path);

	for (int i = 0; i < 3; i++) {
		client_send(fd, CONNECT, NULL, 0);
		expect_quiet(fd);
	}
	ck_assert(sim_log_wait(s, "fault drop CONNECT#3"));
	send_eof(fd);
	close(fd);
	sim_stop(s);
}
END_TEST

/* crc: the response's CRC is wrong; the retry is answered properly. */
START_TEST(test_fault_crc)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "crc");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 12);
	uint8_t payload[4 + BLOCK];
	struct frame f;

	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 0);
	ck_assert_uint_eq(f.type, ACK);
	ck_assert(sim_log_wait(s, "fault crc SEND_BLOCK#1"));
	write_block(fd, APP, a);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* NAME#N: only the Nth command of that name. */
START_TEST(test_fault_crc_nth)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "crc:REQUEST_BLOCK#2");
	int fd = port_open(s->path);
	uint8_t addr[4];
	struct frame f;

	put32(addr, APP);
	request_block(fd, APP, &f);
	client_send(fd, REQUEST_BLOCK, addr, 4);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 0);
	request_block(fd, APP, &f);
	ck_assert(sim_log_wait(s, "fault crc REQUEST_BLOCK#2"));
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* busy: 0xf3 instead of processing. */
START_TEST(test_fault_busy)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "busy");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 13), got[BLOCK];
	struct frame f;

	send_block(fd, APP, a, &f);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len, "01 88 f3 00 d8 a6 99 03"), "got %s",
		      hex(f.raw, f.len));
	ck_assert(sim_log_wait(s, "fault busy SEND_BLOCK#1"));
	ck_assert(sim_log_wait(s, "tx BUSY SEND_BLOCK"));
	/* not processed: the old firmware is still there */
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) != 0);
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* N: the Nth command frame, once, even though the host retries it. */
START_TEST(test_fault_by_number)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "busy:2");
	int fd = port_open(s->path);
	struct frame f;

	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	transact(fd, CONNECT, NULL, 0, &f);
	expect_type(&f, BUSY);
	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	ck_assert(sim_log_wait(s, "fault busy CONNECT#2"));
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* wrong-address: the ACK echoes another address. */
START_TEST(test_fault_wrong_address)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "wrong-address", "--fault",
				  "wrong-address:REQUEST_BLOCK#1");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 14);
	struct frame f;

	send_block(fd, APP, a, &f);
	expect_ack(&f, SEND_BLOCK);
	ck_assert_uint_ne(get32(f.payload + 4), APP);
	ck_assert(sim_log_wait(s, "fault wrong-address SEND_BLOCK#1"));
	write_block(fd, APP, a);
	request_block(fd, APP, &f);
	expect_ack(&f, REQUEST_BLOCK);
	ck_assert_uint_ne(get32(f.payload + 4), APP);
	ck_assert(sim_log_wait(s, "fault wrong-address REQUEST_BLOCK#1"));
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* bad-cell: stored with one byte flipped, ACKed; the verify catches it. */
START_TEST(test_fault_bad_cell)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "bad-cell");
	int fd = port_open(s->path);
	uint8_t *data = make_image(2 * BLOCK, 15), got[BLOCK];
	char *image;
	int diff = 0;
	struct stat st;

	write_block(fd, APP, data);
	write_block(fd, APP + BLOCK, data + BLOCK);
	ck_assert(sim_log_wait(s, "fault bad-cell SEND_BLOCK#1"));
	read_block(fd, APP, got);
	for (unsigned i = 0; i < BLOCK; i++)
		diff += got[i] != data[i];
	ck_assert_int_eq(diff, 1);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, data + BLOCK, BLOCK) == 0);
	send_eof(fd);
	ck_assert_int_eq(stat(s->image, &st), 0);
	ck_assert_int_eq(st.st_size, 2 * BLOCK);
	image = kf_test_read_file(s->image);
	diff = 0;
	for (unsigned i = 0; i < 2 * BLOCK; i++)
		diff += (uint8_t)image[i] != data[i];
	ck_assert_int_eq(diff, 1);
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	free(image);
	close(fd);
	free(data);
	sim_stop(s);
}
END_TEST

/* wrong-mcu: another MCU in CONNECT, by default and by name. */
START_TEST(test_fault_wrong_mcu)
{
	static const char *const specs[] = { "wrong-mcu", "wrong-mcu=rp2040" };
	static const char *const mcus[] = { "stm32f103xe", "rp2040" };
	struct sim *s = sim_start("--mode", "katapult", "--fault", specs[_i]);
	int fd = port_open(s->path);
	struct connect_info ci;

	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, mcus[_i]);
	ck_assert_str_eq(ci.version, "v0.0.1-sim");
	ck_assert(sim_log_wait(s, "fault wrong-mcu CONNECT#1"));
	/* the link keeps the board's own name */
	ck_assert(strstr(s->path, MCU) != NULL);
	close(fd);
	sim_stop(s);
}
END_TEST

/* wrong-start: another application start in CONNECT; storage ignores it. */
START_TEST(test_fault_wrong_start)
{
	static const char *const specs[] = { "wrong-start", "wrong-start=0x8004000" };
	static const uint32_t starts[] = { APP + 0x2000, 0x8004000 };
	struct sim *s = sim_start("--mode", "katapult", "--fault", specs[_i]);
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 16);
	struct connect_info ci;
	struct frame f;

	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.start, starts[_i]);
	ck_assert(sim_log_wait(s, "fault wrong-start CONNECT#1"));
	write_block(fd, APP, a);
	if (starts[_i] < APP) {
		send_block(fd, starts[_i], a, &f);
		expect_type(&f, ERROR);
		ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK address"));
	}
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* hangup: by default at the 10th command; the board stays gone. */
START_TEST(test_fault_hangup)
{
	struct sim *s = sim_start("--mode", "usb", "--fault", "hangup");
	char *katapult = sim_link(s, "katapult"), *bypath = sim_bypath(s);
	char *node3 = sim_usbfs(s, 3);
	int fd = enter_katapult(s);
	struct frame f;

	for (int i = 0; i < 9; i++)
		transact(fd, CONNECT, NULL, 0, &f);
	client_send(fd, CONNECT, NULL, 0);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), -1);
	assert_log(s, "fault hangup CONNECT#10");
	assert_log(s, "hangup");
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	ck_assert(!exists(node3));
	sleep_ms(200);
	ck_assert_int_eq(sim_log_count(s, "enumerate"), 2);
	close(fd);
	free(katapult);
	free(bypath);
	free(node3);
	sim_stop(s);
}
END_TEST

/* hangup:NAME#N in the middle of a transfer. */
START_TEST(test_fault_hangup_mid_transfer)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "hangup:SEND_BLOCK#3");
	int fd = port_open(s->path);
	uint8_t *a = make_image(3 * BLOCK, 17);
	uint8_t payload[4 + BLOCK];
	struct frame f;

	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, a + BLOCK);
	put32(payload, APP + 2 * BLOCK);
	memcpy(payload + 4, a + 2 * BLOCK, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), -1);
	assert_log(s, "fault hangup SEND_BLOCK#3");
	assert_log(s, "hangup");
	ck_assert(!exists(s->path));
	close(fd);

	/* the image is written at exit too: the two blocks that made it */
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	{
		struct stat st;
		char *image = kf_test_read_file(s->image);

		ck_assert(image != NULL);
		ck_assert_int_eq(stat(s->image, &st), 0);
		ck_assert_int_eq(st.st_size, 2 * BLOCK);
		ck_assert(memcmp(image, a, 2 * BLOCK) == 0);
		free(image);
	}
	free(a);
	sim_free(s);
}
END_TEST

/* dfu and bootsel: the touch brings up a ROM bootloader, no tty. */
START_TEST(test_fault_rom_bootloader)
{
	static const char *const kinds[] = { "dfu", "bootsel" };
	static const uint16_t vids[] = { 0x0483, 0x2e8a }, pids[] = { 0xdf11, 0x0003 };
	struct sim *s = sim_start("--mode", "usb", "--fault", kinds[_i]);
	char *node3 = sim_usbfs(s, 3), *bypath = sim_bypath(s), *katapult = sim_link(s, "katapult");
	char *byid = strf("%s/serial/by-id", s->dev);
	DIR *d;
	struct dirent *e;

	touch_1200(s->path);
	assert_log(s, "touch 1200");
	assert_log(s, "enumerate %s %s", kinds[_i], node3);
	assert_usbfs(node3, vids[_i], pids[_i]);
	ck_assert(!exists(s->path));
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	d = opendir(byid);
	ck_assert(d != NULL);
	while ((e = readdir(d)))
		ck_assert_msg(e->d_name[0] == '.', "unexpected %s", e->d_name);
	closedir(d);
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	ck_assert(!exists(node3));
	free(node3);
	free(bypath);
	free(katapult);
	free(byid);
	sim_free(s);
}
END_TEST

/* The numbers of the dropped commands, from the log. */
static char *
dropped_numbers(struct sim *s)
{
	char *text = sim_log_text(s), *out = strdup("");
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "rx CONNECT", 10) == 0)
			n++;
		if (strncmp(p, "fault drop CONNECT#", 19) == 0) {
			char *o = strf("%s %d", out, n);

			free(out);
			out = o;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return out;
}

static char *
run_percent(unsigned seed, int *responses)
{
	char seedstr[16];
	struct sim *s;
	int fd;
	struct frame f;
	char *numbers;

	snprintf(seedstr, sizeof(seedstr), "%u", seed);
	s = sim_start("--mode", "katapult", "--fault", "drop:50%", "--seed", seedstr);
	fd = port_open(s->path);
	for (int i = 0; i < 40; i++)
		client_send(fd, CONNECT, NULL, 0);
	for (int i = 0; i < 1000; i++) {
		if (sim_log_count(s, "tx ACK CONNECT") + sim_log_count(s, "fault drop") == 40)
			break;
		sleep_ms(5);
	}
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 40);
	*responses = sim_log_count(s, "tx ACK CONNECT");
	ck_assert_int_eq(*responses + sim_log_count(s, "fault drop"), 40);
	for (int i = 0; i < *responses; i++) {
		ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
		expect_ack(&f, CONNECT);
	}
	expect_quiet(fd);
	numbers = dropped_numbers(s);
	close(fd);
	sim_stop(s);
	return numbers;
}

/* P%: some commands, chosen by the seed, the same ones each run. */
START_TEST(test_fault_percent)
{
	int r1, r2, r3;
	char *a = run_percent(7, &r1), *b = run_percent(7, &r2), *c = run_percent(8, &r3);

	ck_assert_int_gt(r1, 0);
	ck_assert_int_lt(r1, 40);
	ck_assert_int_eq(r1, r2);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

KF_TEST_SUITE(sim_faults)
{
	kf_test_add(test_fault_drop);
	kf_test_add(test_fault_drop_every);
	kf_test_add(test_fault_crc);
	kf_test_add(test_fault_crc_nth);
	kf_test_add(test_fault_busy);
	kf_test_add(test_fault_by_number);
	kf_test_add(test_fault_wrong_address);
	kf_test_add(test_fault_bad_cell);
	kf_test_add_loop(test_fault_wrong_mcu, 2);
	kf_test_add_loop(test_fault_wrong_start, 2);
	kf_test_add(test_fault_hangup);
	kf_test_add(test_fault_hangup_mid_transfer);
	kf_test_add_loop(test_fault_rom_bootloader, 2);
	kf_test_add_timeout(test_fault_percent, 30);
}
