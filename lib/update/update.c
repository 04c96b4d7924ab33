/* SPDX-License-Identifier: MIT */
/* The update: the whole job for a list of boards, in the order that keeps
 * the printer's downtime to the flashing itself and always restarts it. */
#include <string.h>
#include <sys/stat.h>

#include "build/build-private.h"
#include "internal/fs.h"
#include "internal/klipper.h"
#include "libkflash-private.h"

#define MAX_BOARDS 64
#define MAX_UNITS 16

struct job_board {
	char *name;
	char *given; /* --firmware */
	struct kflash_board *board;
	struct kflash_firmware *firmware;
	bool go; /* passed every check so far */
	enum kflash_board_result result;
	int error;
	char *message;
	const char *build;  /* static */
	const char *method; /* static */
	uint64_t ms;
	bool came_back;
};

struct kflash_update {
	int refcount;
	struct kflash_context *ctx;
	unsigned int flags;
	int method; /* an enum kflash_method for every board, or -1 */
	bool all, ran;
	struct job_board boards[MAX_BOARDS];
	size_t count;

	bool stopped, restarted;
	char *klipper_state, *klipper_message;
	uint64_t downtime_ms;
};

static const char *const result_names[] = {
	[KFLASH_RESULT_SKIPPED] = "skipped",
	[KFLASH_RESULT_FLASHED] = "flashed",
	[KFLASH_RESULT_FAILED] = "failed",
	[KFLASH_RESULT_PLANNED] = "planned",
};

KFLASH_EXPORT const char *
kflash_board_result_name(enum kflash_board_result result)
{
	return (unsigned)result < KF_ARRAY_SIZE(result_names) ? result_names[result] : "skipped";
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
	u->refcount = 1;
	u->ctx = kflash_context_ref(ctx);
	u->method = -1;
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
		kflash_board_unref(b->board);
		kflash_firmware_unref(b->firmware);
	}
	free(u->klipper_state);
	free(u->klipper_message);
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

static int
add(struct kflash_update *u, const char *name, struct job_board **ret)
{
	struct job_board *b;

	if (!kf_name_is_valid(name))
		return kf_error(u->ctx, KFLASH_ERR_INVALID, "'%s' is not a board name",
				name ? name : "");
	b = find(u, name);
	if (!b) {
		if (u->count == MAX_BOARDS)
			return kf_error(u->ctx, KFLASH_ERR_INVALID,
					"an update takes %d boards at most", MAX_BOARDS);
		b = &u->boards[u->count];
		b->name = strdup(name);
		if (!b->name)
			return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		u->count++;
	}
	if (ret)
		*ret = b;
	return 0;
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

	return r < 0 ? r : add(u, name, NULL);
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
	r = add(u, name, &b);
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
	if (!kflash_method_name(method))
		return kf_error(u->ctx, KFLASH_ERR_INVALID,
				"unknown flash method %d; use auto, katapult, make or sdcard",
				(int)method);
	u->method = (int)method;
	return 0;
}

KFLASH_EXPORT void
kflash_update_set_flags(struct kflash_update *u, unsigned int flags)
{
	if (u)
		u->flags = flags;
}

/* ---- the steps ---- */

/* Board @b failed with @r (the context's last error holds the message). */
static void
fail(struct kflash_update *u, struct job_board *b, int r)
{
	b->go = false;
	b->result = KFLASH_RESULT_FAILED;
	b->error = r;
	free(b->message);
	b->message = kf_strdup(kflash_context_last_error(u->ctx));
	kf_log(u->ctx, KFLASH_LEVEL_ERROR, "%s: %s", b->name, b->message ? b->message : "failed");
}

static bool
stop_early(struct kflash_update *u)
{
	if (kflash_context_is_cancelled(u->ctx))
		return true;
	if (!(u->flags & KFLASH_UPDATE_FAIL_FAST))
		return false;
	for (size_t i = 0; i < u->count; i++)
		if (u->boards[i].result == KFLASH_RESULT_FAILED)
			return true;
	return false;
}

