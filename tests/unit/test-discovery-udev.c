/* SPDX-License-Identifier: MIT */
/*
 * Discovery through udev, against umockdev's device descriptions in
 * tests/fixtures/umockdev/. This binary runs with umockdev's preload
 * library (see tests/meson.build): each test builds a testbed, which the
 * library, and every kflash process the test starts, see as the system.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umockdev.h>

#include "cli-run.h"
#include "kf-test.h"

#define OCTOPUS_SERIAL "1A2B3C4D5E6F708192A3B4C5"
#define OCTOPUS_KLIPPER "/dev/serial/by-id/usb-Klipper_stm32f446xx_" OCTOPUS_SERIAL "-if00"
#define OCTOPUS_KATAPULT "/dev/serial/by-id/usb-katapult_stm32f446xx_" OCTOPUS_SERIAL "-if00"

static UMockdevTestbed *testbed;
static char *dir;
static struct kflash_context *ctx;

/* Build a testbed from fixture files, NULL-terminated. */
static void
setup_with(const char *first, ...)
{
	va_list ap;

	ck_assert_msg(getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "libumockdev-preload"),
		      "run this test with umockdev's preload library (meson test does)");
	testbed = umockdev_testbed_new();
	va_start(ap, first);
	for (const char *f = first; f; f = va_arg(ap, const char *)) {
		char path[4096];
		GError *error = NULL;

		snprintf(path, sizeof(path), "%s/umockdev/%s.umockdev", kf_test_fixtures_dir(), f);
		ck_assert_msg(umockdev_testbed_add_from_file(testbed, path, &error), "%s: %s", path,
			      error ? error->message : "?");
	}
	va_end(ap);
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	/* The default device dir: the udev backend. */
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, "/dev"), 0);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
	g_object_unref(testbed);
}

static struct kflash_discovery *
scan(size_t expect)
{
	struct kflash_discovery *d = NULL;

	ck_assert_msg(kflash_discovery_scan(ctx, &d) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_discovery_get_device_count(d), expect);
	return d;
}

