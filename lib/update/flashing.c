/* SPDX-License-Identifier: MIT */
/*
 * Flashing every board inside the one stop, in lanes: a lane is a list of
 * boards flashed one after the other, and lanes run at once, each in a
 * worker thread with a worker context of its own.
 *
 * - every board on its own USB port or UART is a lane of its own;
 * - the boards of one CAN interface are one lane, its bridge last;
 * - boards that need Klipper's make (the host MCU, the make and sdcard
 *   methods) and USB boards whose port is not known share one lane: a ROM
 *   bootloader they may fall into can only be told apart by its port.
 *
 * No board is touched by two workers; events stay attributed to their
 * board; each result is recorded in the registry as soon as it is known.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "klipper/klipper.h"
#include "update-private.h"

/* At most this many workers when the caller set no limit. */
#define DEFAULT_JOBS 8

struct lane {
	size_t *boards; /* indices into u->boards, in flash order */
	size_t count;
};

struct plan {
	struct lane *lanes;
	size_t count;
};

/* ---- one board ---- */

/* Keep the flashed firmware and its dictionary, to flash it again later. */
static void
keep_firmware(struct kflash_context *ctx, const struct job_board *b)
{
	_cleanup_free_ char *state = kf_board_state_dir(ctx, b->name);
	_cleanup_free_ char *dir = state ? kf_path_join(state, "firmware") : NULL;

	if (!dir || kflash_firmware_save(ctx, b->firmware, dir, 0) < 0)
		kf_warn(ctx, "the flashed firmware was not kept for later: %s",
			dir ? kflash_context_last_error(ctx) : "out of memory");
}

/* A CAN node of this run behind bridge @bridge whose flash failed, or NULL. */
static const struct job_board *
failed_node_behind(struct kflash_update *u, const struct job_board *bridge)
{
	const struct job_board *found = NULL;

	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; !found && i < u->count; i++) {
		const struct job_board *b = &u->boards[i];

		if (b->link == KFLASH_LINK_CAN && b->tried && b->result == KFLASH_RESULT_FAILED &&
		    kf_streq(b->iface, bridge->iface))
			found = b;
	}
	pthread_mutex_unlock(&u->lock);
	return found;
}

/* Hold bridge @b back: flashing it would take down the bus a failed node needs. */
static void
hold_back(struct kflash_update *u,
	  struct kflash_context *ctx,
	  struct job_board *b,
	  const struct job_board *node)
{
	char *message = kf_strdup_printf(
		"not flashed: board %s behind it on %s failed, and flashing the bridge would take "
		"that bus down too; fix %s first, or flash the bridge anyway",
		node->name, b->iface, node->name);

	kf_warn(ctx, "%s", message ? message : "not flashed: a node behind it failed");
	pthread_mutex_lock(&u->lock);
	b->go = false;
	b->result = KFLASH_RESULT_SKIPPED;
	b->hint = KFLASH_HINT_KEEP_GOING;
	free(b->message);
	b->message = message;
	pthread_mutex_unlock(&u->lock);
}

/* After bridge @bridge: wait until the nodes flashed behind it answer on its bus again. */
static void
wait_nodes(struct kflash_update *u, struct kflash_context *ctx, const struct job_board *bridge)
{
	uint32_t timeout = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_RETURN);
	uint64_t deadline = kf_now_ms() + timeout;
	struct kflash_can_bus *bus = NULL;
	size_t missing;

	do {
		struct kflash_can_query *q = NULL;

		missing = 0;
		if (!bus && kflash_can_bus_open(ctx, bridge->iface, &bus) < 0)
			bus = NULL;
		if (bus && kflash_can_bus_query(bus, 200, &q) < 0)
			bus = kflash_can_bus_unref(bus);
		/* The nodes behind it are in this lane, done before it: no lock needed. */
		for (size_t i = 0; i < u->count; i++) {
			const struct job_board *b = &u->boards[i];

			if (b->link == KFLASH_LINK_CAN && b->result == KFLASH_RESULT_FLASHED &&
			    kf_streq(b->iface, bridge->iface) &&
			    (!q || kflash_can_query_find(q, kflash_board_get_can_uuid(b->board)) !=
					   KFLASH_CAN_APP_KLIPPER))
				missing++;
		}
		kflash_can_query_unref(q);
	} while (missing && kf_now_ms() < deadline && kf_sleep_ms(ctx, 100) == 0);
	kflash_can_bus_unref(bus);
	if (missing)
		kf_warn(ctx,
			"%zu CAN node%s flashed behind bridge %s did not answer on %s again within "
			"%u s",
			missing, missing == 1 ? "" : "s", bridge->name, bridge->iface,
			timeout / 1000);
}

