/* SPDX-License-Identifier: MIT */
/* The update job: what it is given (boards, flags, firmware) and what it reports. */
#include <string.h>

#include "update-private.h"

static const char *const result_names[] = {
	[KFLASH_RESULT_SKIPPED] = "skipped", [KFLASH_RESULT_FLASHED] = "flashed",
	[KFLASH_RESULT_FAILED] = "failed",   [KFLASH_RESULT_PLANNED] = "planned",
	[KFLASH_RESULT_CURRENT] = "current",
};

static const char *const source_names[] = {
	[KFLASH_FIRMWARE_NONE] = "none",
	[KFLASH_FIRMWARE_BUILT] = "built",
	[KFLASH_FIRMWARE_UP_TO_DATE] = "up-to-date",
	[KFLASH_FIRMWARE_LAST_BUILD] = "last-build",
	[KFLASH_FIRMWARE_GIVEN] = "given",
};

KFLASH_EXPORT const char *
kflash_board_result_name(int result)
{
	return result >= 0 && (size_t)result < KF_ARRAY_SIZE(result_names) ? result_names[result]
									   : "skipped";
}

KFLASH_EXPORT const char *
kflash_firmware_source_name(int source)
{
	return source >= 0 && (size_t)source < KF_ARRAY_SIZE(source_names) ? source_names[source]
									   : "none";
}

KFLASH_EXPORT int
kflash_update_new(struct kflash_context *ctx, struct kflash_update **ret)
{
	struct kflash_update *u;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the update");
	u = calloc(1, sizeof(*u));
	if (!u)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (pthread_mutex_init(&u->lock, NULL) != 0) {
		free(u);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	u->refcount = 1;
	u->ctx = kflash_context_ref(ctx);
	u->method = KFLASH_METHOD_NONE;
	*ret = u;
	return 0;
}

KFLASH_EXPORT struct kflash_update *
kflash_update_ref(struct kflash_update *u)
{
	if (u)
		u->refcount++;
	return u;
}

KFLASH_EXPORT struct kflash_update *
kflash_update_unref(struct kflash_update *u)
{
	if (!u || --u->refcount > 0)
		return NULL;
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];

		free(b->name);
		free(b->given);
		free(b->message);
		free(b->iface);
		free(b->usb_port);
		kflash_board_unref(b->board);
		kflash_firmware_unref(b->firmware);
	}
	free(u->boards);
	free(u->klipper_message);
	pthread_mutex_destroy(&u->lock);
	kflash_context_unref(u->ctx);
	free(u);
	return NULL;
}

static struct job_board *
find(struct kflash_update *u, const char *name)
{
	for (size_t i = 0; i < u->count; i++)
		if (strcmp(u->boards[i].name, name) == 0)
			return &u->boards[i];
	return NULL;
}

int
kf_update_add(struct kflash_update *u, const char *name, struct job_board **ret)
{
	struct job_board *b;

	if (!kf_name_is_valid(name))
		return kf_error(u->ctx, KFLASH_ERR_INVALID, "'%s' is not a board name",
				name ? name : "");
	b = find(u, name);
	if (!b) {
		if (!KF_GROW(u->boards, u->count + 1))
			return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		b = &u->boards[u->count];
		*b = (struct job_board){ .name = strdup(name), .method = KFLASH_METHOD_NONE };
		if (!b->name)
			return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		u->count++;
	}
	if (ret)
		*ret = b;
	return 0;
}

void
kf_update_fail_in(struct kflash_update *u, struct kflash_context *ctx, struct job_board *b, int r)
{
	char *message = kf_strdup(kflash_context_last_error(ctx));
	struct kf_scope prev;

	pthread_mutex_lock(&u->lock);
	b->go = false;
	b->result = KFLASH_RESULT_FAILED;
	b->error = r;
	b->hint = kflash_context_last_error_hint(ctx);
	free(b->message);
	b->message = message;
	pthread_mutex_unlock(&u->lock);
	/* Said once, about the board, in the phase it failed in. */
	prev = kf_scope_enter(ctx, kf_scope_current(ctx).phase, b->name);
	kf_log(ctx, KFLASH_LEVEL_ERROR, "%s", message ? message : kflash_strerror(r));
	kf_scope_leave(ctx, prev);
}

void
kf_update_fail(struct kflash_update *u, struct job_board *b, int r)
{
	kf_update_fail_in(u, u->ctx, b, r);
}

size_t
kf_update_ready_count(const struct kflash_update *u)
{
	size_t n = 0;

	for (size_t i = 0; i < u->count; i++)
		n += u->boards[i].go;
	return n;
}

static int
check_not_run(struct kflash_update *u)
{
	if (!u)
		return KFLASH_ERR_INVALID;
	if (u->ran)
		return kf_error(u->ctx, KFLASH_ERR_BUSY, "this update has run already");
	return 0;
}

KFLASH_EXPORT int
kflash_update_add_board(struct kflash_update *u, const char *name)
{
	int r = check_not_run(u);

	return r < 0 ? r : kf_update_add(u, name, NULL);
}

KFLASH_EXPORT int
kflash_update_add_all_boards(struct kflash_update *u)
{
	int r = check_not_run(u);

	if (r == 0)
		u->all = true;
	return r;
}

