/* SPDX-License-Identifier: MIT */
/*
 * kflash flash and what may stop Klipper: no stop while its service runs
 * but its API socket is out of reach (a sudo run looks in /root), a
 * firmware given by a relative path, and boards that are current already.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flash-fixture.h"

/*
 * The reproducer: the API socket is not where kflash looks, while the
 * service is active. This once stopped and started Klipper and exited 0,
 * saying "not running": a print could have been stopped.
 */
START_TEST(flash_refused_when_the_socket_of_a_running_klipper_is_missing)
{
	const char *const *e;
	struct kf_cli_result r;
	struct json_object *doc, *klipper;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	e = fx_env_with("KFLASH_KLIPPY_SOCKET=/root/printer_data/comms/klippy.sock");
	r = kf_cli_run(e, (const char *const[]){ "flash", "octopus", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "Klipper's service klipper is active, but"));
	ck_assert_ptr_nonnull(strstr(r.err, "/root/printer_data/comms/klippy.sock"));
	ck_assert_ptr_nonnull(strstr(r.err, "hint: give the socket with --klippy-socket PATH"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);

	/* Forced: it goes on, and says it cannot confirm Klipper is ready. */
	r = kf_cli_run(e, (const char *const[]){ "flash", "octopus", "--force", "--json", NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "going on, since the update was forced"));
	doc = kf_cli_json(&r);
	klipper = fx_member(doc, "klipper");
	ck_assert(json_object_get_boolean(fx_member(klipper, "stopped")));
	ck_assert(json_object_get_boolean(fx_member(klipper, "restarted")));
	ck_assert_ptr_null(fx_member(klipper, "state"));
	ck_assert_str_eq(json_object_get_string(fx_member(klipper, "gate")), "forced-unreachable");
	ck_assert_ptr_nonnull(
		strstr(json_object_get_string(fx_member(klipper, "message")), "not confirmed"));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

/* Klipper's service is not running: nothing to stop, nothing to ask, and that is fine. */
START_TEST(flash_with_klipper_not_running)
{
	struct kf_cli_result r;
	char state[4400];

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	snprintf(state, sizeof(state), "%s/state/klipper", fx.dir);
	kf_test_write_file(state, "inactive\n");
	r = kf_cli(fx.env, "flash", "octopus", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "Klipper is not running: its service klipper is "
					    "inactive"));
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed"));
	ck_assert_ptr_nonnull(strstr(r.out, "not-running"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	fx_teardown();
}
END_TEST

/*
 * The reproducer: `cd <build dir> && kflash flash octopus --firmware
 * klipper.bin` flashed the board, then died keeping the firmware (a path
 * without a slash), before the flash was recorded.
 */
START_TEST(flash_a_firmware_given_by_a_relative_path)
{
	struct kf_cli_opts opts = { 0 };
	struct kf_cli_result r;
	char build[4400], kept[4400];
	struct json_object *doc, *lf;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_cli_ok(fx.env, (const char *const[]){ "build", "octopus", "-q", NULL });
	snprintf(build, sizeof(build), "%s/cache/build/octopus", fx.dir);
	opts.cwd = build;
	r = kf_cli_run_opts(
		&opts, fx.env,
		(const char *const[]){ "flash", "octopus", "--firmware", "klipper.bin", NULL });
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   katapult  given"));
	ck_assert_ptr_null(strstr(r.err, "not kept"));
	kf_cli_result_free(&r);

	/* Recorded, and kept with its dictionary, to flash again later. */
	r = kf_cli(fx.env, "show", "octopus", "--json", NULL);
	doc = kf_cli_json(&r);
	lf = fx_member(doc, "last_flash");
	ck_assert_str_eq(json_object_get_string(fx_member(lf, "result")), "success");
	json_object_put(doc);
	kf_cli_result_free(&r);
	snprintf(kept, sizeof(kept), "%s/cache/boards/octopus/firmware/klipper.bin", fx.dir);
	ck_assert_int_eq(access(kept, R_OK), 0);
	snprintf(kept, sizeof(kept), "%s/cache/boards/octopus/firmware/klipper.dict", fx.dir);
	ck_assert_int_eq(access(kept, R_OK), 0);
	fx_teardown();
}
END_TEST

/* When every board runs its build already, Klipper is not stopped at all. */
START_TEST(flash_all_current_boards_stops_nothing)
{
	struct kf_cli_result r;
	struct json_object *doc, *b;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_cli_ok(fx.env, (const char *const[]){ "flash", "--all", "-q", NULL });
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "every board runs its current firmware already"));
	doc = kf_cli_json(&r);
	b = json_object_array_get_idx(fx_member(doc, "boards"), 0);
	ck_assert_str_eq(json_object_get_string(fx_member(b, "result")), "current");
	ck_assert_ptr_null(fx_member(b, "method"));
	ck_assert(!json_object_get_boolean(fx_member(fx_member(doc, "klipper"), "stopped")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash_gate)
{
	kf_test_add_timeout(flash_refused_when_the_socket_of_a_running_klipper_is_missing, 60);
	kf_test_add_timeout(flash_with_klipper_not_running, 60);
	kf_test_add_timeout(flash_a_firmware_given_by_a_relative_path, 60);
	kf_test_add_timeout(flash_all_current_boards_stops_nothing, 60);
}
