/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_FIRMWARE_H
#define KFLASH_FIRMWARE_H

#include <stddef.h>

#include <kflash/context.h>

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

/**
 * @return Where the dictionary came from: the path of `klipper.dict`,
 * "embedded", or NULL when there is none.
 */
const char *
kflash_firmware_get_dictionary_source(const struct kflash_firmware *firmware);

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
