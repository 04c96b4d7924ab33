/* SPDX-License-Identifier: MIT */
/* Checks of a unit that change nothing: is it there, may sudo stop and start it. */
#include <string.h>

#include "internal/process.h"
#include "service-private.h"

static const char *const load_names[] = {
	[KFLASH_UNIT_LOAD_UNKNOWN] = "unknown", [KFLASH_UNIT_LOADED] = "loaded",
	[KFLASH_UNIT_NOT_FOUND] = "not-found",  [KFLASH_UNIT_MASKED] = "masked",
	[KFLASH_UNIT_LOAD_ERROR] = "error",
};

KFLASH_EXPORT const char *
kflash_unit_load_name(int load)
{
	return load >= 0 && (size_t)load < KF_ARRAY_SIZE(load_names) ? load_names[load] : "unknown";
}

static int
check_name(struct kflash_context *ctx, const char *unit)
{
	if (!kf_unit_name_is_valid(unit))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a systemd unit name; use letters, digits and @._-:",
				unit ? unit : "");
	return 0;
}

/* systemd's LoadState word as an enum kflash_unit_load. */
static int
load_from_word(const char *word)
{
	if (kf_streq(word, "loaded"))
		return KFLASH_UNIT_LOADED;
	if (kf_streq(word, "not-found"))
		return KFLASH_UNIT_NOT_FOUND;
	if (kf_streq(word, "masked"))
		return KFLASH_UNIT_MASKED;
	if (kf_streq(word, "bad-setting") || kf_streq(word, "error"))
		return KFLASH_UNIT_LOAD_ERROR;
	return KFLASH_UNIT_LOAD_UNKNOWN;
}

KFLASH_EXPORT int
kflash_service_get_load_state(struct kflash_context *ctx, const char *unit, int *state)
{
	const char *const argv[] = { "systemctl", "show", "--property=LoadState",
				     "--value",   unit,   NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
		.tail_lines = 2,
	};
	struct kf_process_result res;
	int r = check_name(ctx, unit);

	if (r < 0 || !state)
		return r < 0 ? r
			     : kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the state");
	*state = KFLASH_UNIT_LOAD_UNKNOWN;
	/* An injected query has no word for this. */
	if (kf_context_service_ops(ctx)->query)
		return 0;
	/* show needs no privileges. */
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code == 0 && res.out) {
		kf_strip_newline(res.out);
		*state = load_from_word(res.out);
	} else if (r == 0) {
		r = kf_error(
			ctx, KFLASH_ERR_SERVICE,
			"cannot tell whether %s is there: 'systemctl show %s' failed with exit "
			"status %d%s%s; is systemd running?",
			unit, unit, res.exit_code, res.tail ? ": " : "", res.tail ? res.tail : "");
	}
	kf_process_result_clear(&res);
	return r;
}

KFLASH_EXPORT int
kflash_service_check_unit_sudo(struct kflash_context *ctx, const char *unit)
{
	const struct kf_service_ops *ops = kf_context_service_ops(ctx);
	int r = check_name(ctx, unit);

	/* Injected stop and start functions need no sudo of this library's. */
	if (r < 0 || (ops->stop && ops->start))
		return r;
	return kf_systemctl_check_sudo(ctx, &unit, 1);
}
