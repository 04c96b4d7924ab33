/* SPDX-License-Identifier: MIT */
/* Klipper's own flashing: `make flash`, and the SD card script. */
#include <string.h>

#include "flash-private.h"
#include "internal/fs.h"
#include "klipper/klipper.h"

int
kf_flash_make(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	_cleanup_free_ char *out = kf_board_build_dir(ctx, name);
	_cleanup_free_ char *device = NULL;
	const char *const targets[] = { "flash", NULL };
	const char *vars[2] = { NULL, NULL };
	struct kf_make m = {
		.out = out,
		.targets = targets,
		.vars = vars,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_FLASH),
	};

	if (!job->config)
		return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_CONFIGURE_BOARD, name,
				     "make flash needs board %s's config, and it has none yet",
				     name);
	/* A board in a ROM bootloader is named by its USB id, as Klipper's flash_usb.py wants. */
	if (!job->device)
		device = NULL;
	else if (kflash_device_get_mode(job->device) == KFLASH_MODE_DFU ||
		 kflash_device_get_mode(job->device) == KFLASH_MODE_RP2_BOOT)
		device = kf_strdup_printf("FLASH_DEVICE=%04x:%04x",
					  kflash_device_get_vid(job->device),
					  kflash_device_get_pid(job->device));
	else
		device = kf_strdup_printf("FLASH_DEVICE=%s", kflash_device_get_path(job->device));
	if (!out || (job->device && !device))
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	vars[0] = device;
	m.config = kflash_config_get_path(job->config);
	kf_info(ctx, "flashing with make flash%s%s", device ? " " : "", device ? device : "");
	return kf_klipper_make(ctx, &m) == 0
		       ? 0
		       : kf_error(ctx, KFLASH_ERR_FLASH, "%s", kflash_context_last_error(ctx));
}

/*
 * The firmware and dictionary files for the SD card script: the loaded
 * ones, or, for a dictionary embedded in the image, copies that have it
 * beside them.
 */
static int
sdcard_files(struct kf_flash_job *job, char **image, char **dict)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	_cleanup_free_ char *state = NULL, *dir = NULL;
	const char *path = kflash_firmware_get_path(job->firmware);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int r;

	switch (kflash_firmware_get_dictionary_origin(job->firmware)) {
	case KFLASH_DICTIONARY_FILE:
		*image = kf_strdup(path);
		*dict = kf_strdup(kflash_firmware_get_dictionary_path(job->firmware));
		break;
	case KFLASH_DICTIONARY_EMBEDDED:
		state = kf_board_state_dir(ctx, name);
		dir = state ? kf_path_join(state, "sdcard") : NULL;
		if (!dir)
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		r = kflash_firmware_save(ctx, job->firmware, dir, 0);
		if (r < 0)
			return r;
		*image = kf_path_join(dir, base);
		*dict = kf_path_join(dir, "klipper.dict");
		break;
	default:
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"Klipper's SD card script needs the firmware's data dictionary, "
				"and %s has none (no klipper.dict beside it, none embedded)",
				path);
	}
	return *image && *dict ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

int
kf_flash_sdcard(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	_cleanup_free_ char *script =
		kf_path_join(kflash_context_get_klipper_dir(ctx), "scripts/flash-sdcard.sh");
	_cleanup_free_ char *image = NULL, *dict = NULL;
	const char *argv[] = { script,
			       "-f",
			       NULL,
			       "-d",
			       NULL,
			       kflash_device_get_path(job->device),
			       kflash_board_get_sdcard_board(job->board),
			       NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_FLASH),
		.tail_lines = 10,
	};
	struct kf_process_result res;
	int r;

	if (!script)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (!argv[6])
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "board %s uses the sdcard method but has no SD card board "
				     "name; set the board's SD card board",
				     name);
	r = sdcard_files(job, &image, &dict);
	if (r < 0)
		return r;
	argv[2] = image;
	argv[4] = dict;
	kf_info(ctx, "flashing through the SD card with %s", script);
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code != 0)
		r = kf_error(ctx, KFLASH_ERR_FLASH,
			     "flash-sdcard.sh failed with exit status %d%s%s", res.exit_code,
			     res.tail ? "; its last lines:\n" : "", res.tail ? res.tail : "");
	else if (r == KFLASH_ERR_NOT_FOUND)
		r = kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_SET_KLIPPER_DIR, NULL,
				  "no %s: is the Klipper dir right?", script);
	kf_process_result_clear(&res);
	return r;
}
