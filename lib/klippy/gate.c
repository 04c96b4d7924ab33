/* SPDX-License-Identifier: MIT */
/* What the update asks Klipper: may we stop it, and is it back. */
#include <string.h>

#include "libkflash-private.h"

static const char *const gate_names[] = {
	[KFLASH_GATE_IDLE] = "idle",
	[KFLASH_GATE_NOT_RUNNING] = "not-running",
	[KFLASH_GATE_FORCED_PRINTING] = "forced-printing",
	[KFLASH_GATE_FORCED_UNREACHABLE] = "forced-unreachable",
};

KFLASH_EXPORT const char *
kflash_gate_name(int gate)
{
	return gate > 0 && (size_t)gate < KF_ARRAY_SIZE(gate_names) ? gate_names[gate] : "unknown";
}

/*
 * Nothing answers on the API socket (@why says what was seen there): does
 * Klipper's service run? Then the print state cannot be told.
 */
static int
gate_unreachable(struct kflash_context *ctx, int force, const char *why, int *gate)
{
	const char *unit = kflash_context_get_service(ctx);
	const char *sock = kflash_context_get_klippy_socket(ctx);
	_cleanup_free_ char *service = NULL;
	int state = KFLASH_UNIT_UNKNOWN;
	int r = kflash_service_get_state(ctx, unit, &state);

	if (r == KFLASH_ERR_CANCELLED)
		return r;
	if (r == 0 && !kflash_unit_state_is_running(state)) {
		kf_info(ctx, "Klipper is not running: its service %s is %s and %s", unit,
			kflash_unit_state_name(state), why);
		*gate = KFLASH_GATE_NOT_RUNNING;
		return 0;
	}
	service =
		r == 0 ? kf_strdup_printf("Klipper's service %s is %s", unit,
					  kflash_unit_state_name(state))
		       : kf_strdup_printf("the state of Klipper's service %s cannot be asked (%s)",
					  unit, kflash_context_last_error(ctx));
	if (force) {
		kf_warn(ctx,
			"%s, but %s, so whether the printer prints cannot be told; going on, "
			"since the update was forced",
			service ? service : unit, why);
		*gate = KFLASH_GATE_FORCED_UNREACHABLE;
		return 0;
	}
	return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_SET_KLIPPY_SOCKET, sock,
			     "%s, but %s, so whether the printer prints cannot be told, and "
			     "Klipper is not stopped. Set the API socket this Klipper was started "
			     "with (the -a option in its service's KLIPPER_ARGS), or force the "
			     "update",
			     service ? service : unit, why);
}

KFLASH_EXPORT int
kflash_klippy_check_idle(struct kflash_context *ctx, int force, int *gate)
{
	struct kflash_klippy *k;
	int state, found = KFLASH_GATE_IDLE;
	int r = kflash_klippy_connect(ctx, &k);

	/* No socket, nothing listening, or one this user may not use: out of reach. */
	if (r == KFLASH_ERR_NOT_FOUND || r == KFLASH_ERR_PERMISSION) {
		_cleanup_free_ char *why = kf_strdup(kflash_context_last_error(ctx));

		r = gate_unreachable(ctx, force, why ? why : "its API socket is not there", &found);
		if (r == 0 && gate)
			*gate = found;
		return r;
	}
	if (r == 0)
		r = kflash_klippy_query_status(k);
	if (r < 0) {
		kflash_klippy_unref(k);
		return r;
	}
	state = kflash_klippy_get_print_state(k);
	if (state == KFLASH_PRINT_PRINTING || state == KFLASH_PRINT_PAUSED) {
		if (force) {
			kf_warn(ctx, "the printer is %s, but the update was forced: going on",
				kflash_print_state_name(state));
			found = KFLASH_GATE_FORCED_PRINTING;
		} else {
			r = kf_error_hint(ctx, KFLASH_ERR_PRINTING, KFLASH_HINT_FORCE, NULL,
					  "the printer is %s, and Klipper is not stopped during a "
					  "print: wait until it is done, or force the update",
					  kflash_print_state_name(state));
		}
	}
	kflash_klippy_unref(k);
	if (r == 0 && gate)
		*gate = found;
	return r;
}

KFLASH_EXPORT int
kflash_klippy_wait_ready(struct kflash_context *ctx, uint32_t timeout_ms)
{
	uint64_t deadline = kf_now_ms() + timeout_ms;
	_cleanup_free_ char *last = NULL;
	int r;

	for (;;) {
		struct kflash_klippy *k = NULL;

		r = kflash_klippy_connect(ctx, &k);
		if (r == 0)
			r = kflash_klippy_query_info(k);
		if (r == 0 && kflash_klippy_get_state(k) == KFLASH_KLIPPER_READY) {
			kflash_klippy_unref(k);
			kf_info(ctx, "Klipper is ready");
			return 0;
		}
		if (r == 0) {
			const char *msg = kflash_klippy_get_state_message(k);

			free(last);
			last = kf_strdup_printf(
				"Klipper is in state '%s'%s%s",
				kflash_klipper_state_name(kflash_klippy_get_state(k)),
				msg ? ": " : "", msg ? msg : "");
		} else if (r == KFLASH_ERR_CANCELLED) {
			kflash_klippy_unref(k);
			return r;
		} else {
			/* Starting up: the socket may not be there yet. */
			free(last);
			last = kf_strdup(kflash_context_last_error(ctx));
		}
		kflash_klippy_unref(k);
		if (kf_now_ms() >= deadline)
			break;
		r = kf_sleep_ms(ctx, 250);
		if (r < 0)
			return r;
	}
	return kf_error(ctx, KFLASH_ERR_NOT_READY, "Klipper was not ready after %u s: %s",
			timeout_ms / 1000, last ? last : "no answer");
}
