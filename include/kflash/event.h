/* SPDX-License-Identifier: MIT */
/**
 * @file event.h
 * @brief Events: how libkflash reports what it is doing.
 *
 * The library never prints. Every message, every line of a child
 * process's output and every progress step is delivered as an event to
 * the one handler of the context (see kflash_context_set_event_handler()).
 * Events are opaque and only valid during the handler call; copy what
 * you need to keep.
 *
 * Handlers are called synchronously, on the thread that called into the
 * library, never from an internal thread. A handler must not call back
 * into the library with the same context, except for the kflash_event_*
 * accessors and kflash_context_cancel().
 */
#ifndef KFLASH_EVENT_H
#define KFLASH_EVENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kflash_context;

/**
 * @defgroup event Events
 * @{
 */

/**
 * An opaque event, valid only for the duration of the handler call.
 */
struct kflash_event;

/** What an event reports. */
enum kflash_event_type {
	/** A message for the user. */
	KFLASH_EVENT_LOG = 1,
	/** A phase of the job begins; the message says what it will do. */
	KFLASH_EVENT_PHASE = 2,
	/** Progress of a long step: see kflash_event_get_progress_done(). */
	KFLASH_EVENT_PROGRESS = 3,
	/** One line of output of a child process (make, systemctl, ...). */
	KFLASH_EVENT_OUTPUT = 4,
};

/**
 * Severity of an event. Higher values are more severe; the gaps leave
 * room for levels in between.
 */
enum kflash_event_level {
	KFLASH_LEVEL_DEBUG = 10,
	KFLASH_LEVEL_INFO = 20,
	KFLASH_LEVEL_WARNING = 30,
	KFLASH_LEVEL_ERROR = 40,
};

/**
 * The phase of the main flow an event belongs to. The CLI prints these
 * as its labels: "[Discovery]", "[Config]", "[Build]", "[Service]",
 * "[Flash]".
 */
enum kflash_phase {
	KFLASH_PHASE_NONE = 0,
	KFLASH_PHASE_DISCOVERY = 1,
	KFLASH_PHASE_CONFIG = 2,
	KFLASH_PHASE_BUILD = 3,
	KFLASH_PHASE_SERVICE = 4,
	KFLASH_PHASE_FLASH = 5,
};

/**
 * The handler type.
 *
 * @param ctx The context that emitted the event.
 * @param event The event; valid only during this call.
 * @param user_data The pointer given to kflash_context_set_event_handler().
 */
typedef void (*kflash_event_handler)(struct kflash_context *ctx,
				     const struct kflash_event *event,
				     void *user_data);

/**
 * @param event An event.
 * @return The event's type.
 */
enum kflash_event_type
kflash_event_get_type(const struct kflash_event *event);

/**
 * @param event An event.
 * @return The event's severity, one of enum kflash_event_level.
 */
enum kflash_event_level
kflash_event_get_level(const struct kflash_event *event);

/**
 * @param event An event.
 * @return The phase the event belongs to, or KFLASH_PHASE_NONE.
 */
enum kflash_phase
kflash_event_get_phase(const struct kflash_event *event);

/**
 * @param event An event.
 * @return The name of the board the event is about, or NULL when it is
 * not about one board. Valid only during the handler call.
 */
const char *
kflash_event_get_board(const struct kflash_event *event);

/**
 * @param event An event.
 * @return The pre-formatted UTF-8 message without a trailing newline;
 * never NULL, possibly empty for a pure progress event. Valid only
 * during the handler call.
 */
const char *
kflash_event_get_message(const struct kflash_event *event);

/**
 * @param event An event of type KFLASH_EVENT_PROGRESS.
 * @return The amount done so far (bytes, blocks, boards: the message
 * says which), or 0 for other event types.
 */
uint64_t
kflash_event_get_progress_done(const struct kflash_event *event);

/**
 * @param event An event of type KFLASH_EVENT_PROGRESS.
 * @return The total amount, or 0 when it is unknown or for other event
 * types.
 */
uint64_t
kflash_event_get_progress_total(const struct kflash_event *event);

/**
 * The English name of a phase, as used for labels.
 *
 * @param phase A value of enum kflash_phase.
 * @return "Discovery", "Config", "Build", "Service", "Flash", or "" for
 * KFLASH_PHASE_NONE and unknown values. A static string.
 */
const char *
kflash_phase_name(enum kflash_phase phase);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_EVENT_H */
