/* SPDX-License-Identifier: MIT */
/* kflash_flash_board(): find the board again, then flash it by its method. */
#include <string.h>

#include "flash-private.h"

KFLASH_EXPORT struct kflash_flash *
kflash_flash_ref(struct kflash_flash *f)
{
	if (f)
		f->refcount++;
	return f;
}

KFLASH_EXPORT struct kflash_flash *
kflash_flash_unref(struct kflash_flash *f)
{
	if (!f || --f->refcount > 0)
		return NULL;
	free(f);
	return NULL;
}

KFLASH_EXPORT int
kflash_flash_get_method(const struct kflash_flash *f)
{
	return f ? f->method : KFLASH_METHOD_NONE;
}

KFLASH_EXPORT uint64_t
kflash_flash_get_duration_ms(const struct kflash_flash *f)
{
	return f ? f->duration_ms : 0;
}

KFLASH_EXPORT int
kflash_flash_get_came_back(const struct kflash_flash *f)
{
	return f && f->came_back ? 1 : 0;
}

/*
 * The ROM bootloader a board came back as (DFU, BOOTSEL), or NULL: the
 * one at its USB port (@was, its device before) where the ports are known,
 * else the only one there is; with several and no port to tell them
 * apart, none, since guessing could flash another board.
 */
static struct kflash_device *
rom_bootloader(struct kflash_context *ctx, const struct kflash_device *was)
{
	const char *port = kflash_device_get_usb_port(was);
	struct kflash_discovery *d;
	struct kflash_device *found = NULL;
	size_t n = 0;

	if (kflash_discovery_scan(ctx, &d) < 0)
		return NULL;
	for (size_t i = 0; i < kflash_discovery_get_device_count(d); i++) {
		struct kflash_device *dev = kflash_discovery_get_device(d, i);
		enum kflash_device_mode m = kflash_device_get_mode(dev);
		const char *at = kflash_device_get_usb_port(dev);

		if (m != KFLASH_MODE_DFU && m != KFLASH_MODE_RP2_BOOT)
			continue;
		if (port && at && strcmp(port, at) != 0)
			continue;
		n++;
		if (!found)
			found = kflash_device_ref(dev);
	}
	kflash_discovery_unref(d);
	if (n > 1)
		found = kflash_device_unref(found);
	return found;
}

static int
run_methods(struct kf_flash_job *job, struct kflash_flash *f)
{
	struct kflash_context *ctx = job->ctx;
	enum kflash_method method = kflash_board_get_method(job->board);
	int r;

	/* The Linux process is a program on this host: Klipper installs it. */
	if (kflash_board_is_host_mcu(job->board))
		method = KFLASH_METHOD_MAKE;
	/* A CAN node or bridge has no port for make flash or an SD card script: Katapult only. */
	if (job->bridge || kf_flash_is_can_board(job->board)) {
		f->method = KFLASH_METHOD_KATAPULT;
		if (method == KFLASH_METHOD_MAKE || method == KFLASH_METHOD_SDCARD)
			return kf_error_hint(ctx, KFLASH_ERR_NOT_SUPPORTED, KFLASH_HINT_EDIT_BOARD,
					     kflash_board_get_name(job->board),
					     "board %s is a %s, which only Katapult can flash "
					     "(not %s); set its method to katapult or auto",
					     kflash_board_get_name(job->board),
					     job->bridge ? "USB-to-CAN bridge" : "CAN node",
					     kflash_method_name(method));
		return job->bridge ? kf_flash_bridge(job) : kf_flash_can(job);
	}
	switch (method) {
	case KFLASH_METHOD_MAKE:
		f->method = KFLASH_METHOD_MAKE;
		return kf_flash_make(job);
	case KFLASH_METHOD_SDCARD:
		f->method = KFLASH_METHOD_SDCARD;
		return kf_flash_sdcard(job);
	case KFLASH_METHOD_KATAPULT:
	case KFLASH_METHOD_AUTO:
	case KFLASH_METHOD_NONE:
		break;
	}
	f->method = KFLASH_METHOD_KATAPULT;
	r = kf_flash_katapult(job);
	if (r == 0 || method == KFLASH_METHOD_KATAPULT || job->connected ||
	    r == KFLASH_ERR_CANCELLED || r == KFLASH_ERR_MCU_MISMATCH || r == KFLASH_ERR_BUSY)
		return r;
	/* No Katapult on this board: Klipper's own way, as before kflash. */
	kf_warn(ctx, "%s; trying make flash instead", kflash_context_last_error(ctx));
	{
		struct kflash_device *was = job->device;

		job->device = r == KFLASH_ERR_NOT_SUPPORTED ? rom_bootloader(ctx, was) : NULL;
		kflash_device_unref(was);
	}
	if (!job->device) {
		r = kflash_discovery_locate(ctx, job->board, &job->device);
		if (r < 0)
			return r;
	}
	f->method = KFLASH_METHOD_MAKE;
	return kf_flash_make(job);
}

