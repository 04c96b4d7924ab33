/* SPDX-License-Identifier: MIT */
/* The guard: every stop gets exactly one start. */
#include <string.h>

#include "service-private.h"

struct unit {
	char *name;
	bool stopped;
	bool restarted;
};

struct kflash_service_guard {
	int refcount;
	struct kflash_context *ctx;
	struct unit *units;
	size_t count;
	bool begun;
	int via; /* enum kf_via, chosen by the begin */
	struct kf_sentinel sentinel;
};

/* ---- the injectable operations ---- */

KFLASH_EXPORT void
kflash_context_set_service_stop_func(struct kflash_context *ctx,
				     kflash_service_func fn,
				     void *user_data)
{
	if (!ctx)
		return;
	kf_context_service_ops(ctx)->stop = fn;
	kf_context_service_ops(ctx)->stop_data = user_data;
}

KFLASH_EXPORT void
kflash_context_set_service_start_func(struct kflash_context *ctx,
				      kflash_service_func fn,
				      void *user_data)
{
	if (!ctx)
		return;
	kf_context_service_ops(ctx)->start = fn;
	kf_context_service_ops(ctx)->start_data = user_data;
}

KFLASH_EXPORT void
kflash_context_set_service_query_func(struct kflash_context *ctx,
				      kflash_service_query_func fn,
				      void *user_data)
{
	if (!ctx)
		return;
	kf_context_service_ops(ctx)->query = fn;
	kf_context_service_ops(ctx)->query_data = user_data;
}

/* Does something need the provider, or is every operation injected? */
static bool
uses_provider(struct kflash_context *ctx)
{
	const struct kf_service_ops *ops = kf_context_service_ops(ctx);

	return !ops->stop || !ops->start || !ops->query;
}

static int
check_unit(struct kflash_context *ctx, const char *unit)
{
	if (!kf_unit_name_is_valid(unit))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a systemd unit name; use letters, digits and @._-:",
				unit ? unit : "");
	return 0;
}

/* An injected function failed: make sure there is a message. */
static int
injected_failed(struct kflash_context *ctx, int r, const char *what, const char *unit)
{
	if (r >= 0)
		r = KFLASH_ERR_SERVICE;
	if (kflash_context_last_error_code(ctx) != r)
		kf_error(ctx, r, "cannot %s %s", what, unit);
	return r;
}

/* Stop @unit: the injected function, or the provider *@via chose. */
static int
do_stop(struct kflash_context *ctx, int *via, const char *unit)
{
	const struct kf_service_ops *ops = kf_context_service_ops(ctx);
	int r;

	kf_info(ctx, "stopping %s", unit);
	if (!ops->stop)
		return kf_service_stop_via(ctx, via, unit);
	r = ops->stop(ctx, unit, ops->stop_data);
	return r == 0 ? 0 : injected_failed(ctx, r, "stop", unit);
}

static int
do_start(struct kflash_context *ctx, int *via, const char *unit)
{
	const struct kf_service_ops *ops = kf_context_service_ops(ctx);
	int r;

	kf_info(ctx, "starting %s", unit);
	if (!ops->start)
		return kf_service_start_via(ctx, via, unit);
	r = ops->start(ctx, unit, ops->start_data);
	return r == 0 ? 0 : injected_failed(ctx, r, "start", unit);
}

/* The state of @unit: the injected function, or the provider *@via chose. */
static int
unit_state(struct kflash_context *ctx, int *via, const char *unit, int *state)
{
	const struct kf_service_ops *ops = kf_context_service_ops(ctx);
	int r;

	*state = KFLASH_UNIT_UNKNOWN;
	if (!ops->query)
		return kf_service_state_via(ctx, via, unit, state);
	r = ops->query(ctx, unit, ops->query_data);
	if (r < 0)
		return injected_failed(ctx, r, "ask the state of", unit);
	*state = r ? KFLASH_UNIT_ACTIVE : KFLASH_UNIT_INACTIVE;
	return 0;
}

static const char *const unit_states[] = {
	[KFLASH_UNIT_UNKNOWN] = "unknown",       [KFLASH_UNIT_ACTIVE] = "active",
	[KFLASH_UNIT_INACTIVE] = "inactive",     [KFLASH_UNIT_FAILED] = "failed",
	[KFLASH_UNIT_ACTIVATING] = "activating", [KFLASH_UNIT_DEACTIVATING] = "deactivating",
	[KFLASH_UNIT_RELOADING] = "reloading",
};

KFLASH_EXPORT const char *
kflash_unit_state_name(int state)
{
	return state >= 0 && (size_t)state < KF_ARRAY_SIZE(unit_states) ? unit_states[state]
									: "unknown";
}

