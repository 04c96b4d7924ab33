/* SPDX-License-Identifier: MIT */
/*
 * CAN boards through the CLI: found by scan, added without a serial path,
 * listed, and flashed with the USB boards inside the same one stop of
 * flash --all, over a simulated bus (the socket-dir contract).
 */
#include <stdio.h>
#include <string.h>

#include "flash-fixture.h"

#define EBB_UUID "aabbccddeeff"
#define SB_UUID "0102030405a6"

static struct json_object *
node_of(struct json_object *devices, const char *uuid)
{
	for (size_t i = 0; i < json_object_array_length(devices); i++) {
		struct json_object *d = json_object_array_get_idx(devices, i), *u;

		if (json_object_object_get_ex(d, "can_uuid", &u) && u &&
		    strcmp(json_object_get_string(u), uuid) == 0)
			return d;
	}
	ck_abort_msg("no CAN node %s in %s", uuid, json_object_to_json_string(devices));
	return NULL;
}

START_TEST(scan_lists_can_nodes_when_klipper_is_stopped)
{
	struct kf_cli_result r;
	struct json_object *doc, *n;
	char state[4400];

	fx_setup();
	fx_can_bus();
	fx.sims[0] = kf_sim_startl(NULL, "--mode", "can", "--can-dir", fx.can, "--can-uuid",
				   EBB_UUID, "--mcu", "stm32f446xx");
	fx.sims[1] = kf_sim_startl(NULL, "--mode", "can", "--can-dir", fx.can, "--can-uuid",
				   SB_UUID, "--mcu", "stm32f446xx", "--can-start", "katapult");
	fx_cli_ok(fx.env,
		  (const char *const[]){ "add", "ebb", "--can-interface", "can0", "--can-uuid",
					 EBB_UUID, "--mcu", "stm32f446xx", "-q", NULL });

	/* Klipper runs: its nodes have ids, so the bus is left alone. */
	r = kf_cli(fx.env, "scan", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "CAN interfaces were not queried, since Klipper runs"));
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "can rx admin QUERY_UNASSIGNED"), 0);
	kf_cli_result_free(&r);

	/* Stopped: every node without an id answers, each with its board or an add line. */
	snprintf(state, sizeof(state), "%s/state/klipper", fx.dir);
	kf_test_write_file(state, "inactive\n");
	r = kf_cli(fx.env, "scan", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "querying can0: only nodes without an id answer"));
	doc = kf_cli_json(&r);
	n = node_of(fx_member(doc, "devices"), EBB_UUID);
	ck_assert_str_eq(json_object_get_string(fx_member(n, "mode")), "can-node");
	ck_assert_str_eq(json_object_get_string(fx_member(n, "application")), "klipper");
	ck_assert_str_eq(json_object_get_string(fx_member(n, "can_interface")), "can0");
	ck_assert_str_eq(json_object_get_string(fx_member(n, "board")), "ebb");
	ck_assert_ptr_null(fx_member(n, "suggested_add"));
	n = node_of(fx_member(doc, "devices"), SB_UUID);
	ck_assert_str_eq(json_object_get_string(fx_member(n, "application")), "katapult");
	ck_assert_ptr_null(fx_member(n, "board"));
	ck_assert_str_eq(json_object_get_string(fx_member(n, "suggested_add")),
			 "kflash add toolhead --can-interface can0 --can-uuid " SB_UUID
			 " --mcu MCU");
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* Asked for an interface: queried even while Klipper runs. */
	kf_test_write_file(state, "active\n");
	fx_wait_klippy();
	r = kf_cli(fx.env, "scan", "--can-interface", "can0", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "can-node can0 " SB_UUID " (katapult)"));
	ck_assert_ptr_nonnull(strstr(r.out, "add it: kflash add toolhead --can-interface can0"));
	kf_cli_result_free(&r);
	/* An interface that is not there is a warning, not a failure. */
	r = kf_cli(fx.env, "scan", "--can-interface", "can9", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "there is no CAN interface can9"));
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

