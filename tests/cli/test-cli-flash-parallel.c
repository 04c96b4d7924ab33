/* SPDX-License-Identifier: MIT */
/*
 * Boards on independent links are flashed at the same time inside the one
 * stop (and built at the same time before it), and every safety rule still
 * holds: one stop, one start, each
 * result attributed and recorded, no COMPLETE on a board that failed, and
 * --jobs 1 is one board after the other.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flash-fixture.h"

/* Where @needle is in @haystack; the test fails when it is not there. */
static const char *
at(const char *haystack, const char *needle)
{
	const char *p = strstr(haystack, needle);

	ck_assert_msg(p != NULL, "'%s' is not in:\n%s", needle, haystack);
	return p;
}

/* Two USB boards and a UART board, each slow enough that their flashes overlap. */
static void
three_slow_boards(const char *const *octopus_extra)
{
	const char *octopus[8] = { "--rate", "20000" };
	static const char *const slow[] = { "--rate", "20000", NULL };
	size_t n = 2;

	for (; octopus_extra && *octopus_extra; octopus_extra++)
		octopus[n++] = *octopus_extra;
	octopus[n] = NULL;
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", octopus);
	fx_board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", slow);
	fx_uart_board(2, "mmu");
}

START_TEST(independent_boards_are_flashed_at_once)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards;
	const char *first_done;

	fx_setup();
	three_slow_boards(NULL);
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(json_object_get_string(
					 fx_member(json_object_array_get_idx(boards, i), "result")),
				 "flashed");
	json_object_put(doc);
	/* Built at once too, when there is more than one CPU for a job server to share. */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		at(r.err, "boards at once, sharing");
	at(r.err, "flashing 3 links at once");
	/* Every board began before the first one was done. */
	first_done = at(r.err, "flashed with katapult in");
	ck_assert(at(r.err, "[Flash] octopus: asking the board") < first_done);
	ck_assert(at(r.err, "[Flash] ebb: asking the board") < first_done);
	ck_assert(at(r.err, "[Flash] mmu: asking the board") < first_done);
	/* Each board's events carry its own name. */
	at(r.err, "[Flash] octopus: verified ");
	at(r.err, "[Flash] ebb: verified ");
	at(r.err, "[Flash] mmu: verified ");
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	ck_assert(fx_last_line("systemctl stop klipper") <
		  fx_first_line("systemctl start klipper"));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(kf_sim_log_count(fx.sims[i], "rx COMPLETE"), 1);

	/* Each flash was recorded. */
	r = kf_cli(fx.env, "list", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(strstr(r.out, " never ") == NULL, 1);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

START_TEST(jobs_one_flashes_one_board_after_the_other)
{
	struct kf_cli_result r;
	const char *octopus_done;

	fx_setup();
	three_slow_boards(NULL);
	r = kf_cli(fx.env, "flash", "--all", "--jobs", "1", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_null(strstr(r.err, "links at once"));
	ck_assert_ptr_null(strstr(r.err, "boards at once"));
	octopus_done = at(r.err, "[Flash] octopus: flashed with katapult in");
	ck_assert(octopus_done < at(r.err, "[Flash] ebb: asking the board"));
	ck_assert(at(r.err, "[Flash] ebb: flashed with katapult in") <
		  at(r.err, "[Flash] mmu: asking the board"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);

	r = kf_cli(fx.env, "flash", "--all", "--jobs", "0", NULL);
	ck_assert_int_eq(r.status, 64);
	at(r.err, "--jobs takes a number of boards, 1 to 64");
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

/* One board fails while the others flash: they are done, it gets no COMPLETE. */
START_TEST(a_failure_in_one_lane_leaves_the_others)
{
	static const char *const wrong[] = { "--fault", "wrong-mcu", NULL };
	struct kf_cli_result r;

	fx_setup();
	three_slow_boards(wrong);
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	at(r.out, "octopus          failed");
	at(r.out, "ebb              flashed");
	at(r.out, "mmu              flashed");
	at(r.out, "Klipper: stopped, started again");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx SEND_BLOCK"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

/*
 * Fail-fast in parallel: no board starts after a failure. Two workers for
 * three lanes: the one that had the failing octopus does not take mmu's
 * lane; ebb, already being flashed, is finished.
 */
START_TEST(fail_fast_starts_no_board_after_a_failure)
{
	static const char *const wrong[] = { "--fault", "wrong-mcu", NULL };
	struct kf_cli_result r;

	fx_setup();
	three_slow_boards(wrong);
	r = kf_cli(fx.env, "flash", "--all", "--fail-fast", "--jobs", "2", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	at(r.err, "flashing 2 links at once (3 lanes)");
	at(r.out, "octopus          failed");
	at(r.out, "ebb              flashed");
	at(r.out, "mmu              skipped");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[2], "request-string"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash_parallel)
{
	kf_test_add_timeout(independent_boards_are_flashed_at_once, 180);
	kf_test_add_timeout(jobs_one_flashes_one_board_after_the_other, 180);
	kf_test_add_timeout(a_failure_in_one_lane_leaves_the_others, 180);
	kf_test_add_timeout(fail_fast_starts_no_board_after_a_failure, 180);
}
