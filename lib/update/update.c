/* SPDX-License-Identifier: MIT */
/*
 * The update: the whole job for a list of boards, in the order that keeps
 * the printer's downtime to the flashing itself and always restarts it.
 */
#include <string.h>

#include "internal/fs.h"
#include "update-private.h"

static int
run(struct kflash_update *u)
{
	bool dry = u->flags & KFLASH_UPDATE_DRY_RUN;
	size_t ready = 0;
	int r;

	r = kf_update_resolve(u);
	if (r < 0)
		return r;
	kf_update_discover(u);
	kf_update_check_configs(u);
	if (dry) {
		for (size_t i = 0; i < u->count; i++)
			if (u->boards[i].go)
				u->boards[i].result = KFLASH_RESULT_PLANNED;
		return kf_update_first_failure(u);
	}
	kf_update_build_all(u);
	r = kf_check_cancel(u->ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < u->count; i++)
		ready += u->boards[i].go;
	if (ready == 0 || kf_update_stop_early(u)) {
		kf_log(u->ctx, KFLASH_LEVEL_WARNING,
		       "no board is ready to flash: Klipper is left "
		       "running");
		return kf_update_first_failure(u);
	}
	r = kflash_klippy_check_idle(u->ctx, (u->flags & KFLASH_UPDATE_FORCE) != 0);
	if (r < 0)
		return r;
	r = kf_update_service_window(u);
	if (kflash_context_is_cancelled(u->ctx))
		return KFLASH_ERR_CANCELLED;
	if (kf_update_first_failure(u))
		return kf_update_first_failure(u);
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
