/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_SERVICE_H
#define KFLASH_SERVICE_H

#include <stddef.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup service The klipper service
 *
 * Klipper holds the boards' serial ports, so flashing needs its service
 * stopped, and a printer left with Klipper stopped is the worst outcome
 * of a failed update. The guard makes every stop get exactly one start:
 * on success, error and cancel, and even when the process dies (SIGKILL,
 * OOM, a dropped SSH session), through a sentinel process.
 *
 * By default units are controlled with `systemctl stop|start|is-active
 * UNIT`, run directly as root and as `sudo -n systemctl ...` otherwise;
 * both programs are found on PATH. Other programs can inject their own
 * stop, start and is-active functions.
 * @{
 */

/**
 * Stop or start @p unit. Return 0, or a negative enum kflash_error (the
 * implementation may record a message with no API: the library reports
 * "cannot stop UNIT").
 */
typedef int (*kflash_service_func)(struct kflash_context *ctx, const char *unit, void *user_data);

/**
 * Whether @p unit runs: 1 when active (or activating), 0 when not, or a
 * negative enum kflash_error.
 */
typedef int (*kflash_service_query_func)(struct kflash_context *ctx,
					 const char *unit,
					 void *user_data);

/**
 * Replace how units are stopped. NULL restores the default (systemctl).
 * The sentinel that starts units after the death of the process always
 * uses the default, since a callback cannot outlive its process: a
 * program that injects these should not rely on the sentinel.
 */
void
kflash_context_set_service_stop_func(struct kflash_context *ctx,
				     kflash_service_func fn,
				     void *user_data);

/** Replace how units are started; see kflash_context_set_service_stop_func(). */
void
kflash_context_set_service_start_func(struct kflash_context *ctx,
				      kflash_service_func fn,
				      void *user_data);

/** Replace how a unit's state is asked; see kflash_context_set_service_stop_func(). */
void
kflash_context_set_service_query_func(struct kflash_context *ctx,
				      kflash_service_query_func fn,
				      void *user_data);

/** The state of a unit, as systemd names it. */
enum kflash_unit_state {
	/** Not known (systemctl said "unknown", or something this library does not know). */
	KFLASH_UNIT_UNKNOWN = 0,
	/** "active": it runs. */
	KFLASH_UNIT_ACTIVE = 1,
	/** "inactive": it does not run. */
	KFLASH_UNIT_INACTIVE = 2,
	/** "failed": it does not run, after a failure. */
	KFLASH_UNIT_FAILED = 3,
	/** "activating": it is starting. */
	KFLASH_UNIT_ACTIVATING = 4,
	/** "deactivating": it is stopping. */
	KFLASH_UNIT_DEACTIVATING = 5,
	/** "reloading": it runs and reloads its configuration. */
	KFLASH_UNIT_RELOADING = 6,
};

/**
 * @param state A value of enum kflash_unit_state.
 * @return systemd's word: "unknown", "active", "inactive", "failed",
 * "activating", "deactivating" or "reloading" (static); "unknown" for other
 * values.
 */
const char *
kflash_unit_state_name(int state);

/**
 * @param state A value of enum kflash_unit_state.
 * @return 1 when a unit in @p state runs or is about to (active,
 * activating, reloading), so that it needs a stop; else 0.
 */
int
kflash_unit_state_is_running(int state);

/**
 * The state of a unit.
 *
 * @param ctx The context.
 * @param unit The unit, for example "klipper".
 * @param[out] state A value of enum kflash_unit_state; with an injected
 * query function, KFLASH_UNIT_ACTIVE or KFLASH_UNIT_INACTIVE.
 * @return 0, KFLASH_ERR_INVALID for a unit name that is not one, or
 * KFLASH_ERR_SERVICE when the state cannot be asked.
 */
int
kflash_service_get_state(struct kflash_context *ctx, const char *unit, int *state);

/**
 * Stop a unit, without any guard: for manual use (`kflash service stop`).
 *
 * @return 0, KFLASH_ERR_INVALID, KFLASH_ERR_PERMISSION (no passwordless
 * sudo: the message has the sudoers line to add) or KFLASH_ERR_SERVICE.
 */
int
kflash_service_stop(struct kflash_context *ctx, const char *unit);

/** Start a unit; as kflash_service_stop(). */
int
kflash_service_start(struct kflash_context *ctx, const char *unit);

/**
 * Check that this process may run @p program through `sudo -n`, without a
 * password (always true as root), for example Klipper's
 * `scripts/flash-linux.sh`, which its `make flash` of the host MCU runs.
 *
 * @param ctx The context.
 * @param program The program's absolute path.
 * @return 0, or KFLASH_ERR_PERMISSION with the sudoers line to add in the
 * message; KFLASH_ERR_CANCELLED.
 */
int
kflash_service_check_sudo(struct kflash_context *ctx, const char *program);

/**
 * Check, without stopping anything, that this process may stop and start
 * @p unit the way kflash_service_guard_begin() will: always as root, or
 * when stop and start functions are injected; otherwise `sudo -n` must run
 * `systemctl stop UNIT` and `systemctl start UNIT` without a password.
 *
 * @param ctx The context.
 * @param unit The unit, for example "klipper".
 * @return 0; KFLASH_ERR_PERMISSION with the sudoers line to add in the
 * message; KFLASH_ERR_INVALID for a unit name that is not one;
 * KFLASH_ERR_CANCELLED.
 */
int
kflash_service_check_unit_sudo(struct kflash_context *ctx, const char *unit);

/** Whether systemd knows a unit, as its LoadState says. */
enum kflash_unit_load {
	/** Not known: an injected query function, or a word this library does not know. */
	KFLASH_UNIT_LOAD_UNKNOWN = 0,
	/** "loaded": the unit file is there and was read. */
	KFLASH_UNIT_LOADED = 1,
	/** "not-found": there is no such unit (a wrong name, or not installed). */
	KFLASH_UNIT_NOT_FOUND = 2,
	/** "masked": it is there but cannot be started. */
	KFLASH_UNIT_MASKED = 3,
	/** "bad-setting" or "error": its unit file could not be used. */
	KFLASH_UNIT_LOAD_ERROR = 4,
};

/**
 * @param load A value of enum kflash_unit_load.
 * @return "unknown", "loaded", "not-found", "masked" or "error" (static);
 * "unknown" for other values.
 */
const char *
kflash_unit_load_name(int load);

/**
 * Whether systemd knows @p unit (`systemctl show --property=LoadState
 * --value UNIT`, which needs no privileges). kflash_service_get_state()
 * says "inactive" also for a unit that does not exist; this tells the two
 * apart.
 *
 * @param ctx The context.
 * @param unit The unit.
 * @param[out] state A value of enum kflash_unit_load; KFLASH_UNIT_LOAD_UNKNOWN
 * with an injected query function (kflash_context_set_service_query_func()).
 * @return 0; KFLASH_ERR_INVALID for a unit name that is not one;
 * KFLASH_ERR_SERVICE when systemctl cannot tell (no systemd);
 * KFLASH_ERR_NOT_FOUND when systemctl is not on PATH; KFLASH_ERR_TIMEOUT;
 * KFLASH_ERR_CANCELLED.
 */
int
kflash_service_get_load_state(struct kflash_context *ctx, const char *unit, int *state);

/** The guard (opaque, reference counted). */
struct kflash_service_guard;

/**
 * A guard for the context's service (kflash_context_get_service());
 * kflash_service_guard_add_unit() adds more.
 */
int
kflash_service_guard_new(struct kflash_context *ctx, struct kflash_service_guard **ret);

/** @return @p guard (NULL-safe). */
struct kflash_service_guard *
kflash_service_guard_ref(struct kflash_service_guard *guard);

/**
 * When the last reference goes, a begun guard is ended (units started).
 * @return NULL (NULL-safe).
 */
struct kflash_service_guard *
kflash_service_guard_unref(struct kflash_service_guard *guard);

/**
 * Add a unit, for example "klipper-2" on a multi-instance host or
 * "klipper-mcu" for a Linux host MCU. Units are stopped in the order
 * added and started in the reverse order. Adding one twice is a no-op.
 *
 * @return 0, KFLASH_ERR_INVALID for a bad name, or KFLASH_ERR_BUSY once
 * the guard has begun.
 */
int
kflash_service_guard_add_unit(struct kflash_service_guard *guard, const char *unit);

/**
 * Stop the units that run. A unit that was already stopped is left
 * stopped, now and at the end. Before anything is stopped, passwordless
 * sudo is checked (when not root), and a sentinel process is started that
 * will start the units if this process dies before
 * kflash_service_guard_end().
 *
 * @return 0; KFLASH_ERR_PERMISSION (nothing stopped; the message holds the
 * sudoers line to add); KFLASH_ERR_SERVICE when a stop fails (the units
 * already stopped are started again before it returns).
 */
int
kflash_service_guard_begin(struct kflash_service_guard *guard);

/**
 * Start the units that kflash_service_guard_begin() stopped, even when the
 * context is cancelled, and dismiss the sentinel. Calling it again, or
 * without a begin, does nothing.
 *
 * @return 0, or KFLASH_ERR_SERVICE when a start failed (the message names
 * the unit and says how to start it by hand).
 */
int
kflash_service_guard_end(struct kflash_service_guard *guard);

/** @return The number of units. */
size_t
kflash_service_guard_get_unit_count(const struct kflash_service_guard *guard);

/** @return The name of unit @p index, or NULL. */
const char *
kflash_service_guard_get_unit(const struct kflash_service_guard *guard, size_t index);

/** @return 1 when the guard stopped unit @p index, else 0. */
int
kflash_service_guard_unit_was_stopped(const struct kflash_service_guard *guard, size_t index);

/** @return 1 when the guard started unit @p index again, else 0. */
int
kflash_service_guard_unit_was_restarted(const struct kflash_service_guard *guard, size_t index);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_SERVICE_H */
