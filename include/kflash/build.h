/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_BUILD_H
#define KFLASH_BUILD_H

#include <stdint.h>

#include <kflash/context.h>
#include <kflash/firmware.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup build Building firmware
 *
 * Each board is built in its own directory, `<cache dir>/build/<board>/`,
 * with `make -C <klipper> KCONFIG_CONFIG=<its config> OUT=<its dir>`, so
 * one board's build never destroys another's and the user's Klipper tree
 * is left as it was. A fingerprint of the config's content, the Klipper
 * version and the compiler decides: unchanged and the artifact intact, make
 * is not run at all ("up to date"); changed, the build starts clean.
 * @{
 */

/** The outcome of building one board (opaque, reference counted). */
struct kflash_build;

/** Flags of kflash_build_board(). */
enum kflash_build_flags {
	/** Build from scratch, whatever the fingerprint says. */
	KFLASH_BUILD_CLEAN = 1 << 0,
};

/** What kflash_build_board() did. */
enum kflash_build_result {
	/** make ran and produced a checked artifact. */
	KFLASH_BUILD_BUILT = 1,
	/** Nothing changed since the last good build: make did not run. */
	KFLASH_BUILD_UP_TO_DATE = 2,
};

/**
 * Build a board's firmware. Events go to KFLASH_PHASE_BUILD with the
 * board's name; every line make prints is an output event. make runs at
 * low CPU and I/O priority, with the build timeout (KFLASH_TIMEOUT_BUILD)
 * and the whole process group killed at its end. A lock on the board's
 * build directory keeps two builds of one board apart.
 *
 * @param ctx The context.
 * @param board The board; its cached config must exist and be for its MCU.
 * @param flags enum kflash_build_flags.
 * @param[out] ret The outcome, with a reference count of 1.
 * @return 0; KFLASH_ERR_NOT_FOUND (no config, no Klipper tree);
 * KFLASH_ERR_INVALID (the board has no MCU yet, with
 * KFLASH_HINT_CONFIGURE_BOARD; make is not run);
 * KFLASH_ERR_MCU_MISMATCH (config or artifact for another MCU: make is not
 * run for a config); KFLASH_ERR_BUILD (make failed: its exit status and
 * last lines are in the message); KFLASH_ERR_TIMEOUT; KFLASH_ERR_LOCKED;
 * KFLASH_ERR_CANCELLED.
 */
int
kflash_build_board(struct kflash_context *ctx,
		   const struct kflash_board *board,
		   unsigned int flags,
		   struct kflash_build **ret);

/**
 * The firmware of the board's last good build, as it is: no fingerprint,
 * no make (for flashing again what was built before).
 *
 * @param ctx The context.
 * @param board The board.
 * @param[out] ret The firmware, with a reference count of 1.
 * @return 0; KFLASH_ERR_NOT_FOUND when the board was never built (the hint
 * is KFLASH_HINT_BUILD); or an error of kflash_firmware_load().
 */
int
kflash_build_load_last(struct kflash_context *ctx,
		       const struct kflash_board *board,
		       struct kflash_firmware **ret);

/** @return @p build (NULL-safe). */
struct kflash_build *
kflash_build_ref(struct kflash_build *build);

/** @return NULL (NULL-safe). */
struct kflash_build *
kflash_build_unref(struct kflash_build *build);

/** @return KFLASH_BUILD_BUILT or KFLASH_BUILD_UP_TO_DATE. */
enum kflash_build_result
kflash_build_get_result(const struct kflash_build *build);

/**
 * @return The firmware to flash: `klipper.bin`, `klipper.uf2` (RP2040
 * without a bootloader), `klipper.elf.hex` (AVR) or `klipper.elf`
 * (Linux). Owned by @p build.
 */
const char *
kflash_build_get_artifact(const struct kflash_build *build);

/** @return The artifact, read and checked (its MCU, version, SHA-256). */
struct kflash_firmware *
kflash_build_get_firmware(const struct kflash_build *build);

/** @return The fingerprint of this build (hex), owned by @p build. */
const char *
kflash_build_get_fingerprint(const struct kflash_build *build);

/**
 * @name Builds at once: a shared job server
 *
 * Builds of distinct boards may run at the same time, each on a context
 * of its own in a thread of its own. Without a job server each make runs
 * one job per CPU, so that two builds at once run twice as many jobs as
 * there are CPUs. A job server hands out a fixed number of job slots (GNU
 * make's jobserver protocol): every build whose context has it takes one
 * slot for its make and make one more for each further job, so that all of
 * them together never run more jobs than it has slots, and a build whose
 * make has little to do (linking, generating files) leaves its CPUs to the
 * others. A job server serves the contexts of one process.
 * @{
 */

/** A job server shared by builds (opaque, reference counted, thread-safe). */
struct kflash_jobserver;

/**
 * Create a job server.
 *
 * @param ctx The context that failures are recorded on.
 * @param slots The number of jobs that may run at once; 0 means the
 * number of online CPUs.
 * @param[out] ret The job server, with a reference count of 1.
 * @return 0; KFLASH_ERR_INVALID (no @p ret, more than 4096 slots);
 * KFLASH_ERR_IO; KFLASH_ERR_NO_MEMORY.
 */
int
kflash_jobserver_new(struct kflash_context *ctx, unsigned int slots, struct kflash_jobserver **ret);

/**
 * Take a reference; may be called from any thread.
 *
 * @param js A job server, or NULL.
 * @return @p js.
 */
struct kflash_jobserver *
kflash_jobserver_ref(struct kflash_jobserver *js);

/**
 * Drop a reference; may be called from any thread. The job server is freed
 * with the last one (each context that has it holds one).
 *
 * @param js A job server, or NULL.
 * @return NULL.
 */
struct kflash_jobserver *
kflash_jobserver_unref(struct kflash_jobserver *js);

/**
 * @param js A job server.
 * @return Its number of slots, or 0 for NULL.
 */
unsigned int
kflash_jobserver_get_slots(const struct kflash_jobserver *js);

/**
 * Make the builds on @p ctx share @p js's slots (the context takes a
 * reference). A build waiting for a slot can be cancelled.
 *
 * @param ctx A context.
 * @param js A job server, or NULL for one job per CPU again (the default).
 * @return 0, or KFLASH_ERR_INVALID when @p ctx is NULL.
 */
int
kflash_context_set_jobserver(struct kflash_context *ctx, struct kflash_jobserver *js);

/**
 * @param ctx A context.
 * @return The job server set with kflash_context_set_jobserver(), owned by
 * the context, or NULL.
 */
struct kflash_jobserver *
kflash_context_get_jobserver(struct kflash_context *ctx);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_BUILD_H */
