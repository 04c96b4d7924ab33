/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_FIRMWARE_H
#define KFLASH_FIRMWARE_H

#include <stddef.h>

#include <kflash/context.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup firmware Firmware files
 *
 * What a firmware file is for. Klipper records the MCU and version it was
 * built for in its data dictionary: `klipper.dict` beside the firmware,
 * and the same JSON, zlib-compressed, inside `klipper.bin` itself. A
 * firmware is read whole; its MCU is checked against the board before a
 * single block is written.
 * @{
 */

/** A firmware image and what it was built for (opaque, reference counted). */
struct kflash_firmware;

/**
 * Read a firmware file (at most 16 MiB) and its data dictionary: the
 * file `klipper.dict` in the same directory when there is one, else the
 * dictionary embedded in the image.
 *
 * @param ctx The context.
 * @param path The firmware, for example `.../klipper.bin`.
 * @param[out] ret The firmware, with a reference count of 1.
 * @return 0; KFLASH_ERR_NOT_FOUND; KFLASH_ERR_INVALID for an empty file or
 * one that is not a regular file; KFLASH_ERR_CORRUPT when it is too large
 * or its `klipper.dict` is not a Klipper dictionary. A firmware without
 * any dictionary is not an error: its MCU and version are then NULL.
 */
int
kflash_firmware_load(struct kflash_context *ctx, const char *path, struct kflash_firmware **ret);

/** @return @p firmware (NULL-safe). */
struct kflash_firmware *
kflash_firmware_ref(struct kflash_firmware *firmware);

/** @return NULL (NULL-safe). */
struct kflash_firmware *
kflash_firmware_unref(struct kflash_firmware *firmware);

/** @return The path it was read from, owned by @p firmware. */
const char *
kflash_firmware_get_path(const struct kflash_firmware *firmware);

/** @return The image, owned by @p firmware. */
const void *
kflash_firmware_get_data(const struct kflash_firmware *firmware);

/** @return The image's size in bytes. */
size_t
kflash_firmware_get_size(const struct kflash_firmware *firmware);

/** @return The MCU it was built for (`config.MCU`), or NULL when not known. */
const char *
kflash_firmware_get_mcu(const struct kflash_firmware *firmware);

/** @return The Klipper version it was built from, or NULL when not known. */
const char *
kflash_firmware_get_version(const struct kflash_firmware *firmware);

/** Where a firmware's data dictionary came from. */
enum kflash_dictionary_origin {
	/** There is none: the MCU and version are not known. */
	KFLASH_DICTIONARY_NONE = 0,
	/** The file `klipper.dict` beside the firmware. */
	KFLASH_DICTIONARY_FILE = 1,
	/** The compressed copy Klipper embeds in the image. */
	KFLASH_DICTIONARY_EMBEDDED = 2,
};

/**
 * @param origin A value of enum kflash_dictionary_origin.
 * @return "none", "file" or "embedded" (static); "none" for other values.
 */
const char *
kflash_dictionary_origin_name(int origin);

/**
 * @param firmware A firmware.
 * @return Where its dictionary came from, a value of enum
 * kflash_dictionary_origin.
 */
int
kflash_firmware_get_dictionary_origin(const struct kflash_firmware *firmware);

/**
 * @param firmware A firmware.
 * @return The `klipper.dict` file its dictionary was read from, owned by
 * @p firmware; NULL unless the origin is KFLASH_DICTIONARY_FILE.
 */
const char *
kflash_firmware_get_dictionary_path(const struct kflash_firmware *firmware);

/**
 * Check that a firmware is for a board: its dictionary must name the
 * board's MCU (kflash_mcu_matches()). A firmware without a dictionary
 * passes, since there is nothing to check.
 *
 * @param ctx The context.
 * @param firmware The firmware.
 * @param board The board.
 * @return 0, or KFLASH_ERR_MCU_MISMATCH naming both MCUs and the file.
 */
int
kflash_firmware_check_board(struct kflash_context *ctx,
			    const struct kflash_firmware *firmware,
			    const struct kflash_board *board);

/**
 * Save a copy of the firmware as it was read, under its own file name in
 * @p dir, with its dictionary (from either origin) as `klipper.dict`
 * beside it, so that kflash_firmware_load() of the copy finds both. The
 * directory is created (mode 0700) when missing; files are replaced
 * atomically, mode 0600.
 *
 * @param ctx The context.
 * @param firmware The firmware.
 * @param dir The directory.
 * @param flags 0 (no flags are defined yet).
 * @return 0; KFLASH_ERR_INVALID; or the error of the directory or a file
 * (KFLASH_ERR_PERMISSION, KFLASH_ERR_IO, ...), which names it.
 */
int
kflash_firmware_save(struct kflash_context *ctx,
		     const struct kflash_firmware *firmware,
		     const char *dir,
		     unsigned int flags);

/**
 * @return The SHA-256 of the image as 64 lower-case hex digits, owned by
 * @p firmware.
 */
const char *
kflash_firmware_get_sha256(const struct kflash_firmware *firmware);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_FIRMWARE_H */
