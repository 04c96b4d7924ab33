/* SPDX-License-Identifier: MIT */
/*
 * The Katapult method on a USB-to-CAN bridge: a mainboard that is the
 * host's CAN interface while it runs Klipper. Asked into its bootloader by
 * its UUID on its own bus, it leaves the bus (the interface goes, and with
 * it every node behind it) and comes back on USB as Katapult, found by its
 * serial number; it is flashed there like a USB board, and after COMPLETE
 * it is back as the bridge, interface and all, or it is not.
 */
#include <string.h>
#include <strings.h>

#include "flash-private.h"

/* The bridge's CAN interface: registered, its device's, or can0. */
static const char *
interface_of(const struct kf_flash_job *job)
{
	const char *iface = kflash_board_get_can_interface(job->board);

	if (!iface && job->device)
		iface = kflash_device_get_net_interface(job->device);
	return iface ? iface : "can0";
}

/* The bridge's serial number: registered, or its device's. */
static const char *
serial_of(const struct kf_flash_job *job)
{
	const char *serial = kflash_board_get_usb_serial(job->board);

	return serial ? serial : kflash_device_get_serial_number(job->device);
}

/* The bridge's UUID on its bus: registered, or the one its serial number gives. */
static const char *
uuid_of(const struct kf_flash_job *job)
{
	const char *uuid = kflash_board_get_can_uuid(job->board);

	return uuid ? uuid : kflash_device_get_can_uuid(job->device);
}

/* Ask the bridge into Katapult on its own bus; *@ret gets its Katapult device. */
static int
enter(struct kf_flash_job *job, struct kflash_device **ret)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	const char *iface = interface_of(job);
	const char *uuid = uuid_of(job);
	uint32_t bitrate = job->config ? kflash_config_get_canbus_frequency(job->config) : 0;
	struct kflash_discovery *before = NULL;
	struct kflash_can_bus *bus = NULL;
	int r;

	if (!uuid)
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "bridge %s has no CAN UUID, and its serial number gives none; "
				     "set its CAN UUID",
				     name);
	r = kflash_can_check_interface(ctx, iface, bitrate);
	if (r == 0)
		r = kflash_discovery_scan(ctx, &before);
	if (r == 0)
		r = kflash_can_bus_open(ctx, iface, &bus);
	if (r == 0) {
		kf_info(ctx,
			"asking bridge %s (%s) to enter Katapult on its own interface %s, which "
			"goes away with it until it runs Klipper again",
			name, uuid, iface);
		r = kflash_can_bus_request_bootloader(bus, uuid);
	}
	/* Closed now: the interface is about to vanish under it. */
	kflash_can_bus_unref(bus);
	if (r == 0)
		r = kf_katapult_wait_since(
			ctx, serial_of(job), kflash_device_get_usb_port(job->device), before,
			kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BOOTLOADER), ret);
	if (r == KFLASH_ERR_NOT_SUPPORTED) {
		const struct kflash_device *rom = NULL;
		struct kflash_discovery *now = NULL;

		if (kflash_discovery_scan(ctx, &now) == 0)
			rom = kf_new_rom_bootloader(now, before,
						    kflash_device_get_usb_port(job->device));
		r = kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
			     "bridge %s came back as %s%s%s instead of Katapult: it has no "
			     "Katapult. Nothing was written, but its CAN interface %s is gone, and "
			     "with it every board behind it, until it runs Klipper again: reset "
			     "or power-cycle it to get it back with its old firmware. To flash "
			     "it, install Katapult on it (see Katapult's documentation), or flash "
			     "it in its ROM bootloader with Klipper's make flash "
			     "FLASH_DEVICE=%04x:%04x",
			     name, rom ? kf_rom_bootloader_name(rom) : "a ROM bootloader",
			     rom ? " at " : "", rom ? kflash_device_get_path(rom) : "", iface,
			     rom ? kflash_device_get_vid(rom) : 0x0483,
			     rom ? kflash_device_get_pid(rom) : 0xdf11);
		kflash_discovery_unref(now);
	} else if (r == KFLASH_ERR_TIMEOUT) {
		r = kf_error(ctx, KFLASH_ERR_TIMEOUT,
			     "bridge %s left its CAN interface %s but did not come back in "
			     "Katapult within %u s (nothing was written): reset or power-cycle "
			     "it, then try again",
			     name, iface,
			     kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BOOTLOADER) / 1000);
	}
	kflash_discovery_unref(before);
	return r;
}

/* Does the bridge answer on its bus as Klipper (as its own node, without an id)? */
static bool
answers_on_bus(struct kflash_context *ctx, const char *iface, const char *uuid)
{
	struct kflash_can_bus *bus = NULL;
	struct kflash_can_query *q = NULL;
	bool back = false;

	if (kflash_can_bus_open(ctx, iface, &bus) == 0 && kflash_can_bus_query(bus, 200, &q) == 0)
		back = kflash_can_query_find(q, uuid) == KFLASH_CAN_APP_KLIPPER;
	kflash_can_query_unref(q);
	kflash_can_bus_unref(bus);
	return back;
}

