/* SPDX-License-Identifier: MIT */
/*
 * The service module's insides: the providers (systemctl, Moonraker), the
 * choice between them, and the sentinel.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <sys/un.h>

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

/* ---- moonraker.c: Moonraker's UNIX socket ---- */

/* Connect to Moonraker's socket and close again: 0 when something listens. */
int
kf_moonraker_probe(struct kflash_context *ctx);

/*
 * `machine.services.ACTION` of @unit ("stop" or "start"). A start is not
 * cancellable; a stop returns once Moonraker no longer reports the unit
 * running or stopping.
 */
int
kf_moonraker_service_action(struct kflash_context *ctx, const char *action, const char *unit);

/*
 * The state Moonraker reports for @unit (enum kflash_unit_state);
 * KFLASH_ERR_SERVICE when it reports none.
 */
int
kf_moonraker_unit_state(struct kflash_context *ctx, const char *unit, int *state);

/* ---- jsonrpc.c: what the sentinel may do after fork() ---- */

#define KF_MOONRAKER_REQUEST_MAX 512

/* One start through Moonraker, prepared before the fork. */
struct kf_moonraker_start {
	struct sockaddr_un addr;
	char request[KF_MOONRAKER_REQUEST_MAX]; /* ended by 0x03 */
	size_t len;
	uint64_t id;
	uint32_t timeout_ms;
};

/*
 * The `machine.services.start` request of @unit with @id, ended by 0x03,
 * into @buf: its length, or 0 when @unit is not valid or it does not fit.
 */
size_t
kf_moonraker_start_request(char *buf, size_t size, const char *unit, uint64_t id);

/*
 * What the message @msg (@len bytes, without its 0x03) is to request @id:
 * 1 its result, -1 its error (or an error with a null id, or not a JSON
 * object at all), 0 another message (a notification). Async-signal-safe.
 */
int
kf_jsonrpc_answer_kind(const char *msg, size_t len, uint64_t id);

/*
 * Send @start and wait for its answer: 0 for a result; -1 for anything
 * else (no socket, an error, no answer in time, garbage, a message larger
 * than 64 KiB). Async-signal-safe.
 */
int
kf_moonraker_start_raw(const struct kf_moonraker_start *start);

/* ---- provider.c: which provider, and falling back ---- */

/* How units are controlled, once the provider is chosen. */
enum kf_via {
	KF_VIA_SYSTEMCTL,      /* systemctl */
	KF_VIA_MOONRAKER,      /* Moonraker, systemctl when it fails (auto) */
	KF_VIA_MOONRAKER_ONLY, /* Moonraker; systemctl only for a start */
	KF_VIA_FELL_BACK,      /* systemctl, since Moonraker failed; sudo not checked yet */
};

/*
 * Choose how to control units now, from the context's provider; say it
 * (and why the choice fell back to systemctl) at @level.
 */
int
kf_service_choose(struct kflash_context *ctx, enum kflash_event_level level, int *via);

/*
 * Stop, start, or ask the state of @unit, as *@via says, falling back as
 * it allows; after a failure of Moonraker itself, *@via becomes
 * KF_VIA_FELL_BACK for what follows.
 */
int
kf_service_stop_via(struct kflash_context *ctx, int *via, const char *unit);

int
kf_service_start_via(struct kflash_context *ctx, int *via, const char *unit);

int
kf_service_state_via(struct kflash_context *ctx, int *via, const char *unit, int *state);

/* ---- sentinel.c ---- */

struct kf_sentinel {
	pid_t pid;
	int fd; /* kflash's end: "done", or closing without it */
};

/*
 * Fork a sentinel in a session of its own that starts @units unless it
 * reads "done" before its socket closes: through Moonraker first when
 * @via asks it, and with systemctl when that fails.
 */
int
kf_sentinel_arm(struct kflash_context *ctx,
		const char *const *units,
		size_t n_units,
		int via,
		struct kf_sentinel *s);

/* Tell the sentinel all is done, and reap it. */
void
kf_sentinel_dismiss(struct kf_sentinel *s);
