/* SPDX-License-Identifier: MIT */
/* What the update asks Klipper: may we stop it, and is it back. */
#include <string.h>

#include "libkflash-private.h"

KFLASH_EXPORT int
kflash_klippy_check_idle(struct kflash_context *ctx, int force)
{
	struct kflash_klippy *k;
	const char *state;
	int r = kflash_klippy_connect(ctx, &k);

	if (r == KFLASH_ERR_NOT_FOUND) {
		kf_info(ctx, "%s; nothing to wait for", kflash_context_last_error(ctx));
		return 0;
	}
	if (r == 0)
		r = kflash_klippy_query_status(k);
	if (r < 0) {
		kflash_klippy_unref(k);
		return r;
	}
	state = kflash_klippy_get_print_state(k);
	if (state && (strcmp(state, "printing") == 0 || strcmp(state, "paused") == 0)) {
		if (force) {
			kf_warn(ctx, "the printer is %s, but --force was given: going on", state);
		} else {
			r = kf_error(ctx, KFLASH_ERR_PRINTING,
				     "the printer is %s; kflash will not stop Klipper during a "
				     "print. Wait until it is done, or use --force",
				     state);
		}
	}
	kflash_klippy_unref(k);
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
		if (r == 0 && strcmp(kflash_klippy_get_state(k), "ready") == 0) {
			kflash_klippy_unref(k);
			kf_info(ctx, "Klipper is ready");
			return 0;
		}
		if (r == 0) {
			const char *msg = kflash_klippy_get_state_message(k);

			free(last);
			last = kf_strdup_printf("Klipper is in state '%s'%s%s",
						kflash_klippy_get_state(k), msg ? ": " : "",
						msg ? msg : "");
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
