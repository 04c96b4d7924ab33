/* SPDX-License-Identifier: MIT */
/* Board records: names, fields, validation. */
#include <string.h>

#include "kf-test.h"
#include "libkflash-private.h"
#include "registry/board-private.h"

static struct kflash_context *ctx;
static struct kflash_board *board;

static void
setup(void)
{
	ck_assert_int_eq(kflash_context_new(&ctx), 0);
	ck_assert_int_eq(kflash_board_new(ctx, "octopus", &board), 0);
}

static void
teardown(void)
{
	kflash_board_unref(board);
	kflash_context_unref(ctx);
}

static const struct {
	const char *name;
	int valid;
} names[] = {
	{ "octopus", 1 },
	{ "ebb36-v1_2", 1 },
	{ "0", 1 },
	{ "a234567890123456789012345678901b", 1 },
	{ "a2345678901234567890123456789012c", 0 },
	{ "", 0 },
	{ "-x", 0 },
	{ "_x", 0 },
	{ "A b", 0 },
	{ "Octopus", 0 },
	{ "../x", 0 },
	{ "x/y", 0 },
	{ "x y", 0 },
	{ "x.y", 0 },
	{ "é", 0 },
};

START_TEST(board_name_table)
{
	struct kflash_board *b = NULL;
	int r;

	ck_assert_int_eq(kflash_board_name_is_valid(names[_i].name), names[_i].valid);
	r = kflash_board_new(ctx, names[_i].name, &b);
	if (names[_i].valid) {
		ck_assert_int_eq(r, 0);
		ck_assert_str_eq(kflash_board_get_name(b), names[_i].name);
	} else {
		kf_assert_error(ctx, r, KFLASH_ERR_INVALID, "is not a valid board name");
		ck_assert_ptr_null(b);
	}
	kflash_board_unref(b);
}
END_TEST

START_TEST(board_fields_round_trip)
{
	ck_assert_ptr_null(kflash_board_get_mcu(board));
	ck_assert_int_eq(kflash_board_get_method(board), KFLASH_METHOD_AUTO);
	ck_assert_uint_eq(kflash_board_get_baud(board), 0);

	ck_assert_int_eq(kflash_board_set_mcu(board, "stm32f446xx"), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(board, "/dev/ttyAMA0"), 0);
	ck_assert_int_eq(kflash_board_set_method(board, KFLASH_METHOD_SDCARD), 0);
	ck_assert_int_eq(kflash_board_set_sdcard_board(board, "btt-skr-v1.3"), 0);
	ck_assert_int_eq(kflash_board_set_baud(board, 250000), 0);
	ck_assert_int_eq(kflash_board_set_can_interface(board, "can0"), 0);
	ck_assert_int_eq(kflash_board_set_can_uuid(board, "C1980E2023A1"), 0);
	ck_assert_int_eq(kflash_board_set_klipper_mcu(board, "mcu toolhead"), 0);
	ck_assert_int_eq(kflash_board_set_service(board, "klipper-2"), 0);
	ck_assert_int_eq(kflash_board_set_notes(board, "top left\nblue LED"), 0);

	ck_assert_str_eq(kflash_board_get_mcu(board), "stm32f446xx");
	ck_assert_str_eq(kflash_board_get_serial_path(board), "/dev/ttyAMA0");
	ck_assert_ptr_null(kflash_board_get_usb_serial(board));
	ck_assert_int_eq(kflash_board_get_method(board), KFLASH_METHOD_SDCARD);
	ck_assert_str_eq(kflash_board_get_sdcard_board(board), "btt-skr-v1.3");
	ck_assert_uint_eq(kflash_board_get_baud(board), 250000);
	ck_assert_str_eq(kflash_board_get_can_interface(board), "can0");
	ck_assert_str_eq(kflash_board_get_can_uuid(board), "c1980e2023a1");
	ck_assert_str_eq(kflash_board_get_klipper_mcu(board), "mcu toolhead");
	ck_assert_str_eq(kflash_board_get_service(board), "klipper-2");
	ck_assert_str_eq(kflash_board_get_notes(board), "top left\nblue LED");

	/* NULL and "" clear optional fields. */
	ck_assert_int_eq(kflash_board_set_notes(board, NULL), 0);
	ck_assert_int_eq(kflash_board_set_service(board, ""), 0);
	ck_assert_int_eq(kflash_board_set_baud(board, 0), 0);
	ck_assert_ptr_null(kflash_board_get_notes(board));
	ck_assert_ptr_null(kflash_board_get_service(board));
	ck_assert_uint_eq(kflash_board_get_baud(board), 0);
	ck_assert_int_eq(kflash_board_has_last_flash(board), 0);
	ck_assert_int_eq(kflash_board_get_last_flash_time(board), 0);
}
END_TEST