/* The bridge after COMPLETE: back with its interface, or an error that says what came. */
static int
wait_return(struct kf_flash_job *job, struct kflash_discovery *before)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	const char *iface = interface_of(job);
	const char *serial = serial_of(job);
	const char *uuid = uuid_of(job);
	uint32_t timeout = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_RETURN);
	uint64_t deadline = kf_now_ms() + timeout;
	int r;

	do {
		struct kflash_discovery *d = NULL;
		const struct kflash_device *rom;
		bool bridge = false;

		r = kflash_discovery_scan(ctx, &d);
		if (r < 0)
			return r;
		for (size_t i = 0; i < kflash_discovery_get_device_count(d); i++) {
			const struct kflash_device *dev = kflash_discovery_get_device(d, i);
			const char *s = kflash_device_get_serial_number(dev);

			if (kflash_device_get_mode(dev) == KFLASH_MODE_CAN_BRIDGE && s &&
			    strcasecmp(s, serial) == 0)
				bridge = true;
		}
		rom = kf_new_rom_bootloader(d, before, kflash_device_get_usb_port(job->device));
		if (rom) {
			r = kf_error(
				ctx, KFLASH_ERR_FLASH,
				"bridge %s was flashed and verified, but came back as %s at "
				"%s instead of Klipper: the new firmware did not start, so its "
				"CAN interface %s and every board behind it are out of reach. "
				"Check the board's config (its bootloader offset and clock), "
				"then flash it in its ROM bootloader with Klipper's make flash "
				"FLASH_DEVICE=%04x:%04x, or reset it into Katapult and flash "
				"it again",
				name, kf_rom_bootloader_name(rom), kflash_device_get_path(rom),
				iface, kflash_device_get_vid(rom), kflash_device_get_pid(rom));
			kflash_discovery_unref(d);
			return r;
		}
		kflash_discovery_unref(d);
		if (bridge && answers_on_bus(ctx, iface, uuid)) {
			kf_info(ctx, "bridge %s is back, with its CAN interface %s", name, iface);
			return 0;
		}
		r = kf_sleep_ms(ctx, 100);
		if (r < 0)
			return r;
	} while (kf_now_ms() < deadline);
	return kf_error(ctx, KFLASH_ERR_TIMEOUT,
			"bridge %s was flashed and verified, but has not come back as a USB-to-CAN "
			"bridge within %u s: its CAN interface %s, and every board behind it, is "
			"out of reach. Power-cycle it; if it still does not come back, it may "
			"wait in Katapult (flash it again) or need its config checked",
			name, timeout / 1000, iface);
}

int
kf_flash_bridge(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	const char *name = kflash_board_get_name(job->board);
	enum kflash_device_mode mode = kflash_device_get_mode(job->device);
	struct kflash_device *katapult = NULL;
	struct kflash_discovery *before = NULL;
	struct kflash_katapult *k = NULL;
	int r;

	if (!serial_of(job))
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "bridge %s has no USB serial number, so it cannot be found "
				     "on USB in Katapult; set its USB serial number",
				     name);
	switch (mode) {
	case KFLASH_MODE_KATAPULT:
		/* Left in Katapult, by an earlier run or by hand: flash it there. */
		kf_info(ctx, "bridge %s waits in Katapult already", name);
		katapult = kflash_device_ref(job->device);
		r = 0;
		break;
	case KFLASH_MODE_CAN_BRIDGE:
		r = enter(job, &katapult);
		break;
	case KFLASH_MODE_DFU:
	case KFLASH_MODE_RP2_BOOT:
		return kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				"bridge %s is in its ROM bootloader (%s), not Katapult or "
				"Klipper: flash it there with Klipper's make flash, or reset it",
				name, kflash_device_mode_name(mode));
	default:
		return kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				"board %s is registered as a USB-to-CAN bridge, but its device %s "
				"is in %s mode",
				name, kflash_device_get_path(job->device),
				kflash_device_mode_name(mode));
	}
	/* What is there now: a ROM bootloader that appears after COMPLETE is the bridge. */
	if (r == 0)
		r = kflash_discovery_scan(ctx, &before);
	if (r == 0)
		r = kflash_katapult_open(ctx, kflash_device_get_path(katapult), 0, &k);
	if (r == 0) {
		kflash_katapult_set_prime(
			k, kflash_katapult_mcu_needs_prime(kflash_board_get_mcu(job->board)));
		r = kf_flash_katapult_transfer(job, k);
	}
	k = kflash_katapult_unref(k);
	if (r == 0)
		r = wait_return(job, before);
	kflash_discovery_unref(before);
	kflash_device_unref(katapult);
	return r;
}