/* Resolve the names (or --all) against the registry. */
static int
resolve(struct kflash_update *u)
{
	struct kflash_registry *reg;
	int r = kflash_registry_load(u->ctx, &reg);

	if (r < 0)
		return r;
	for (size_t i = 0; u->all && r == 0 && i < kflash_registry_get_board_count(reg); i++)
		r = add(u, kflash_board_get_name(kflash_registry_get_board(reg, i)), NULL);
	for (size_t i = 0; r == 0 && i < u->count; i++) {
		struct kflash_board *board = kflash_registry_find_board(reg, u->boards[i].name);

		if (!board)
			r = kf_error(u->ctx, KFLASH_ERR_NOT_FOUND,
				     "no board named %s is registered; see kflash list",
				     u->boards[i].name);
		u->boards[i].board = kflash_board_ref(board);
		u->boards[i].go = true;
		/* For this run only: the registry keeps the board's own method. */
		if (board && u->method >= 0)
			r = kflash_board_set_method(board, (enum kflash_method)u->method);
	}
	if (r == 0 && u->count == 0)
		r = kf_error(u->ctx, KFLASH_ERR_NOT_FOUND,
			     "no boards to flash: register one with kflash add");
	kflash_registry_unref(reg);
	return r;
}

static void
discover(struct kflash_update *u)
{
	struct kf_scope prev = kf_scope_enter(u->ctx, KFLASH_PHASE_DISCOVERY, NULL);

	kf_phase_event(u->ctx, "finding %zu board%s", u->count, u->count == 1 ? "" : "s");
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_device *dev = NULL;
		struct kf_scope inner;
		int r;

		/* The Linux process runs on this host: there is no device to find. */
		if (kf_streq(kflash_board_get_mcu(b->board), "linux"))
			continue;
		inner = kf_scope_enter(u->ctx, KFLASH_PHASE_DISCOVERY, b->name);
		r = kflash_discovery_locate(u->ctx, b->board, &dev);

		if (r == 0)
			kf_info(u->ctx, "%s mode at %s",
				kflash_device_mode_name(kflash_device_get_mode(dev)),
				kflash_device_get_path(dev));
		else
			fail(u, b, r);
		kflash_device_unref(dev);
		kf_scope_leave(u->ctx, inner);
	}
	kf_scope_leave(u->ctx, prev);
}

static void
check_configs(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_config *c = NULL;
		struct kf_scope prev;
		int r;

		if (!b->go || b->given)
			continue;
		prev = kf_scope_enter(u->ctx, KFLASH_PHASE_CONFIG, b->name);
		r = kflash_board_config_load(u->ctx, b->board, &c);
		if (r == 0)
			kf_info(u->ctx, "%s: %s, %s", kflash_config_get_path(c),
				kflash_config_get_mcu(c),
				kflash_comm_name(kflash_config_get_comm(c)));
		else
			fail(u, b, r);
		kflash_config_unref(c);
		kf_scope_leave(u->ctx, prev);
	}
}

/* Get each board's firmware: given, built, or the last build. */
static void
build_all(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count && !stop_early(u); i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_build *built = NULL;
		_cleanup_free_ char *last = NULL;
		const char *path = b->given;
		int r;

		if (!b->go)
			continue;
		if (!path && (u->flags & KFLASH_UPDATE_NO_BUILD)) {
			last = kf_build_last_artifact(u->ctx, b->name);
			if (!last) {
				fail(u, b,
				     kf_error(u->ctx, KFLASH_ERR_NOT_FOUND,
					      "board %s has never been built; drop --no-build",
					      b->name));
				continue;
			}
			path = last;
			b->build = "last build";
		}
		if (path) {
			r = kflash_firmware_load(u->ctx, path, &b->firmware);
			if (!b->build)
				b->build = "given";
		} else {
			r = kflash_build_board(
				u->ctx, b->board,
				(u->flags & KFLASH_UPDATE_CLEAN) ? KFLASH_BUILD_CLEAN : 0, &built);
			if (r == 0) {
				b->firmware = kflash_firmware_ref(kflash_build_get_firmware(built));
				b->build = kflash_build_get_result(built) == KFLASH_BUILD_UP_TO_DATE
						   ? "up-to-date"
						   : "built";
			}
			kflash_build_unref(built);
		}
		if (r < 0)
			fail(u, b, r);
	}
}

