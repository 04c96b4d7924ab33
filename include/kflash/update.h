/* SPDX-License-Identifier: MIT */
/**
 * @file update.h
 * @brief The update: build, stop Klipper once, flash every board, start it.
 */
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
 * 4. boards that run their fresh build already are "current" and need no
 *    flash (unless KFLASH_UPDATE_REFLASH); when every board is current,
 *    Klipper is not stopped at all;
 * 5. the print gate (kflash_klippy_check_idle()): no stop while printing
 *    or paused, nor while Klipper's service runs but its API socket is out
 *    of reach, unless forced;
 * 6. one stop of all the needed units, with a sentinel armed;
 * 7. each board found again and flashed, boards on independent links at
 *    once (kflash_update_set_jobs()); a failure does not stop the
 *    others, unless KFLASH_UPDATE_FAIL_FAST. A USB-to-CAN bridge goes
 *    last, after the CAN nodes behind it (it takes their bus down while it
 *    is flashed), and is held back when one of them failed, unless
 *    KFLASH_UPDATE_KEEP_GOING; after it, its interface and the nodes
 *    flashed behind it are waited for;
 * 8. one start, on every path;
 * 9. the confirmation that Klipper is ready, when it ran before;
 * 10. each result recorded in the registry, and each flashed firmware kept
 *     under `<cache dir>/boards/<board>/firmware/`.
 *
 * The printer is down during steps 6 to 8 only.
 * @{
 */

/** An update job (opaque, reference counted). */
struct kflash_update;

/** Flags of kflash_update_set_flags(). */
enum kflash_update_flags {
	/** Find, check and report what would happen; build, stop and flash nothing. */
	KFLASH_UPDATE_DRY_RUN = 1 << 0,
	/** Go on while the printer prints or is paused, or its state cannot be told. */
	KFLASH_UPDATE_FORCE = 1 << 1,
	/** Flash each board's last build as it is; run no make. */
	KFLASH_UPDATE_NO_BUILD = 1 << 2,
	/** Stop at the first board that fails (Klipper is still started). */
	KFLASH_UPDATE_FAIL_FAST = 1 << 3,
	/** Build from scratch. */
	KFLASH_UPDATE_CLEAN = 1 << 4,
	/** Flash boards that run their current firmware already, too. */
	KFLASH_UPDATE_REFLASH = 1 << 5,
	/**
	 * Flash a USB-to-CAN bridge even when a CAN node behind it failed.
	 * Without it such a bridge is held back (KFLASH_RESULT_SKIPPED), so
	 * the bus the failed node needs stays as it is.
	 */
	KFLASH_UPDATE_KEEP_GOING = 1 << 6,
};

/** What happened to one board. */
enum kflash_board_result {
	/**
	 * Not reached (cancelled, or stopped early by KFLASH_UPDATE_FAIL_FAST),
	 * or held back: a USB-to-CAN bridge whose CAN node failed (see
	 * KFLASH_UPDATE_KEEP_GOING; the message says which).
	 */
	KFLASH_RESULT_SKIPPED = 0,
	/** Flashed and verified. */
	KFLASH_RESULT_FLASHED = 1,
	/** Failed: see kflash_update_get_board_error() and _message(). */
	KFLASH_RESULT_FAILED = 2,
	/** A dry run found it ready to flash. */
	KFLASH_RESULT_PLANNED = 3,
	/** Its fresh build is what it runs already: not flashed. */
	KFLASH_RESULT_CURRENT = 4,
};

/**
 * @param result A value of enum kflash_board_result.
 * @return "skipped", "flashed", "failed", "planned" or "current" (static);
 * "skipped" for other values.
 */
const char *
kflash_board_result_name(int result);

/** Where the firmware flashed to a board came from. */
enum kflash_firmware_source {
	/** There is none (the board failed before). */
	KFLASH_FIRMWARE_NONE = 0,
	/** Built by this job: make ran. */
	KFLASH_FIRMWARE_BUILT = 1,
	/** The board's last build, checked unchanged: make did not run. */
	KFLASH_FIRMWARE_UP_TO_DATE = 2,
	/** The board's last build, as it is (KFLASH_UPDATE_NO_BUILD). */
	KFLASH_FIRMWARE_LAST_BUILD = 3,
	/** A file given with kflash_update_set_firmware(). */
	KFLASH_FIRMWARE_GIVEN = 4,
};

/**
 * @param source A value of enum kflash_firmware_source.
 * @return "none", "built", "up-to-date", "last-build" or "given" (static);
 * "none" for other values.
 */
const char *
kflash_firmware_source_name(int source);

/**
 * A new, empty job.
 *
 * @param ctx The context.
 * @param[out] ret The job, with a reference count of 1.
 * @return 0, KFLASH_ERR_INVALID or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_update_new(struct kflash_context *ctx, struct kflash_update **ret);

/**
 * @param update A job, or NULL.
 * @return @p update.
 */
struct kflash_update *
kflash_update_ref(struct kflash_update *update);

/**
 * @param update A job, or NULL.
 * @return NULL.
 */
struct kflash_update *
kflash_update_unref(struct kflash_update *update);

/**
 * Add a registered board by name (checked when the job runs). Adding one
 * twice is a no-op.
 *
 * @param update The job.
 * @param name The board's name.
 * @return 0, KFLASH_ERR_INVALID for a name that cannot be a board's, or
 * KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_add_board(struct kflash_update *update, const char *name);

/**
 * Add every registered board (when the job runs).
 *
 * @param update The job.
 * @return 0, or KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_add_all_boards(struct kflash_update *update);

/**
 * Flash the file @p path to board @p name instead of building it, for
 * example a firmware kept from an earlier flash. The board is added to the
 * job. A given firmware is always flashed, even when it is current.
 *
 * @param update The job.
 * @param name The board's name.
 * @param path The firmware file (copied).
 * @return 0, KFLASH_ERR_INVALID, KFLASH_ERR_NO_MEMORY or KFLASH_ERR_BUSY
 * once the job ran.
 */
int
kflash_update_set_firmware(struct kflash_update *update, const char *name, const char *path);

/**
 * Flash every board of this run with @p method instead of its own (the
 * registry is not changed).
 *
 * @param update The job.
 * @param method A value of enum kflash_method other than KFLASH_METHOD_NONE.
 * @return 0, KFLASH_ERR_INVALID, or KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_set_method(struct kflash_update *update, enum kflash_method method);

/** The most boards kflash_update_set_jobs() lets a job flash at once. */
#define KFLASH_UPDATE_JOBS_MAX 64

/**
 * How many boards the job flashes at once, at most. Boards on independent
 * links (each USB port, each UART) are flashed at the same time, each in
 * a thread of its own; the boards of one CAN interface one after the
 * other, its USB-to-CAN bridge last; boards that need Klipper's make (the
 * host MCU, the make and sdcard methods) and USB boards whose port is not
 * known one at a time. Events stay attributed to their board and reach
 * the context's handler one at a time, from those threads.
 * @param update The job.
 * @param jobs 1 flashes one board after the other, in the job's order; 0
 * (the default) as many as there are independent links, up to 8.
 * @return 0; KFLASH_ERR_INVALID above KFLASH_UPDATE_JOBS_MAX;
 * KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_set_jobs(struct kflash_update *update, unsigned int jobs);

/**
 * @param update The job.
 * @param flags Values of enum kflash_update_flags, or'ed.
 * @return 0; KFLASH_ERR_INVALID for a bit that is not a flag (nothing is
 * changed); KFLASH_ERR_BUSY once the job ran.
 */
int
kflash_update_set_flags(struct kflash_update *update, unsigned int flags);

/**
 * Run the job (once).
 *
 * @param update The job.
 * @return 0 when every board was flashed, planned or current and Klipper
 * is ready or was not running; else the first failure: a board's error
 * (KFLASH_ERR_NOT_FOUND for a board that is not connected,
 * KFLASH_ERR_BUILD, KFLASH_ERR_FLASH, KFLASH_ERR_MCU_MISMATCH, ...),
 * KFLASH_ERR_PRINTING or KFLASH_ERR_NOT_FOUND from the print gate (nothing
 * was stopped), KFLASH_ERR_LOCKED (another run), KFLASH_ERR_SERVICE,
 * KFLASH_ERR_NOT_READY (everything was flashed, but Klipper did not come
 * back ready, or could not be asked), or KFLASH_ERR_CANCELLED. The results
 * are readable in every case.
 */
int
kflash_update_run(struct kflash_update *update);

/**
 * @param update The job.
 * @return The number of boards of the job (after a run: every board
 * resolved, in the order they are flashed: a USB-to-CAN bridge after the
 * other boards; a dry run shows that order too).
 */
size_t
kflash_update_get_board_count(const struct kflash_update *update);

/**
 * The getters below take a board's index, 0 to
 * kflash_update_get_board_count() - 1; an index out of range gives NULL,
 * 0 or the "none" value. Strings are owned by @p update and live as long
 * as it does.
 */

/**
 * @param update The job.
 * @param index The board's index.
 * @return The board's name.
 */
const char *
kflash_update_get_board_name(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return What happened to the board, a value of enum kflash_board_result.
 */
int
kflash_update_get_board_result(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return The board's error (a negative enum kflash_error), or 0.
 */
int
kflash_update_get_board_error(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return The board's error message, or NULL.
 */
const char *
kflash_update_get_board_message(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return What the caller can do about the board's error, a value of enum
 * kflash_hint (its subject is the board).
 */
int
kflash_update_get_board_hint(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return Where the board's firmware came from, a value of enum
 * kflash_firmware_source.
 */
int
kflash_update_get_board_source(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return The flash method that ran, a value of enum kflash_method;
 * KFLASH_METHOD_NONE when none did.
 */
int
kflash_update_get_board_method(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return The Klipper version of the board's firmware, or NULL.
 */
const char *
kflash_update_get_board_version(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return How long the board's flash took, in milliseconds.
 */
uint64_t
kflash_update_get_board_duration_ms(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return 1 when the board was seen running Klipper again after its flash
 * (USB boards); 0 when not, or when that cannot be seen (UART boards). A
 * board that does not come back is a warning, not a failed flash.
 */
int
kflash_update_get_board_came_back(const struct kflash_update *update, size_t index);

/**
 * How the board is reached: as the registry says
 * (kflash_board_get_link()), and, after the run's discovery, also
 * KFLASH_LINK_CAN_BRIDGE for a board registered by its CAN UUID alone that
 * is a USB-to-CAN bridge.
 * @param update The job.
 * @param index The board's index.
 * @return A value of enum kflash_link.
 */
int
kflash_update_get_board_link(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @param index The board's index.
 * @return After the discovery, the CAN interface of a CAN node or the own
 * interface of a USB-to-CAN bridge; else NULL.
 */
const char *
kflash_update_get_board_can_interface(const struct kflash_update *update, size_t index);

/**
 * @param update The job.
 * @return What the print gate found, a value of enum kflash_gate; 0 when
 * the job did not reach it.
 */
int
kflash_update_get_gate(const struct kflash_update *update);

/**
 * @param update The job.
 * @return 1 when the job stopped Klipper, else 0.
 */
int
kflash_update_get_klipper_stopped(const struct kflash_update *update);

/**
 * @param update The job.
 * @return 1 when the job started Klipper again, else 0.
 */
int
kflash_update_get_klipper_restarted(const struct kflash_update *update);

/**
 * @param update The job.
 * @return Klipper's state after the job, a value of enum
 * kflash_klipper_state: KFLASH_KLIPPER_READY when confirmed,
 * KFLASH_KLIPPER_NOT_RUNNING when its service did not run before, another
 * state when it did not become ready, KFLASH_KLIPPER_UNKNOWN when it was
 * not asked or did not answer (see kflash_update_get_klipper_message()).
 */
int
kflash_update_get_klipper_state(const struct kflash_update *update);

/**
 * @param update The job.
 * @return Why Klipper is not ready, or why its state is not known; NULL
 * when there is nothing to say.
 */
const char *
kflash_update_get_klipper_message(const struct kflash_update *update);

/**
 * @param update The job.
 * @return How long Klipper was stopped, in milliseconds.
 */
uint64_t
kflash_update_get_downtime_ms(const struct kflash_update *update);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_UPDATE_H */
