/* SPDX-License-Identifier: MIT */
/* Klipper's own flashing: `make flash`, and the SD card script. */
#include <string.h>

#include "flash-private.h"
#include "internal/fs.h"
#include "internal/klipper.h"

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
		return kf_error(
			ctx, KFLASH_ERR_NOT_FOUND,
			"make flash needs board %s's config; create it with kflash config %s", name,
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

int
kf_flash_sdcard(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	const char *source = kflash_firmware_get_dictionary_source(job->firmware);
	_cleanup_free_ char *script =
		kf_strdup_printf("%s/scripts/flash-sdcard.sh", kflash_context_get_klipper_dir(ctx));
	const char *argv[] = { script,
			       "-f",
			       kflash_firmware_get_path(job->firmware),
			       "-d",
			       source,
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
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"board %s uses the sdcard method but has no SD card board name; "
				"add it with kflash add ... --sdcard-board NAME",
				name);
	if (!source || strcmp(source, "embedded") == 0)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"the SD card script needs klipper.dict beside %s",
				kflash_firmware_get_path(job->firmware));
	kf_info(ctx, "flashing through the SD card with %s", script);
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code != 0)
		r = kf_error(ctx, KFLASH_ERR_FLASH,
			     "flash-sdcard.sh failed with exit status %d%s%s", res.exit_code,
			     res.tail ? "; its last lines:\n" : "", res.tail ? res.tail : "");
	else if (r == KFLASH_ERR_NOT_FOUND)
		r = kf_error(ctx, KFLASH_ERR_NOT_FOUND, "no %s: is the Klipper dir right?", script);
	kf_process_result_clear(&res);
	return r;
}
