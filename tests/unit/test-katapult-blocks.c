/* SPDX-License-Identifier: MIT */
/*
 * Block sizes: every size a bootloader may announce either works end to
 * end or is refused before the first block, never a crash. A device takes
 * frames of at most 128 bytes, so blocks of up to 116 bytes can be sent.
 */
#include <stdio.h>
#include <string.h>

#include "katapult/codec.h"
#include "kf-test.h"
#include "libkflash-private.h"
#include "script-transport.h"
#include "sim-run.h"

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

static uint8_t *
make_image(size_t size)
{
	uint8_t *img = malloc(size);

	for (size_t i = 0; i < size; i++)
		img[i] = (uint8_t)(i * 13 + (i >> 7));
	return img;
}

/* ---- a scripted bootloader announcing any CONNECT answer ---- */

struct announce {
	uint8_t payload[64]; /* the CONNECT answer after its echoed command */
	size_t len;
};

/* Answer CONNECT with the announced payload; stay silent to anything else. */
static void
answer_connect(struct kf_script *s, const uint8_t *w, size_t len, void *data)
{
	const struct announce *a = data;
	uint8_t ack[4 + sizeof(a->payload)] = { 0x11, 0, 0, 0 };

	if (len < 4 || w[0] != 0x01 || w[1] != 0x88 || w[2] != 0x11)
		return;
	memcpy(ack + 4, a->payload, a->len);
	kf_script_queue_frame(s, 0xa0, ack, 4 + a->len);
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* protocol 1.0, application at 0x08008000, @block_size, MCU "stm32" */
static struct announce
announce_block_size(uint32_t block_size)
{
	struct announce a = { .len = 20 };

	put32(a.payload, 0x00010000);
	put32(a.payload + 4, 0x08008000);
	put32(a.payload + 8, block_size);
	memcpy(a.payload + 12, "stm32\0\0\0", 8);
	return a;
}

static struct kflash_katapult *
scripted_session(struct kf_script *s)
{
	struct kflash_katapult *k = NULL;

	ck_assert_int_eq(kf_katapult_new(ctx, kf_script_transport(ctx, s, "scripted"), &k), 0);
	ck_assert_int_eq(kflash_katapult_set_retries(k, 2, 20, 20), 0);
	return k;
}

/*
 * The fuzzer's reproducer (a session harness: its first word is the
 * harness's own, the image size 0x601; the rest is the CONNECT answer
 * after the echoed command): 128-byte blocks once overflowed the frame
 * buffer on the stack and crashed a release build.
 */
START_TEST(reproducer_128_byte_blocks_are_refused_before_writing)
{
	static const uint8_t input[] = { 0x00, 0x00, 0x01, 0x06, 0x00, 0x00, 0x01, 0x00,
					 0x00, 0x80, 0x00, 0x08, 0x80, 0x00, 0x00, 0x00,
					 0x73, 0x74, 0x6d, 0x33, 0x32, 0x00, 0x00, 0x00 };
	struct announce a = { .len = sizeof(input) - 4 };
	size_t image_size = (size_t)input[2] | (size_t)input[3] << 8;
	uint8_t *img = make_image(image_size);
	struct kflash_katapult *k;
	struct kf_script *s;
	size_t written;

	setup();
	memcpy(a.payload, input + 4, a.len);
	s = kf_script_new(answer_connect, &a);
	k = scripted_session(s);
	ck_assert_msg(kflash_katapult_connect(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_katapult_get_block_size(k), 128);
	ck_assert_str_eq(kflash_katapult_get_mcu(k), "stm32");
	kf_assert_error(ctx, kflash_katapult_write(k, img, image_size), KFLASH_ERR_NOT_SUPPORTED,
			"announces 128-byte blocks");
	ck_assert(strstr(kflash_context_last_error(ctx), "Nothing was written") != NULL);
	/* Only the CONNECT went out: not one block. */
	kf_script_written(s, &written);
	ck_assert_uint_eq(written, 8);
	kf_assert_error(ctx, kflash_katapult_verify(k), KFLASH_ERR_INVALID, "write an image");
	kf_assert_error(ctx, kflash_katapult_complete(k), KFLASH_ERR_INVALID, "not verified");
	kflash_katapult_unref(k);
	ck_assert(kf_script_closed(s));
	kf_script_free(s);
	free(img);
	teardown();
}
END_TEST

/* Sizes Katapult's host accepts but no device can receive: refused, nothing sent. */
static const uint32_t too_large[] = { 120, 128, 256, 512 };

START_TEST(blocks_longer_than_a_device_frame_are_refused)
{
	struct announce a = announce_block_size(too_large[_i]);
	uint8_t *img = make_image(4000);
	struct kflash_katapult *k;
	struct kf_script *s;
	char needle[64];
	size_t written;

	setup();
	s = kf_script_new(answer_connect, &a);
	k = scripted_session(s);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	snprintf(needle, sizeof(needle), "a frame carrying one is %u bytes",
		 (unsigned)too_large[_i] + 12);
	kf_assert_error(ctx, kflash_katapult_write(k, img, 4000), KFLASH_ERR_NOT_SUPPORTED, needle);
	kf_script_written(s, &written);
	ck_assert_uint_eq(written, 8);
	kflash_katapult_unref(k);
	kf_script_free(s);
	free(img);
	teardown();
}
END_TEST

/* Sizes that are not a block size at all: refused at CONNECT. */
static const uint32_t impossible[] = { 0, 4, 60, 66, 514, 516, 1024, 0xffffffffu };

START_TEST(impossible_block_sizes_are_a_protocol_error)
{
	struct announce a = announce_block_size(impossible[_i]);
	struct kflash_katapult *k;
	struct kf_script *s;

	setup();
	s = kf_script_new(answer_connect, &a);
	k = scripted_session(s);
	kf_assert_error(ctx, kflash_katapult_connect(k), KFLASH_ERR_PROTOCOL,
			"a block is a multiple of 4 bytes from 64 to 512");
	ck_assert_uint_eq(kflash_katapult_get_block_size(k), 0);
	kflash_katapult_unref(k);
	kf_script_free(s);
	teardown();
}
END_TEST

/* The encoder never writes past its buffer, and a 512-byte block has room. */
START_TEST(codec_encode_respects_its_buffer)
{
	uint8_t out[KF_KAT_TX_FRAME_MAX + 8], payload[4 + KF_KAT_BLOCK_MAX] = { 0 };
	struct kf_kat_frame f;
	size_t used;

	memset(out, 0xee, sizeof(out));
	ck_assert_uint_eq(kf_kat_encode(out, KF_KAT_TX_FRAME_MAX, 0x12, payload, sizeof(payload)),
			  KF_KAT_TX_FRAME_MAX);
	ck_assert_uint_eq(out[KF_KAT_TX_FRAME_MAX], 0xee);
	ck_assert_int_eq(kf_kat_decode(out, KF_KAT_TX_FRAME_MAX, &f, &used), KF_KAT_FRAME);
	ck_assert_uint_eq(f.words, 129);
	ck_assert_uint_eq(
		kf_kat_encode(out, KF_KAT_TX_FRAME_MAX - 1, 0x12, payload, sizeof(payload)), 0);
	ck_assert_uint_eq(kf_kat_encode(out, sizeof(out), 0x12, payload, 6), 0);
	ck_assert_uint_eq(kf_kat_encode(out, 7, 0x11, NULL, 0), 0);
}
END_TEST

/* ---- end to end against kflash-sim ---- */

/* Sizes that fit a device frame: written, verified, completed. */
static const uint32_t workable[] = { 64, 80, 96, 112, 116 };

static void
start_sim(struct kf_sim **s, uint32_t bs)
{
	char block[16], app[16], flash[16], page[16];

	/* Everything aligned to the block, as Katapult's flash code needs. */
	snprintf(block, sizeof(block), "%u", bs);
	snprintf(app, sizeof(app), "%u", bs * 64);
	snprintf(flash, sizeof(flash), "%u", bs * 2048);
	snprintf(page, sizeof(page), "%u", bs * 16);
	*s = kf_sim_startl(NULL, "--mode", "katapult", "--block-size", block, "--flash-start", "0",
			   "--app-start", app, "--flash-size", flash, "--page-size", page);
}

START_TEST(block_sizes_that_fit_flash_end_to_end)
{
	uint32_t bs = workable[_i];
	size_t size = bs * 40 + 7;
	uint8_t *img = make_image(size), *got;
	struct kflash_katapult *k = NULL;
	struct kf_sim *s;
	size_t n;
	FILE *f;

	setup();
	start_sim(&s, bs);
	ck_assert_int_eq(kflash_katapult_open(ctx, s->path, 0, &k), 0);
	ck_assert_int_eq(kflash_katapult_set_retries(k, 3, 500, 500), 0);
	ck_assert_msg(kflash_katapult_connect(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_katapult_get_block_size(k), bs);
	ck_assert_msg(kflash_katapult_write(k, img, size) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_msg(kflash_katapult_verify(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_katapult_complete(k), 0);
	kflash_katapult_unref(k);
	ck_assert(kf_sim_log_wait(s, "complete"));
	ck_assert_int_eq(kf_sim_log_count(s, "rx SEND_BLOCK"), 41);
	ck_assert_int_eq(kf_sim_log_count(s, "rx garbage"), 0);
	kf_sim_end(s);
	f = fopen(s->image, "rb");
	ck_assert_ptr_nonnull(f);
	got = malloc(size + bs);
	n = fread(got, 1, size + bs, f);
	fclose(f);
	ck_assert_uint_eq(n, 41 * bs);
	ck_assert_int_eq(memcmp(got, img, size), 0);
	free(got);
	free(img);
	kf_sim_stop(s);
	teardown();
}
END_TEST

START_TEST(block_sizes_a_device_cannot_receive_leave_it_untouched)
{
	uint32_t bs = too_large[_i];
	uint8_t *img = make_image(3000);
	struct kflash_katapult *k = NULL;
	struct kf_sim *s;

	setup();
	start_sim(&s, bs);
	ck_assert_int_eq(kflash_katapult_open(ctx, s->path, 0, &k), 0);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	kf_assert_error(ctx, kflash_katapult_write(k, img, 3000), KFLASH_ERR_NOT_SUPPORTED,
			"the board stays in Katapult");
	/* The board still answers: nothing stalled its parser. */
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	kflash_katapult_unref(k);
	kf_sim_end(s);
	ck_assert_int_eq(kf_sim_log_count(s, "rx SEND_BLOCK"), 0);
	ck_assert_int_eq(kf_sim_log_count(s, "rx garbage"), 0);
	ck_assert_int_eq(kf_sim_log_count(s, "rx CONNECT"), 2);
	free(img);
	kf_sim_stop(s);
	teardown();
}
END_TEST

KF_TEST_SUITE(katapult_blocks)
{
	kf_test_add(reproducer_128_byte_blocks_are_refused_before_writing);
	kf_test_add_loop(blocks_longer_than_a_device_frame_are_refused,
			 (int)KF_ARRAY_SIZE(too_large));
	kf_test_add_loop(impossible_block_sizes_are_a_protocol_error,
			 (int)KF_ARRAY_SIZE(impossible));
	kf_test_add(codec_encode_respects_its_buffer);
	kf_test_add_loop(block_sizes_that_fit_flash_end_to_end, (int)KF_ARRAY_SIZE(workable));
	kf_test_add_loop(block_sizes_a_device_cannot_receive_leave_it_untouched,
			 (int)KF_ARRAY_SIZE(too_large));
}