START_TEST(board_serial_from_by_id)
{
	ck_assert_int_eq(
		kflash_board_set_serial_path(
			board,
			"/dev/serial/by-id/usb-Klipper_stm32f446xx_0E002B00135053424E363620-if00"),
		0);
	ck_assert_str_eq(kflash_board_get_usb_serial(board), "0E002B00135053424E363620");

	/* An explicit serial number is never overwritten by the path. */
	ck_assert_int_eq(kflash_board_set_usb_serial(board, "ABC123"), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(
				 board, "/dev/serial/by-id/usb-katapult_stm32f446xx_FFFF-if00"),
			 0);
	ck_assert_str_eq(kflash_board_get_usb_serial(board), "ABC123");

	/* An adapter's name does not identify the board behind it. */
	ck_assert_int_eq(kflash_board_set_usb_serial(board, NULL), 0);
	ck_assert_int_eq(
		kflash_board_set_serial_path(
			board, "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"),
		0);
	ck_assert_ptr_null(kflash_board_get_usb_serial(board));
}
END_TEST

START_TEST(board_invalid_values_are_refused)
{
	kf_assert_error(ctx, kflash_board_set_mcu(board, "stm32 f4"), KFLASH_ERR_INVALID,
			"board octopus: invalid MCU 'stm32 f4'");
	kf_assert_error(ctx, kflash_board_set_serial_path(board, "ttyACM0"), KFLASH_ERR_INVALID,
			"an absolute path");
	kf_assert_error(ctx, kflash_board_set_serial_path(board, "/dev/tty\nx"), KFLASH_ERR_INVALID,
			"serial path");
	kf_assert_error(ctx, kflash_board_set_usb_serial(board, "12-34"), KFLASH_ERR_INVALID,
			"letters and digits only");
	kf_assert_error(ctx, kflash_board_set_method(board, (enum kflash_method)9),
			KFLASH_ERR_INVALID, "unknown flash method 9");
	kf_assert_error(ctx, kflash_board_set_baud(board, 300), KFLASH_ERR_INVALID,
			"invalid baud rate 300");
	kf_assert_error(ctx, kflash_board_set_can_uuid(board, "xyz"), KFLASH_ERR_INVALID,
			"12 hexadecimal digits");
	kf_assert_error(ctx, kflash_board_set_klipper_mcu(board, "toolhead"), KFLASH_ERR_INVALID,
			"\"mcu\" or \"mcu <name>\"");
	kf_assert_error(ctx, kflash_board_set_klipper_mcu(board, "mcu "), KFLASH_ERR_INVALID,
			"Klipper MCU name");
	kf_assert_error(ctx, kflash_board_set_service(board, "klipper; rm -rf /"),
			KFLASH_ERR_INVALID, "service unit");
	kf_assert_error(ctx, kflash_board_set_notes(board, "bell\a"), KFLASH_ERR_INVALID,
			"printable text");
	/* Nothing was stored by the refused calls. */
	ck_assert_ptr_null(kflash_board_get_mcu(board));
	ck_assert_ptr_null(kflash_board_get_serial_path(board));
	ck_assert_int_eq(kflash_board_set_mcu(NULL, "x"), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_board_new(ctx, "x", NULL), KFLASH_ERR_INVALID);
	ck_assert_ptr_null(kflash_board_get_name(NULL));
	ck_assert_ptr_null(kflash_board_unref(NULL));
	ck_assert_ptr_null(kflash_board_ref(NULL));
}
END_TEST

