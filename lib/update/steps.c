/* SPDX-License-Identifier: MIT */
/* The update's steps, each over every board of the job. */
#include <string.h>

#include "build/build-private.h"
#include "flash/flash-private.h"
#include "internal/fs.h"
#include "internal/klipper.h"
#include "service/service-private.h"
#include "update-private.h"

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

bool
kf_update_stop_early(struct kflash_update *u)
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

int
kf_update_resolve(struct kflash_update *u)
{
	struct kflash_registry *reg;
	int r = kflash_registry_load(u->ctx, &reg);

	if (r < 0)
		return r;
	for (size_t i = 0; u->all && r == 0 && i < kflash_registry_get_board_count(reg); i++)
		r = kf_update_add(u, kflash_board_get_name(kflash_registry_get_board(reg, i)),
				  NULL);
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

void
kf_update_discover(struct kflash_update *u)
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

		if (r == 0 && kflash_device_get_mode(dev) == KFLASH_MODE_UNKNOWN)
			kf_info(u->ctx, "at %s, a serial port of unknown mode",
				kflash_device_get_path(dev));
		else if (r == 0)
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

/* Klipper's make flash installs the host MCU with `sudo ./scripts/flash-linux.sh`. */
static int
check_host_mcu_sudo(struct kflash_update *u)
{
	_cleanup_free_ char *script = kf_strdup_printf("%s/scripts/flash-linux.sh",
						       kflash_context_get_klipper_dir(u->ctx));

	if (!script)
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	return kf_sudo_check_program(u->ctx, script, "Klipper's make flash for the host MCU");
}

void
kf_update_check_configs(struct kflash_update *u)
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
		if (r == 0 && kf_streq(kflash_board_get_mcu(b->board), "linux"))
			r = check_host_mcu_sudo(u);
		if (r < 0)
			fail(u, b, r);
		kflash_config_unref(c);
		kf_scope_leave(u->ctx, prev);
	}
}

void
kf_update_build_all(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count && !kf_update_stop_early(u); i++) {
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
			/* A file's MCU is checked now, before anything is stopped. */
			r = kflash_firmware_load(u->ctx, path, &b->firmware);
			if (r == 0)
				r = kf_flash_check_firmware(u->ctx, b->board, b->firmware);
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
	for (size_t i = 0; i < u->count && !kf_update_stop_early(u); i++) {
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

int
kf_update_service_window(struct kflash_update *u)
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

int
kf_update_first_failure(const struct kflash_update *u)
{
	for (size_t i = 0; i < u->count; i++)
		if (u->boards[i].result == KFLASH_RESULT_FAILED)
			return u->boards[i].error;
	return 0;
}