/* The units to stop: each board's own or the default, and klipper-mcu for Linux. */
static size_t
units(struct kflash_update *u, const char **out)
{
	size_t n = 0;

	for (size_t i = 0; i < u->count; i++) {
		const struct job_board *b = &u->boards[i];
		const char *mine[2] = { kflash_board_get_service(b->board), NULL };

		if (!b->go)
			continue;
		if (!mine[0])
			mine[0] = kflash_context_get_service(u->ctx);
		if (kf_streq(kflash_board_get_mcu(b->board), "linux"))
			mine[1] = "klipper-mcu";
		for (size_t m = 0; m < 2 && mine[m]; m++) {
			bool seen = false;

			for (size_t j = 0; j < n; j++)
				seen = seen || strcmp(out[j], mine[m]) == 0;
			if (!seen && n < MAX_UNITS)
				out[n++] = mine[m];
		}
	}
	return n;
}

/* Keep the flashed firmware and its dictionary, to flash it again later. */
static void
keep_firmware(struct kflash_update *u, const struct job_board *b)
{
	_cleanup_free_ char *state = kf_board_state_dir(u->ctx, b->name);
	_cleanup_free_ char *dir = state ? kf_strdup_printf("%s/firmware", state) : NULL;
	const char *srcs[2] = { kflash_firmware_get_path(b->firmware),
				kflash_firmware_get_dictionary_source(b->firmware) };

	if (!dir || kf_fs_mkdir_p(u->ctx, dir, 0700) < 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *text = NULL, *dest = NULL;
		size_t len;

		if (!srcs[i] || strcmp(srcs[i], "embedded") == 0)
			continue;
		dest = kf_strdup_printf("%s/%s", dir, strrchr(srcs[i], '/') + 1);
		if (dest && kf_fs_read_file(u->ctx, srcs[i], 16 * 1024 * 1024, 0, &text, &len) == 0)
			kf_fs_write_atomic(u->ctx, dest, text, len, 0600, 0);
	}
}

static void
flash_all(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count && !stop_early(u); i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_flash *f = NULL;
		int r;

		if (!b->go)
			continue;
		r = kflash_flash_board(u->ctx, b->board, b->firmware, &f);
		b->method = kflash_flash_get_method(f);
		b->ms = kflash_flash_get_duration_ms(f);
		b->came_back = kflash_flash_get_came_back(f);
		kflash_flash_unref(f);
		if (r < 0) {
			fail(u, b, r);
		} else {
			b->result = KFLASH_RESULT_FLASHED;
			keep_firmware(u, b);
		}
		/* The registry remembers failures too: status reports them. */
		if (r != KFLASH_ERR_CANCELLED &&
		    kflash_registry_record_flash(
			    u->ctx, b->name, kflash_firmware_get_version(b->firmware),
			    kflash_firmware_get_sha256(b->firmware), r == 0) < 0)
			kf_warn(u->ctx, "%s: the flash was not recorded: %s", b->name,
				kflash_context_last_error(u->ctx));
	}
}

static bool
klipper_runs(struct kflash_context *ctx)
{
	struct kflash_klippy *k = NULL;
	int r = kflash_klippy_connect(ctx, &k);

	kflash_klippy_unref(k);
	return r == 0;
}

static void
confirm(struct kflash_update *u, bool was_running)
{
	struct kflash_klippy *k = NULL;
	struct kf_scope prev;
	int r;

	if (!was_running) {
		u->klipper_state = kf_strdup("not running");
		kf_info(u->ctx, "Klipper was not running before, so there is nothing to confirm");
		return;
	}
	prev = kf_scope_enter(u->ctx, KFLASH_PHASE_SERVICE, NULL);
	r = kflash_klippy_wait_ready(u->ctx,
				     kflash_context_get_timeout(u->ctx, KFLASH_TIMEOUT_READY));
	if (r == 0) {
		u->klipper_state = kf_strdup("ready");
	} else if (kflash_klippy_connect(u->ctx, &k) == 0 && kflash_klippy_query_info(k) == 0) {
		u->klipper_state = kf_strdup(kflash_klippy_get_state(k));
		u->klipper_message = kf_strdup(kflash_klippy_get_state_message(k));
	} else {
		u->klipper_message = kf_strdup(kflash_context_last_error(u->ctx));
	}
	kflash_klippy_unref(k);
	kf_scope_leave(u->ctx, prev);
}

/* The stop, the flashing, the start: the printer's downtime. */
static int
service_window(struct kflash_update *u)
{
	const char *unit_names[MAX_UNITS];
	size_t n = units(u, unit_names);
	struct kflash_service_guard *guard = NULL;
	bool was_running = klipper_runs(u->ctx);
	uint64_t start;
	int r, end;

	r = kflash_service_guard_new(u->ctx, &guard);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = kflash_service_guard_add_unit(guard, unit_names[i]);
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
		confirm(u, was_running);
	return end;
}

