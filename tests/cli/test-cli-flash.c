/* SPDX-License-Identifier: MIT */
/*
 * kflash flash end to end: several boards with one stop and one start,
 * dry runs, the print gate, a missing board, a start that fails, the
 * confirmation, the terminal selection and usage errors.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flash-fixture.h"

START_TEST(flash_all_three_boards)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards, *klipper;

	fx_setup();
	fx_three_boards();
	fx_start_klippy("standby", "ready", "Printer is ready");
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 3);
	for (size_t i = 0; i < 3; i++) {
		struct json_object *b = json_object_array_get_idx(boards, i);

		ck_assert_str_eq(json_object_get_string(fx_member(b, "result")), "flashed");
		ck_assert_str_eq(json_object_get_string(fx_member(b, "method")), "katapult");
		ck_assert_str_eq(json_object_get_string(fx_member(b, "build")), "built");
		ck_assert_ptr_nonnull(
			strstr(json_object_get_string(fx_member(b, "version")), "v0.12.0"));
		ck_assert(json_object_get_double(fx_member(b, "seconds")) > 0);
	}
	klipper = fx_member(doc, "klipper");
	ck_assert(json_object_get_boolean(fx_member(klipper, "stopped")));
	ck_assert(json_object_get_boolean(fx_member(klipper, "restarted")));
	ck_assert_str_eq(json_object_get_string(fx_member(klipper, "state")), "ready");
	json_object_put(doc);

	/* One stop, one start, and every build before the stop. */
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	ck_assert_int_eq(fx_count("make build"), 3);
	ck_assert_int_lt(fx_last_line("make build"), fx_first_line("systemctl stop"));
	ck_assert_int_gt(fx_first_line("systemctl start"), fx_first_line("systemctl stop"));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(kf_sim_log_count(fx.sims[i], "rx COMPLETE"), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "[Flash] octopus: writing"));
	kf_cli_result_free(&r);

	/* The registry remembers; the second run does not rebuild. */
	r = kf_cli(fx.env, "list", "--json", NULL);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_object_get_string(fx_member(
				 fx_member(json_object_array_get_idx(fx_member(doc, "boards"), 0),
					   "last_flash"),
				 "result")),
			 "success");
	json_object_put(doc);
	kf_cli_result_free(&r);
	/* Nothing changed: the board runs this very firmware, and Klipper is not stopped. */
	r = kf_cli(fx.env, "flash", "octopus", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          current   -         up-to-date"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped, left as it was"));
	ck_assert_ptr_nonnull(strstr(r.err, "its last flash was this very firmware"));
	ck_assert_int_eq(fx_count("make build"), 3);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	kf_cli_result_free(&r);
	/* Unless asked to. */
	r = kf_cli(fx.env, "flash", "octopus", "--reflash", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   katapult  up-to-date"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, started again"));
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 2);
	kf_cli_result_free(&r);

	/* Each flashed firmware is kept, outside build/, to flash again. */
	{
		char kept[4400];

		snprintf(kept, sizeof(kept), "%s/cache/boards/pico/firmware/klipper.bin", fx.dir);
		ck_assert_int_eq(access(kept, F_OK), 0);
		snprintf(kept, sizeof(kept), "%s/cache/boards/pico/firmware/klipper.dict", fx.dir);
		ck_assert_int_eq(access(kept, F_OK), 0);
	}
	/* --no-build flashes the last build as it is. */
	r = kf_cli(fx.env, "flash", "ebb", "--no-build", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_str_eq(
		json_object_get_string(fx_member(json_object_array_get_idx(boards, 0), "build")),
		"last-build");
	ck_assert(json_object_get_boolean(
		fx_member(json_object_array_get_idx(boards, 0), "came_back")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("make build"), 3);
	fx_teardown();
}
END_TEST

START_TEST(flash_asks_which_boards_on_a_terminal)
{
	static const char *const argv[] = { "flash", NULL };
	static const char *const script[] = { "Boards:", "2 9\n", NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	r = kf_cli_pty(fx.env, argv, script);
	ck_assert_msg(r.status == 0, "status %d:\n%s", r.status, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "1) octopus"));
	ck_assert_ptr_nonnull(strstr(r.out, "connected"));
	ck_assert_ptr_nonnull(strstr(r.out, "'9' is not a number from the list"));
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              flashed"));
	ck_assert_ptr_null(strstr(r.out, "octopus          flashed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "rx COMPLETE"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_dry_run_touches_nothing)
{
	struct kf_cli_result r;

	fx_setup();
	fx_three_boards();
	r = kf_cli(fx.env, "flash", "--all", "--dry-run", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "planned"));
	ck_assert_ptr_nonnull(strstr(r.out, "Dry run: nothing was built, stopped or flashed."));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("make"), 0);
	ck_assert_int_eq(fx_count("systemctl"), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(kf_sim_log_count(fx.sims[i], "rx "), 0);
	fx_teardown();
}
END_TEST

START_TEST(flash_refused_while_printing)
{
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_start_klippy("printing", "ready", "Printer is ready");
	r = kf_cli(fx.env, "flash", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_PRINTING);
	ck_assert_ptr_nonnull(strstr(r.err, "the printer is printing"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);

	/* --force goes on. */
	r = kf_cli(fx.env, "flash", "octopus", "--force", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_missing_board_fails_alone)
{
	struct kf_cli_result r;
	struct json_object *doc;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_cli_ok(fx.env, (const char *const[]){
				  "add", "gone", "--serial",
				  "/dev/serial/by-id/usb-Klipper_rp2040_0000000000000001-if00",
				  "-q", NULL });
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_object_get_string(fx_member(
				 json_object_array_get_idx(fx_member(doc, "boards"), 0), "result")),
			 "flashed");
	ck_assert_str_eq(json_object_get_string(fx_member(
				 json_object_array_get_idx(fx_member(doc, "boards"), 1), "result")),
			 "failed");
	ck_assert_ptr_nonnull(
		strstr(json_object_get_string(fx_member(
			       json_object_array_get_idx(fx_member(doc, "boards"), 1), "message")),
		       "board gone is not connected"));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_says_when_klipper_does_not_start_again)
{
	struct kf_cli_result r;
	struct json_object *doc, *klipper;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	r = kf_cli_run(fx_env_with("KF_FAKE_FAIL=start klipper"),
		       (const char *const[]){ "flash", "octopus", "--json", NULL });
	/* The board is flashed, but the run fails: the printer is down. */
	ck_assert_int_eq(r.status, -KFLASH_ERR_SERVICE);
	ck_assert_ptr_nonnull(
		strstr(r.err, "start it by hand with 'sudo systemctl start klipper'"));
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_object_get_string(fx_member(
				 json_object_array_get_idx(fx_member(doc, "boards"), 0), "result")),
			 "flashed");
	klipper = fx_member(doc, "klipper");
	ck_assert(json_object_get_boolean(fx_member(klipper, "stopped")));
	ck_assert(!json_object_get_boolean(fx_member(klipper, "restarted")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);

	/* The text summary says it in capitals. */
	r = kf_cli(fx.env, "service", "start", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	fx_wait_klippy();
	r = kf_cli_run(fx_env_with("KF_FAKE_FAIL=start klipper"),
		       (const char *const[]){ "flash", "octopus", "--reflash", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_SERVICE);
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, NOT STARTED AGAIN"));
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

START_TEST(flash_confirmation_not_ready)
{
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_start_klippy("standby", "error",
			"MCU Protocol error: MCU(s) which should be updated: mcu");
	r = kf_cli(fx.env, "flash", "octopus", "--wait-ready", "1", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_READY);
	ck_assert_ptr_nonnull(strstr(r.out, "MCU Protocol error"));
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

START_TEST(flash_usage)
{
	struct kf_cli_result r;

	fx_setup();
	r = kf_cli(fx.env, "flash", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_TTY);
	ck_assert_ptr_nonnull(strstr(r.err, "name the boards to flash"));
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "flash", "x", "--all", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "flash", "--all", "--firmware", "f.bin", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "flash", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "no board named ghost"));
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "--device", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash)
{
	kf_test_add_timeout(flash_all_three_boards, 180);
	kf_test_add_timeout(flash_asks_which_boards_on_a_terminal, 120);
	kf_test_add_timeout(flash_dry_run_touches_nothing, 120);
	kf_test_add_timeout(flash_refused_while_printing, 120);
	kf_test_add_timeout(flash_missing_board_fails_alone, 120);
	kf_test_add_timeout(flash_says_when_klipper_does_not_start_again, 120);
	kf_test_add_timeout(flash_confirmation_not_ready, 120);
	kf_test_add_timeout(flash_usage, 60);
}
