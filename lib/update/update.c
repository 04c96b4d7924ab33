/* SPDX-License-Identifier: MIT */
/*
 * The update: the whole job for a list of boards, in the order that keeps
 * the printer's downtime to the flashing itself and always restarts it.
 */
#include <string.h>

#include "internal/fs.h"
#include "update-private.h"

/* After the window: 0, or why Klipper is not confirmed ready. */
static int
outcome(struct kflash_update *u)
{
	switch (u->klipper_state) {
	case KFLASH_KLIPPER_READY:
	case KFLASH_KLIPPER_NOT_RUNNING:
		return 0;
	case KFLASH_KLIPPER_UNKNOWN:
		/* Forced past an unreachable API socket: said already, not an error. */
		if (u->gate == KFLASH_GATE_FORCED_UNREACHABLE)
			return 0;
		return kf_error(u->ctx, KFLASH_ERR_NOT_READY,
				"every board was flashed, but Klipper did not answer: %s",
				u->klipper_message ? u->klipper_message : "no answer");
	default:
		return kf_error(u->ctx, KFLASH_ERR_NOT_READY,
				"every board was flashed, but Klipper is in state '%s'%s%s",
				kflash_klipper_state_name(u->klipper_state),
				u->klipper_message ? ": " : "",
				u->klipper_message ? u->klipper_message : "");
	}
}

static int
run(struct kflash_update *u)
{
	int r;

	r = kf_update_resolve(u);
	if (r < 0)
		return r;
	kf_update_discover(u);
	r = kf_update_order(u);
	if (r < 0)
		return r;
	kf_update_check_configs(u);
	if (u->flags & KFLASH_UPDATE_DRY_RUN) {
		for (size_t i = 0; i < u->count; i++)
			if (u->boards[i].go)
				u->boards[i].result = KFLASH_RESULT_PLANNED;
		return kf_update_first_failure(u);
	}
	kf_update_build_all(u);
	r = kf_check_cancel(u->ctx);
	if (r < 0)
		return r;
	kf_update_mark_current(u);
	if (kf_update_ready_count(u) == 0 || kf_update_stop_early(u)) {
		r = kf_update_first_failure(u);
		if (r < 0)
			kf_warn(u->ctx, "no board is ready to flash: Klipper is left running");
		else
			kf_info(u->ctx, "every board runs its current firmware already: Klipper is "
					"left running");
		return r;
	}
	r = kflash_klippy_check_idle(u->ctx, (u->flags & KFLASH_UPDATE_FORCE) != 0, &u->gate);
	if (r < 0)
		return r;
	r = kf_update_service_window(u);
	if (kflash_context_is_cancelled(u->ctx))
		return KFLASH_ERR_CANCELLED;
	if (kf_update_first_failure(u))
		return kf_update_first_failure(u);
	return r < 0 ? r : outcome(u);
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
	if (r == KFLASH_ERR_LOCKED) {
		_cleanup_free_ char *detail = kf_strdup(kflash_context_last_error(u->ctx));

		return kf_error(u->ctx, KFLASH_ERR_LOCKED,
				"another update is running: %s; wait for it to finish",
				detail ? detail : "its lock is held");
	}
	if (r < 0)
		return r;
	return run(u);
}
