/* SPDX-License-Identifier: MIT */
/* The layout of struct kflash_context, shared by the files of lib/core/. */
#pragma once

#include <pthread.h>
#include <signal.h>

#include "libkflash-private.h"

enum kf_location {
	KF_LOC_CONFIG_DIR,
	KF_LOC_REGISTRY,
	KF_LOC_CACHE_DIR,
	KF_LOC_KLIPPER_DIR,
	KF_LOC_SERVICE,
	KF_LOC_KLIPPY_SOCKET,
	KF_LOC_DEV_DIR,
	KF_LOC_SYS_DIR,
	KF_LOC_CAN_SOCKET_DIR,
	KF_LOC_CCACHE,
	KF_LOC_MOONRAKER_SOCKET,
	KF_LOC_UNITS_DIR,
	KF_LOC_COUNT,
};

#define KF_TIMEOUT_COUNT 9 /* highest enum kflash_timeout + 1 */

struct kflash_context {
	int refcount;

	/*
	 * A worker context (kf_context_new_worker()) has the context it was made
	 * from: its events go to that one's handler, and that one's cancel
	 * cancels it. The root context serialises its handler's calls.
	 */
	struct kflash_context *parent;
	pthread_mutex_t event_lock;

	kflash_event_handler handler;
	void *handler_data;
	enum kflash_event_level level;

	char *home;
	char *set[KF_LOC_COUNT];      /* from a setter */
	char *env[KF_LOC_COUNT];      /* from the environment at creation */
	char *resolved[KF_LOC_COUNT]; /* what the getter handed out */

	uint32_t timeouts[KF_TIMEOUT_COUNT];

	bool ccache_off;                    /* builds do not use ccache (KFLASH_NO_CCACHE) */
	struct kflash_jobserver *jobserver; /* shared by builds, or NULL */

	volatile sig_atomic_t cancelled;
	int cancel_pipe[2];

	char *last_error;
	int last_error_code;
	int last_error_hint;      /* enum kflash_hint */
	char *last_error_subject; /* what the hint is about, or NULL */

	/* Injected service control (lib/service); NULL means systemctl. */
	struct kf_service_ops service;

	struct kf_scope scope;
};

/* The context whose handler, level and cancellation a context uses. */
static inline struct kflash_context *
kf_context_root(const struct kflash_context *ctx)
{
	while (ctx->parent)
		ctx = ctx->parent;
	return (struct kflash_context *)ctx;
}

/* The default handler installed when LIBKFLASH_DEBUG is set. */
void
kf_event_debug_handler(struct kflash_context *ctx,
		       const struct kflash_event *event,
		       void *user_data);
