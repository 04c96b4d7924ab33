/* SPDX-License-Identifier: MIT */
/*
 * kflash_flash_board() on its own, as a C program would call it: one board,
 * one firmware, against kflash-sim, with no service guard and no registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf-test.h"
#include "sim-run.h"

#define MCU "stm32f446xx"
#define SERIAL "1A2B3C4D5E6F708192A3B4C5"
#define IMAGE_SIZE 3000

static struct kflash_context *ctx;
static char *dir;
static struct kf_sim *sim;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	sim = NULL;
}

static void
teardown(void)
{
	if (sim)
		kf_sim_stop(sim);
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

/* A simulated board in the context's device dir, with @args after the common ones. */
static void
start_board(const char *const *args)
{
	char devdir[4200];
	const char *all[16] = { "--mcu", MCU, "--serial", SERIAL, "--reenumerate-ms", "50" };
	size_t n = 6;

	for (; args && *args; args++)
		all[n++] = *args;
	all[n] = NULL;
	snprintf(devdir, sizeof(devdir), "%s/dev", dir);
	ck_assert_int_eq(mkdir(devdir, 0755), 0);
	sim = kf_sim_start(devdir, all);
}

/* A board of @mcu on the Klipper by-id link, flashed by @method. */
static struct kflash_board *
make_board(const char *mcu, enum kflash_method method)
{
	struct kflash_board *b;
	char path[4400];

	snprintf(path, sizeof(path), "%s/dev/serial/by-id/usb-Klipper_%s_%s-if00", dir, MCU,
		 SERIAL);
	ck_assert_int_eq(kflash_board_new(ctx, "octopus", &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, mcu), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(b, path), 0);
	ck_assert_int_eq(kflash_board_set_method(b, method), 0);
	return b;
}

/* klipper.bin (and klipper.dict for @dict_mcu, unless NULL) under the test dir. */
static struct kflash_firmware *
make_firmware(const char *dict_mcu)
{
	struct kflash_firmware *fw;
	char path[4400], dict[4400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/fw", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fw/klipper.bin", dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < IMAGE_SIZE; i++)
		fputc((i * 13 + 5) & 0xff, f);
	fclose(f);
	snprintf(dict, sizeof(dict), "%s/fw/klipper.dict", dir);
	unlink(dict);
	if (dict_mcu) {
		char text[256];

		snprintf(text, sizeof(text),
			 "{\"version\": \"v0.12.0-1-gabc\", \"config\": {\"MCU\": \"%s\"}}",
			 dict_mcu);
		kf_test_write_file(dict, text);
	}
	ck_assert_msg(kflash_firmware_load(ctx, path, &fw) == 0, "%s",
		      kflash_context_last_error(ctx));
	return fw;
}