int
kf_unit_state_from_name(const char *word)
{
	for (size_t i = 1; word && i < KF_ARRAY_SIZE(unit_states); i++)
		if (strcmp(unit_states[i], word) == 0)
			return (int)i;
	return -1;
}

KFLASH_EXPORT int
kflash_unit_state_is_running(int state)
{
	return state == KFLASH_UNIT_ACTIVE || state == KFLASH_UNIT_ACTIVATING ||
	       state == KFLASH_UNIT_RELOADING;
}

KFLASH_EXPORT int
kflash_service_get_state(struct kflash_context *ctx, const char *unit, int *state)
{
	int via = KF_VIA_SYSTEMCTL;
	int r = check_unit(ctx, unit);

	if (r < 0 || !state)
		return r < 0 ? r
			     : kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the state");
	*state = KFLASH_UNIT_UNKNOWN;
	if (!kf_context_service_ops(ctx)->query)
		r = kf_service_choose(ctx, KFLASH_LEVEL_DEBUG, &via);
	return r < 0 ? r : unit_state(ctx, &via, unit, state);
}

/* The provider for a stop or start by hand, and passwordless sudo for systemctl. */
static int
choose_by_hand(struct kflash_context *ctx, kflash_service_func injected, const char *unit, int *via)
{
	int r = check_unit(ctx, unit);

	*via = KF_VIA_SYSTEMCTL;
	if (r == 0 && !injected)
		r = kf_service_choose(ctx, KFLASH_LEVEL_INFO, via);
	if (r == 0 && !injected && *via == KF_VIA_SYSTEMCTL)
		r = kf_systemctl_check_sudo(ctx, &unit, 1);
	return r;
}

KFLASH_EXPORT int
kflash_service_stop(struct kflash_context *ctx, const char *unit)
{
	int via, r = choose_by_hand(ctx, kf_context_service_ops(ctx)->stop, unit, &via);

	return r < 0 ? r : do_stop(ctx, &via, unit);
}

KFLASH_EXPORT int
kflash_service_start(struct kflash_context *ctx, const char *unit)
{
	int via, r = choose_by_hand(ctx, kf_context_service_ops(ctx)->start, unit, &via);

	return r < 0 ? r : do_start(ctx, &via, unit);
}

/* ---- the guard ---- */

KFLASH_EXPORT int
kflash_service_guard_new(struct kflash_context *ctx, struct kflash_service_guard **ret)
{
	struct kflash_service_guard *g;
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the guard");
	*ret = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	g->refcount = 1;
	g->ctx = kflash_context_ref(ctx);
	g->sentinel.pid = -1;
	g->sentinel.fd = -1;
	r = kflash_service_guard_add_unit(g, kflash_context_get_service(ctx));
	if (r < 0) {
		kflash_service_guard_unref(g);
		return r;
	}
	*ret = g;
	return 0;
}

KFLASH_EXPORT struct kflash_service_guard *
kflash_service_guard_ref(struct kflash_service_guard *g)
{
	if (g)
		g->refcount++;
	return g;
}

KFLASH_EXPORT struct kflash_service_guard *
kflash_service_guard_unref(struct kflash_service_guard *g)
{
	if (!g || --g->refcount > 0)
		return NULL;
	kflash_service_guard_end(g);
	for (size_t i = 0; i < g->count; i++)
		free(g->units[i].name);
	free(g->units);
	kflash_context_unref(g->ctx);
	free(g);
	return NULL;
}

