/* SPDX-License-Identifier: MIT */
/*
 * The Katapult engine: the codec against the reference's exact frames, and
 * whole sessions against kflash-sim, faults included.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "katapult/codec.h"
#include "kf-test.h"
#include "libkflash-private.h"
#include "sim-run.h"

#define MCU "stm32f446xx"
#define SERIAL "1A2B3C4D5E6F708192A3B4C5"
#define APP 0x8008000u

static struct kflash_context *ctx;
static char *dir;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

/* A test image: not a multiple of the block size, no 0xFF-only blocks. */
static uint8_t *
make_image(size_t size)
{
	uint8_t *img = malloc(size);

	for (size_t i = 0; i < size; i++)
		img[i] = (uint8_t)(i * 7 + (i >> 8));
	return img;
}

/* Short retries: a dropped answer costs 300 ms, not 2 s. */
static struct kflash_katapult *
open_session(const char *path)
{
	struct kflash_katapult *k = NULL;

	ck_assert_msg(kflash_katapult_open(ctx, path, 0, &k) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_katapult_set_retries(k, 4, 300, 300), 0);
	return k;
}

/* The simulator's image file equals @img (it is written as it exits). */
static void
assert_image(struct kf_sim *s, const uint8_t *img, size_t size)
{
	char *got;
	FILE *f;
	size_t n;

	kf_sim_end(s);
	f = fopen(s->image, "rb");
	ck_assert_ptr_nonnull(f);
	got = malloc(size + 64);
	n = fread(got, 1, size + 64, f);
	fclose(f);
	ck_assert_uint_ge(n, size);
	ck_assert_int_eq(memcmp(got, img, size), 0);
	for (size_t i = size; i < n; i++)
		ck_assert_uint_eq((uint8_t)got[i], 0xff);
	free(got);
}

/* ---- the codec ---- */

START_TEST(codec_reference_frames)
{
	uint8_t out[KF_KAT_TX_FRAME_MAX], addr[4];
	static const uint8_t connect[] = { 0x01, 0x88, 0x11, 0x00, 0xf1, 0x7c, 0x99, 0x03 };
	static const uint8_t eof[] = { 0x01, 0x88, 0x13, 0x00, 0x41, 0x4f, 0x99, 0x03 };
	static const uint8_t request[] = { 0x01, 0x88, 0x14, 0x01, 0x00, 0x80,
					   0x00, 0x08, 0x8c, 0xd1, 0x99, 0x03 };
	static const uint8_t nack[] = { 0x01, 0x88, 0xf1, 0x00, 0x68, 0x95, 0x99, 0x03 };
	static const uint8_t busy[] = { 0x01, 0x88, 0xf3, 0x00, 0xd8, 0xa6, 0x99, 0x03 };
	struct kf_kat_frame f;
	size_t used;

	ck_assert_uint_eq(kf_kat_crc16((const uint8_t *)"123456789", 9), 0x6f91);
	ck_assert_uint_eq(kf_kat_encode(out, sizeof(out), KF_KAT_CONNECT, NULL, 0), 8);
	ck_assert_int_eq(memcmp(out, connect, 8), 0);
	ck_assert_uint_eq(kf_kat_encode(out, sizeof(out), KF_KAT_SEND_EOF, NULL, 0), 8);
	ck_assert_int_eq(memcmp(out, eof, 8), 0);
	kf_put_le32(addr, 0x08008000);
	ck_assert_uint_eq(kf_kat_encode(out, sizeof(out), KF_KAT_REQUEST_BLOCK, addr, 4), 12);
	ck_assert_int_eq(memcmp(out, request, 12), 0);
	ck_assert_uint_eq(kf_kat_encode(out, sizeof(out), KF_KAT_NACK, NULL, 0), 8);
	ck_assert_int_eq(memcmp(out, nack, 8), 0);

	ck_assert_int_eq(kf_kat_decode(busy, 8, &f, &used), KF_KAT_FRAME);
	ck_assert_uint_eq(f.type, KF_KAT_BUSY);
	ck_assert_uint_eq(used, 8);
	ck_assert_int_eq(kf_kat_decode(request, 12, &f, &used), KF_KAT_FRAME);
	ck_assert_uint_eq(f.words, 1);
	ck_assert_uint_eq(kf_le32(f.payload), 0x08008000);
}
END_TEST

