/* SPDX-License-Identifier: MIT */
/*
 * A mainboard that is a USB-to-CAN bridge, through the CLI: found by scan
 * (its interface and the UUID its serial number gives), added, listed, and
 * flashed last in flash --all, after the CAN nodes behind it and with the
 * USB and UART boards, inside one stop; and what happens when it comes back
 * as DFU, never comes back, or a node behind it fails.
 */
#include <stdio.h>
#include <string.h>

#include "flash-fixture.h"

#define EBB_UUID "aabbccddeeff"
#define SB_UUID "0102030405a6"

/* The device of @devices in mode @mode. */
static struct json_object *
device_in_mode(struct json_object *devices, const char *mode)
{
	for (size_t i = 0; i < json_object_array_length(devices); i++) {
		struct json_object *d = json_object_array_get_idx(devices, i);

		if (strcmp(json_object_get_string(fx_member(d, "mode")), mode) == 0)
			return d;
	}
	ck_abort_msg("no %s device in %s", mode, json_object_to_json_string(devices));
	return NULL;
}

/* Where @needle is in @haystack; the test fails when it is not there. */
static const char *
at(const char *haystack, const char *needle)
{
	const char *p = strstr(haystack, needle);

	ck_assert_msg(p != NULL, "'%s' is not in:\n%s", needle, haystack);
	return p;
}

START_TEST(scan_add_and_list_a_bridge)
{
	struct kf_cli_result r;
	struct json_object *doc, *d, *boards;

	fx_setup();
	fx_bridge(0, NULL, NULL);

	r = kf_cli(fx.env, "scan", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	d = device_in_mode(fx_member(doc, "devices"), "can-bridge");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "can_interface")), "can0");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "can_uuid")), BRIDGE_UUID);
	ck_assert_str_eq(json_object_get_string(fx_member(d, "serial_number")), BRIDGE);
	ck_assert_str_eq(json_object_get_string(fx_member(d, "application")), "klipper");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "mcu")), "stm32h723xx");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "suggested_add")),
			 "kflash add mainboard --can-interface can0 --can-uuid " BRIDGE_UUID
			 " --usb-serial " BRIDGE " --mcu stm32h723xx");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(fx.env, "scan", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	at(r.out, "can-bridge ");
	at(r.out,
	   "1d50:606f, stm32h723xx, serial " BRIDGE ", USB port 1.4, can0, CAN UUID " BRIDGE_UUID);
	at(r.out, "add it: kflash add mainboard --can-interface can0");
	at(r.out, "a mainboard running Klipper as a USB-to-CAN bridge");
	kf_cli_result_free(&r);

	/* The line scan gave, as it is: the bridge is claimed, and connected. */
	fx_cli_ok(fx.env, (const char *const[]){ "add", "mainboard", "--can-interface", "can0",
						 "--can-uuid", BRIDGE_UUID, "--usb-serial", BRIDGE,
						 "--mcu", "stm32h723xx", "-q", NULL });
	r = kf_cli(fx.env, "list", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	at(r.out, "connected, can-bridge");
	at(r.out, "can0 " BRIDGE_UUID);
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "scan", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_null(strstr(r.out, "can-bridge "));
	kf_cli_result_free(&r);

	/* Registered by its UUID alone, as printer.cfg names it: still the bridge. */
	fx_cli_ok(fx.env, (const char *const[]){ "remove", "mainboard", "-q", NULL });
	fx_cli_ok(fx.env, (const char *const[]){ "add", "mcu", "--can-uuid", BRIDGE_UUID, "--mcu",
						 "stm32h723xx", "-q", NULL });
	r = kf_cli(fx.env, "list", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	d = fx_member(json_object_array_get_idx(boards, 0), "connection");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "state")), "connected");
	ck_assert_str_eq(json_object_get_string(fx_member(d, "mode")), "can-bridge");
	json_object_put(doc);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

