/* SPDX-License-Identifier: MIT */
/* Which boards and live MCUs run older firmware than the host's Klipper. */
#include <string.h>

#include "klipper/klipper.h"
#include "libkflash-private.h"

struct mcu {
	char *name, *version;
	const char *board; /* into boards[] */
	bool needs;
};

struct board {
	char *name, *flashed, *live;
	int reason; /* enum kflash_reflash_reason */
	char *message;
};

struct kflash_status {
	int refcount;
	char *host; /* NULL when not known */
	int klipper_state;
	struct mcu *mcus;
	size_t n_mcus;
	struct board *boards;
	size_t n_boards;
};

KFLASH_EXPORT struct kflash_status *
kflash_status_ref(struct kflash_status *s)
{
	if (s)
		s->refcount++;
	return s;
}

KFLASH_EXPORT struct kflash_status *
kflash_status_unref(struct kflash_status *s)
{
	if (!s || --s->refcount > 0)
		return NULL;
	for (size_t i = 0; i < s->n_mcus; i++) {
		free(s->mcus[i].name);
		free(s->mcus[i].version);
	}
	for (size_t i = 0; i < s->n_boards; i++) {
		free(s->boards[i].name);
		free(s->boards[i].flashed);
		free(s->boards[i].live);
		free(s->boards[i].message);
	}
	free(s->mcus);
	free(s->boards);
	free(s->host);
	free(s);
	return NULL;
}

static const char *const reason_names[] = {
	[KFLASH_REFLASH_NONE] = "none",
	[KFLASH_REFLASH_LIVE_OLDER] = "live-older",
	[KFLASH_REFLASH_LIVE_DIFFERENT] = "live-different",
	[KFLASH_REFLASH_FLASH_OLDER] = "flash-older",
	[KFLASH_REFLASH_FLASH_DIFFERENT] = "flash-different",
	[KFLASH_REFLASH_NEVER_FLASHED] = "never-flashed",
	[KFLASH_REFLASH_FLASH_FAILED] = "flash-failed",
};

KFLASH_EXPORT const char *
kflash_reflash_reason_name(int reason)
{
	return reason >= 0 && (size_t)reason < KF_ARRAY_SIZE(reason_names) ? reason_names[reason]
									   : "none";
}

/*
 * Does a firmware of version @v need a reflash for host @host? 1 when it is
 * older, 2 when it differs without an order, 0 when not. Nothing can be
 * said against a host version that is not known.
 */
static int
compare(const char *v, const char *host)
{
	if (!v || !host)
		return 0;
	switch (kflash_klipper_version_compare(v, host)) {
	case KFLASH_VERSION_OLDER:
		return 1;
	case KFLASH_VERSION_DIFFERENT:
		return 2;
	default:
		return 0;
	}
}

/* Why board @sb (registered as @b) needs a reflash, and the words for it. */
static int
judge(struct kflash_status *s, const struct kflash_board *b, struct board *sb)
{
	int c;

	if (sb->live && (c = compare(sb->live, s->host))) {
		sb->reason = c == 1 ? KFLASH_REFLASH_LIVE_OLDER : KFLASH_REFLASH_LIVE_DIFFERENT;
		sb->message = kf_strdup_printf("its MCU runs %s, %s the host's %s", sb->live,
					       c == 1 ? "older than" : "not the same as", s->host);
	} else if (sb->live) {
		return 0;
	} else if (!kflash_board_has_last_flash(b)) {
		sb->reason = KFLASH_REFLASH_NEVER_FLASHED;
		sb->message = kf_strdup("it was never flashed by libkflash, and Klipper does not "
					"report its MCU's version");
	} else if (!kflash_board_get_last_flash_ok(b)) {
		sb->reason = KFLASH_REFLASH_FLASH_FAILED;
		sb->message = kf_strdup("its last flash failed");
	} else if ((c = compare(sb->flashed, s->host))) {
		sb->reason = c == 1 ? KFLASH_REFLASH_FLASH_OLDER : KFLASH_REFLASH_FLASH_DIFFERENT;
		sb->message = kf_strdup_printf("it was last flashed with %s, %s the host's %s",
					       sb->flashed,
					       c == 1 ? "older than" : "not the same as", s->host);
	} else {
		return 0;
	}
	return sb->message ? 0 : KFLASH_ERR_NO_MEMORY;
}

