/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_UPDATE_H
#define KFLASH_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/context.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup update The update
 *
 * The whole job for a list of boards, the one orchestrator every consumer
 * shares (the CLI's `kflash flash`, a C program, a Klipper macro's job):
 *
 * 1. one mutating run at a time (`<config dir>/kflash.lock`);
 * 2. discovery, then config checks;
 * 3. every board built while Klipper still runs (unchanged boards skip make);
 * 4. the print gate: no stop while printing or paused, unless forced;
 * 5. one stop of all the needed units, with a sentinel armed;
 * 6. each board found again and flashed; a failure does not stop the
 *    others, unless KFLASH_UPDATE_FAIL_FAST;
 * 7. one start, on every path;
 * 8. the confirmation that Klipper is ready (when it ran before);
 * 9. each result recorded in the registry, and each flashed firmware kept
 *    under `<cache dir>/boards/<board>/firmware/`.
 *
 * The printer is down during steps 5 to 7 only.
 * @{
 */

/** An update job (opaque, reference counted). */
struct kflash_update;

/** Flags of kflash_update_set_flags(). */
enum kflash_update_flags {
	/** Find, check and report what would happen; build, stop and flash nothing. */
	KFLASH_UPDATE_DRY_RUN = 1 << 0,
	/** Go on while the printer prints or is paused. */
	KFLASH_UPDATE_FORCE = 1 << 1,
	/** Flash each board's last build as it is; run no make. */
	KFLASH_UPDATE_NO_BUILD = 1 << 2,
	/** Stop at the first board that fails (Klipper is still started). */
	KFLASH_UPDATE_FAIL_FAST = 1 << 3,
	/** Build from scratch. */
	KFLASH_UPDATE_CLEAN = 1 << 4,
};

/** What happened to one board. */
enum kflash_board_result {
	/** Not reached (cancelled, or stopped early by KFLASH_UPDATE_FAIL_FAST). */
	KFLASH_RESULT_SKIPPED = 0,
	/** Flashed and verified. */
	KFLASH_RESULT_FLASHED,
	/** Failed: see kflash_update_get_board_error() and _message(). */
	KFLASH_RESULT_FAILED,
	/** A dry run found it ready to flash. */
	KFLASH_RESULT_PLANNED,
};

/** @return "skipped", "flashed", "failed" or "planned" (static). */
const char *
kflash_board_result_name(enum kflash_board_result result);

/** A new, empty job. */
int
kflash_update_new(struct kflash_context *ctx, struct kflash_update **ret);

/** @return @p update (NULL-safe). */
struct kflash_update *
kflash_update_ref(struct kflash_update *update);

/** @return NULL (NULL-safe). */
struct kflash_update *
kflash_update_unref(struct kflash_update *update);

/**
 * Add a registered board by name (checked when the job runs). Adding one
 * twice is a no-op.
 *
 * @return 0, KFLASH_ERR_INVALID for a name that cannot be a board's, or
 * KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_add_board(struct kflash_update *update, const char *name);

/** Add every registered board (when the job runs). */
int
kflash_update_add_all_boards(struct kflash_update *update);

/**
 * Flash @p path to board @p name instead of building it, for example a
 * firmware kept from an earlier flash.
 */
int
kflash_update_set_firmware(struct kflash_update *update, const char *name, const char *path);

/**
 * Flash every board of this run with @p method instead of its own (the
 * registry is not changed).
 *
 * @return 0, KFLASH_ERR_INVALID, or KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_set_method(struct kflash_update *update, enum kflash_method method);

/** @param flags enum kflash_update_flags. */
void
kflash_update_set_flags(struct kflash_update *update, unsigned int flags);

/**
 * Run the job (once).
 *
 * @return 0 when every board was flashed (or planned) and Klipper is
 * ready or was not running; else the first failure: a board's error
 * (KFLASH_ERR_NOT_FOUND for a board that is not connected,
 * KFLASH_ERR_BUILD, KFLASH_ERR_FLASH, KFLASH_ERR_MCU_MISMATCH, ...),
 * KFLASH_ERR_PRINTING (nothing was stopped), KFLASH_ERR_LOCKED (another
 * run), KFLASH_ERR_SERVICE, KFLASH_ERR_NOT_READY (everything was flashed,
 * but Klipper did not come back ready), or KFLASH_ERR_CANCELLED. The
 * results are readable in every case.
 */
int
kflash_update_run(struct kflash_update *update);

/** @return The number of boards of the job (after a run: with --all resolved). */
size_t
kflash_update_get_board_count(const struct kflash_update *update);

/** @return The name of board @p index, owned by @p update. */
const char *
kflash_update_get_board_name(const struct kflash_update *update, size_t index);

/** @return What happened to board @p index. */
enum kflash_board_result
kflash_update_get_board_result(const struct kflash_update *update, size_t index);

/** @return The board's error (a negative enum kflash_error), or 0. */
int
kflash_update_get_board_error(const struct kflash_update *update, size_t index);

/** @return The board's error message, or NULL. */
const char *
kflash_update_get_board_message(const struct kflash_update *update, size_t index);

/** @return "built", "up-to-date", "last build", "given" or NULL: where the firmware came from. */
const char *
kflash_update_get_board_build(const struct kflash_update *update, size_t index);

/** @return The flash method used ("katapult", "make", "sdcard"), or NULL. */
const char *
kflash_update_get_board_method(const struct kflash_update *update, size_t index);

/** @return The Klipper version of the board's firmware, or NULL. */
const char *
kflash_update_get_board_version(const struct kflash_update *update, size_t index);

/** @return How long the board's flash took, in milliseconds. */
uint64_t
kflash_update_get_board_duration_ms(const struct kflash_update *update, size_t index);

/**
 * @return 1 when board @p index was seen running Klipper again after its
 * flash (USB boards); 0 when not, or when that cannot be seen (UART boards).
 * A board that does not come back is a warning, not a failed flash.
 */
int
kflash_update_get_board_came_back(const struct kflash_update *update, size_t index);

/** @return 1 when the job stopped Klipper. */
int
kflash_update_get_klipper_stopped(const struct kflash_update *update);

/** @return 1 when the job started Klipper again. */
int
kflash_update_get_klipper_restarted(const struct kflash_update *update);

/**
 * @return Klipper's state after the job: "ready", Klipper's own state
 * word when it did not become ready ("startup", "error", ...), "not
 * running" when it was not running before, or NULL when not known.
 */
const char *
kflash_update_get_klipper_state(const struct kflash_update *update);

/** @return Klipper's message when it is not ready, or NULL. */
const char *
kflash_update_get_klipper_message(const struct kflash_update *update);

/** @return How long Klipper was stopped, in milliseconds. */
uint64_t
kflash_update_get_downtime_ms(const struct kflash_update *update);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_UPDATE_H */
