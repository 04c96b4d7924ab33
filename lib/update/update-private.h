/* SPDX-License-Identifier: MIT */
/*
 * The update's insides: the job (job.c), its steps (steps.c) and their
 * order (update.c).
 */
#pragma once

#include <stdbool.h>

#include "libkflash-private.h"

#define MAX_BOARDS 64
#define MAX_UNITS 16

struct job_board {
	char *name;
	char *given; /* --firmware */
	struct kflash_board *board;
	struct kflash_firmware *firmware;
	bool go; /* passed every check so far */
	enum kflash_board_result result;
	int error;
	char *message;
	const char *build;  /* static */
	const char *method; /* static */
	uint64_t ms;
	bool came_back;
};

struct kflash_update {
	int refcount;
	struct kflash_context *ctx;
	unsigned int flags;
	int method; /* an enum kflash_method for every board, or -1 */
	bool all, ran;
	struct job_board boards[MAX_BOARDS];
	size_t count;

	bool stopped, restarted;
	char *klipper_state, *klipper_message;
	uint64_t downtime_ms;
};

/* Add board @name to the job once; *@ret (may be NULL) gets its entry. */
int
kf_update_add(struct kflash_update *u, const char *name, struct job_board **ret);

/* ---- steps.c, in the order update.c runs them ---- */

/* Resolve the names (or --all) against the registry. */
int
kf_update_resolve(struct kflash_update *u);

void
kf_update_discover(struct kflash_update *u);

void
kf_update_check_configs(struct kflash_update *u);

/* Get each board's firmware: given, built, or the last build. */
void
kf_update_build_all(struct kflash_update *u);

/* Stop, flash every board, start, confirm: the printer's downtime. */
int
kf_update_service_window(struct kflash_update *u);

/* True when the job must go no further: cancelled, or a failure with fail-fast. */
bool
kf_update_stop_early(struct kflash_update *u);

/* The first board's error, or 0. */
int
kf_update_first_failure(const struct kflash_update *u);
