/* SPDX-License-Identifier: MIT */
/*
 * The service window: the units stopped once, every board flashed, the
 * units started once on every path, and Klipper's readiness confirmed.
 */
#include <string.h>

#include "klipper/klipper.h"
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

/* Keep the flashed firmware and its dictionary, to flash it again later. */
static void
keep_firmware(struct kflash_update *u, const struct job_board *b)
{
	_cleanup_free_ char *state = kf_board_state_dir(u->ctx, b->name);
	_cleanup_free_ char *dir = state ? kf_path_join(state, "firmware") : NULL;

	if (!dir || kflash_firmware_save(u->ctx, b->firmware, dir, 0) < 0)
		kf_warn(u->ctx, "the flashed firmware was not kept for later: %s",
			dir ? kflash_context_last_error(u->ctx) : "out of memory");
}

/* A CAN node of this run behind bridge @bridge whose flash failed, or NULL. */
static const struct job_board *
failed_node_behind(const struct kflash_update *u, const struct job_board *bridge)
{
	for (size_t i = 0; i < u->count; i++) {
		const struct job_board *b = &u->boards[i];

		if (b->link == KFLASH_LINK_CAN && b->tried && b->result == KFLASH_RESULT_FAILED &&
		    kf_streq(b->iface, bridge->iface))
			return b;
	}
	return NULL;
}

/* Hold bridge @b back: flashing it would take down the bus a failed node needs. */
static void
hold_back(struct kflash_update *u, struct job_board *b, const struct job_board *node)
{
	struct kf_scope prev = kf_scope_enter(u->ctx, KFLASH_PHASE_FLASH, b->name);

	b->go = false;
	b->result = KFLASH_RESULT_SKIPPED;
	b->hint = KFLASH_HINT_KEEP_GOING;
	free(b->message);
	b->message = kf_strdup_printf(
		"not flashed: board %s behind it on %s failed, and flashing the bridge would take "
		"that bus down too; fix %s first, or flash the bridge anyway",
		node->name, b->iface, node->name);
	kf_warn(u->ctx, "%s", b->message ? b->message : "not flashed: a node behind it failed");
	kf_scope_leave(u->ctx, prev);
}

/* After bridge @bridge: wait until the nodes flashed behind it answer on its bus again. */
static void
wait_nodes(struct kflash_update *u, const struct job_board *bridge)
{
	uint64_t deadline = kf_now_ms() + kflash_context_get_timeout(u->ctx, KFLASH_TIMEOUT_RETURN);
	struct kflash_can_bus *bus = NULL;
	size_t missing;

	do {
		struct kflash_can_query *q = NULL;

		missing = 0;
		if (!bus && kflash_can_bus_open(u->ctx, bridge->iface, &bus) < 0)
			bus = NULL;
		if (bus && kflash_can_bus_query(bus, 200, &q) < 0)
			bus = kflash_can_bus_unref(bus);
		for (size_t i = 0; i < u->count; i++) {
			const struct job_board *b = &u->boards[i];

			if (b->link == KFLASH_LINK_CAN && b->result == KFLASH_RESULT_FLASHED &&
			    kf_streq(b->iface, bridge->iface) &&
			    (!q || kflash_can_query_find(q, kflash_board_get_can_uuid(b->board)) !=
					   KFLASH_CAN_APP_KLIPPER))
				missing++;
		}
		kflash_can_query_unref(q);
	} while (missing && kf_now_ms() < deadline && kf_sleep_ms(u->ctx, 100) == 0);
	kflash_can_bus_unref(bus);
	if (missing)
		kf_warn(u->ctx,
			"%zu CAN node%s flashed behind bridge %s did not answer on %s again within "
			"%u s",
			missing, missing == 1 ? "" : "s", bridge->name, bridge->iface,
			kflash_context_get_timeout(u->ctx, KFLASH_TIMEOUT_RETURN) / 1000);
}

static void
flash_all(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count && !kf_update_stop_early(u); i++) {
		struct job_board *b = &u->boards[i];
		const struct job_board *node;
		struct kflash_flash *f = NULL;
		struct kf_scope prev;
		int r;

		if (!b->go)
			continue;
		if (b->link == KFLASH_LINK_CAN_BRIDGE && !(u->flags & KFLASH_UPDATE_KEEP_GOING) &&
		    (node = failed_node_behind(u, b))) {
			hold_back(u, b, node);
			continue;
		}
		b->tried = true;
		r = kflash_flash_board(u->ctx, b->board, b->firmware, &f);
		b->method = kflash_flash_get_method(f);
		b->ms = kflash_flash_get_duration_ms(f);
		b->came_back = kflash_flash_get_came_back(f);
		kflash_flash_unref(f);
		prev = kf_scope_enter(u->ctx, KFLASH_PHASE_FLASH, NULL);
		if (r < 0)
			kf_update_fail(u, b, r);
		else
			b->result = KFLASH_RESULT_FLASHED;
		kf_scope_leave(u->ctx, prev);
		if (r == KFLASH_ERR_CANCELLED)
			continue;
		/* The record first: the registry remembers failures too, for the status. */
		prev = kf_scope_enter(u->ctx, KFLASH_PHASE_FLASH, b->name);
		if (kflash_registry_record_flash(
			    u->ctx, b->name, kflash_firmware_get_version(b->firmware),
			    kflash_firmware_get_sha256(b->firmware), r == 0) < 0)
			kf_warn(u->ctx, "the flash was not recorded: %s",
				kflash_context_last_error(u->ctx));
		if (r == 0)
			keep_firmware(u, b);
		if (r == 0 && b->link == KFLASH_LINK_CAN_BRIDGE)
			wait_nodes(u, b);
		kf_scope_leave(u->ctx, prev);
	}
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

	flash_all(u);

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
