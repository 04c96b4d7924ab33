/* SPDX-License-Identifier: MIT */
/* The Katapult method: enter the bootloader, check, write, verify, boot. */
#include <string.h>

#include "flash-private.h"

#define DEFAULT_BAUD 250000
#define UART_RESET_MS 1000
#define UART_BOOT_MS 250

/* The board's UART baud: the registry's, else its config's, else Klipper's default. */
static uint32_t
uart_baud(const struct kf_flash_job *job)
{
	uint32_t baud = kflash_board_get_baud(job->board);

	if (!baud && job->config)
		baud = kflash_config_get_serial_baud(job->config);
	return baud ? baud : DEFAULT_BAUD;
}

/* Get the board into Katapult; *path gets where to talk to it. */
static int
enter(struct kf_flash_job *job, char **path, bool *usb)
{
	struct kflash_context *ctx = job->ctx;
	const char *serial = kflash_board_get_usb_serial(job->board);
	enum kflash_device_mode mode = kflash_device_get_mode(job->device);
	struct kflash_device *katapult = NULL;
	struct kflash_discovery *before = NULL;
	int r;

	*usb = serial != NULL;
	if (mode == KFLASH_MODE_KATAPULT) {
		*path = kf_strdup(kflash_device_get_path(job->device));
		return *path ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	if (mode == KFLASH_MODE_DFU || mode == KFLASH_MODE_RP2_BOOT)
		return kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				"board %s is in its ROM bootloader (%s), not Katapult",
				kflash_board_get_name(job->board), kflash_device_mode_name(mode));
	if (!*usb) {
		/* A UART: the request string, then Katapult on the same path. */
		r = kflash_katapult_enter_uart(ctx, kflash_device_get_path(job->device),
					       uart_baud(job));
		/* Klipper resets into Katapult; give it the second Katapult's own tool gives. */
		if (r == 0)
			r = kf_sleep_ms(ctx, UART_RESET_MS);
		*path = r == 0 ? kf_strdup(kflash_device_get_path(job->device)) : NULL;
		return r < 0 ? r : *path ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	/* What is there before the touch: a ROM bootloader that appears after it is the board's. */
	r = kflash_discovery_scan(ctx, &before);
	if (r == 0)
		r = kflash_katapult_enter_usb(ctx, kflash_device_get_path(job->device));
	if (r == 0)
		r = kf_katapult_wait_since(
			ctx, serial, kflash_device_get_usb_port(job->device), before,
			kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BOOTLOADER), &katapult);
	kflash_discovery_unref(before);
	if (r < 0)
		return r;
	*path = kf_strdup(kflash_device_get_path(katapult));
	kflash_device_unref(katapult);
	return *path ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

/* The checks before the first block, each naming both sides. */
static int
check(struct kf_flash_job *job, struct kflash_katapult *k)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	const char *device_mcu = kflash_katapult_get_mcu(k);
	const char *board_mcu = kflash_board_get_mcu(job->board);
	const char *fw_mcu = kflash_firmware_get_mcu(job->firmware);
	uint32_t start = kflash_katapult_get_app_start(k);
	size_t size = kflash_firmware_get_size(job->firmware);

	if (!kflash_mcu_matches(device_mcu, board_mcu))
		return kf_error(ctx, KFLASH_ERR_MCU_MISMATCH,
				"the device of board %s reports a %s, but the board is registered "
				"as a %s: is this the right board?",
				name, device_mcu, board_mcu);
	if (fw_mcu && !kflash_mcu_matches(device_mcu, fw_mcu))
		return kf_error(ctx, KFLASH_ERR_MCU_MISMATCH,
				"board %s is a %s, but the firmware %s is for a %s", name,
				device_mcu, kflash_firmware_get_path(job->firmware), fw_mcu);
	if (job->config) {
		uint32_t want = kflash_config_get_application_address(job->config);
		const char *flash_size = kflash_config_get_value(job->config, "CONFIG_FLASH_SIZE");
		const char *boot =
			kflash_config_get_value(job->config, "CONFIG_FLASH_BOOT_ADDRESS");

		if (want && want != start)
			return kf_error_hint(
				ctx, KFLASH_ERR_FLASH, KFLASH_HINT_CONFIGURE_BOARD, name,
				"Katapult on board %s starts the application at 0x%08x, but "
				"its config %s builds it for 0x%08x, so the board could not "
				"boot; set the bootloader offset in its config to match "
				"(nothing was written)",
				name, start, kflash_config_get_path(job->config), want);
		if (flash_size && boot) {
			unsigned long long end =
				strtoull(boot, NULL, 0) + strtoull(flash_size, NULL, 0);

			if ((unsigned long long)start + size > end)
				return kf_error(
					ctx, KFLASH_ERR_FLASH,
					"the firmware (%zu bytes) does not fit in the flash of "
					"board %s above 0x%08x (it ends at 0x%08llx)",
					size, name, start, end);
		}
	} else {
		kf_warn(ctx,
			"board %s has no config, so Katapult's application start (0x%08x) "
			"cannot be checked",
			name, start);
	}
	return 0;
}

int
kf_flash_katapult_transfer(struct kf_flash_job *job, struct kflash_katapult *k)
{
	int r = kflash_katapult_connect(k);

	if (r == 0) {
		job->connected = true;
		r = check(job, k);
	}
	if (r == 0)
		r = kflash_katapult_write(k, kflash_firmware_get_data(job->firmware),
					  kflash_firmware_get_size(job->firmware));
	if (r == 0)
		r = kflash_katapult_verify(k);
	if (r == 0)
		r = kflash_katapult_complete(k);
	return r;
}

int
kf_flash_katapult(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	_cleanup_free_ char *path = NULL;
	struct kflash_katapult *k = NULL;
	bool usb;
	int r;

	r = enter(job, &path, &usb);
	if (r == 0)
		r = kflash_katapult_open(ctx, path, usb ? 0 : uart_baud(job), &k);
	if (r == 0) {
		kflash_katapult_set_prime(k, usb && kflash_katapult_mcu_needs_prime(
							    kflash_board_get_mcu(job->board)));
		r = kf_flash_katapult_transfer(job, k);
	}
	kflash_katapult_unref(k);
	/*
	 * Katapult jumps to the new firmware about 100 ms after it answers
	 * COMPLETE. A USB board is seen coming back; a UART board is not, so
	 * give it that time before anything talks to it again.
	 */
	if (r == 0 && !usb)
		r = kf_sleep_ms(ctx, UART_BOOT_MS);
	return r;
}

bool
kf_flash_wait_klipper(struct kf_flash_job *job)
{
	const char *serial = kflash_board_get_usb_serial(job->board);
	uint64_t deadline;

	if (!serial)
		return false;
	deadline = kf_now_ms() + kflash_context_get_timeout(job->ctx, KFLASH_TIMEOUT_RETURN);
	do {
		struct kflash_device *dev = NULL;
		bool back = kflash_discovery_locate(job->ctx, job->board, &dev) == 0 &&
			    kflash_device_get_mode(dev) == KFLASH_MODE_KLIPPER;

		kflash_device_unref(dev);
		if (back)
			return true;
	} while (kf_now_ms() < deadline && kf_sleep_ms(job->ctx, 100) == 0);
	return false;
}
