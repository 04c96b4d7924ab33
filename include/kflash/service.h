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
 * Units are controlled by a provider (enum kflash_service_provider). By
 * default that is Moonraker when its UNIX socket
 * (kflash_context_get_moonraker_socket()) answers: it stops and starts
 * units for this user without sudo (`machine.services.stop|start`) and
 * tells their state (`machine.system_info`). When the socket is not there,
 * nothing listens on it, or Moonraker fails a request, the units are
 * controlled with `systemctl stop|start|is-active UNIT`, run directly as
 * root and as `sudo -n systemctl ...` otherwise; both programs are found
 * on PATH. An INFO event says which provider is used, and why it fell back.
 * Other programs can inject their own stop, start and is-active functions,
 * which then replace every provider.
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
 * Replace how units are stopped. NULL restores the default (the provider).
 * The sentinel that starts units after the death of the process always
 * uses the provider, since a callback cannot outlive its process: a
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

/** Who stops and starts Klipper's units, and tells their state. */
enum kflash_service_provider {
	/**
	 * Moonraker when its socket answers, else systemctl; systemctl too
	 * for an operation Moonraker fails (the default).
	 */
	KFLASH_SERVICE_PROVIDER_AUTO = 0,
	/**
	 * Moonraker only: a stop or a state it cannot give is an error, and
	 * neither systemctl nor sudo is run. Only a start falls back to
	 * systemctl, as the last resort to get Klipper running again.
	 */
	KFLASH_SERVICE_PROVIDER_MOONRAKER = 1,
	/** systemctl only, through `sudo -n` when not root. */
	KFLASH_SERVICE_PROVIDER_SYSTEMCTL = 2,
};

/**
 * @param provider A value of enum kflash_service_provider.
 * @return "auto", "moonraker" or "systemctl" (static); "unknown" for other
 * values.
 */
const char *
kflash_service_provider_name(int provider);

/**
 * Choose the provider. It overrides the environment variable
 * KFLASH_SERVICE_PROVIDER (read when the context was created), which holds
 * one of the names of kflash_service_provider_name().
 *
 * @param ctx The context.
 * @param provider A value of enum kflash_service_provider.
 * @return 0, or KFLASH_ERR_INVALID for another value.
 */
int
kflash_context_set_service_provider(struct kflash_context *ctx, int provider);

/**
 * @param ctx The context.
 * @return The provider chosen with kflash_context_set_service_provider(),
 * else the one KFLASH_SERVICE_PROVIDER names, else
 * KFLASH_SERVICE_PROVIDER_AUTO; KFLASH_ERR_INVALID (with a message) when
 * KFLASH_SERVICE_PROVIDER names none, since guessing could stop Klipper in
 * a way the user ruled out.
 */
int
kflash_context_get_service_provider(struct kflash_context *ctx);

/**
 * The print state, as Moonraker reports it (`printer.objects.query` of
 * `print_stats`). Moonraker keeps its own connection to Klipper, so this
 * answers where Klipper's API socket is not known to this library.
 *
 * @param ctx The context.
 * @param[out] state A value of enum kflash_print_state (see klippy.h);
 * KFLASH_PRINT_UNKNOWN for a state this library does not know.
 * @return 0; KFLASH_ERR_INVALID when @p state is NULL; KFLASH_ERR_NOT_FOUND
 * when nothing answers on Moonraker's socket; KFLASH_ERR_PERMISSION when
 * this user may not use it; KFLASH_ERR_SERVICE when Moonraker answers with
 * an error (for example while Klipper is not connected to it);
 * KFLASH_ERR_TIMEOUT; KFLASH_ERR_PROTOCOL for an answer that is not
 * JSON-RPC, or larger than 1 MiB; KFLASH_ERR_IO when Moonraker closes the
 * connection before it answers; KFLASH_ERR_CANCELLED.
 */
int
kflash_moonraker_query_print_state(struct kflash_context *ctx, int *state);

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
 * @return 0; KFLASH_ERR_INVALID for a unit name that is not one, or an
 * invalid KFLASH_SERVICE_PROVIDER; KFLASH_ERR_SERVICE when the state
 * cannot be asked; with the Moonraker provider, the errors of
 * kflash_moonraker_query_print_state() too.
 */
int
kflash_service_get_state(struct kflash_context *ctx, const char *unit, int *state);

/**
 * Stop a unit, without any guard: for manual use (`kflash service stop`).
 * Through Moonraker, it returns once Moonraker no longer reports the unit
 * running (or stopping), within KFLASH_TIMEOUT_COMMAND.
 *
 * @return 0, KFLASH_ERR_INVALID, KFLASH_ERR_PERMISSION (no passwordless
 * sudo: the message has the sudoers line to add) or KFLASH_ERR_SERVICE;
 * with the Moonraker provider, the errors of
 * kflash_moonraker_query_print_state() too.
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
 * stopped, now and at the end. The provider is chosen once, here, and
 * said in an INFO event. Before anything is stopped, passwordless sudo is
 * checked (when not root and the provider is systemctl), and a sentinel
 * process is started that will start the units if this process dies
 * before kflash_service_guard_end(), through the same provider, with
 * systemctl as its last resort.
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
