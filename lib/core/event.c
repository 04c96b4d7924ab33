/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "context-private.h"

struct kflash_event {
	enum kflash_event_type type;
	enum kflash_event_level level;
	enum kflash_phase phase;
	const char *board;
	const char *message;
	uint64_t done;
	uint64_t total;
};

static bool
wants(const struct kflash_context *ctx, enum kflash_event_level level)
{
	const struct kflash_context *root = ctx ? kf_context_root(ctx) : NULL;

	return root && root->handler && level >= root->level;
}

static void
emit(struct kflash_context *ctx,
     enum kflash_event_type type,
     enum kflash_event_level level,
     uint64_t done,
     uint64_t total,
     const char *fmt,
     va_list ap)
{
	char stackbuf[512];
	char *heap = NULL;
	char *msg = stackbuf;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stackbuf)) {
		if (vasprintf(&heap, fmt, ap) >= 0)
			msg = heap;
	}
	kf_strip_newline(msg);

	struct kflash_event ev = {
		.type = type,
		.level = level,
		.phase = ctx->scope.phase,
		.board = ctx->scope.board,
		.message = msg,
		.done = done,
		.total = total,
	};
	struct kflash_context *root = kf_context_root(ctx);

	/* Workers' events reach the caller's handler one at a time, as its context's. */
	pthread_mutex_lock(&root->event_lock);
	if (root->handler)
		root->handler(root, &ev, root->handler_data);
	pthread_mutex_unlock(&root->event_lock);
	free(heap);
}

void
kf_log(struct kflash_context *ctx, enum kflash_event_level level, const char *fmt, ...)
{
	va_list ap;

	if (!wants(ctx, level))
		return;
	va_start(ap, fmt);
	emit(ctx, KFLASH_EVENT_LOG, level, 0, 0, fmt, ap);
	va_end(ap);
}

void
kf_phase_event(struct kflash_context *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!wants(ctx, KFLASH_LEVEL_INFO))
		return;
	va_start(ap, fmt);
	emit(ctx, KFLASH_EVENT_PHASE, KFLASH_LEVEL_INFO, 0, 0, fmt, ap);
	va_end(ap);
}

void
kf_progress(struct kflash_context *ctx, uint64_t done, uint64_t total, const char *fmt, ...)
{
	va_list ap;

	if (!wants(ctx, KFLASH_LEVEL_INFO))
		return;
	va_start(ap, fmt);
	emit(ctx, KFLASH_EVENT_PROGRESS, KFLASH_LEVEL_INFO, done, total, fmt, ap);
	va_end(ap);
}

static void
emit_line(struct kflash_context *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(ctx, KFLASH_EVENT_OUTPUT, KFLASH_LEVEL_INFO, 0, 0, fmt, ap);
	va_end(ap);
}

void
kf_output_line(struct kflash_context *ctx, const char *line)
{
	if (wants(ctx, KFLASH_LEVEL_INFO))
		emit_line(ctx, "%s", line);
}

struct kf_scope
kf_scope_enter(struct kflash_context *ctx, enum kflash_phase phase, const char *board)
{
	struct kf_scope previous = ctx->scope;

	ctx->scope.phase = phase;
	ctx->scope.board = board;
	return previous;
}

struct kf_scope
kf_scope_current(const struct kflash_context *ctx)
{
	return ctx->scope;
}

void
kf_scope_leave(struct kflash_context *ctx, struct kf_scope previous)
{
	ctx->scope = previous;
}

void
kf_event_debug_handler(struct kflash_context *ctx,
		       const struct kflash_event *event,
		       void *user_data)
{
	const char *phase = kflash_phase_name(event->phase);

	fprintf(stderr, "libkflash: %s%s%s%s%s%s\n", *phase ? "[" : "", phase, *phase ? "] " : "",
		event->board ? event->board : "", event->board ? ": " : "", event->message);
}

KFLASH_EXPORT enum kflash_event_type
kflash_event_get_type(const struct kflash_event *event)
{
	return event->type;
}

KFLASH_EXPORT enum kflash_event_level
kflash_event_get_level(const struct kflash_event *event)
{
	return event->level;
}

KFLASH_EXPORT enum kflash_phase
kflash_event_get_phase(const struct kflash_event *event)
{
	return event->phase;
}

KFLASH_EXPORT const char *
kflash_event_get_board(const struct kflash_event *event)
{
	return event->board;
}

KFLASH_EXPORT const char *
kflash_event_get_message(const struct kflash_event *event)
{
	return event->message ? event->message : "";
}

KFLASH_EXPORT uint64_t
kflash_event_get_progress_done(const struct kflash_event *event)
{
	return event->type == KFLASH_EVENT_PROGRESS ? event->done : 0;
}

KFLASH_EXPORT uint64_t
kflash_event_get_progress_total(const struct kflash_event *event)
{
	return event->type == KFLASH_EVENT_PROGRESS ? event->total : 0;
}

KFLASH_EXPORT const char *
kflash_phase_name(enum kflash_phase phase)
{
	switch (phase) {
	case KFLASH_PHASE_DISCOVERY:
		return "Discovery";
	case KFLASH_PHASE_CONFIG:
		return "Config";
	case KFLASH_PHASE_BUILD:
		return "Build";
	case KFLASH_PHASE_SERVICE:
		return "Service";
	case KFLASH_PHASE_FLASH:
		return "Flash";
	case KFLASH_PHASE_NONE:
		break;
	}
	return "";
}
