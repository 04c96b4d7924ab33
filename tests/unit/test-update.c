/* SPDX-License-Identifier: MIT */
/* The update's own errors: misuse, the run lock, nothing to flash. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/fs.h"
#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static struct kflash_context *ctx;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

START_TEST(update_result_names)
{
	ck_assert_str_eq(kflash_board_result_name(KFLASH_RESULT_FLASHED), "flashed");
	ck_assert_str_eq(kflash_board_result_name(KFLASH_RESULT_FAILED), "failed");
	ck_assert_str_eq(kflash_board_result_name(KFLASH_RESULT_PLANNED), "planned");
	ck_assert_str_eq(kflash_board_result_name(KFLASH_RESULT_SKIPPED), "skipped");
	ck_assert_str_eq(kflash_board_result_name((enum kflash_board_result)77), "skipped");
}
END_TEST

START_TEST(update_misuse)
{
	struct kflash_update *u;

	setup();
	kf_assert_error(ctx, kflash_update_new(ctx, NULL), KFLASH_ERR_INVALID, "no place");
	ck_assert_int_eq(kflash_update_new(ctx, &u), 0);
	kf_assert_error(ctx, kflash_update_add_board(u, "../x"), KFLASH_ERR_INVALID,
			"'../x' is not a board name");
	kf_assert_error(ctx, kflash_update_set_firmware(u, "octopus", NULL), KFLASH_ERR_INVALID,
			"no firmware file");
	kf_assert_error(ctx, kflash_update_set_method(u, (enum kflash_method)9), KFLASH_ERR_INVALID,
			"unknown flash method 9");
	ck_assert_int_eq(kflash_update_add_board(u, "octopus"), 0);
	ck_assert_int_eq(kflash_update_add_board(u, "octopus"), 0);
	ck_assert_uint_eq(kflash_update_get_board_count(u), 1);
	/* Not registered: the run says so, before anything else. */
	kf_assert_error(ctx, kflash_update_run(u), KFLASH_ERR_NOT_FOUND,
			"no board named octopus is registered");
	kf_assert_error(ctx, kflash_update_run(u), KFLASH_ERR_BUSY, "has run already");
	kf_assert_error(ctx, kflash_update_add_board(u, "ebb"), KFLASH_ERR_BUSY, "has run already");
	kf_assert_error(ctx, kflash_update_add_all_boards(u), KFLASH_ERR_BUSY, "has run already");
	ck_assert_ptr_eq(kflash_update_ref(u), u);
	kflash_update_unref(u);
	ck_assert_ptr_null(kflash_update_unref(u));
	ck_assert_ptr_null(kflash_update_unref(NULL));
	ck_assert_int_eq(kflash_update_run(NULL), KFLASH_ERR_INVALID);
	ck_assert_ptr_null(kflash_update_get_board_name(NULL, 0));
	teardown();
}
END_TEST

START_TEST(update_with_no_boards)
{
	struct kflash_update *u;

	setup();
	ck_assert_int_eq(kflash_update_new(ctx, &u), 0);
	ck_assert_int_eq(kflash_update_add_all_boards(u), 0);
	kf_assert_error(ctx, kflash_update_run(u), KFLASH_ERR_NOT_FOUND,
			"there are no boards to flash: no board is registered");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_ADD_BOARD);
	ck_assert_int_eq(kflash_update_get_klipper_stopped(u), 0);
	kflash_update_unref(u);
	teardown();
}
END_TEST

START_TEST(update_one_run_at_a_time)
{
	struct kflash_update *u;
	char lock[4300];
	int release;
	pid_t holder;

	setup();
	snprintf(lock, sizeof(lock), "%s/config", dir);
	ck_assert_int_eq(kf_fs_mkdir_p(ctx, lock, 0700), 0);
	snprintf(lock, sizeof(lock), "%s/config/kflash.lock", dir);
	holder = kf_test_hold_lock(lock, KF_LOCK_EXCLUSIVE, &release);
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_LOCK, 200);
	ck_assert_int_eq(kflash_update_new(ctx, &u), 0);
	ck_assert_int_eq(kflash_update_add_all_boards(u), 0);
	kf_assert_error(ctx, kflash_update_run(u), KFLASH_ERR_LOCKED,
			"another update is running: ");
	/* Said once, with the holder: no "wait" twice. */
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "is held by process"));
	ck_assert_ptr_null(strstr(strstr(kflash_context_last_error(ctx), "wait") + 1, "wait"));
	ck_assert(kf_test_events_contain(ctx, "waiting up to 0.2 s for"));
	kflash_update_unref(u);
	close(release);
	ck_assert_int_eq(waitpid(holder, NULL, 0), holder);

	/* A dry run takes no run lock: it changes nothing. */
	holder = kf_test_hold_lock(lock, KF_LOCK_EXCLUSIVE, &release);
	ck_assert_int_eq(kflash_update_new(ctx, &u), 0);
	ck_assert_int_eq(kflash_update_add_all_boards(u), 0);
	kflash_update_set_flags(u, KFLASH_UPDATE_DRY_RUN);
	kf_assert_error(ctx, kflash_update_run(u), KFLASH_ERR_NOT_FOUND, "no boards to flash");
	kflash_update_unref(u);
	close(release);
	ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
	teardown();
}
END_TEST

KF_TEST_SUITE(update)
{
	kf_test_add(update_result_names);
	kf_test_add(update_misuse);
	kf_test_add(update_with_no_boards);
	kf_test_add_timeout(update_one_run_at_a_time, 30);
}
