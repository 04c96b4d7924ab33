/* SPDX-License-Identifier: MIT */
/**
 * @file registry.h
 * @brief The board registry: the user's boards, kept in devices.json.
 *
 * The registry file (kflash_context_get_registry(), by default
 * `<config dir>/devices.json`) lists every board kflash manages. Reading
 * it gives a snapshot (struct kflash_registry); changing it goes through
 * functions that take the registry's lock, re-read the file, apply one
 * change and replace the file atomically, so that concurrent kflash
 * processes never lose each other's changes. The previous file is kept
 * as `devices.json.bak`.
 *
 * A file that cannot be parsed is never overwritten: every function that
 * reads it fails with KFLASH_ERR_CORRUPT, naming the file and the
 * position of the problem, until the user repairs it.
 */
#ifndef KFLASH_REGISTRY_H
#define KFLASH_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup registry Board registry
 * @{
 */

/** One board: its identity, how to reach it, how to flash it. Refcounted. */
struct kflash_board;

/** A snapshot of the registry file. Refcounted. */
struct kflash_registry;

/** How a board is flashed. */
enum kflash_method {
	/** No method: none ran (a result only, never a board's method). */
	KFLASH_METHOD_NONE = -1,
	/** Katapult when the board has it, `make flash` otherwise. */
	KFLASH_METHOD_AUTO = 0,
	/** Katapult only. */
	KFLASH_METHOD_KATAPULT = 1,
	/** Klipper's `make flash` only. */
	KFLASH_METHOD_MAKE = 2,
	/** Klipper's SD card script (needs kflash_board_set_sdcard_board()). */
	KFLASH_METHOD_SDCARD = 3,
};

/**
 * @param method A value of enum kflash_method.
 * @return "none", "auto", "katapult", "make" or "sdcard" (static); NULL for
 * other values.
 */
const char *
kflash_method_name(enum kflash_method method);

/**
 * @param name "auto", "katapult", "make" or "sdcard".
 * @param[out] method The method.
 * @return 0, or KFLASH_ERR_INVALID for another name (also "none", which
 * is no board's method).
 */
int
kflash_method_from_name(const char *name, enum kflash_method *method);

/**
 * @param name A candidate board name.
 * @return 1 when @p name is a valid board name
 * (`^[a-z0-9][a-z0-9_-]{0,31}$`), else 0.
 */
int
kflash_board_name_is_valid(const char *name);

/**
 * @name Boards
 * @{
 */

/**
 * Create a board that is not in the registry yet.
 *
 * @param ctx The context.
 * @param name The board name; see kflash_board_name_is_valid().
 * @param[out] ret The new board, with a reference count of 1.
 * @return 0, KFLASH_ERR_INVALID for a bad name (the message says which
 * names are allowed), or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_board_new(struct kflash_context *ctx, const char *name, struct kflash_board **ret);

/**
 * @param board A board, or NULL.
 * @return @p board.
 */
struct kflash_board *
kflash_board_ref(struct kflash_board *board);

/**
 * @param board A board, or NULL.
 * @return NULL.
 */
struct kflash_board *
kflash_board_unref(struct kflash_board *board);

/**
 * Every string getter below returns a string owned by the board, valid
 * until the same field is set again or the board's last reference is
 * dropped; NULL when the field is not set. Every string setter copies
 * its argument, takes NULL (or "") to clear an optional field, and
 * returns 0, KFLASH_ERR_INVALID (with a message naming the field and
 * what is allowed) or KFLASH_ERR_NO_MEMORY.
 */

/** @return The board's name; never NULL. */
const char *
kflash_board_get_name(const struct kflash_board *board);

/** Where Klipper's host MCU (the `klipper-mcu` service) makes its pty. */
#define KFLASH_HOST_MCU_SERIAL_PATH "/tmp/klipper_host_mcu"

/**
 * Set the board's MCU as Klipper names it (`CONFIG_MCU`), for example
 * "stm32f446xx", "rp2040" or "linux". Required for a board in the
 * registry, except one imported from Klipper's config (import.h), which
 * waits for its own config to name it; a board without its MCU is not
 * built or flashed. Letters, digits, '_' and '-' only. A board that becomes the
 * host MCU ("linux") without a serial path gets
 * KFLASH_HOST_MCU_SERIAL_PATH.
 */
int
kflash_board_set_mcu(struct kflash_board *board, const char *mcu);
/** @return The MCU, or NULL. */
const char *
kflash_board_get_mcu(const struct kflash_board *board);

/**
 * @param board A board.
 * @return 1 when the board is Klipper's host MCU, the Linux process (MCU
 * "linux"): no device, always flashed with Klipper's `make flash`, with
 * the `klipper-mcu` unit stopped beside Klipper's; else 0.
 */
int
kflash_board_is_host_mcu(const struct kflash_board *board);

/** How a board is reached, as its fields say. */
enum kflash_link {
	/** A serial port: USB (found by its serial number) or a UART (by its path). */
	KFLASH_LINK_SERIAL = 0,
	/** A CAN node: its UUID on its CAN interface (can0 when none is set). */
	KFLASH_LINK_CAN = 1,
	/**
	 * A USB-to-CAN bridge: the board is a CAN interface of the host while
	 * it runs Klipper (its UUID on it), and a USB serial port in Katapult
	 * (its USB serial number). It has a CAN UUID and a USB serial number.
	 */
	KFLASH_LINK_CAN_BRIDGE = 2,
	/** Klipper's host MCU, the Linux process (kflash_board_is_host_mcu()). */
	KFLASH_LINK_HOST = 3,
};

/**
 * @param link A value of enum kflash_link.
 * @return "serial", "can", "can-bridge" or "host" (static); "serial" for
 * other values.
 */
const char *
kflash_link_name(int link);

/**
 * @param board A board.
 * @return How the board is reached, a value of enum kflash_link.
 */
int
kflash_board_get_link(const struct kflash_board *board);

/**
 * Set the board's serial path: any path to a tty, for example a
 * /dev/serial/by-id link or /dev/ttyAMA0. When it is a by-id name of a
 * Klipper or Katapult device, the USB serial number and the MCU are
 * taken from it where the board has none yet. Absolute paths only.
 */
int
kflash_board_set_serial_path(struct kflash_board *board, const char *path);
/** @return The serial path, or NULL (a CAN or Linux-process board). */
const char *
kflash_board_get_serial_path(const struct kflash_board *board);

/**
 * Set the USB serial number (the chip id Klipper and Katapult report),
 * which identifies the board in any mode. Letters and digits only.
 */
int
kflash_board_set_usb_serial(struct kflash_board *board, const char *serial);
/** @return The USB serial number, or NULL. */
const char *
kflash_board_get_usb_serial(const struct kflash_board *board);

/**
 * Set how the board is flashed. Default: KFLASH_METHOD_AUTO.
 * @return 0 or KFLASH_ERR_INVALID for an unknown value.
 */
int
kflash_board_set_method(struct kflash_board *board, enum kflash_method method);
/** @return The flash method. */
enum kflash_method
kflash_board_get_method(const struct kflash_board *board);

/**
 * Set the board name Klipper's `scripts/flash-sdcard.sh` knows (for
 * example "btt-skr-v1.3"); used by KFLASH_METHOD_SDCARD.
 */
int
kflash_board_set_sdcard_board(struct kflash_board *board, const char *sdcard_board);
/** @return The SD card board name, or NULL. */
const char *
kflash_board_get_sdcard_board(const struct kflash_board *board);

/**
 * Set the UART baud rate of a board on a serial line (0: unset, which
 * means 250000).
 */
int
kflash_board_set_baud(struct kflash_board *board, uint32_t baud);
/** @return The baud rate, or 0 when unset. */
uint32_t
kflash_board_get_baud(const struct kflash_board *board);

/** Set the CAN interface of a CAN board, for example "can0". */
int
kflash_board_set_can_interface(struct kflash_board *board, const char *interface);
/** @return The CAN interface, or NULL. */
const char *
kflash_board_get_can_interface(const struct kflash_board *board);

/** Set the CAN UUID of a CAN board: 12 hexadecimal digits. */
int
kflash_board_set_can_uuid(struct kflash_board *board, const char *uuid);
/** @return The CAN UUID in lower case, or NULL. */
const char *
kflash_board_get_can_uuid(const struct kflash_board *board);

/**
 * Set the board's Klipper MCU name: its section in printer.cfg, "mcu" or
 * "mcu <name>" (for example "mcu toolhead"). It links the board to the
 * MCU versions Klipper reports.
 */
int
kflash_board_set_klipper_mcu(struct kflash_board *board, const char *klipper_mcu);
/** @return The Klipper MCU name, or NULL. */
const char *
kflash_board_get_klipper_mcu(const struct kflash_board *board);

/**
 * Set the systemd unit to stop while this board is flashed, when it is
 * not the context's (kflash_context_get_service()), for example
 * "klipper-2" on a multi-instance host.
 */
int
kflash_board_set_service(struct kflash_board *board, const char *unit);
/** @return The unit override, or NULL. */
const char *
kflash_board_get_service(const struct kflash_board *board);

/** Set free-form notes about the board (one line or several). */
int
kflash_board_set_notes(struct kflash_board *board, const char *notes);
/** @return The notes, or NULL. */
const char *
kflash_board_get_notes(const struct kflash_board *board);

/**
 * @return 1 when the board has a recorded flash (see
 * kflash_registry_record_flash()), else 0.
 */
int
kflash_board_has_last_flash(const struct kflash_board *board);
/** @return The Klipper version of the last flash, or NULL. */
const char *
kflash_board_get_last_flash_version(const struct kflash_board *board);
/** @return The time of the last flash in seconds since the epoch, or 0. */
int64_t
kflash_board_get_last_flash_time(const struct kflash_board *board);
/** @return The SHA-256 of the last flashed firmware (hex), or NULL. */
const char *
kflash_board_get_last_flash_hash(const struct kflash_board *board);
/** @return 1 when the last flash succeeded, 0 when it failed or none. */
int
kflash_board_get_last_flash_ok(const struct kflash_board *board);

/** @} */

/**
 * @name Reading the registry
 * @{
 */

/**
 * Read the registry file. A missing file is an empty registry. The file
 * is read under the registry's short shared lock.
 *
 * @param ctx The context.
 * @param[out] ret A snapshot, with a reference count of 1.
 * @return 0, KFLASH_ERR_CORRUPT (the message names the file, the line and
 * column, and how to restore the backup), KFLASH_ERR_LOCKED,
 * KFLASH_ERR_PERMISSION, KFLASH_ERR_IO or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_registry_load(struct kflash_context *ctx, struct kflash_registry **ret);

/**
 * @param registry A snapshot, or NULL.
 * @return @p registry.
 */
struct kflash_registry *
kflash_registry_ref(struct kflash_registry *registry);

/**
 * @param registry A snapshot, or NULL.
 * @return NULL.
 */
struct kflash_registry *
kflash_registry_unref(struct kflash_registry *registry);

/**
 * @param registry A snapshot.
 * @return The number of boards.
 */
size_t
kflash_registry_get_board_count(const struct kflash_registry *registry);

/**
 * @param registry A snapshot.
 * @param index 0 to kflash_registry_get_board_count() - 1; boards are in
 * the order of the file.
 * @return The board, owned by the snapshot (take a reference to keep it
 * longer), or NULL when @p index is out of range.
 */
struct kflash_board *
kflash_registry_get_board(const struct kflash_registry *registry, size_t index);

/**
 * @param registry A snapshot.
 * @param name A board name.
 * @return The board, owned by the snapshot, or NULL when there is none.
 */
struct kflash_board *
kflash_registry_find_board(const struct kflash_registry *registry, const char *name);

/**
 * A free board name for a new board, made from @p hint (an MCU name: the
 * name of "stm32f446xx" is "stm32f446", then "stm32f446-2", ...). The name
 * is valid (kflash_board_name_is_valid()), used by no board of the
 * snapshot, and not handed out before by this snapshot, so that several
 * new boards get several names.
 *
 * @param registry A snapshot.
 * @param hint What the name is made from, or NULL ("board").
 * @return The name, owned by @p registry and valid as long as it is; NULL
 * when memory runs out.
 */
const char *
kflash_registry_suggest_name(struct kflash_registry *registry, const char *hint);

/** @} */

/**
 * @name Changing the registry
 *
 * Each of these takes the registry's lock, reads the file, checks and
 * applies one change, and replaces the file atomically (keeping the
 * previous one as `.bak`, mode 0600, in a 0700 directory created if
 * needed). They fail with KFLASH_ERR_CORRUPT, without writing, when the
 * file cannot be parsed.
 * @{
 */

/**
 * Add a board.
 *
 * @param ctx The context.
 * @param board The board; it needs an MCU (see kflash_board_set_mcu()).
 * @return 0; KFLASH_ERR_EXISTS when a board with the same name, or with
 * the same USB serial number, is registered (the message names it);
 * KFLASH_ERR_INVALID when the board lacks its MCU; or a read/write error.
 */
int
kflash_registry_add_board(struct kflash_context *ctx, const struct kflash_board *board);

/**
 * Replace the registered board of the same name with @p board. Fields
 * of the stored board that this version of libkflash does not know are
 * kept.
 *
 * @return 0, KFLASH_ERR_NOT_FOUND, KFLASH_ERR_EXISTS (the USB serial
 * number belongs to another board), or a read/write error.
 */
int
kflash_registry_update_board(struct kflash_context *ctx, const struct kflash_board *board);

/**
 * Remove a board. Its cached config and builds are not touched.
 *
 * @return 0, KFLASH_ERR_NOT_FOUND, or a read/write error.
 */
int
kflash_registry_remove_board(struct kflash_context *ctx, const char *name);

/**
 * Record a flash of a board, with the current time.
 *
 * @param ctx The context.
 * @param name The board.
 * @param klipper_version The Klipper version of the firmware, or NULL.
 * @param firmware_hash The SHA-256 of the firmware file (hex), or NULL.
 * @param ok 1 when the flash succeeded, 0 when it failed.
 * @return 0, KFLASH_ERR_NOT_FOUND, or a read/write error.
 */
int
kflash_registry_record_flash(struct kflash_context *ctx,
			     const char *name,
			     const char *klipper_version,
			     const char *firmware_hash,
			     int ok);

/**
 * Delete what kflash keeps for a board outside the registry: its cached
 * config (`<config dir>/configs/NAME.config` and `.config.old`) and its
 * build and state directories under the cache dir (`build/NAME/`,
 * `boards/NAME/`). The registry is not touched; missing files are fine.
 * Symbolic links inside are removed, never followed.
 *
 * @param ctx The context.
 * @param name The board name.
 * @return 0, KFLASH_ERR_INVALID for an invalid name, or the error of the
 * first file that could not be removed (which names it).
 */
int
kflash_board_purge_files(struct kflash_context *ctx, const char *name);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_REGISTRY_H */
