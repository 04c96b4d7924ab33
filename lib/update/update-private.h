/* SPDX-License-Identifier: MIT */
/*
 * The update's insides: the job (job.c), the steps before the stop
 * (steps.c), the service window (window.c) and their order (update.c).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "libkflash-private.h"

struct job_board {
	char *name;
	char *given; /* a firmware file to flash instead of building */
	struct kflash_board *board;
	struct kflash_firmware *firmware;
	bool go; /* passed every check so far */
	enum kflash_board_result result;
	int error; /* enum kflash_error */
	char *message;
	int hint;                  /* enum kflash_hint */
	int source;                /* enum kflash_firmware_source */
	enum kflash_method method; /* the method that ran, or KFLASH_METHOD_NONE */
	uint64_t ms;
	bool came_back;
	int link;       /* enum kflash_link, a bridge found by its UUID included */
	char *iface;    /* a CAN board's interface (a bridge's own), or NULL */
	char *usb_port; /* a USB board's port, as found, or NULL */
	bool bridge_up; /* a bridge found running as one (not in Katapult) */
	bool tried;     /* its flash began (a failure before the stop is not one) */
};

struct kflash_update {
	int refcount;
	struct kflash_context *ctx;
	unsigned int flags;
	int method; /* an enum kflash_method for every board, or KFLASH_METHOD_NONE */
	bool all, ran;
	struct job_board *boards;
	size_t count;

	unsigned int jobs; /* boards flashed at once at most; 0: every independent link */
	/* Guards the boards' results while workers flash (flashing.c). */
	pthread_mutex_t lock;

	int gate; /* enum kflash_gate, 0 before the gate */
	bool stopped, restarted;
	int klipper_state; /* enum kflash_klipper_state */
	char *klipper_message;
	uint64_t downtime_ms;
};

/* Add board @name to the job once; *@ret (may be NULL) gets its entry. */
int
kf_update_add(struct kflash_update *u, const char *name, struct job_board **ret);

/* Board @b failed with @r (the context's last error holds the message and hint). */
void
kf_update_fail(struct kflash_update *u, struct job_board *b, int r);

/* The same, where @ctx (a worker's) holds the error; @u's lock is taken. */
void
kf_update_fail_in(struct kflash_update *u, struct kflash_context *ctx, struct job_board *b, int r);

/* How many boards are still to be flashed. */
size_t
kf_update_ready_count(const struct kflash_update *u);

/* ---- steps.c, in the order update.c runs them ---- */

/* Resolve the names (or every board) against the registry. */
int
kf_update_resolve(struct kflash_update *u);

void
kf_update_discover(struct kflash_update *u);

void
kf_update_check_configs(struct kflash_update *u);

/*
 * The order of the flashes: every USB-to-CAN bridge after the other
 * boards, so the CAN nodes behind it are done before it takes their bus
 * down; the others keep their order.
 */
int
kf_update_order(struct kflash_update *u);

/* Get each board's firmware: given, built, or the last build. */
void
kf_update_build_all(struct kflash_update *u);

/*
 * Boards whose fresh build is what they run already (their last flash, or
 * the version Klipper reports for their MCU) need no flash: "current".
 */
void
kf_update_mark_current(struct kflash_update *u);

/* ---- window.c ---- */

/* Stop, flash every board, start, confirm: the printer's downtime. */
int
kf_update_service_window(struct kflash_update *u);

/* ---- workers.c ---- */

/* One task of a parallel step: @index of its step's tasks, on worker context @ctx. */
typedef void (*kf_update_task)(struct kflash_update *u,
			       struct kflash_context *ctx,
			       size_t index,
			       void *data);

/*
 * Run tasks 0 to @count - 1 on up to @jobs worker threads, each taking the
 * next task left; they share @u->lock. False when no worker could be
 * started: then no task ran, and the caller runs them itself.
 */
bool
kf_update_run_parallel(
	struct kflash_update *u, size_t count, size_t jobs, kf_update_task task, void *data);

/* ---- flashing.c ---- */

/*
 * Flash every board that is to be flashed: boards on independent links at
 * once (up to @u->jobs), the boards of one CAN interface one after the
 * other and its bridge last, boards that need Klipper's make or a ROM
 * bootloader without a known port one at a time. Each result is recorded
 * as it comes.
 */
void
kf_update_flash_all(struct kflash_update *u);

/* True when the job must go no further: cancelled, or a failure with fail-fast. */
bool
kf_update_stop_early(struct kflash_update *u);

/* The first board's error, or 0. */
int
kf_update_first_failure(const struct kflash_update *u);