KFLASH_EXPORT int
kflash_update_set_firmware(struct kflash_update *u, const char *name, const char *path)
{
	struct job_board *b;
	int r = check_not_run(u);

	if (r < 0)
		return r;
	if (!path)
		return kf_error(u->ctx, KFLASH_ERR_INVALID, "no firmware file given");
	r = kf_update_add(u, name, &b);
	if (r < 0)
		return r;
	free(b->given);
	b->given = strdup(path);
	return b->given ? 0 : kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

KFLASH_EXPORT int
kflash_update_set_method(struct kflash_update *u, enum kflash_method method)
{
	int r = check_not_run(u);

	if (r < 0)
		return r;
	if (!kflash_method_name(method) || method == KFLASH_METHOD_NONE)
		return kf_error(u->ctx, KFLASH_ERR_INVALID,
				"unknown flash method %d; use auto, katapult, make or sdcard",
				(int)method);
	u->method = (int)method;
	return 0;
}

#define ALL_FLAGS                                                                                  \
	(KFLASH_UPDATE_DRY_RUN | KFLASH_UPDATE_FORCE | KFLASH_UPDATE_NO_BUILD |                    \
	 KFLASH_UPDATE_FAIL_FAST | KFLASH_UPDATE_CLEAN | KFLASH_UPDATE_REFLASH |                   \
	 KFLASH_UPDATE_KEEP_GOING)

KFLASH_EXPORT int
kflash_update_set_jobs(struct kflash_update *u, unsigned int jobs)
{
	int r = check_not_run(u);

	if (r < 0)
		return r;
	if (jobs > KFLASH_UPDATE_JOBS_MAX)
		return kf_error(u->ctx, KFLASH_ERR_INVALID,
				"%u boards at once is too many: at most %u", jobs,
				KFLASH_UPDATE_JOBS_MAX);
	u->jobs = jobs;
	return 0;
}

KFLASH_EXPORT int
kflash_update_set_flags(struct kflash_update *u, unsigned int flags)
{
	int r = check_not_run(u);

	if (r < 0)
		return r;
	if (flags & ~(unsigned int)ALL_FLAGS)
		return kf_error(u->ctx, KFLASH_ERR_INVALID,
				"unknown update flags 0x%x; see enum kflash_update_flags",
				flags & ~(unsigned int)ALL_FLAGS);
	u->flags = flags;
	return 0;
}

/* ---- results ---- */

static const struct job_board *
at(const struct kflash_update *u, size_t i)
{
	return u && i < u->count ? &u->boards[i] : NULL;
}

KFLASH_EXPORT size_t
kflash_update_get_board_count(const struct kflash_update *u)
{
	return u ? u->count : 0;
}

KFLASH_EXPORT const char *
kflash_update_get_board_name(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->name : NULL;
}

KFLASH_EXPORT int
kflash_update_get_board_result(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->result : KFLASH_RESULT_SKIPPED;
}

KFLASH_EXPORT int
kflash_update_get_board_error(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->error : 0;
}

KFLASH_EXPORT const char *
kflash_update_get_board_message(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->message : NULL;
}

KFLASH_EXPORT int
kflash_update_get_board_hint(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->hint : KFLASH_HINT_NONE;
}

KFLASH_EXPORT int
kflash_update_get_board_source(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->source : KFLASH_FIRMWARE_NONE;
}

KFLASH_EXPORT int
kflash_update_get_board_method(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->method : KFLASH_METHOD_NONE;
}

KFLASH_EXPORT const char *
kflash_update_get_board_version(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? kflash_firmware_get_version(at(u, i)->firmware) : NULL;
}

KFLASH_EXPORT uint64_t
kflash_update_get_board_duration_ms(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->ms : 0;
}

KFLASH_EXPORT int
kflash_update_get_board_came_back(const struct kflash_update *u, size_t i)
{
	return at(u, i) && at(u, i)->came_back ? 1 : 0;
}

KFLASH_EXPORT int
kflash_update_get_board_link(const struct kflash_update *u, size_t i)
{
	if (!at(u, i))
		return KFLASH_LINK_SERIAL;
	/* Before the discovery, as the registry says. */
	return at(u, i)->board && !at(u, i)->link ? kflash_board_get_link(at(u, i)->board)
						  : at(u, i)->link;
}

KFLASH_EXPORT const char *
kflash_update_get_board_can_interface(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->iface : NULL;
}

KFLASH_EXPORT int
kflash_update_get_gate(const struct kflash_update *u)
{
	return u ? u->gate : 0;
}

KFLASH_EXPORT int
kflash_update_get_klipper_stopped(const struct kflash_update *u)
{
	return u && u->stopped ? 1 : 0;
}

KFLASH_EXPORT int
kflash_update_get_klipper_restarted(const struct kflash_update *u)
{
	return u && u->restarted ? 1 : 0;
}

KFLASH_EXPORT int
kflash_update_get_klipper_state(const struct kflash_update *u)
{
	return u ? u->klipper_state : KFLASH_KLIPPER_UNKNOWN;
}

KFLASH_EXPORT const char *
kflash_update_get_klipper_message(const struct kflash_update *u)
{
	return u ? u->klipper_message : NULL;
}

KFLASH_EXPORT uint64_t
kflash_update_get_downtime_ms(const struct kflash_update *u)
{
	return u ? u->downtime_ms : 0;
}