KFLASH_EXPORT int
kflash_service_guard_add_unit(struct kflash_service_guard *g, const char *unit)
{
	int r;

	if (!g)
		return KFLASH_ERR_INVALID;
	r = check_unit(g->ctx, unit);
	if (r < 0)
		return r;
	if (g->begun)
		return kf_error(g->ctx, KFLASH_ERR_BUSY,
				"the guard has stopped its units already; add %s before it begins",
				unit);
	for (size_t i = 0; i < g->count; i++)
		if (strcmp(g->units[i].name, unit) == 0)
			return 0;
	if (!KF_GROW(g->units, g->count + 1) ||
	    !(g->units[g->count] = (struct unit){ .name = strdup(unit) }).name)
		return kf_error(g->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	g->count++;
	return 0;
}

static void
disarm(struct kflash_service_guard *g)
{
	kf_sentinel_dismiss(&g->sentinel);
}

static int
guard_end(struct kflash_service_guard *g);

static int
guard_begin(struct kflash_service_guard *g)
{
	_cleanup_free_ const char **to_stop = NULL;
	size_t n = 0;
	int r;

	if (g->begun || g->count == 0)
		return 0;
	to_stop = calloc(g->count, sizeof(*to_stop));
	if (!to_stop)
		return kf_error(g->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* One choice for the whole guard: its stops, its starts and its sentinel. */
	g->via = KF_VIA_SYSTEMCTL;
	if (uses_provider(g->ctx)) {
		r = kf_service_choose(g->ctx, KFLASH_LEVEL_INFO, &g->via);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < g->count; i++) {
		int state;

		r = unit_state(g->ctx, &g->via, g->units[i].name, &state);
		if (r < 0)
			return r;
		if (kflash_unit_state_is_running(state))
			to_stop[n++] = g->units[i].name;
		else
			kf_info(g->ctx, "%s is %s already; it stays stopped", g->units[i].name,
				kflash_unit_state_name(state));
	}
	if (n == 0)
		return 0;
	if ((g->via == KF_VIA_SYSTEMCTL || g->via == KF_VIA_FELL_BACK) &&
	    (!kf_context_service_ops(g->ctx)->stop || !kf_context_service_ops(g->ctx)->start)) {
		r = kf_systemctl_check_sudo(g->ctx, to_stop, n);
		if (r < 0)
			return r;
		g->via = KF_VIA_SYSTEMCTL; /* sudo is checked now */
	}
	/* The sentinel first: from now on a death of this process starts the units. */
	r = kf_sentinel_arm(g->ctx, to_stop, n, g->via, &g->sentinel);
	if (r < 0)
		return r;
	g->begun = true;
	for (size_t i = 0; i < g->count; i++) {
		bool wanted = false;

		for (size_t j = 0; j < n; j++)
			wanted = wanted || to_stop[j] == g->units[i].name;
		if (!wanted)
			continue;
		/* Counted as stopped before the call: a half-done stop gets its start. */
		g->units[i].stopped = true;
		r = do_stop(g->ctx, &g->via, g->units[i].name);
		if (r < 0) {
			_cleanup_free_ char *why = kf_strdup(kflash_context_last_error(g->ctx));

			guard_end(g);
			return kf_error(g->ctx, KFLASH_ERR_SERVICE,
					"%s; the units stopped so far were started again",
					why ? why : "a stop failed");
		}
	}
	return 0;
}

static int
guard_end(struct kflash_service_guard *g)
{
	_cleanup_free_ char *failed = NULL;
	int result = 0;

	if (!g->begun)
		return 0;
	g->begun = false;
	for (size_t i = g->count; i-- > 0;) {
		struct unit *u = &g->units[i];
		int r;

		if (!u->stopped || u->restarted)
			continue;
		r = do_start(g->ctx, &g->via, u->name);
		if (r == 0) {
			u->restarted = true;
			continue;
		}
		if (!failed)
			failed = kf_strdup_printf("%s (%s)", u->name,
						  kflash_context_last_error(g->ctx));
		result = KFLASH_ERR_SERVICE;
	}
	/* Our own starts are done (or failed and reported): dismiss the sentinel. */
	disarm(g);
	if (result < 0)
		return kf_error(g->ctx, result,
				"could not start %s again: start it by hand with "
				"'sudo systemctl start %s'",
				failed ? failed : "a unit", kflash_context_get_service(g->ctx));
	return 0;
}

KFLASH_EXPORT int
kflash_service_guard_begin(struct kflash_service_guard *g)
{
	struct kf_scope prev;
	int r;

	if (!g)
		return KFLASH_ERR_INVALID;
	prev = kf_scope_enter(g->ctx, KFLASH_PHASE_SERVICE, NULL);
	kf_phase_event(g->ctx, "Klipper stays stopped until the last board is flashed");
	r = guard_begin(g);
	kf_scope_leave(g->ctx, prev);
	return r;
}

KFLASH_EXPORT int
kflash_service_guard_end(struct kflash_service_guard *g)
{
	struct kf_scope prev;
	int r;

	if (!g || !g->begun)
		return 0;
	prev = kf_scope_enter(g->ctx, KFLASH_PHASE_SERVICE, NULL);
	r = guard_end(g);
	kf_scope_leave(g->ctx, prev);
	return r;
}

KFLASH_EXPORT size_t
kflash_service_guard_get_unit_count(const struct kflash_service_guard *g)
{
	return g ? g->count : 0;
}

KFLASH_EXPORT const char *
kflash_service_guard_get_unit(const struct kflash_service_guard *g, size_t index)
{
	return g && index < g->count ? g->units[index].name : NULL;
}

KFLASH_EXPORT int
kflash_service_guard_unit_was_stopped(const struct kflash_service_guard *g, size_t index)
{
	return g && index < g->count && g->units[index].stopped ? 1 : 0;
}

KFLASH_EXPORT int
kflash_service_guard_unit_was_restarted(const struct kflash_service_guard *g, size_t index)
{
	return g && index < g->count && g->units[index].restarted ? 1 : 0;
}