START_TEST(board_methods)
{
	enum kflash_method m = KFLASH_METHOD_AUTO;

	ck_assert_str_eq(kflash_method_name(KFLASH_METHOD_KATAPULT), "katapult");
	ck_assert_ptr_null(kflash_method_name((enum kflash_method)4));
	ck_assert_int_eq(kflash_method_from_name("make", &m), 0);
	ck_assert_int_eq(m, KFLASH_METHOD_MAKE);
	ck_assert_int_eq(kflash_method_from_name("dfu", &m), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_method_from_name(NULL, &m), KFLASH_ERR_INVALID);
	ck_assert_int_eq(m, KFLASH_METHOD_MAKE);
}
END_TEST

START_TEST(board_json_checks)
{
	static const struct {
		const char *json;
		const char *field;
		const char *problem;
	} cases[] = {
		{ "[]", NULL, "a JSON object" },
		{ "{}", "name", "a string" },
		{ "{\"name\": 5}", "name", "a string" },
		{ "{\"name\": \"A\"}", "name", "lower-case" },
		{ "{\"name\": \"x\", \"mcu\": 3}", "mcu", "a string" },
		{ "{\"name\": \"x\", \"can_uuid\": \"zz\"}", "can_uuid", "12 hexadecimal" },
		{ "{\"name\": \"x\", \"method\": \"dfu\"}", "method", "\"auto\"" },
		{ "{\"name\": \"x\", \"baud\": \"fast\"}", "baud", "a number" },
		{ "{\"name\": \"x\", \"baud\": -1}", "baud", "a number" },
		{ "{\"name\": \"x\", \"last_flash\": 1}", "last_flash", "an object or null" },
		{ "{\"name\": \"x\", \"mcu\": \"rp2040\", \"future_field\": [1, 2]}", NULL, NULL },
	};

	for (size_t i = 0; i < KF_ARRAY_SIZE(cases); i++) {
		struct json_object *obj = json_tokener_parse(cases[i].json);
		const char *field = "unset";
		const char *problem = kf_board_check_json(obj, &field);

		ck_assert_msg(obj != NULL, "%s", cases[i].json);
		ck_assert_pstr_eq(field, cases[i].field);
		if (cases[i].problem)
			ck_assert_msg(problem && strstr(problem, cases[i].problem), "%s: %s",
				      cases[i].json, problem ? problem : "(ok)");
		else
			ck_assert_ptr_null(problem);
		json_object_put(obj);
	}
}
END_TEST

START_TEST(board_keeps_unknown_fields)
{
	struct json_object *obj = json_tokener_parse(
		"{\"name\": \"ebb\", \"mcu\": \"stm32g0b1xx\", \"led\": \"blue\","
		" \"last_flash\": {\"klipper_version\": \"v0.12.0-1-gabc\","
		" \"time\": \"2026-11-24T10:00:00Z\", \"firmware_hash\": \"ab\","
		" \"result\": \"success\"}}");
	struct kflash_board *b = kf_board_from_json(ctx, obj);
	struct json_object *v;

	ck_assert_int_eq(kflash_board_set_mcu(b, "stm32g0b1xx"), 0);
	ck_assert(json_object_object_get_ex(kf_board_json(b), "led", &v));
	ck_assert_str_eq(json_object_get_string(v), "blue");
	ck_assert_int_eq(kflash_board_has_last_flash(b), 1);
	ck_assert_str_eq(kflash_board_get_last_flash_version(b), "v0.12.0-1-gabc");
	ck_assert_int_eq(kflash_board_get_last_flash_time(b), 1795514400);
	ck_assert_str_eq(kflash_board_get_last_flash_hash(b), "ab");
	ck_assert_int_eq(kflash_board_get_last_flash_ok(b), 1);
	kflash_board_unref(b);
	json_object_put(obj);
}
END_TEST

KF_TEST_SUITE(board)
{
	kf_test_fixture(setup, teardown);
	kf_test_add_loop(board_name_table, (int)KF_ARRAY_SIZE(names));
	kf_test_add(board_fields_round_trip);
	kf_test_add(board_serial_from_by_id);
	kf_test_add(board_invalid_values_are_refused);
	kf_test_add(board_methods);
	kf_test_add(board_json_checks);
	kf_test_add(board_keeps_unknown_fields);
}
