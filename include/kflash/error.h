/* SPDX-License-Identifier: MIT */
/**
 * @file error.h
 * @brief Error codes of libkflash.
 *
 * Every fallible function returns 0 on success or one of the negative
 * values below. The human-readable detail of the most recent failure
 * (which file, which board, what to do about it) is available from
 * kflash_context_last_error().
 */
#ifndef KFLASH_ERROR_H
#define KFLASH_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup error Errors
 * @{
 */

/**
 * Failure classes. All values are negative so that a function can return
 * either 0 or an error in one int. The numbering is part of the ABI: new
 * codes are only ever appended.
 */
enum kflash_error {
	/** Success. */
	KFLASH_OK = 0,
	/** An argument or an input value is invalid. */
	KFLASH_ERR_INVALID = -1,
	/** A board, file, device or program was not found. */
	KFLASH_ERR_NOT_FOUND = -2,
	/** Something with that name or identity already exists. */
	KFLASH_ERR_EXISTS = -3,
	/** A file exists but cannot be parsed; it was left untouched. */
	KFLASH_ERR_CORRUPT = -4,
	/** A lock is held by another process. */
	KFLASH_ERR_LOCKED = -5,
	/** A system call failed; the detail carries the errno text. */
	KFLASH_ERR_IO = -6,
	/** Out of memory. */
	KFLASH_ERR_NO_MEMORY = -7,
	/** Permission denied (file access, or sudo needs a password). */
	KFLASH_ERR_PERMISSION = -8,
	/** A board, a config and a firmware disagree about the MCU. */
	KFLASH_ERR_MCU_MISMATCH = -9,
	/** Building the firmware failed. */
	KFLASH_ERR_BUILD = -10,
	/** Writing the firmware to a board failed. */
	KFLASH_ERR_FLASH = -11,
	/** An operation did not finish in time. */
	KFLASH_ERR_TIMEOUT = -12,
	/** Stopping or starting a service failed. */
	KFLASH_ERR_SERVICE = -13,
	/** The operation was cancelled with kflash_context_cancel(). */
	KFLASH_ERR_CANCELLED = -14,
	/** An interactive step was requested but there is no terminal. */
	KFLASH_ERR_NOT_TTY = -15,
	/** A device or port is held by another process. */
	KFLASH_ERR_BUSY = -16,
	/** A device or a service answered with something malformed. */
	KFLASH_ERR_PROTOCOL = -17,
	/** More than one present device claims the same identity. */
	KFLASH_ERR_AMBIGUOUS = -18,
	/** Refused because the printer is printing or paused. */
	KFLASH_ERR_PRINTING = -19,
	/** The requested operation is not supported for this board. */
	KFLASH_ERR_NOT_SUPPORTED = -20,
	/** Klipper did not report "ready" after it was started again. */
	KFLASH_ERR_NOT_READY = -21,
};

/**
 * What the caller can do about the most recent failure, for a program to
 * put in its own words (a command line tool names its flag, a macro its
 * parameter). The message (kflash_context_last_error()) already says it in
 * the library's terms; kflash_context_last_error_subject() names what the
 * hint is about (a board, for example), when anything. The numbering is
 * part of the ABI: new hints are only ever appended.
 */
enum kflash_hint {
	/** Nothing in particular, or the message says it all. */
	KFLASH_HINT_NONE = 0,
	/** The operation can be forced (KFLASH_UPDATE_FORCE, KFLASH_IMPORT_FORCE). */
	KFLASH_HINT_FORCE = 1,
	/** Set Klipper's API socket (kflash_context_set_klippy_socket()). */
	KFLASH_HINT_SET_KLIPPY_SOCKET = 2,
	/** Set the Klipper source tree (kflash_context_set_klipper_dir()). */
	KFLASH_HINT_SET_KLIPPER_DIR = 3,
	/** Set the device dir (kflash_context_set_dev_dir()). */
	KFLASH_HINT_SET_DEV_DIR = 4,
	/** Set Klipper's service unit (kflash_context_set_service(), or the board's). */
	KFLASH_HINT_SET_SERVICE = 5,
	/** Create or seed the subject board's config (kflash_board_config_menuconfig(), _seed()).
	 */
	KFLASH_HINT_CONFIGURE_BOARD = 6,
	/** Refresh the subject board's config (kflash_board_config_refresh()). */
	KFLASH_HINT_REFRESH_CONFIG = 7,
	/** Change a field of the subject board (kflash_registry_update_board()). */
	KFLASH_HINT_EDIT_BOARD = 8,
	/** Register a board (kflash_registry_add_board()). */
	KFLASH_HINT_ADD_BOARD = 9,
	/** The subject is not a registered board: list the boards to see their names. */
	KFLASH_HINT_LIST_BOARDS = 10,
	/** Build the subject board instead of flashing its last build. */
	KFLASH_HINT_BUILD = 11,
	/** Build the subject board from scratch (KFLASH_BUILD_CLEAN, KFLASH_UPDATE_CLEAN). */
	KFLASH_HINT_CLEAN_BUILD = 12,
	/** The subject (a USB-to-CAN bridge) was held back; it can be flashed anyway
	 * (KFLASH_UPDATE_KEEP_GOING). */
	KFLASH_HINT_KEEP_GOING = 13,
};

/**
 * The name of a hint, for example "set-klippy-socket".
 *
 * @param hint A value of enum kflash_hint.
 * @return A static string, never NULL; "none" for unknown values.
 */
const char *
kflash_hint_name(int hint);

/**
 * Describe an error code in a short English sentence fragment.
 *
 * @param error A value of enum kflash_error (either sign is accepted).
 * @return A static string, never NULL. Unknown codes give "Unknown error".
 */
const char *
kflash_strerror(int error);

/**
 * The symbolic name of an error code, for example "KFLASH_ERR_NOT_FOUND".
 *
 * @param error A value of enum kflash_error (either sign is accepted).
 * @return A static string, never NULL. Unknown codes give
 * "KFLASH_ERR_UNKNOWN".
 */
const char *
kflash_error_name(int error);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_ERROR_H */