START_TEST(udev_klipper_board)
{
	struct kflash_discovery *d;
	const struct kflash_device *x;

	setup_with("klipper-stm32f446", NULL);
	d = scan(1);
	x = kflash_discovery_get_device(d, 0);
	ck_assert_int_eq(kflash_device_get_mode(x), KFLASH_MODE_KLIPPER);
	ck_assert_str_eq(kflash_device_get_path(x), OCTOPUS_KLIPPER);
	ck_assert_str_eq(kflash_device_get_by_id(x), OCTOPUS_KLIPPER);
	ck_assert_str_eq(kflash_device_get_by_path(x),
			 "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0");
	ck_assert_str_eq(kflash_device_get_devnode(x), "/dev/ttyACM0");
	ck_assert_str_eq(kflash_device_get_mcu(x), "stm32f446xx");
	ck_assert_str_eq(kflash_device_get_serial_number(x), OCTOPUS_SERIAL);
	ck_assert_str_eq(kflash_device_get_manufacturer(x), "Klipper");
	ck_assert_str_eq(kflash_device_get_product(x), "stm32f446xx");
	ck_assert_str_eq(kflash_device_get_usb_port(x), "1");
	ck_assert_uint_eq(kflash_device_get_vid(x), 0x1d50);
	ck_assert_uint_eq(kflash_device_get_pid(x), 0x614e);
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

START_TEST(udev_katapult_is_the_same_board)
{
	struct kflash_device *found;
	struct kflash_board *b;

	setup_with("katapult-stm32f446", NULL);
	ck_assert_int_eq(kflash_board_new(ctx, "octopus", &b), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(b, OCTOPUS_KLIPPER), 0);
	ck_assert_int_eq(kflash_discovery_locate(ctx, b, &found), 0);
	ck_assert_int_eq(kflash_device_get_mode(found), KFLASH_MODE_KATAPULT);
	ck_assert_str_eq(kflash_device_get_path(found), OCTOPUS_KATAPULT);
	ck_assert_uint_eq(kflash_device_get_pid(found), 0x6177);
	kflash_device_unref(found);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(udev_rom_bootloaders_and_bridge)
{
	struct kflash_discovery *d;

	setup_with("stm32-dfu", "rp2040-bootsel", "can-bridge", NULL);
	d = scan(3);
	for (size_t i = 0; i < 3; i++) {
		const struct kflash_device *x = kflash_discovery_get_device(d, i);

		ck_assert_ptr_null(kflash_device_get_by_id(x));
		switch (kflash_device_get_mode(x)) {
		case KFLASH_MODE_DFU:
			ck_assert_str_eq(kflash_device_get_devnode(x), "/dev/bus/usb/001/004");
			ck_assert_str_eq(kflash_device_get_serial_number(x), "206A37A1414D");
			ck_assert_ptr_null(kflash_device_get_can_uuid(x));
			break;
		case KFLASH_MODE_RP2_BOOT:
			ck_assert_str_eq(kflash_device_get_mcu(x), "rp2040");
			break;
		case KFLASH_MODE_CAN_BRIDGE:
			ck_assert_str_eq(kflash_device_get_net_interface(x), "can0");
			ck_assert_str_eq(kflash_device_get_mcu(x), "stm32g0b1xx");
			/* fasthash64 of 0E3A8B7C6D5F4E3D2C1B0A99, as the CAN tests check it */
			ck_assert_str_eq(kflash_device_get_can_uuid(x), "d8783ac6a84f");
			break;
		default:
			ck_abort_msg("unexpected %s", kflash_device_get_path(x));
		}
	}
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

START_TEST(udev_serial_adapter)
{
	struct kflash_discovery *d;
	const struct kflash_device *x;

	setup_with("ch340", NULL);
	d = scan(1);
	x = kflash_discovery_get_device(d, 0);
	ck_assert_int_eq(kflash_device_get_mode(x), KFLASH_MODE_SERIAL_ADAPTER);
	ck_assert_str_eq(kflash_device_get_path(x),
			 "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0");
	ck_assert_ptr_null(kflash_device_get_serial_number(x));
	ck_assert_ptr_null(kflash_device_get_mcu(x));
	ck_assert_str_eq(kflash_device_get_usb_port(x), "4");
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

START_TEST(udev_identical_boards)
{
	struct kflash_discovery *d;
	struct kflash_board *b;
	struct kflash_device *found;

	setup_with("two-identical", NULL);
	d = scan(2);
	ck_assert_int_eq(kflash_board_new(ctx, "pico-b", &b), 0);
	ck_assert_int_eq(kflash_board_set_usb_serial(b, "E66138935F2A4D29"), 0);
	ck_assert_int_eq(kflash_discovery_find_board(d, b, &found), 0);
	ck_assert_str_eq(kflash_device_get_devnode(found), "/dev/ttyACM2");
	ck_assert_str_eq(kflash_device_get_usb_port(found), "1.2");
	kflash_device_unref(found);
	kflash_board_unref(b);
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

START_TEST(udev_strange_values)
{
	struct kflash_discovery *d;

	setup_with("strange", NULL);
	/* ttyS0, a legacy port without a board's name or a USB parent, is left out. */
	d = scan(3);
	for (size_t i = 0; i < 3; i++) {
		const struct kflash_device *x = kflash_discovery_get_device(d, i);
		const char *product = kflash_device_get_product(x);
		const char *manufacturer = kflash_device_get_manufacturer(x);

		ck_assert_ptr_nonnull(kflash_device_get_path(x));
		if (product)
			ck_assert_uint_le(strlen(product), 256);
		for (const char *c = manufacturer; c && *c; c++)
			ck_assert_msg((unsigned char)*c >= 0x20, "control byte in %s",
				      manufacturer);
		/* Not hex, or too large: not known. */
		if (kflash_device_get_usb_port(x) &&
		    strcmp(kflash_device_get_usb_port(x), "6") == 0) {
			ck_assert_uint_eq(kflash_device_get_vid(x), 0);
			ck_assert_uint_eq(kflash_device_get_pid(x), 0);
			ck_assert_ptr_null(kflash_device_get_mcu(x));
		}
	}
	kflash_discovery_unref(d);
	teardown();
}
END_TEST

/* ---- the CLI under the same testbed ---- */

static const char *const *
cli_env(void)
{
	static char values[3][4200];
	static const char *env[5];

	snprintf(values[0], sizeof(values[0]), "KFLASH_CONFIG_DIR=%s/config", dir);
	snprintf(values[1], sizeof(values[1]), "KFLASH_CACHE_DIR=%s/cache", dir);
	snprintf(values[2], sizeof(values[2]), "KFLASH_REGISTRY=%s/config/devices.json", dir);
	env[0] = values[0];
	env[1] = values[1];
	env[2] = values[2];
	env[3] = "KFLASH_DEV_DIR=/dev";
	env[4] = NULL;
	return env;
}

static struct json_object *
member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return v;
}

START_TEST(cli_list_shows_connections)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards, *conn;

	setup_with("katapult-stm32f446", NULL);
	r = kf_cli(cli_env(), "add", "octopus", "--serial", OCTOPUS_KLIPPER, NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	r = kf_cli(cli_env(), "add", "gone", "--serial", "/dev/ttyAMA3", "--mcu", "rp2040", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);

	r = kf_cli(cli_env(), "list", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = member(doc, "boards");
	conn = member(json_object_array_get_idx(boards, 0), "connection");
	ck_assert_str_eq(json_object_get_string(member(conn, "state")), "connected");
	ck_assert_str_eq(json_object_get_string(member(conn, "mode")), "katapult");
	ck_assert_str_eq(json_object_get_string(member(conn, "path")), OCTOPUS_KATAPULT);
	conn = member(json_object_array_get_idx(boards, 1), "connection");
	ck_assert_str_eq(json_object_get_string(member(conn, "state")), "missing");
	ck_assert_ptr_null(member(conn, "mode"));
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* The seed tool's alias shows them too. */
	r = kf_cli(cli_env(), "--list-devices", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "connected, katapult"));
	ck_assert_ptr_nonnull(strstr(r.out, "missing"));
	kf_cli_result_free(&r);

	r = kf_cli(cli_env(), "show", "octopus", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(
		strstr(r.out, "Connection      connected, katapult at " OCTOPUS_KATAPULT));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_scan_reports_unclaimed_devices)
{
	struct kf_cli_result r;
	struct json_object *doc, *devices;
	bool dfu = false, boot = false, klipper = false;

	setup_with("stm32-dfu", "rp2040-bootsel", "two-identical", NULL);
	r = kf_cli(cli_env(), "add", "pico-a", "--serial",
		   "/dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);

	r = kf_cli(cli_env(), "scan", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	devices = member(doc, "devices");
	ck_assert_uint_eq(json_object_array_length(devices), 3);
	ck_assert_int_eq(json_object_get_int(member(doc, "claimed")), 1);
	for (size_t i = 0; i < 3; i++) {
		struct json_object *x = json_object_array_get_idx(devices, i);
		const char *mode = json_object_get_string(member(x, "mode"));

		if (strcmp(mode, "dfu") == 0) {
			dfu = true;
			ck_assert_str_eq(json_object_get_string(member(x, "vid")), "0483");
			ck_assert_str_eq(json_object_get_string(member(x, "pid")), "df11");
			ck_assert_ptr_null(member(x, "suggested_add"));
		} else if (strcmp(mode, "rp2-boot") == 0) {
			boot = true;
			ck_assert_str_eq(json_object_get_string(member(x, "pid")), "0003");
		} else if (strcmp(mode, "klipper") == 0) {
			klipper = true;
			ck_assert_str_eq(json_object_get_string(member(x, "serial_number")),
					 "E66138935F2A4D29");
			ck_assert_str_eq(
				json_object_get_string(member(x, "suggested_add")),
				"kflash add rp2040 --serial "
				"/dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D29-if00");
		}
	}
	ck_assert(dfu && boot && klipper);
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(cli_env(), "scan", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "dfu /dev/bus/usb/001/004 (0483:df11"));
	ck_assert_ptr_nonnull(strstr(r.out, "ROM bootloader"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

KF_TEST_SUITE(discovery_udev)
{
	kf_test_add(udev_klipper_board);
	kf_test_add(udev_katapult_is_the_same_board);
	kf_test_add(udev_rom_bootloaders_and_bridge);
	kf_test_add(udev_serial_adapter);
	kf_test_add(udev_identical_boards);
	kf_test_add(udev_strange_values);
	kf_test_add_timeout(cli_list_shows_connections, 120);
	kf_test_add_timeout(cli_scan_reports_unclaimed_devices, 120);
}