static int
first_failure(const struct kflash_update *u)
{
	for (size_t i = 0; i < u->count; i++)
		if (u->boards[i].result == KFLASH_RESULT_FAILED)
			return u->boards[i].error;
	return 0;
}

static int
run(struct kflash_update *u)
{
	bool dry = u->flags & KFLASH_UPDATE_DRY_RUN;
	size_t ready = 0;
	int r;

	r = resolve(u);
	if (r < 0)
		return r;
	discover(u);
	check_configs(u);
	if (dry) {
		for (size_t i = 0; i < u->count; i++)
			if (u->boards[i].go)
				u->boards[i].result = KFLASH_RESULT_PLANNED;
		return first_failure(u);
	}
	build_all(u);
	r = kf_check_cancel(u->ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < u->count; i++)
		ready += u->boards[i].go;
	if (ready == 0 || stop_early(u)) {
		kf_log(u->ctx, KFLASH_LEVEL_WARNING,
		       "no board is ready to flash: Klipper is left "
		       "running");
		return first_failure(u);
	}
	r = kflash_klippy_check_idle(u->ctx, (u->flags & KFLASH_UPDATE_FORCE) != 0);
	if (r < 0)
		return r;
	r = service_window(u);
	if (kflash_context_is_cancelled(u->ctx))
		return KFLASH_ERR_CANCELLED;
	if (first_failure(u))
		return first_failure(u);
	if (r < 0)
		return r;
	if (u->klipper_state && strcmp(u->klipper_state, "ready") != 0 &&
	    strcmp(u->klipper_state, "not running") != 0)
		return kf_error(u->ctx, KFLASH_ERR_NOT_READY,
				"every board was flashed, but Klipper is in state '%s'%s%s",
				u->klipper_state, u->klipper_message ? ": " : "",
				u->klipper_message ? u->klipper_message : "");
	if (!u->klipper_state && u->klipper_message)
		return kf_error(u->ctx, KFLASH_ERR_NOT_READY,
				"every board was flashed, but Klipper did not answer: %s",
				u->klipper_message);
	return 0;
}

KFLASH_EXPORT int
kflash_update_run(struct kflash_update *u)
{
	_cleanup_free_ char *lock_path = NULL;
	_cleanup_lock_ struct kf_lock *lock = NULL;
	const char *config_dir;
	int r;

	if (!u)
		return KFLASH_ERR_INVALID;
	if (u->ran)
		return kf_error(u->ctx, KFLASH_ERR_BUSY, "this update has run already");
	u->ran = true;
	config_dir = kflash_context_get_config_dir(u->ctx);
	lock_path = kf_strdup_printf("%s/kflash.lock", config_dir);
	if (!lock_path)
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* One mutating run at a time; readers never wait for it. */
	r = kf_fs_mkdir_p(u->ctx, config_dir, 0700);
	if (r == 0 && !(u->flags & KFLASH_UPDATE_DRY_RUN))
		r = kf_lock_acquire(u->ctx, lock_path, KF_LOCK_EXCLUSIVE,
				    kflash_context_get_timeout(u->ctx, KFLASH_TIMEOUT_LOCK), &lock);
	if (r == KFLASH_ERR_LOCKED)
		return kf_error(u->ctx, KFLASH_ERR_LOCKED,
				"another kflash run is flashing (%s); wait for it to finish",
				kflash_context_last_error(u->ctx));
	if (r < 0)
		return r;
	return run(u);
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

KFLASH_EXPORT enum kflash_board_result
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

KFLASH_EXPORT const char *
kflash_update_get_board_build(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->build : NULL;
}

KFLASH_EXPORT const char *
kflash_update_get_board_method(const struct kflash_update *u, size_t i)
{
	return at(u, i) ? at(u, i)->method : NULL;
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
kflash_update_get_klipper_stopped(const struct kflash_update *u)
{
	return u && u->stopped ? 1 : 0;
}

KFLASH_EXPORT int
kflash_update_get_klipper_restarted(const struct kflash_update *u)
{
	return u && u->restarted ? 1 : 0;
}

KFLASH_EXPORT const char *
kflash_update_get_klipper_state(const struct kflash_update *u)
{
	return u ? u->klipper_state : NULL;
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
