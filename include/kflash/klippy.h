/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_KLIPPY_H
#define KFLASH_KLIPPY_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup klippy Klipper's API socket
 *
 * Read-only questions to a running Klipper over its API socket
 * (kflash_context_get_klippy_socket()): is it ready, is it printing, and
 * which firmware version does each of its MCUs run. Messages are JSON
 * objects, each ended by a 0x03 byte. Every request has a timeout
 * (KFLASH_TIMEOUT_KLIPPY) and honours cancellation; a malformed reply is an
 * error, never a crash.
 *
 * Lifetime of the strings the getters return: they are owned by the
 * connection. Those of kflash_klippy_query_info() (state, state message,
 * software version, config file) stay valid until the next
 * kflash_klippy_query_info() on the same connection; those of
 * kflash_klippy_query_status() (print
 * state, every MCU's name, version and type) until the next
 * kflash_klippy_query_status(); all of them until the last
 * kflash_klippy_unref(). A failed query leaves its getters returning NULL
 * or the previous answer, never freed memory. Copy what must live longer.
 * @{
 */

/** A connection to Klipper's API socket (opaque, reference counted). */
struct kflash_klippy;

/**
 * Connect to Klipper's API socket.
 *
 * @param ctx The context.
 * @param[out] ret The connection, with a reference count of 1.
 * @return 0; KFLASH_ERR_NOT_FOUND when Klipper is not running (no socket,
 * or nothing listens on it; the message says which);
 * KFLASH_ERR_PERMISSION; KFLASH_ERR_IO.
 */
int
kflash_klippy_connect(struct kflash_context *ctx, struct kflash_klippy **ret);

/**
 * Connect to the API socket at @p path: the socket of one of several
 * Klipper instances (kflash_instance_get_klippy_socket()), for example.
 *
 * @param ctx The context.
 * @param path The socket; NULL for the context's.
 * @param[out] ret The connection, with a reference count of 1.
 * @return As kflash_klippy_connect().
 */
int
kflash_klippy_connect_socket(struct kflash_context *ctx,
			     const char *path,
			     struct kflash_klippy **ret);

/** @return @p klippy (NULL-safe). */
struct kflash_klippy *
kflash_klippy_ref(struct kflash_klippy *klippy);

/** Close the connection when the last reference goes. @return NULL (NULL-safe). */
struct kflash_klippy *
kflash_klippy_unref(struct kflash_klippy *klippy);

/**
 * Ask Klipper's state (the "info" request).
 *
 * @return 0; KFLASH_ERR_TIMEOUT; KFLASH_ERR_PROTOCOL for a malformed,
 * oversized or truncated reply, or an error reply; KFLASH_ERR_IO when the
 * socket closes; KFLASH_ERR_CANCELLED.
 */
int
kflash_klippy_query_info(struct kflash_klippy *klippy);

/** Klipper's own state, as its "info" request reports it. */
enum kflash_klipper_state {
	/** Not known: not asked yet, no answer, or a word this library does not know. */
	KFLASH_KLIPPER_UNKNOWN = 0,
	/** Klipper's service was not running, so there was nothing to ask. */
	KFLASH_KLIPPER_NOT_RUNNING = 1,
	/** "ready": configured, every MCU connected. */
	KFLASH_KLIPPER_READY = 2,
	/** "startup": still starting. */
	KFLASH_KLIPPER_STARTUP = 3,
	/** "shutdown": stopped after an error; needs a FIRMWARE_RESTART. */
	KFLASH_KLIPPER_SHUTDOWN = 4,
	/** "error": could not start, for example an MCU protocol error. */
	KFLASH_KLIPPER_ERROR = 5,
};

/**
 * @param state A value of enum kflash_klipper_state.
 * @return "unknown", "not-running", "ready", "startup", "shutdown" or
 * "error" (static); "unknown" for other values.
 */
const char *
kflash_klipper_state_name(int state);

/**
 * @param klippy A connection.
 * @return Klipper's state after kflash_klippy_query_info(), a value of
 * enum kflash_klipper_state; KFLASH_KLIPPER_UNKNOWN before, or for a state
 * word this library does not know (kflash_klippy_get_state_message() then
 * still says what Klipper said).
 */
int
kflash_klippy_get_state(const struct kflash_klippy *klippy);

/** @return Klipper's state message (why it is not ready), or NULL. */
const char *
kflash_klippy_get_state_message(const struct kflash_klippy *klippy);

/** @return The host's Klipper version ("software_version"), or NULL. */
const char *
kflash_klippy_get_software_version(const struct kflash_klippy *klippy);

/** @return The config file this Klipper runs ("config_file"), or NULL. */
const char *
kflash_klippy_get_config_file(const struct kflash_klippy *klippy);

/**
 * Ask the print job's state (print_stats.state) and the MCUs' firmware:
 * every `mcu` and `mcu NAME` object, with its mcu_version and MCU type.
 *
 * @return As kflash_klippy_query_info().
 */
int
kflash_klippy_query_status(struct kflash_klippy *klippy);

/** The print job's state (Klipper's print_stats.state). */
enum kflash_print_state {
	/** Not known: not asked yet, or a word this library does not know. */
	KFLASH_PRINT_UNKNOWN = 0,
	/** "standby": no job. */
	KFLASH_PRINT_STANDBY = 1,
	/** "printing". */
	KFLASH_PRINT_PRINTING = 2,
	/** "paused": a job waits to be resumed. */
	KFLASH_PRINT_PAUSED = 3,
	/** "complete": the last job finished. */
	KFLASH_PRINT_COMPLETE = 4,
	/** "cancelled": the last job was cancelled. */
	KFLASH_PRINT_CANCELLED = 5,
	/** "error": the last job failed. */
	KFLASH_PRINT_ERROR = 6,
};

/**
 * @param state A value of enum kflash_print_state.
 * @return "unknown", "standby", "printing", "paused", "complete",
 * "cancelled" or "error" (static); "unknown" for other values.
 */
const char *
kflash_print_state_name(int state);

/**
 * @param klippy A connection.
 * @return The print state after kflash_klippy_query_status(), a value of
 * enum kflash_print_state; KFLASH_PRINT_UNKNOWN before, or when Klipper
 * has no print_stats.
 */
int
kflash_klippy_get_print_state(const struct kflash_klippy *klippy);

/** @return The number of MCUs after kflash_klippy_query_status(). */
size_t
kflash_klippy_get_mcu_count(const struct kflash_klippy *klippy);

/** @return The object name of MCU @p index: "mcu", "mcu toolhead", ...; or NULL. */
const char *
kflash_klippy_get_mcu_name(const struct kflash_klippy *klippy, size_t index);

/** @return The firmware version MCU @p index runs (mcu_version), or NULL. */
const char *
kflash_klippy_get_mcu_version(const struct kflash_klippy *klippy, size_t index);

/** @return The MCU type of MCU @p index (mcu_constants.MCU), or NULL. */
const char *
kflash_klippy_get_mcu_type(const struct kflash_klippy *klippy, size_t index);

/** What the print gate found (kflash_klippy_check_idle()). */
enum kflash_gate {
	/** Klipper answered and is not printing: it may be stopped. */
	KFLASH_GATE_IDLE = 1,
	/** Klipper's service is not active and nothing answers: there is nothing to stop. */
	KFLASH_GATE_NOT_RUNNING = 2,
	/** The printer prints or is paused, and the caller forced the gate open. */
	KFLASH_GATE_FORCED_PRINTING = 3,
	/**
	 * Klipper's service is active (or its state cannot be asked), but its
	 * API socket cannot be reached, and the caller forced the gate open:
	 * whether it prints, and later whether it is ready, cannot be told.
	 */
	KFLASH_GATE_FORCED_UNREACHABLE = 4,
};

/**
 * @param gate A value of enum kflash_gate.
 * @return "idle", "not-running", "forced-printing" or
 * "forced-unreachable" (static); "unknown" for other values.
 */
const char *
kflash_gate_name(int gate);

/**
 * The print gate: may Klipper be stopped now? It asks Klipper's API socket
 * (kflash_context_get_klippy_socket()) for the print state. When nothing
 * answers there, it asks the state of Klipper's service
 * (kflash_context_get_service()): a service that is not active means
 * Klipper is not running; an active one (or one whose state cannot be
 * asked) with an API socket out of reach means the print state cannot be
 * told, and the gate stays shut, since a printer could be stopped in the
 * middle of a print.
 *
 * @param ctx The context.
 * @param force Nonzero to open the gate anyway (with a warning).
 * @param[out] gate What was found, a value of enum kflash_gate; may be
 * NULL. Set on success only.
 * @return 0; KFLASH_ERR_PRINTING (the message says what the printer does;
 * the hint is KFLASH_HINT_FORCE); KFLASH_ERR_NOT_FOUND when Klipper's
 * service is active but its API socket cannot be reached (not there,
 * nothing listening, or not this user's to use: the message names the
 * socket; the hint is KFLASH_HINT_SET_KLIPPY_SOCKET); or a query error
 * (KFLASH_ERR_TIMEOUT, KFLASH_ERR_PROTOCOL, ...).
 */
int
kflash_klippy_check_idle(struct kflash_context *ctx, int force, int *gate);

/**
 * Wait until Klipper reports "ready", polling its state with a bound; for
 * the confirmation after Klipper was started again.
 *
 * @param ctx The context.
 * @param timeout_ms How long to wait (KFLASH_TIMEOUT_READY is the usual).
 * @return 0 when ready; KFLASH_ERR_NOT_READY with Klipper's state and
 * state message (for example an MCU protocol error naming the MCUs to
 * update) when the time is up; KFLASH_ERR_CANCELLED.
 */
int
kflash_klippy_wait_ready(struct kflash_context *ctx, uint32_t timeout_ms);

/** How two Klipper versions compare. */
enum kflash_version_order {
	/** The first is older than the second. */
	KFLASH_VERSION_OLDER = -1,
	/** The same version (build suffixes aside). */
	KFLASH_VERSION_SAME = 0,
	/** The first is newer than the second. */
	KFLASH_VERSION_NEWER = 1,
	/** They differ, but cannot be ordered (not `git describe` output). */
	KFLASH_VERSION_DIFFERENT = 2,
};

/**
 * Compare two Klipper versions as `git describe --always --tags --long
 * --dirty` writes them, for example `v0.12.0-396-gabc1234`: by tag, then
 * by the commit count after it. The build suffixes Klipper appends
 * (`-dirty`, `-YYYYMMDD_HHMMSS-host`) do not count, so a firmware built
 * from a dirty tree is not flagged as outdated against its own commit.
 * Versions that are not of that form are the same when equal, else
 * KFLASH_VERSION_DIFFERENT: never "older" by guess.
 *
 * @return A value of enum kflash_version_order; KFLASH_VERSION_DIFFERENT
 * when either is NULL.
 */
int
kflash_klipper_version_compare(const char *a, const char *b);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_KLIPPY_H */
