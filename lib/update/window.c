/* SPDX-License-Identifier: MIT */
/*
 * The service window: the units stopped once, every board flashed
 * (flashing.c), the units started once on every path, and Klipper's
 * readiness confirmed.
 */
#include <string.h>

#include "update-private.h"

/* Add @unit to @units (of *@n) unless it is there; false on OOM. */
static bool
add_unit(const char ***units, size_t *n, const char *unit)
{
	for (size_t j = 0; j < *n; j++)
		if (strcmp((*units)[j], unit) == 0)
			return true;
	if (!KF_GROW(*units, *n + 1))
		return false;
	(*units)[(*n)++] = unit;
	return true;
}

/* The units to stop: each board's own or the default, and klipper-mcu for the host MCU. */
static int
collect_units(struct kflash_update *u, const char ***units, size_t *n)
{
	*units = NULL;
	*n = 0;
	for (size_t i = 0; i < u->count; i++) {
		const struct job_board *b = &u->boards[i];
		const char *unit = kflash_board_get_service(b->board);

		if (!b->go)
			continue;
		if (!add_unit(units, n, unit ? unit : kflash_context_get_service(u->ctx)) ||
		    (kflash_board_is_host_mcu(b->board) && !add_unit(units, n, "klipper-mcu")))
			return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

/* Is Klipper ready again? What the gate found decides whether it can be asked. */
static void
confirm(struct kflash_update *u)
{
	struct kflash_klippy *k = NULL;
	struct kf_scope prev;

	if (u->gate == KFLASH_GATE_NOT_RUNNING) {
		u->klipper_state = KFLASH_KLIPPER_NOT_RUNNING;
		kf_info(u->ctx, "Klipper was not running before, so there is nothing to confirm");
		return;
	}
	prev = kf_scope_enter(u->ctx, KFLASH_PHASE_SERVICE, NULL);
	if (u->gate == KFLASH_GATE_FORCED_UNREACHABLE) {
		u->klipper_state = KFLASH_KLIPPER_UNKNOWN;
		u->klipper_message = kf_strdup_printf(
			"not confirmed: Klipper's API socket %s could not be reached before the "
			"stop either",
			kflash_context_get_klippy_socket(u->ctx));
		kf_warn(u->ctx, "%s", u->klipper_message ? u->klipper_message : "not confirmed");
	} else if (kflash_klippy_wait_ready(
			   u->ctx, kflash_context_get_timeout(u->ctx, KFLASH_TIMEOUT_READY)) == 0) {
		u->klipper_state = KFLASH_KLIPPER_READY;
	} else if (kflash_klippy_connect(u->ctx, &k) == 0 && kflash_klippy_query_info(k) == 0) {
		u->klipper_state = kflash_klippy_get_state(k);
		u->klipper_message = kf_strdup(kflash_klippy_get_state_message(k));
	} else {
		u->klipper_state = KFLASH_KLIPPER_UNKNOWN;
		u->klipper_message = kf_strdup(kflash_context_last_error(u->ctx));
	}
	kflash_klippy_unref(k);
	kf_scope_leave(u->ctx, prev);
}

int
kf_update_service_window(struct kflash_update *u)
{
	_cleanup_free_ const char **units = NULL;
	struct kflash_service_guard *guard = NULL;
	uint64_t start;
	size_t n;
	int r, end;

	r = collect_units(u, &units, &n);
	if (r == 0)
		r = kflash_service_guard_new(u->ctx, &guard);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = kflash_service_guard_add_unit(guard, units[i]);
	start = kf_now_ms();
	if (r == 0)
		r = kflash_service_guard_begin(guard);
	if (r < 0) {
		kflash_service_guard_unref(guard);
		return r;
	}
	for (size_t i = 0; i < kflash_service_guard_get_unit_count(guard); i++)
		u->stopped = u->stopped || kflash_service_guard_unit_was_stopped(guard, i);

	kf_update_flash_all(u);

	end = kflash_service_guard_end(guard);
	u->downtime_ms = kf_now_ms() - start;
	for (size_t i = 0; i < kflash_service_guard_get_unit_count(guard); i++)
		u->restarted = u->restarted || kflash_service_guard_unit_was_restarted(guard, i);
	kflash_service_guard_unref(guard);
	if (u->stopped)
		kf_info(u->ctx, "Klipper was stopped for %.1f s", (double)u->downtime_ms / 1000);
	if (end == 0 && !kflash_context_is_cancelled(u->ctx))
		confirm(u);
	return end;
}