/* Flash board @b with @ctx (the job's, or a worker's); false when the lane must stop. */
static bool
flash_one(struct kflash_update *u, struct kflash_context *ctx, struct job_board *b)
{
	const struct job_board *node;
	struct kflash_flash *f = NULL;
	struct kf_scope prev;
	int r;

	if (kf_update_stop_early(u))
		return false;
	if (!b->go)
		return true;
	prev = kf_scope_enter(ctx, KFLASH_PHASE_FLASH, b->name);
	if (b->link == KFLASH_LINK_CAN_BRIDGE && !(u->flags & KFLASH_UPDATE_KEEP_GOING) &&
	    (node = failed_node_behind(u, b))) {
		hold_back(u, ctx, b, node);
		kf_scope_leave(ctx, prev);
		return true;
	}
	pthread_mutex_lock(&u->lock);
	b->tried = true;
	pthread_mutex_unlock(&u->lock);
	r = kflash_flash_board(ctx, b->board, b->firmware, &f);
	pthread_mutex_lock(&u->lock);
	b->method = kflash_flash_get_method(f);
	b->ms = kflash_flash_get_duration_ms(f);
	b->came_back = kflash_flash_get_came_back(f);
	if (r == 0)
		b->result = KFLASH_RESULT_FLASHED;
	pthread_mutex_unlock(&u->lock);
	kflash_flash_unref(f);
	if (r < 0) {
		struct kf_scope inner = kf_scope_enter(ctx, KFLASH_PHASE_FLASH, NULL);

		kf_update_fail_in(u, ctx, b, r);
		kf_scope_leave(ctx, inner);
	}
	if (r == KFLASH_ERR_CANCELLED) {
		kf_scope_leave(ctx, prev);
		return false;
	}
	/* The record first: the registry remembers failures too, for the status. */
	if (kflash_registry_record_flash(ctx, b->name, kflash_firmware_get_version(b->firmware),
					 kflash_firmware_get_sha256(b->firmware), r == 0) < 0)
		kf_warn(ctx, "the flash was not recorded: %s", kflash_context_last_error(ctx));
	if (r == 0)
		keep_firmware(ctx, b);
	if (r == 0 && b->link == KFLASH_LINK_CAN_BRIDGE)
		wait_nodes(u, ctx, b);
	kf_scope_leave(ctx, prev);
	return true;
}

static void
run_lane(struct kflash_update *u, struct kflash_context *ctx, const struct lane *lane)
{
	for (size_t i = 0; i < lane->count; i++)
		if (!flash_one(u, ctx, &u->boards[lane->boards[i]]))
			break;
}

/* ---- the lanes ---- */

/*
 * Which lane board @b goes to, as a key: boards with one key share a lane;
 * NULL gives the board a lane of its own. @buf holds a built key.
 */
static const char *
lane_key(const struct kflash_update *u, const struct job_board *b, char *buf, size_t size)
{
	enum kflash_method m = kflash_board_get_method(b->board);

	if (b->link == KFLASH_LINK_CAN || b->link == KFLASH_LINK_CAN_BRIDGE) {
		snprintf(buf, size, "can:%s", b->iface ? b->iface : "can0");
		return buf;
	}
	if (b->link == KFLASH_LINK_HOST || m == KFLASH_METHOD_MAKE || m == KFLASH_METHOD_SDCARD ||
	    (kflash_board_get_usb_serial(b->board) && !b->usb_port))
		return "shared";
	(void)u;
	return NULL;
}

static void
plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->lanes[i].boards);
	free(p->lanes);
	p->lanes = NULL;
	p->count = 0;
}

static int
plan_add(struct plan *p, char (*keys)[80], const char *key, size_t board)
{
	struct lane *lane = NULL;

	for (size_t i = 0; key && !lane && i < p->count; i++)
		if (strcmp(keys[i], key) == 0)
			lane = &p->lanes[i];
	if (!lane) {
		if (!KF_GROW(p->lanes, p->count + 1))
			return -ENOMEM;
		snprintf(keys[p->count], sizeof(keys[p->count]), "%s", key ? key : "");
		lane = &p->lanes[p->count++];
		*lane = (struct lane){ 0 };
	}
	if (!KF_GROW(lane->boards, lane->count + 1))
		return -ENOMEM;
	lane->boards[lane->count++] = board;
	return 0;
}

/* The lanes of the boards to flash, in the order their first board comes. */
static int
make_plan(struct kflash_update *u, struct plan *p)
{
	_cleanup_free_ char(*keys)[80] = calloc(u->count ? u->count : 1, sizeof(*keys));
	int r = 0;

	*p = (struct plan){ 0 };
	if (!keys)
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t i = 0; r == 0 && i < u->count; i++) {
		char buf[80];

		if (!u->boards[i].go)
			continue;
		/* One board at a time: a single lane, in the job's order. */
		r = plan_add(p, keys,
			     u->jobs == 1 ? "all" : lane_key(u, &u->boards[i], buf, sizeof(buf)),
			     i);
	}
	if (r < 0) {
		plan_free(p);
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

/* ---- the lanes, at once ---- */

static void
lane_task(struct kflash_update *u, struct kflash_context *ctx, size_t index, void *data)
{
	const struct plan *plan = data;

	run_lane(u, ctx, &plan->lanes[index]);
}

void
kf_update_flash_all(struct kflash_update *u)
{
	struct plan plan;
	size_t jobs;

	if (make_plan(u, &plan) < 0) {
		kf_warn(u->ctx, "%s; flashing one board at a time",
			kflash_context_last_error(u->ctx));
		for (size_t i = 0; i < u->count && flash_one(u, u->ctx, &u->boards[i]); i++) {
		}
		return;
	}
	jobs = u->jobs ? u->jobs : DEFAULT_JOBS;
	if (jobs > plan.count)
		jobs = plan.count;
	if (jobs > 1)
		kf_info(u->ctx, "flashing %zu links at once (%zu lane%s)", jobs, plan.count,
			plan.count == 1 ? "" : "s");
	if (jobs <= 1 || !kf_update_run_parallel(u, plan.count, jobs, lane_task, &plan)) {
		for (size_t i = 0; i < plan.count && !kf_update_stop_early(u); i++)
			run_lane(u, u->ctx, &plan.lanes[i]);
	}
	plan_free(&plan);
}