/* A bridge, two CAN toolheads behind it, a USB board and a UART board: the plan. */
static void
printer_with_a_bridge(const char *const *bridge_extra, const char *const *node_extra)
{
	fx_bridge(0, "mainboard", bridge_extra);
	fx_can_node(1, "ebb", EBB_UUID, node_extra);
	fx_can_node(2, "sb2209", SB_UUID, NULL);
	fx_board(3, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_uart_board(4, "mmu");
}

START_TEST(dry_run_shows_the_bridge_last)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards, *last;
	const char *order;

	fx_setup();
	printer_with_a_bridge(NULL, NULL);
	r = kf_cli(fx.env, "flash", "--all", "--dry-run", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	order = at(r.out, "Flash order, inside one stop of Klipper:");
	at(order, "1. ebb              CAN node on can0");
	at(order, "2. sb2209           CAN node on can0");
	at(order, "3. octopus          serial");
	at(order, "4. mmu              serial");
	at(order, "5. mainboard        USB-to-CAN bridge of can0, last");
	kf_cli_result_free(&r);

	r = kf_cli(fx.env, "flash", "--all", "--dry-run", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 5);
	last = json_object_array_get_idx(boards, 4);
	ck_assert_str_eq(json_object_get_string(fx_member(last, "name")), "mainboard");
	ck_assert_str_eq(json_object_get_string(fx_member(last, "link")), "can-bridge");
	ck_assert_str_eq(json_object_get_string(fx_member(last, "can_interface")), "can0");
	ck_assert_str_eq(
		json_object_get_string(fx_member(json_object_array_get_idx(boards, 0), "link")),
		"can");
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-bootloader"), 0);
	fx_teardown();
}
END_TEST

START_TEST(flash_all_with_a_bridge)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards;
	const char *ebb, *sb, *bridge, *back, *started;

	fx_setup();
	printer_with_a_bridge(NULL, NULL);
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 5);
	for (size_t i = 0; i < 5; i++) {
		struct json_object *b = json_object_array_get_idx(boards, i);

		const char *name = json_object_get_string(fx_member(b, "name"));

		ck_assert_str_eq(json_object_get_string(fx_member(b, "result")), "flashed");
		ck_assert_str_eq(json_object_get_string(fx_member(b, "method")), "katapult");
		/* A UART board is not seen coming back: it has no USB identity. */
		ck_assert_msg(json_object_get_boolean(fx_member(b, "came_back")) ==
				      (strcmp(name, "mmu") != 0),
			      "%s came_back", name);
	}
	ck_assert_str_eq(
		json_object_get_string(fx_member(json_object_array_get_idx(boards, 4), "name")),
		"mainboard");
	json_object_put(doc);

	/* The nodes before the bridge; the bridge and its nodes back before the start. */
	ebb = at(r.err, "[Flash] ebb: asking node " EBB_UUID " on can0 to enter Katapult");
	sb = at(r.err, "[Flash] sb2209: asking node " SB_UUID " on can0 to enter Katapult");
	bridge = at(r.err, "[Flash] mainboard: asking bridge mainboard (" BRIDGE_UUID
			   ") to enter Katapult on its own interface can0");
	back = at(r.err, "bridge mainboard is back, with its CAN interface can0");
	started = at(r.err, "[Service] starting klipper");
	ck_assert(ebb < bridge && sb < bridge && bridge < back && back < started);
	kf_cli_result_free(&r);

	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(kf_sim_log_count(fx.sims[i], "rx COMPLETE"), 1);
		ck_assert(kf_sim_log_wait(fx.sims[i], "boot klipper"));
	}
	/* Every image was verified before COMPLETE: read back, block by block. */
	for (int i = 0; i < 5; i++)
		ck_assert_int_gt(kf_sim_log_count(fx.sims[i], "rx REQUEST_BLOCK"), 0);
	/* The bridge went over USB in Katapult and came back as the bridge. */
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-bootloader"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "enumerate katapult"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "enumerate bridge"), 2);
	/* The nodes saw their bus go and come back. */
	ck_assert(kf_sim_log_wait(fx.sims[1], "can bus back"));
	fx_teardown();
}
END_TEST

START_TEST(a_bridge_that_comes_back_as_dfu)
{
	struct kf_cli_result r;

	fx_setup();
	fx_bridge(0, "mainboard", (const char *const[]){ "--fault", "dfu", NULL });
	fx_board(1, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	at(r.out, "octopus          flashed");
	at(r.out, "mainboard        failed");
	at(r.out, "bridge mainboard came back as the STM32 ROM DFU bootloader at ");
	at(r.out, "instead of Katapult: it has no Katapult. Nothing was written");
	at(r.out, "make flash FLASH_DEVICE=0483:df11");
	at(r.out, "Klipper: stopped, started again");
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx "), 0);

	/* It stays there: found in DFU by its serial number, and refused before the stop. */
	r = kf_cli(fx.env, "flash", "mainboard", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	at(r.out, "bridge mainboard is in its ROM bootloader (dfu)");
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

START_TEST(a_bridge_that_never_comes_back)
{
	struct kf_cli_result r;

	fx_setup();
	fx_bridge(0, "mainboard", (const char *const[]){ "--fault", "no-return", NULL });
	r = kf_cli(fx.env, "flash", "mainboard", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_TIMEOUT);
	at(r.out, "mainboard        failed");
	at(r.out, "bridge mainboard was flashed and verified, but has not come back as a "
		  "USB-to-CAN bridge within 10 s: its CAN interface can0");
	at(r.out, "Klipper: stopped, started again");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

/* A node behind the bridge fails: the bridge is held back, unless --keep-going. */
START_TEST(a_failed_node_holds_the_bridge_back)
{
	static const char *const wrong[] = { "--fault", "wrong-mcu", NULL };
	struct kf_cli_result r;

	fx_setup();
	printer_with_a_bridge(NULL, wrong);
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	at(r.out, "ebb              failed");
	at(r.out, "sb2209           flashed");
	at(r.out, "octopus          flashed");
	at(r.out, "mmu              flashed");
	at(r.out, "mainboard        skipped");
	at(r.out, "not flashed: board ebb behind it on can0 failed");
	at(r.out, "hint: flash it anyway with kflash flash mainboard --keep-going");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-bootloader"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);

	r = kf_cli(fx.env, "flash", "ebb", "mainboard", "--keep-going", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	at(r.out, "ebb              failed");
	at(r.out, "mainboard        flashed");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 2);
	fx_teardown();
}
END_TEST

/* make flash and the SD card script are refused for a bridge, before anything stops. */
START_TEST(a_bridge_is_flashed_with_katapult_only)
{
	struct kf_cli_result r;

	fx_setup();
	fx_bridge(0, "mainboard", NULL);
	r = kf_cli(fx.env, "flash", "mainboard", "--method", "make", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	at(r.out,
	   "board mainboard is a USB-to-CAN bridge, which only Katapult can flash (not make)");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-bootloader"), 0);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_bridge)
{
	kf_test_add_timeout(scan_add_and_list_a_bridge, 120);
	kf_test_add_timeout(dry_run_shows_the_bridge_last, 120);
	kf_test_add_timeout(flash_all_with_a_bridge, 180);
	kf_test_add_timeout(a_bridge_that_comes_back_as_dfu, 120);
	kf_test_add_timeout(a_bridge_that_never_comes_back, 120);
	kf_test_add_timeout(a_failed_node_holds_the_bridge_back, 180);
	kf_test_add_timeout(a_bridge_is_flashed_with_katapult_only, 120);
}