START_TEST(flash_board_by_katapult)
{
	struct kflash_board *b;
	struct kflash_firmware *fw;
	struct kflash_flash *f = NULL;
	char *image;
	struct stat st;

	setup();
	start_board(NULL);
	b = make_board(MCU, KFLASH_METHOD_KATAPULT);
	fw = make_firmware(MCU);
	ck_assert_msg(kflash_flash_board(ctx, b, fw, &f) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_flash_get_method(f), KFLASH_METHOD_KATAPULT);
	ck_assert_int_eq(kflash_flash_get_came_back(f), 1);
	ck_assert_uint_gt(kflash_flash_get_duration_ms(f), 0);
	ck_assert_ptr_eq(kflash_flash_ref(f), f);
	ck_assert_ptr_null(kflash_flash_unref(f));
	ck_assert_ptr_null(kflash_flash_unref(f));
	ck_assert(kf_test_events_contain(ctx, "found in klipper mode"));
	ck_assert(kf_test_events_contain(ctx, "verified 3000 bytes"));
	/* The board got the file, byte for byte. */
	kf_sim_end(sim);
	ck_assert_int_eq(stat(sim->image, &st), 0);
	/* the last block is padded with 0xFF to the device's 64 bytes */
	ck_assert_int_eq(st.st_size, (IMAGE_SIZE + 63) / 64 * 64);
	image = kf_test_read_file(sim->image);
	for (int i = 0; i < IMAGE_SIZE; i++)
		ck_assert_int_eq((unsigned char)image[i], (i * 13 + 5) & 0xff);
	for (int i = IMAGE_SIZE; i < st.st_size; i++)
		ck_assert_int_eq((unsigned char)image[i], 0xff);
	free(image);
	kflash_firmware_unref(fw);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(flash_board_refuses_another_mcus_firmware)
{
	struct kflash_board *b;
	struct kflash_firmware *fw;
	struct kflash_flash *f = NULL;

	setup();
	start_board(NULL);
	b = make_board(MCU, KFLASH_METHOD_AUTO);
	fw = make_firmware("rp2040");
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, &f), KFLASH_ERR_MCU_MISMATCH,
			"board octopus is a stm32f446xx, but the firmware");
	ck_assert(strstr(kflash_context_last_error(ctx), "is for a rp2040") != NULL);
	/* The outcome comes back on failure too: nothing ran. */
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(kflash_flash_get_method(f), KFLASH_METHOD_NONE);
	kflash_flash_unref(f);
	ck_assert_int_eq(kf_sim_log_count(sim, "rx "), 0);
	ck_assert_int_eq(kf_sim_log_count(sim, "touch"), 0);
	kflash_firmware_unref(fw);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(flash_board_without_a_dictionary_warns)
{
	struct kflash_board *b;
	struct kflash_firmware *fw;

	setup();
	start_board((const char *const[]){ "--mode", "katapult", NULL });
	b = make_board(MCU, KFLASH_METHOD_KATAPULT);
	{
		char path[4400];

		snprintf(path, sizeof(path), "%s/dev/serial/by-id/usb-katapult_%s_%s-if00", dir,
			 MCU, SERIAL);
		ck_assert_int_eq(kflash_board_set_serial_path(b, path), 0);
	}
	fw = make_firmware(NULL);
	ck_assert_msg(kflash_flash_board(ctx, b, fw, NULL) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert(kf_test_events_contain(ctx, "has no data dictionary"));
	ck_assert_int_eq(kf_sim_log_count(sim, "rx COMPLETE"), 1);
	kflash_firmware_unref(fw);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(flash_board_errors)
{
	struct kflash_board *b;
	struct kflash_firmware *fw;

	setup();
	b = make_board(MCU, KFLASH_METHOD_KATAPULT);
	fw = make_firmware(MCU);
	kf_assert_error(ctx, kflash_flash_board(ctx, NULL, fw, NULL), KFLASH_ERR_INVALID,
			"no board or firmware to flash");
	kf_assert_error(ctx, kflash_flash_board(ctx, b, NULL, NULL), KFLASH_ERR_INVALID,
			"no board or firmware to flash");
	/* Not plugged in: found missing before anything is tried. */
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, NULL), KFLASH_ERR_NOT_FOUND,
			"board octopus is not connected");

	/* make flash needs the board's config, and says how to make one. */
	start_board(NULL);
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_MAKE), 0);
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, NULL), KFLASH_ERR_NOT_FOUND,
			"make flash needs board octopus's config, and it has none yet");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_CONFIGURE_BOARD);
	ck_assert_str_eq(kflash_context_last_error_subject(ctx), "octopus");

	/* The SD card script needs a board name for it, and a real dictionary. */
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_SDCARD), 0);
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, NULL), KFLASH_ERR_INVALID,
			"has no SD card board name; set the board's SD card board");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_EDIT_BOARD);
	ck_assert_int_eq(kflash_board_set_sdcard_board(b, "btt-octopus"), 0);
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, NULL), KFLASH_ERR_NOT_FOUND,
			"flash-sdcard.sh: is the Klipper dir right?");
	kflash_firmware_unref(fw);
	fw = make_firmware(NULL);
	kf_assert_error(ctx, kflash_flash_board(ctx, b, fw, NULL), KFLASH_ERR_NOT_FOUND,
			"Klipper's SD card script needs the firmware's data dictionary, and");
	ck_assert_int_eq(kf_sim_log_count(sim, "rx "), 0);
	kflash_firmware_unref(fw);
	kflash_board_unref(b);
	teardown();
}
END_TEST

KF_TEST_SUITE(flash)
{
	kf_test_add_timeout(flash_board_by_katapult, 60);
	kf_test_add_timeout(flash_board_refuses_another_mcus_firmware, 60);
	kf_test_add_timeout(flash_board_without_a_dictionary_warns, 60);
	kf_test_add_timeout(flash_board_errors, 60);
}