static int
flash(struct kf_flash_job *job, struct kflash_flash *f)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	int r;

	if (!kflash_firmware_get_mcu(job->firmware))
		kf_warn(ctx, "%s has no data dictionary: its MCU cannot be checked before flashing",
			kflash_firmware_get_path(job->firmware));
	r = kflash_firmware_check_board(ctx, job->firmware, job->board);
	if (r == 0)
		r = kflash_board_config_load(ctx, job->board, &job->config);
	if (r == KFLASH_ERR_NOT_FOUND)
		r = 0; /* a firmware given by hand: the checks that need it are skipped */
	if (r < 0)
		return r;
	/*
	 * Where the board is right now: the Linux process is no device, nor is
	 * a CAN node, unless it is a USB-to-CAN bridge.
	 */
	if (!kflash_board_is_host_mcu(job->board)) {
		r = kflash_discovery_locate(ctx, job->board, &job->device);
		if (r == KFLASH_ERR_NOT_SUPPORTED && kf_flash_is_can_board(job->board))
			r = 0;
		if (r < 0)
			return r;
		job->bridge =
			job->device && kflash_board_get_link(job->board) != KFLASH_LINK_SERIAL;
	}
	if (job->device) {
		if (kflash_device_get_mode(job->device) == KFLASH_MODE_UNKNOWN)
			kf_info(ctx, "found at %s, a serial port of unknown mode",
				kflash_device_get_path(job->device));
		else
			kf_info(ctx, "found in %s mode at %s",
				kflash_device_mode_name(kflash_device_get_mode(job->device)),
				kflash_device_get_path(job->device));
	}
	r = run_methods(job, f);
	/* A bridge's return is part of its flash: without it, nothing behind it works. */
	if (r == 0 && job->bridge) {
		f->came_back = true;
	} else if (r == 0) {
		f->came_back = kf_flash_is_can_board(job->board) ? kf_flash_can_came_back(job)
								 : kf_flash_wait_klipper(job);
		if (!f->came_back &&
		    (kflash_board_get_usb_serial(job->board) || kf_flash_is_can_board(job->board)))
			kf_warn(ctx,
				"board %s was flashed, but has not come back running Klipper "
				"within %u s",
				name,
				kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_RETURN) / 1000);
	}
	return r;
}

KFLASH_EXPORT int
kflash_flash_board(struct kflash_context *ctx,
		   const struct kflash_board *board,
		   struct kflash_firmware *firmware,
		   struct kflash_flash **ret)
{
	struct kf_flash_job job = { .ctx = ctx, .board = board, .firmware = firmware };
	struct kflash_flash *f;
	struct kf_scope prev;
	uint64_t start = kf_now_ms();
	int r;

	if (ret)
		*ret = NULL;
	if (!board || !firmware)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board or firmware to flash");
	f = calloc(1, sizeof(*f));
	if (!f)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	f->refcount = 1;
	f->method = KFLASH_METHOD_NONE;
	prev = kf_scope_enter(ctx, KFLASH_PHASE_FLASH, kflash_board_get_name(board));
	r = flash(&job, f);
	f->duration_ms = kf_now_ms() - start;
	if (r == 0)
		kf_info(ctx, "flashed with %s in %.1f s", kflash_method_name(f->method),
			(double)f->duration_ms / 1000);
	kf_scope_leave(ctx, prev);
	kflash_device_unref(job.device);
	kflash_config_unref(job.config);
	if (ret)
		*ret = f;
	else
		kflash_flash_unref(f);
	return r;
}