START_TEST(codec_parses_by_length_and_skips_garbage)
{
	uint8_t buf[200], payload[68];
	struct kf_kat_frame f;
	size_t len, used;

	/* Block data holding the trailer bytes does not end the frame early. */
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (i % 2) ? 0x03 : 0x99;
	len = kf_kat_encode(buf, sizeof(buf), KF_KAT_SEND_BLOCK, payload, sizeof(payload));
	ck_assert_int_eq(kf_kat_decode(buf, len - 1, &f, &used), KF_KAT_NEED_MORE);
	ck_assert_int_eq(kf_kat_decode(buf, len, &f, &used), KF_KAT_FRAME);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(f.words, 17);

	/* Garbage up to the next 0x01; a bad CRC is garbage. */
	memcpy(buf, "\x55\x66\x01\x88\x11\x00\xf1\x7c\x99\x03", 10);
	ck_assert_int_eq(kf_kat_decode(buf, 10, &f, &used), KF_KAT_GARBAGE);
	ck_assert_uint_eq(used, 2);
	ck_assert_int_eq(kf_kat_decode(buf + 2, 8, &f, &used), KF_KAT_FRAME);
	buf[6] ^= 1;
	ck_assert_int_eq(kf_kat_decode(buf + 2, 8, &f, &used), KF_KAT_GARBAGE);
	/* A length beyond any frame is garbage, not a wait for more. */
	memcpy(buf, "\x01\x88\xa0\xff", 4);
	ck_assert_int_eq(kf_kat_decode(buf, 4, &f, &used), KF_KAT_GARBAGE);
	ck_assert_int_eq(kf_kat_decode(buf, 0, &f, &used), KF_KAT_NEED_MORE);
}
END_TEST

START_TEST(prime_is_for_stm32_usb_fs_parts)
{
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32f103xe"), 1);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32g0b1xx"), 1);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("STM32F072XB"), 1);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32f446xx"), 0);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32h723xx"), 0);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32f207xx"), 0);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("rp2040"), 0);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime("stm32"), 0);
	ck_assert_int_eq(kflash_katapult_mcu_needs_prime(NULL), 0);
}
END_TEST

/* ---- sessions ---- */

