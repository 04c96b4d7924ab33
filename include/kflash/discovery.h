/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_DISCOVERY_H
#define KFLASH_DISCOVERY_H

#include <stddef.h>

#include <kflash/context.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup discovery Discovery
 *
 * Which boards are plugged in, and in which mode. A board shows up under
 * different names depending on what runs on it (Klipper, Katapult, a ROM
 * bootloader); discovery finds every such device and matches registered
 * boards to them by USB serial number (the chip id), so one board is one
 * board in every mode.
 *
 * Two backends exist. When the context's device dir is `/dev` (the
 * default), devices are enumerated with udev: USB ttys with their USB
 * parent, and the USB devices without a tty that matter (ROM
 * bootloaders, the USB-to-CAN bridge). With any other device dir, only
 * what is under that directory is used: `serial/by-id`, `serial/by-path`,
 * `serial0`-style links and `tty*` nodes, and usbfs descriptor files under
 * `bus/usb` (like libinput's path context, for tests and unusual hosts);
 * the sys dir's `bus/usb/devices` (kflash_context_set_sys_dir()) adds
 * what a descriptor file lacks, where it describes that node (the same
 * busnum, devnum and ids): serial number, strings, port, and the network
 * interface of a USB-to-CAN bridge.
 * @{
 */

/** What runs on a found device, as far as its USB identity tells. */
enum kflash_device_mode {
	/** A tty that says nothing about itself (a Pi UART, for example). */
	KFLASH_MODE_UNKNOWN = 0,
	/** Klipper over USB (1d50:614e, `usb-Klipper_...`). */
	KFLASH_MODE_KLIPPER,
	/** Katapult over USB (1d50:6177, `usb-katapult_...`, `usb-CanBoot_...`). */
	KFLASH_MODE_KATAPULT,
	/** The STM32 ROM DFU bootloader (0483:df11); no tty. */
	KFLASH_MODE_DFU,
	/** The RP2040/RP2350 BOOTSEL loader (2e8a:0003, 2e8a:000f); no tty. */
	KFLASH_MODE_RP2_BOOT,
	/** Klipper as a USB-to-CAN bridge (1d50:606f): a network interface. */
	KFLASH_MODE_CAN_BRIDGE,
	/** A USB-to-UART adapter (CH340, FTDI, ...), maybe with Klipper behind it. */
	KFLASH_MODE_SERIAL_ADAPTER,
};

/**
 * @param mode A value of enum kflash_device_mode.
 * @return Its name as in the JSON output ("klipper", "katapult", "dfu",
 * "rp2-boot", "can-bridge", "serial-adapter", "unknown"), static.
 */
const char *
kflash_device_mode_name(enum kflash_device_mode mode);

/** A found device (opaque, reference counted). */
struct kflash_device;

/** The devices found by one scan (opaque, reference counted). */
struct kflash_discovery;

/**
 * Find the devices present now.
 *
 * @param ctx The context; its device dir chooses the backend.
 * @param[out] ret The devices found, with a reference count of 1.
 * @return 0, KFLASH_ERR_IO when udev cannot be used, or
 * KFLASH_ERR_NO_MEMORY. A device dir without boards is not an error.
 */
int
kflash_discovery_scan(struct kflash_context *ctx, struct kflash_discovery **ret);

/** @return @p discovery (NULL-safe). */
struct kflash_discovery *
kflash_discovery_ref(struct kflash_discovery *discovery);

/** @return NULL (NULL-safe). */
struct kflash_discovery *
kflash_discovery_unref(struct kflash_discovery *discovery);

/** @return The number of devices found. */
size_t
kflash_discovery_get_device_count(const struct kflash_discovery *discovery);

/**
 * @param discovery The devices found.
 * @param index 0 to kflash_discovery_get_device_count() - 1; devices are
 * sorted by path.
 * @return The device, owned by @p discovery (take a reference to keep it
 * longer), or NULL when @p index is out of range.
 */
struct kflash_device *
kflash_discovery_get_device(const struct kflash_discovery *discovery, size_t index);

/**
 * Find the device of a registered board. A board with a USB serial number
 * matches the device with that serial number (case-insensitively) in any
 * mode; a board without one matches by its serial path, which must
 * resolve to a character device (several links to one node are one
 * device). A CAN board registered by its UUID alone matches the
 * USB-to-CAN bridge (or that bridge in Katapult) whose serial number gives
 * the UUID: it is the bridge.
 *
 * @param discovery The devices found.
 * @param board The board.
 * @param[out] ret The device, with a new reference (unref it), or NULL.
 * @return 0; KFLASH_ERR_NOT_FOUND when the board is absent (the message
 * says what was looked for, and where); KFLASH_ERR_AMBIGUOUS when two
 * devices claim the board (the message names both); KFLASH_ERR_NOT_SUPPORTED
 * for a CAN node that is no bridge, which is found on its bus
 * (kflash_can_bus_query());
 * KFLASH_ERR_INVALID when the board has neither a serial number nor a path.
 */
int
kflash_discovery_find_board(struct kflash_discovery *discovery,
			    const struct kflash_board *board,
			    struct kflash_device **ret);

/**
 * Which registered board a found device is: the board that
 * kflash_discovery_find_board() matches to it. A device no board claims
 * is new, for example one to register.
 *
 * @param discovery The devices found.
 * @param registry The boards.
 * @param device A device of @p discovery.
 * @return The board, owned by @p registry; NULL when no board claims the
 * device.
 */
struct kflash_board *
kflash_discovery_find_device_board(struct kflash_discovery *discovery,
				   const struct kflash_registry *registry,
				   const struct kflash_device *device);

/**
 * Scan and find one board: its device as it is right now, for the moment
 * before flashing. Equivalent to kflash_discovery_scan() followed by
 * kflash_discovery_find_board().
 *
 * @param ctx The context.
 * @param board The board.
 * @param[out] ret The device, with a reference count of at least 1.
 * @return As kflash_discovery_find_board(), or a scan error.
 */
int
kflash_discovery_locate(struct kflash_context *ctx,
			const struct kflash_board *board,
			struct kflash_device **ret);

/** @return @p device (NULL-safe). */
struct kflash_device *
kflash_device_ref(struct kflash_device *device);

/** @return NULL (NULL-safe). */
struct kflash_device *
kflash_device_unref(struct kflash_device *device);

/** @return The mode. */
enum kflash_device_mode
kflash_device_get_mode(const struct kflash_device *device);

/**
 * @return The path to use for the device: its `serial/by-id` link when it
 * has one, else its tty, else (no tty) its usbfs node. Never NULL. Owned
 * by @p device, like every string below.
 */
const char *
kflash_device_get_path(const struct kflash_device *device);

/** @return The device node (a tty, or a usbfs node), or NULL. */
const char *
kflash_device_get_devnode(const struct kflash_device *device);

/** @return The `serial/by-id` link, or NULL. */
const char *
kflash_device_get_by_id(const struct kflash_device *device);

/** @return The `serial/by-path` link, or NULL. */
const char *
kflash_device_get_by_path(const struct kflash_device *device);

/** @return The MCU, when the by-id name or the USB product tells it, or NULL. */
const char *
kflash_device_get_mcu(const struct kflash_device *device);

/** @return The USB serial number, or NULL. */
const char *
kflash_device_get_serial_number(const struct kflash_device *device);

/** @return The USB vendor id, or 0 when not known. */
unsigned int
kflash_device_get_vid(const struct kflash_device *device);

/** @return The USB product id, or 0 when not known. */
unsigned int
kflash_device_get_pid(const struct kflash_device *device);

/**
 * @return The USB port path, for example "1.2" (bus 1, hub port 1, port
 * 2 as in sysfs "1-1.2"), or NULL. It tells identical boards apart by
 * where they are plugged in.
 */
const char *
kflash_device_get_usb_port(const struct kflash_device *device);

/** @return The USB product string, or NULL. */
const char *
kflash_device_get_product(const struct kflash_device *device);

/** @return The USB manufacturer string, or NULL. */
const char *
kflash_device_get_manufacturer(const struct kflash_device *device);

/** @return The network interface of a USB-to-CAN bridge (for example can0), or NULL. */
const char *
kflash_device_get_net_interface(const struct kflash_device *device);

/**
 * The CAN UUID of a USB-to-CAN bridge: the bridge is also a node on its
 * own bus, and its UUID follows from its serial number (the chip id, see
 * kflash_can_uuid_from_serial()).
 * @param device A device.
 * @return 12 lower-case hex digits, owned by @p device; NULL for a device
 * that is not a bridge, or a bridge whose serial number is no chip id.
 */
const char *
kflash_device_get_can_uuid(const struct kflash_device *device);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_DISCOVERY_H */
