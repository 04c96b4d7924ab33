/* SPDX-License-Identifier: MIT */
/*
 * Internal interface shared by every module of libkflash: export
 * annotation, event emission, error recording, scopes and cancellation.
 * Nothing here is part of the public API.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <kflash/kflash.h>

#include "util/util.h"

/* Marks the definition of a public function; everything else is hidden. */
#define KFLASH_EXPORT __attribute__((visibility("default")))

/* ---- waiting for a board's bootloader (lib/katapult/entry.c) ---- */

/*
 * kflash_katapult_wait(), where a ROM bootloader counts as having come
 * instead when @before (the devices before the board was asked, or NULL
 * for the first look) does not have it, and it is at @usb_port (the
 * board's USB port, or NULL when not known), where both are known.
 */
int
kf_katapult_wait_since(struct kflash_context *ctx,
		       const char *usb_serial,
		       const char *usb_port,
		       struct kflash_discovery *before,
		       uint32_t timeout_ms,
		       struct kflash_device **ret);

/*
 * A ROM bootloader (DFU, BOOTSEL) in @now that @before does not have, at
 * @usb_port where both ports are known (several boards may be in their
 * bootloaders at once), or NULL.
 */
const struct kflash_device *
kf_new_rom_bootloader(const struct kflash_discovery *now,
		      const struct kflash_discovery *before,
		      const char *usb_port);

/* "the STM32 ROM DFU bootloader" or "the RP2040 BOOTSEL loader", for messages. */
const char *
kf_rom_bootloader_name(const struct kflash_device *rom);

/* ---- events ---- */

void
kf_log(struct kflash_context *ctx, enum kflash_event_level level, const char *fmt, ...)
	KF_PRINTF(3, 4);

#define kf_debug(ctx, ...) kf_log((ctx), KFLASH_LEVEL_DEBUG, __VA_ARGS__)
#define kf_info(ctx, ...) kf_log((ctx), KFLASH_LEVEL_INFO, __VA_ARGS__)
#define kf_warn(ctx, ...) kf_log((ctx), KFLASH_LEVEL_WARNING, __VA_ARGS__)

/* A PHASE event in the current scope: "what this phase will do". */
void
kf_phase_event(struct kflash_context *ctx, const char *fmt, ...) KF_PRINTF(2, 3);

/* A PROGRESS event in the current scope. */
void
kf_progress(struct kflash_context *ctx, uint64_t done, uint64_t total, const char *fmt, ...)
	KF_PRINTF(4, 5);

/* One line of a child's output, as an OUTPUT event at INFO. */
void
kf_output_line(struct kflash_context *ctx, const char *line);

/* ---- errors ---- */

/*
 * Record a failure as the context's last error and return @code, so that
 * callers can write `return kf_error(ctx, KFLASH_ERR_X, "...");`. The
 * message also goes out as a DEBUG event; the caller that receives the
 * code decides how to show it.
 */
int
kf_error(struct kflash_context *ctx, int code, const char *fmt, ...) KF_PRINTF(3, 4);

/*
 * As kf_error(), with what the caller can do (enum kflash_hint) and what
 * it is about (@subject, copied; may be NULL). kf_error() and its siblings
 * clear the hint.
 */
int
kf_error_hint(
	struct kflash_context *ctx, int code, int hint, const char *subject, const char *fmt, ...)
	KF_PRINTF(5, 6);

/* Set the hint of the last error, for a caller that rewrote its message. */
void
kf_set_hint(struct kflash_context *ctx, int hint, const char *subject);

/* As kf_error(), with ": <strerror(errnum)>" appended. */
int
kf_error_errno(struct kflash_context *ctx, int code, int errnum, const char *fmt, ...)
	KF_PRINTF(4, 5);

/* As kf_error_errno(), with the code chosen from errnum (kf_errno_to_error). */
int
kf_error_sys(struct kflash_context *ctx, int errnum, const char *fmt, ...) KF_PRINTF(3, 4);

/* The enum kflash_error class of a positive errno value. */
int
kf_errno_to_error(int errnum);

/* ---- scopes: the phase and board that events are attributed to ---- */

struct kf_scope {
	enum kflash_phase phase;
	const char *board;
};

/*
 * Attribute following events to @phase and @board (borrowed: it must stay
 * valid until the matching kf_scope_leave()). Returns the previous scope.
 */
struct kf_scope
kf_scope_enter(struct kflash_context *ctx, enum kflash_phase phase, const char *board);

void
kf_scope_leave(struct kflash_context *ctx, struct kf_scope previous);

/* The scope events are attributed to now. */
struct kf_scope
kf_scope_current(const struct kflash_context *ctx);

/* ---- the context's injected service control (lib/service) ---- */

struct kf_service_ops {
	kflash_service_func stop, start;
	kflash_service_query_func query;
	void *stop_data, *start_data, *query_data;
	int provider;          /* enum kflash_service_provider, once set */
	bool provider_set;     /* by kflash_context_set_service_provider() */
	char *provider_env;    /* KFLASH_SERVICE_PROVIDER at creation, or NULL */
	uint64_t moonraker_id; /* the id of the last request to Moonraker */
};

/* Read the environment into a new context's @ops: 0, or KFLASH_ERR_NO_MEMORY. */
int
kf_service_ops_init(struct kf_service_ops *ops);

/* A copy of @src (a worker's of its parent's): 0, or KFLASH_ERR_NO_MEMORY. */
int
kf_service_ops_copy(struct kf_service_ops *dst, const struct kf_service_ops *src);

/* Free what kf_service_ops_init() allocated. */
void
kf_service_ops_clear(struct kf_service_ops *ops);

/* The context's service operations; a NULL function means systemctl. */
struct kf_service_ops *
kf_context_service_ops(struct kflash_context *ctx);

/* The job server the context's builds share (lib/build), or NULL. */
struct kflash_jobserver **
kf_context_jobserver(struct kflash_context *ctx);

/* ---- worker contexts: one per thread of a job that runs in parallel ---- */

/*
 * A context for one worker thread, made from @parent: the same locations
 * (fixed as @parent resolves them now), timeouts and service control; an
 * error record of its own; its events go to @parent's handler, one at a
 * time, attributed by the worker's own scope; @parent's cancel cancels it.
 * Make and free it in the parent's thread; use it in one thread only.
 */
int
kf_context_new_worker(struct kflash_context *parent, struct kflash_context **ret);

/* ---- cancellation and time ---- */

/* A descriptor that becomes readable when the context is cancelled. */
int
kf_cancel_fd(const struct kflash_context *ctx);

/* 0, or KFLASH_ERR_CANCELLED (recorded as the last error) when cancelled. */
int
kf_check_cancel(struct kflash_context *ctx);

/* Sleep @ms milliseconds; returns early with KFLASH_ERR_CANCELLED. */
int
kf_sleep_ms(struct kflash_context *ctx, uint32_t ms);
