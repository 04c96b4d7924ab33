/* SPDX-License-Identifier: MIT */
/*
 * kflash flash, one board at a time, by each path: a firmware file, the
 * fallback to make flash, Katapult only, the checks before the first
 * block, line faults, UART, a board already in Katapult, the SD card,
 * make flash and the host MCU.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flash-fixture.h"

START_TEST(flash_a_firmware_file)
{
	char bin[4400], dict[4400], image[2048];
	struct kf_cli_result r;
	char *got;
	FILE *f;
	size_t n;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	snprintf(bin, sizeof(bin), "%s/mine/klipper.bin", fx.dir);
	snprintf(dict, sizeof(dict), "%s/mine/klipper.dict", fx.dir);
	snprintf(image, sizeof(image), "mkdir -p '%s/mine'", fx.dir);
	ck_assert_int_eq(system(image), 0);
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (char)(i * 17 + 3);
	f = fopen(bin, "wb");
	fwrite(image, 1, sizeof(image), f);
	fclose(f);
	/* A firmware built for another MCU is refused before anything stops. */
	kf_test_write_file(dict, "{\"version\": \"v0.12.0-1-gfeed\", \"config\": "
				 "{\"MCU\": \"rp2040\"}}");
	r = fx_flash_one((const char *const[]){ "--firmware", bin, NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	ck_assert_ptr_nonnull(strstr(r.err, "stm32f446xx"));
	ck_assert_ptr_nonnull(strstr(r.err, "rp2040"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);

	kf_test_write_file(dict, "{\"version\": \"v0.12.0-1-gfeed\", \"config\": "
				 "{\"MCU\": \"stm32f446xx\"}}");
	r = fx_flash_one((const char *const[]){ "--firmware", bin, NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "given"));
	ck_assert_ptr_nonnull(strstr(r.out, "v0.12.0-1-gfeed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("make"), 0);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	ck_assert(kf_sim_log_wait(fx.sims[0], "boot klipper"));
	kf_sim_end(fx.sims[0]);
	got = kf_test_read_file(fx.sims[0]->image);
	ck_assert_ptr_nonnull(got);
	f = fopen(fx.sims[0]->image, "rb");
	n = fread(image, 1, sizeof(image), f);
	fclose(f);
	ck_assert_uint_eq(n, sizeof(image));
	for (size_t i = 0; i < sizeof(image); i++)
		ck_assert_int_eq(image[i], (char)(i * 17 + 3));
	free(got);
	fx_teardown();
}
END_TEST

START_TEST(flash_falls_back_to_make_when_dfu_comes_back)
{
	static const char *const dfu[] = { "--fault", "dfu", NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", dfu);
	r = fx_flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   make"));
	ck_assert_ptr_nonnull(strstr(r.err, "came back as the STM32 ROM DFU bootloader"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("make flash KCONFIG_CONFIG="), 1);
	ck_assert_int_ne(fx_first_line("make flash"), -1);
	{
		char *text = kf_test_read_file(fx.calls);

		ck_assert_ptr_nonnull(strstr(text, "FLASH_DEVICE=0483:df11"));
		free(text);
	}
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_katapult_only_fails_on_dfu)
{
	static const char *const dfu[] = { "--fault", "dfu", NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", dfu);
	r = fx_flash_one((const char *const[]){ "--method", "katapult", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	ck_assert_ptr_nonnull(
		strstr(r.out, "came back as the STM32 ROM DFU bootloader (0483:df11)"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("make flash"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	r = fx_flash_one((const char *const[]){ "--method", "jtag", NULL });
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

static const struct {
	const char *fault;
	int status;
	const char *needle;
} refusals[] = {
	{ "wrong-mcu=stm32f103xe", -KFLASH_ERR_MCU_MISMATCH,
	  "reports a stm32f103xe, but the board is registered as a stm32f446xx" },
	{ "wrong-start=0x8002000", -KFLASH_ERR_FLASH,
	  "starts the application at 0x08002000, but its config" },
};

START_TEST(flash_refuses_before_the_first_block)
{
	const char *const fault[] = { "--fault", refusals[_i].fault, NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", fault);
	r = fx_flash_one(NULL);
	ck_assert_int_eq(r.status, refusals[_i].status);
	ck_assert_msg(strstr(r.out, refusals[_i].needle), "%s", r.out);
	kf_cli_result_free(&r);
	/* Nothing written, nothing booted, and Klipper started again. */
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx SEND_BLOCK"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_recovers_from_line_faults)
{
	static const char *const faults[] = { "--fault", "crc",
					      "--fault", "busy:SEND_BLOCK#3",
					      "--fault", "drop:REQUEST_BLOCK#2",
					      NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", faults);
	r = fx_flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "fault "), 3);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_a_uart_board)
{
	struct kf_cli_result r;

	fx_setup();
	fx_uart_board(0, "toolhead");
	r = kf_cli(fx.env, "flash", "toolhead", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "request string at 250000 baud"));
	ck_assert_ptr_nonnull(strstr(r.out, "toolhead         flashed   katapult"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-string"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "baud-mismatch"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_fail_fast_stops_before_the_stop)
{
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	/* octopus loses its config: it fails at the config check. */
	{
		char path[4400];

		snprintf(path, sizeof(path), "%s/config/configs/octopus.config", fx.dir);
		ck_assert_int_eq(unlink(path), 0);
	}
	r = kf_cli(fx.env, "flash", "--all", "--fail-fast", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          failed"));
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              skipped"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);

	/* Without --fail-fast, the other board is flashed. */
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              flashed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_a_board_already_in_katapult)
{
	const char *args[] = { "--mode",   "katapult", "--mcu", "stm32f446xx",
			       "--serial", OCTOPUS,    NULL };
	char by_id[4400], from[4400];
	struct kf_cli_result r;

	fx_setup();
	fx.sims[0] = kf_sim_start(fx.dev, args);
	snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-katapult_stm32f446xx_%s-if00", fx.dev,
		 OCTOPUS);
	fx_cli_ok(fx.env, (const char *const[]){ "add", "octopus", "--serial", by_id, "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/stm32f446_usb.config",
		 kf_test_fixtures_dir());
	fx_cli_ok(fx.env, (const char *const[]){ "config", "octopus", "--from", from, "-q", NULL });
	/* The seed tool's spelling: kflash --device NAME. */
	r = kf_cli(fx.env, "--device", "octopus", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "found in katapult mode"));
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   katapult"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "touch 1200"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	fx_teardown();
}
END_TEST

START_TEST(flash_through_the_sd_card)
{
	struct kf_cli_result r;
	char *text;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_cli_ok(fx.env, (const char *const[]){ "remove", "octopus", "-q", NULL });
	{
		char by_id[4400];

		snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-Klipper_stm32f446xx_%s-if00",
			 fx.dev, OCTOPUS);
		fx_cli_ok(fx.env, (const char *const[]){ "add", "octopus", "--serial", by_id,
							 "--method", "sdcard", "--sdcard-board",
							 "btt-octopus", "-q", NULL });
	}
	r = fx_flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   sdcard"));
	kf_cli_result_free(&r);
	text = kf_test_read_file(fx.calls);
	ck_assert_ptr_nonnull(strstr(text, "flash-sdcard.sh -f "));
	ck_assert_ptr_nonnull(strstr(text, "/build/octopus/klipper.dict "));
	ck_assert_ptr_nonnull(strstr(text, " btt-octopus"));
	free(text);
	fx_teardown();
}
END_TEST

START_TEST(flash_by_make_flash)
{
	char want[4400];
	struct kf_cli_result r;
	char *text;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	r = fx_flash_one((const char *const[]){ "--method", "make", NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   make"));
	kf_cli_result_free(&r);
	/* Klipper's own make flash, on the board's by-id path; no Katapult at all. */
	text = kf_test_read_file(fx.calls);
	snprintf(want, sizeof(want),
		 "FLASH_DEVICE=%s/serial/by-id/usb-Klipper_stm32f446xx_%s-if00\n", fx.dev, OCTOPUS);
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
	free(text);
	ck_assert_int_eq(fx_count("make flash KCONFIG_CONFIG="), 1);
	ck_assert_int_gt(fx_first_line("make flash"), fx_first_line("systemctl stop klipper"));
	ck_assert_int_lt(fx_first_line("make flash"), fx_first_line("systemctl start klipper"));
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);

	/* A failing make flash: the flash fails with make's last lines, klipper starts again. */
	r = kf_cli_run(
		fx_env_with("KF_FAKE_FLASH_FAIL=1"),
		(const char *const[]){ "flash", "octopus", "--method", "make", "--reflash", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_FLASH);
	ck_assert_ptr_nonnull(strstr(r.err, "make flash failed"));
	ck_assert_ptr_nonnull(strstr(r.err, "Flashing failed: no device at"));
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          failed    make"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 2);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 2);
	fx_teardown();
}
END_TEST

START_TEST(flash_the_host_mcu)
{
	char from[4400];
	struct kf_cli_result r;
	struct json_object *doc, *b;

	fx_setup();
	/* The host MCU needs no --serial: it has its own pty. */
	r = kf_cli(fx.env, "add", "host", "--mcu", "linux", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "/tmp/klipper_host_mcu"));
	ck_assert_ptr_nonnull(strstr(r.err, "klipper-mcu service"));
	kf_cli_result_free(&r);
	snprintf(from, sizeof(from), "%s/klipper-configs/linux.config", kf_test_fixtures_dir());
	fx_cli_ok(fx.env, (const char *const[]){ "config", "host", "--from", from, "-q", NULL });

	r = kf_cli(fx.env, "flash", "host", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	b = json_object_array_get_idx(fx_member(doc, "boards"), 0);
	ck_assert_str_eq(json_object_get_string(fx_member(b, "result")), "flashed");
	ck_assert_str_eq(json_object_get_string(fx_member(b, "method")), "make");
	json_object_put(doc);
	kf_cli_result_free(&r);
	/* make flash installs it, with no device, while both services are stopped. */
	ck_assert_int_eq(fx_count("make flash KCONFIG_CONFIG="), 1);
	{
		char *text = kf_test_read_file(fx.calls);

		ck_assert_ptr_null(strstr(text, "FLASH_DEVICE="));
		free(text);
	}
	ck_assert_int_eq(fx_count("systemctl stop klipper-mcu"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper-mcu"), 1);
	ck_assert_int_lt(fx_first_line("systemctl stop klipper-mcu"), fx_first_line("make flash"));
	ck_assert_int_gt(fx_first_line("systemctl start klipper-mcu"), fx_first_line("make flash"));
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash_paths)
{
	kf_test_add_timeout(flash_a_firmware_file, 120);
	kf_test_add_timeout(flash_falls_back_to_make_when_dfu_comes_back, 120);
	kf_test_add_timeout(flash_katapult_only_fails_on_dfu, 120);
	kf_test_add_loop(flash_refuses_before_the_first_block,
			 (int)(sizeof(refusals) / sizeof(refusals[0])));
	kf_test_add_timeout(flash_recovers_from_line_faults, 120);
	kf_test_add_timeout(flash_a_uart_board, 120);
	kf_test_add_timeout(flash_fail_fast_stops_before_the_stop, 120);
	kf_test_add_timeout(flash_a_board_already_in_katapult, 120);
	kf_test_add_timeout(flash_through_the_sd_card, 120);
	kf_test_add_timeout(flash_by_make_flash, 120);
	kf_test_add_timeout(flash_the_host_mcu, 120);
}