/* Connect, write, verify, complete: the image equals the input. */
static void
flash_through(struct kf_sim *s, const char *path, size_t size)
{
	struct kflash_katapult *k = open_session(path);
	uint8_t *img = make_image(size);

	ck_assert_msg(kflash_katapult_connect(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_str_eq(kflash_katapult_get_mcu(k), MCU);
	ck_assert_uint_eq(kflash_katapult_get_app_start(k), APP);
	ck_assert_uint_eq(kflash_katapult_get_block_size(k), 64);
	ck_assert_msg(kflash_katapult_write(k, img, size) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_msg(kflash_katapult_verify(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_katapult_complete(k), 0);
	ck_assert_uint_gt(kflash_katapult_get_round_trips(k), size / 64 * 2);
	kflash_katapult_unref(k);
	ck_assert(kf_sim_log_wait(s, "complete"));
	assert_image(s, img, size);
	free(img);
}

START_TEST(session_from_klipper_over_usb)
{
	struct kflash_device *dev = NULL;
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "usb", "--reenumerate-ms", "50");
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, s->dev), 0);
	ck_assert_int_eq(kflash_katapult_enter_usb(ctx, s->path), 0);
	ck_assert_msg(kflash_katapult_wait(ctx, SERIAL, 5000, &dev) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_device_get_mode(dev), KFLASH_MODE_KATAPULT);
	ck_assert(kf_sim_log_wait(s, "touch 1200"));
	flash_through(s, kflash_device_get_path(dev), 5000);
	ck_assert(kf_test_events_contain(ctx, "writing"));
	ck_assert(kf_test_events_contain(ctx, "verifying"));
	kflash_device_unref(dev);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(session_already_in_katapult_and_protocol_10)
{
	struct kflash_katapult *k;
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult", "--katapult-version", "v0.0.1-7-gabc");
	k = open_session(s->path);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	ck_assert_str_eq(kflash_katapult_get_version(k), "v0.0.1-7-gabc");
	ck_assert_uint_eq(kflash_katapult_get_protocol_version(k), 0x010100);
	kflash_katapult_unref(k);
	kf_sim_stop(s);

	s = kf_sim_startl(NULL, "--mode", "katapult", "--protocol", "1.0");
	k = open_session(s->path);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	ck_assert_str_eq(kflash_katapult_get_mcu(k), MCU);
	ck_assert_str_eq(kflash_katapult_get_version(k), "");
	ck_assert_uint_eq(kflash_katapult_get_protocol_version(k), 0x010000);
	kflash_katapult_unref(k);
	flash_through(s, s->path, 1000);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(session_over_a_uart_at_250000_baud)
{
	struct kf_sim *s;
	char link[4200];

	setup();
	s = kf_sim_startl(NULL, "--mode", "uart", "--baud", "250000", "--rate", "25000");
	snprintf(link, sizeof(link), "%s/ttyAMA0", s->dev);
	ck_assert_str_eq(s->path, link);
	ck_assert_int_eq(kflash_katapult_enter_uart(ctx, s->path, 250000), 0);
	ck_assert(kf_sim_log_wait(s, "request-string"));
	flash_through(s, s->path, kf_test_under_valgrind() ? 640 : 3000);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(session_with_prime)
{
	struct kflash_katapult *k;
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult");
	k = open_session(s->path);
	kflash_katapult_set_prime(k, 1);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	ck_assert(kf_sim_log_wait(s, "rx UNKNOWN 0x90"));
	kflash_katapult_unref(k);
	kf_sim_stop(s);
	teardown();
}
END_TEST

/* Faults that a retry heals: the flash still succeeds. */
static const char *const recoverable[] = {
	"drop",
	"crc",
	"busy",
	"wrong-address",
	"drop:REQUEST_BLOCK#2",
	"crc:CONNECT#1",
	"drop:SEND_EOF#1",
};

START_TEST(session_recovers_from_faults)
{
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult", "--fault", recoverable[_i]);
	flash_through(s, s->path, 700);
	ck_assert_int_ge(kf_sim_log_count(s, "fault "), 1);
	kf_sim_stop(s);
	teardown();
}
END_TEST

/* Faults that end in a clear error, and never in a COMPLETE. */
static const struct {
	const char *fault;
	int code;
	const char *needle;
	int stage; /* 0 connect, 1 write, 2 verify */
} fatal[] = {
	{ "bad-cell", KFLASH_ERR_FLASH, "verify failed: the flash at 0x08008000 differs", 2 },
	{ "hangup:4", KFLASH_ERR_IO, "went away", 1 },
	{ "drop:SEND_BLOCK", KFLASH_ERR_TIMEOUT, "did not answer SEND_BLOCK after", 1 },
	{ "wrong-address:SEND_BLOCK", KFLASH_ERR_FLASH, "confirmed the block at 0x08008000 as", 1 },
};

START_TEST(session_fails_clearly_and_never_completes)
{
	struct kflash_katapult *k;
	uint8_t *img = make_image(300);
	struct kf_sim *s;
	int r;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult", "--fault", fatal[_i].fault);
	k = open_session(s->path);
	ck_assert_int_eq(kflash_katapult_set_retries(k, 2, 200, 200), 0);
	r = kflash_katapult_connect(k);
	ck_assert_int_eq(r, 0);
	r = kflash_katapult_write(k, img, 300);
	if (fatal[_i].stage == 2) {
		ck_assert_int_eq(r, 0);
		r = kflash_katapult_verify(k);
	}
	kf_assert_error(ctx, r, fatal[_i].code, fatal[_i].needle);
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx),
				     "the board stays in Katapult, ready for another try"));
	kf_assert_error(ctx, kflash_katapult_complete(k), KFLASH_ERR_INVALID,
			"refusing to start the firmware");
	kflash_katapult_unref(k);
	ck_assert_int_eq(kf_sim_log_count(s, "rx COMPLETE"), 0);
	free(img);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(session_reports_what_connect_says)
{
	struct kflash_katapult *k;
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult", "--fault", "wrong-mcu=stm32f103xe", "--fault",
			  "wrong-start=0x8002000");
	k = open_session(s->path);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	ck_assert_str_eq(kflash_katapult_get_mcu(k), "stm32f103xe");
	ck_assert_uint_eq(kflash_katapult_get_app_start(k), 0x8002000);
	kflash_katapult_unref(k);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(session_misuse_is_refused)
{
	struct kflash_katapult *k;
	struct kf_sim *s;
	uint8_t img[8] = { 0 };

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult");
	k = open_session(s->path);
	kf_assert_error(ctx, kflash_katapult_write(k, img, 8), KFLASH_ERR_INVALID,
			"connect to Katapult before writing");
	kf_assert_error(ctx, kflash_katapult_verify(k), KFLASH_ERR_INVALID, "write an image");
	kf_assert_error(ctx, kflash_katapult_complete(k), KFLASH_ERR_INVALID, "not verified");
	kf_assert_error(ctx, kflash_katapult_set_retries(k, 0, 100, 100), KFLASH_ERR_INVALID,
			"at least 1 try");
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	kf_assert_error(ctx, kflash_katapult_write(k, img, 0), KFLASH_ERR_INVALID, "empty");
	ck_assert_ptr_null(kflash_katapult_unref(k));
	ck_assert_ptr_null(kflash_katapult_unref(NULL));
	ck_assert_int_eq(kf_sim_log_count(s, "rx SEND_BLOCK"), 0);
	kf_sim_stop(s);
	teardown();
}
END_TEST

/* A process that holds @path open until it is killed. */
static pid_t
hold_port(const char *path)
{
	int status, ready[2];
	char opened;
	pid_t holder;

	ck_assert_int_eq(pipe(ready), 0);
	holder = fork();
	if (holder == 0) {
		int fd = open(path, O_RDWR | O_NOCTTY);

		if (write(ready[1], fd < 0 ? "n" : "y", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &opened, 1), 1);
	close(ready[0]);
	if (opened != 'y') {
		kill(holder, SIGKILL);
		waitpid(holder, &status, 0);
		ck_abort_msg("cannot open %s", path);
	}
	return holder;
}

static void
release_port(pid_t holder)
{
	int status;

	kill(holder, SIGKILL);
	waitpid(holder, &status, 0);
}

START_TEST(open_refuses_a_held_port)
{
	struct kflash_katapult *k = NULL;
	struct kf_sim *s;
	char pid_text[32];
	pid_t holder;

	setup();
	s = kf_sim_startl(NULL, "--mode", "katapult");
	holder = hold_port(s->path);
	snprintf(pid_text, sizeof(pid_text), "process %d", (int)holder);
	kf_assert_error(ctx, kflash_katapult_open(ctx, s->path, 0, &k), KFLASH_ERR_BUSY, pid_text);
	ck_assert_ptr_null(k);
	release_port(holder);
	kf_assert_error(ctx, kflash_katapult_open(ctx, "/nonexistent/tty", 0, &k),
			KFLASH_ERR_NOT_FOUND, "/nonexistent/tty");
	kf_sim_stop(s);

	/* Klipper's own port, held (by Klipper under another service name): no touch. */
	s = kf_sim_startl(NULL, "--mode", "usb");
	holder = hold_port(s->path);
	snprintf(pid_text, sizeof(pid_text), "process %d", (int)holder);
	kf_assert_error(ctx, kflash_katapult_enter_usb(ctx, s->path), KFLASH_ERR_BUSY, pid_text);
	ck_assert(strstr(kflash_context_last_error(ctx), "under another service name") != NULL);
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_SET_SERVICE);
	usleep(200000);
	ck_assert_int_eq(kf_sim_log_count(s, "touch"), 0);
	release_port(holder);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(wait_sees_a_rom_bootloader_instead)
{
	struct kflash_device *dev = NULL;
	struct kf_sim *s;

	setup();
	s = kf_sim_startl(NULL, "--mode", "usb", "--fault", "dfu", "--reenumerate-ms", "200");
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, s->dev), 0);
	ck_assert_int_eq(kflash_katapult_enter_usb(ctx, s->path), 0);
	kf_assert_error(ctx, kflash_katapult_wait(ctx, SERIAL, 5000, &dev),
			KFLASH_ERR_NOT_SUPPORTED,
			"came back as the STM32 ROM DFU bootloader (0483:df11)");
	ck_assert_ptr_null(dev);
	kf_sim_stop(s);

	/* Nothing at all comes back within the wait. */
	s = kf_sim_startl(NULL, "--mode", "usb");
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, s->dev), 0);
	kf_assert_error(ctx, kflash_katapult_wait(ctx, SERIAL, 200, &dev), KFLASH_ERR_TIMEOUT,
			"did not come back in Katapult mode within 200 ms");
	kf_sim_stop(s);
	teardown();
}
END_TEST

KF_TEST_SUITE(katapult)
{
	kf_test_add(codec_reference_frames);
	kf_test_add(codec_parses_by_length_and_skips_garbage);
	kf_test_add(prime_is_for_stm32_usb_fs_parts);
	kf_test_add_timeout(session_from_klipper_over_usb, 60);
	kf_test_add_timeout(session_already_in_katapult_and_protocol_10, 60);
	kf_test_add_timeout(session_over_a_uart_at_250000_baud, 120);
	kf_test_add_timeout(session_with_prime, 60);
	kf_test_add_loop(session_recovers_from_faults, (int)KF_ARRAY_SIZE(recoverable));
	kf_test_add_loop(session_fails_clearly_and_never_completes, (int)KF_ARRAY_SIZE(fatal));
	kf_test_add_timeout(session_reports_what_connect_says, 60);
	kf_test_add_timeout(session_misuse_is_refused, 60);
	kf_test_add_timeout(open_refuses_a_held_port, 60);
	kf_test_add_timeout(wait_sees_a_rom_bootloader_instead, 60);
}
