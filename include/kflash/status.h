/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_STATUS_H
#define KFLASH_STATUS_H

#include <stddef.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup status Which boards need a reflash
 *
 * After a Klipper update every board needs the matching firmware, or
 * Klipper stops with "MCU Protocol error". The status compares the host's
 * Klipper version (`git describe` in the Klipper dir) with each board's
 * last flash, and, when Klipper runs, with the `mcu_version` every MCU
 * reports (an MCU is linked to a board by the board's `klipper_mcu`).
 * Versions are compared with kflash_klipper_version_compare(): the `-dirty` and
 * date-host build suffixes are not flagged. The status only reads: it
 * never waits for a running update.
 * @{
 */

/** A status snapshot (opaque, reference counted). */
struct kflash_status;

/**
 * Gather the status: the registry, the host version, and the live MCUs
 * when Klipper runs (a missing Klipper is not an error).
 *
 * @return 0, or a registry error (KFLASH_ERR_CORRUPT, ...).
 */
int
kflash_status_query(struct kflash_context *ctx, struct kflash_status **ret);

/** @return @p status (NULL-safe). */
struct kflash_status *
kflash_status_ref(struct kflash_status *status);

/** @return NULL (NULL-safe). */
struct kflash_status *
kflash_status_unref(struct kflash_status *status);

/**
 * @param status A status.
 * @return The host's Klipper version (git describe in the Klipper dir, or
 * the running Klipper's own), owned by @p status; NULL when it cannot be
 * told (then no board is judged against it).
 */
const char *
kflash_status_get_host_version(const struct kflash_status *status);

/**
 * @param status A status.
 * @return Klipper's state when it runs and answered, a value of enum
 * kflash_klipper_state; KFLASH_KLIPPER_UNKNOWN when it does not run.
 */
int
kflash_status_get_klipper_state(const struct kflash_status *status);

/** @return 1 when anything needs a reflash: a board or a live MCU. */
int
kflash_status_get_needs_reflash(const struct kflash_status *status);

/** @return The number of live MCUs Klipper reports (0 when it does not run). */
size_t
kflash_status_get_mcu_count(const struct kflash_status *status);

/** @return The MCU's name in Klipper ("mcu", "mcu toolhead"), or NULL. */
const char *
kflash_status_get_mcu_name(const struct kflash_status *status, size_t index);

/** @return The firmware version the MCU runs, or NULL. */
const char *
kflash_status_get_mcu_version(const struct kflash_status *status, size_t index);

/** @return The board the MCU belongs to (by its klipper_mcu), or NULL. */
const char *
kflash_status_get_mcu_board(const struct kflash_status *status, size_t index);

/** @return 1 when the MCU runs an older (or other) version than the host. */
int
kflash_status_get_mcu_needs_reflash(const struct kflash_status *status, size_t index);

/** @return The number of registered boards. */
size_t
kflash_status_get_board_count(const struct kflash_status *status);

/** @return The board's name, or NULL. */
const char *
kflash_status_get_board_name(const struct kflash_status *status, size_t index);

/** @return The version kflash last flashed to the board, or NULL. */
const char *
kflash_status_get_board_flashed_version(const struct kflash_status *status, size_t index);

/** @return The version its MCU reports now (when Klipper runs and knows it), or NULL. */
const char *
kflash_status_get_board_live_version(const struct kflash_status *status, size_t index);

/** @return 1 when the board needs a reflash. */
int
kflash_status_get_board_needs_reflash(const struct kflash_status *status, size_t index);

/** Why a board needs a reflash. */
enum kflash_reflash_reason {
	/** It needs none. */
	KFLASH_REFLASH_NONE = 0,
	/** Its MCU runs an older version than the host's. */
	KFLASH_REFLASH_LIVE_OLDER = 1,
	/** Its MCU runs another version than the host's, which cannot be ordered. */
	KFLASH_REFLASH_LIVE_DIFFERENT = 2,
	/** Its last flash is older than the host's version (Klipper does not report it). */
	KFLASH_REFLASH_FLASH_OLDER = 3,
	/** Its last flash is another version, which cannot be ordered. */
	KFLASH_REFLASH_FLASH_DIFFERENT = 4,
	/** It was never flashed by libkflash, and Klipper does not report it. */
	KFLASH_REFLASH_NEVER_FLASHED = 5,
	/** Its last flash failed. */
	KFLASH_REFLASH_FLASH_FAILED = 6,
};

/**
 * @param reason A value of enum kflash_reflash_reason.
 * @return "none", "live-older", "live-different", "flash-older",
 * "flash-different", "never-flashed" or "flash-failed" (static); "none"
 * for other values.
 */
const char *
kflash_reflash_reason_name(int reason);

/**
 * @param status A status.
 * @param index The board's index.
 * @return Why the board needs a reflash, a value of enum
 * kflash_reflash_reason (KFLASH_REFLASH_NONE when it does not).
 */
int
kflash_status_get_board_reason(const struct kflash_status *status, size_t index);

/**
 * @param status A status.
 * @param index The board's index.
 * @return The reason in a sentence, with the versions compared, owned by
 * @p status; NULL when the board needs no reflash.
 */
const char *
kflash_status_get_board_message(const struct kflash_status *status, size_t index);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_STATUS_H */