/* The live MCUs, when Klipper runs. */
static int
query_live(struct kflash_context *ctx, struct kflash_status *s)
{
	struct kflash_klippy *k = NULL;
	int r = kflash_klippy_connect(ctx, &k);

	if (r == KFLASH_ERR_NOT_FOUND) {
		kf_debug(ctx, "%s: no live MCU versions", kflash_context_last_error(ctx));
		return 0;
	}
	if (r == 0)
		r = kflash_klippy_query_info(k);
	if (r == 0)
		r = kflash_klippy_query_status(k);
	if (r < 0) {
		kf_warn(ctx, "cannot ask Klipper for its MCUs: %s", kflash_context_last_error(ctx));
		kflash_klippy_unref(k);
		return 0;
	}
	s->klipper_state = kflash_klippy_get_state(k);
	/* Without a Klipper tree, the running Klipper's version is the host's. */
	if (!s->host && kflash_klippy_get_software_version(k))
		s->host = kf_strdup(kflash_klippy_get_software_version(k));
	s->n_mcus = kflash_klippy_get_mcu_count(k);
	s->mcus = calloc(s->n_mcus ? s->n_mcus : 1, sizeof(*s->mcus));
	if (!s->mcus) {
		kflash_klippy_unref(k);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	for (size_t i = 0; i < s->n_mcus; i++) {
		s->mcus[i].name = kf_strdup(kflash_klippy_get_mcu_name(k, i));
		s->mcus[i].version = kf_strdup(kflash_klippy_get_mcu_version(k, i));
	}
	kflash_klippy_unref(k);
	return 0;
}

KFLASH_EXPORT int
kflash_status_query(struct kflash_context *ctx, struct kflash_status **ret)
{
	struct kflash_registry *reg;
	struct kflash_status *s;
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the status");
	*ret = NULL;
	r = kflash_registry_load(ctx, &reg);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		kflash_registry_unref(reg);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	s->refcount = 1;
	s->klipper_state = KFLASH_KLIPPER_UNKNOWN;
	r = kf_klipper_version(ctx, &s->host);
	if (r == 0)
		r = query_live(ctx, s);
	s->n_boards = kflash_registry_get_board_count(reg);
	s->boards = calloc(s->n_boards ? s->n_boards : 1, sizeof(*s->boards));
	if (r == 0 && !s->boards)
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t i = 0; r == 0 && i < s->n_boards; i++) {
		const struct kflash_board *b = kflash_registry_get_board(reg, i);
		struct board *sb = &s->boards[i];
		const char *section = kflash_board_get_klipper_mcu(b);

		sb->name = kf_strdup(kflash_board_get_name(b));
		sb->flashed = kf_strdup(kflash_board_get_last_flash_version(b));
		for (size_t m = 0; section && m < s->n_mcus; m++) {
			if (!kf_streq(s->mcus[m].name, section))
				continue;
			s->mcus[m].board = sb->name;
			sb->live = kf_strdup(s->mcus[m].version);
		}
		r = judge(s, b, sb);
		if (r < 0)
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	for (size_t m = 0; r == 0 && m < s->n_mcus; m++)
		s->mcus[m].needs = compare(s->mcus[m].version, s->host) != 0;
	kflash_registry_unref(reg);
	if (r < 0) {
		kflash_status_unref(s);
		return r;
	}
	*ret = s;
	return 0;
}

KFLASH_EXPORT const char *
kflash_status_get_host_version(const struct kflash_status *s)
{
	return s ? s->host : NULL;
}

KFLASH_EXPORT int
kflash_status_get_klipper_state(const struct kflash_status *s)
{
	return s ? s->klipper_state : KFLASH_KLIPPER_UNKNOWN;
}

KFLASH_EXPORT int
kflash_status_get_needs_reflash(const struct kflash_status *s)
{
	for (size_t i = 0; s && i < s->n_boards; i++)
		if (s->boards[i].reason != KFLASH_REFLASH_NONE)
			return 1;
	for (size_t i = 0; s && i < s->n_mcus; i++)
		if (s->mcus[i].needs)
			return 1;
	return 0;
}

KFLASH_EXPORT size_t
kflash_status_get_mcu_count(const struct kflash_status *s)
{
	return s ? s->n_mcus : 0;
}

static const struct mcu *
mcu_at(const struct kflash_status *s, size_t i)
{
	return s && i < s->n_mcus ? &s->mcus[i] : NULL;
}

static const struct board *
board_at(const struct kflash_status *s, size_t i)
{
	return s && i < s->n_boards ? &s->boards[i] : NULL;
}

KFLASH_EXPORT const char *
kflash_status_get_mcu_name(const struct kflash_status *s, size_t i)
{
	return mcu_at(s, i) ? mcu_at(s, i)->name : NULL;
}

KFLASH_EXPORT const char *
kflash_status_get_mcu_version(const struct kflash_status *s, size_t i)
{
	return mcu_at(s, i) ? mcu_at(s, i)->version : NULL;
}

KFLASH_EXPORT const char *
kflash_status_get_mcu_board(const struct kflash_status *s, size_t i)
{
	return mcu_at(s, i) ? mcu_at(s, i)->board : NULL;
}

KFLASH_EXPORT int
kflash_status_get_mcu_needs_reflash(const struct kflash_status *s, size_t i)
{
	return mcu_at(s, i) && mcu_at(s, i)->needs ? 1 : 0;
}

KFLASH_EXPORT size_t
kflash_status_get_board_count(const struct kflash_status *s)
{
	return s ? s->n_boards : 0;
}

KFLASH_EXPORT const char *
kflash_status_get_board_name(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) ? board_at(s, i)->name : NULL;
}

KFLASH_EXPORT const char *
kflash_status_get_board_flashed_version(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) ? board_at(s, i)->flashed : NULL;
}

KFLASH_EXPORT const char *
kflash_status_get_board_live_version(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) ? board_at(s, i)->live : NULL;
}

KFLASH_EXPORT int
kflash_status_get_board_needs_reflash(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) && board_at(s, i)->reason != KFLASH_REFLASH_NONE ? 1 : 0;
}

KFLASH_EXPORT int
kflash_status_get_board_reason(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) ? board_at(s, i)->reason : KFLASH_REFLASH_NONE;
}

KFLASH_EXPORT const char *
kflash_status_get_board_message(const struct kflash_status *s, size_t i)
{
	return board_at(s, i) ? board_at(s, i)->message : NULL;
}