START_TEST(list_shows_a_can_node)
{
	struct kf_cli_result r;
	struct json_object *doc, *conn;

	fx_setup();
	fx_cli_ok(fx.env, (const char *const[]){ "add", "ebb", "--can-uuid", EBB_UUID, "--mcu",
						 "stm32f446xx", "-q", NULL });
	r = kf_cli(fx.env, "list", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "CAN node"));
	ck_assert_ptr_nonnull(strstr(r.out, "can0 " EBB_UUID));
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "show", "ebb", "--json", NULL);
	doc = kf_cli_json(&r);
	conn = fx_member(doc, "connection");
	ck_assert_str_eq(json_object_get_string(fx_member(conn, "state")), "unknown");
	json_object_put(doc);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

/* A USB board and two CAN toolheads: one stop, one start, every image verified. */
START_TEST(flash_all_with_can_toolheads)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards;

	fx_setup();
	fx_can_bus();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_can_node(1, "ebb", EBB_UUID, NULL);
	fx_can_node(2, "sb2209", SB_UUID, NULL);
	r = kf_cli(fx.env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = fx_member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 3);
	for (size_t i = 0; i < 3; i++) {
		struct json_object *b = json_object_array_get_idx(boards, i);

		ck_assert_str_eq(json_object_get_string(fx_member(b, "result")), "flashed");
		ck_assert_str_eq(json_object_get_string(fx_member(b, "method")), "katapult");
		ck_assert(json_object_get_boolean(fx_member(b, "came_back")));
	}
	json_object_put(doc);
	ck_assert_ptr_nonnull(
		strstr(r.err, "[Flash] ebb: asking node " EBB_UUID " on can0 to enter Katapult"));
	ck_assert_ptr_nonnull(strstr(r.err, "[Discovery] sb2209: CAN node " SB_UUID " on can0"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(kf_sim_log_count(fx.sims[i], "rx COMPLETE"), 1);
		ck_assert(kf_sim_log_wait(fx.sims[i], "boot klipper"));
	}
	/* The CAN boards answered GET_CANBUS_ID; the USB board was not asked. */
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "tx ACK GET_CANBUS_ID"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx GET_CANBUS_ID"), 0);
	fx_teardown();
}
END_TEST

/* A node without Katapult: a clear error, the others flashed, Klipper started. */
START_TEST(flash_a_can_node_without_katapult)
{
	struct kf_cli_result r;

	fx_setup();
	fx_can_bus();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_can_node(1, "ebb", EBB_UUID, (const char *const[]){ "--fault", "no-katapult", NULL });
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed"));
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              failed"));
	ck_assert_ptr_nonnull(strstr(r.out, "did not answer on can0 in Katapult"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, started again"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

/* The bus goes BUS-OFF in the middle of a transfer: no COMPLETE, a clear error. */
START_TEST(flash_a_can_node_when_the_bus_fails)
{
	struct kf_cli_result r;

	fx_setup();
	fx_can_bus();
	fx_can_node(0, "ebb", EBB_UUID, (const char *const[]){ "--fault", "bus-off", NULL });
	r = kf_cli(fx.env, "flash", "ebb", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_IO);
	ck_assert_ptr_nonnull(strstr(r.out, "can0 went BUS-OFF"));
	ck_assert_ptr_nonnull(strstr(r.out, "the board stays in Katapult"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 1);
	fx_teardown();
}
END_TEST

/* A CAN node cannot be flashed by make flash. */
START_TEST(flash_a_can_node_with_make_is_refused)
{
	struct kf_cli_result r;

	fx_setup();
	fx_can_bus();
	fx_can_node(0, "ebb", EBB_UUID, NULL);
	r = kf_cli(fx.env, "flash", "ebb", "--method", "make", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	ck_assert_ptr_nonnull(
		strstr(r.out, "board ebb is a CAN node, which only Katapult can flash"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "request-bootloader"), 0);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_can)
{
	kf_test_add_timeout(scan_lists_can_nodes_when_klipper_is_stopped, 60);
	kf_test_add(list_shows_a_can_node);
	kf_test_add_timeout(flash_all_with_can_toolheads, 90);
	kf_test_add_timeout(flash_a_can_node_without_katapult, 90);
	kf_test_add_timeout(flash_a_can_node_when_the_bus_fails, 90);
	kf_test_add_timeout(flash_a_can_node_with_make_is_refused, 60);
}
