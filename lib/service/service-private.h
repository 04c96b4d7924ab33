/* SPDX-License-Identifier: MIT */
/* The service module's insides: the systemctl backend and the sentinel. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "libkflash-private.h"

/* A unit name systemctl would take: letters, digits and "@._-:" only. */
bool
kf_unit_name_is_valid(const char *unit);

/* ---- systemctl.c ---- */

/*
 * The argv that runs `systemctl VERB UNIT` with the right privileges:
 * directly as root, through `sudo -n` otherwise. NULL-terminated, into
 * @argv (6 slots).
 */
void
kf_systemctl_argv(const char *argv[6], const char *verb, const char *unit);

/* Check that sudo works without a password, unless we are root. */
int
kf_systemctl_check_sudo(struct kflash_context *ctx, const char *const *units, size_t n_units);

int
kf_systemctl_run(struct kflash_context *ctx, const char *verb, const char *unit);

/* The unit's state (enum kflash_unit_state) in *@state; 0 or the error recorded. */
int
kf_systemctl_state(struct kflash_context *ctx, const char *unit, int *state);

/* The enum kflash_unit_state of systemd's @word, or -1 for another word. */
int
kf_unit_state_from_name(const char *word);

/* ---- sentinel.c ---- */

struct kf_sentinel {
	pid_t pid;
	int fd; /* kflash's end: "done", or closing without it */
};

/*
 * Fork a sentinel in a session of its own that starts @units (with the
 * default systemctl) unless it reads "done" before its socket closes.
 */
int
kf_sentinel_arm(struct kflash_context *ctx,
		const char *const *units,
		size_t n_units,
		struct kf_sentinel *s);

/* Tell the sentinel all is done, and reap it. */
void
kf_sentinel_dismiss(struct kf_sentinel *s);
