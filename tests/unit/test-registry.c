/* SPDX-License-Identifier: MIT */
/* devices.json: round trips, unknown fields, corrupt files, locks, crashes. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "internal/fs.h"
#include "kf-test.h"
#include "libkflash-private.h"
#include "util/json-pos.h"

static char *dir;
static char reg_path[4096];
static char bak_path[4200];
static struct kflash_context *ctx;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(reg_path, sizeof(reg_path), "%s/config/devices.json", dir);
	snprintf(bak_path, sizeof(bak_path), "%s.bak", reg_path);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static struct kflash_board *
make_board(const char *name, const char *mcu, const char *serial_path)
{
	struct kflash_board *b;

	ck_assert_int_eq(kflash_board_new(ctx, name, &b), 0);
	if (mcu)
		ck_assert_int_eq(kflash_board_set_mcu(b, mcu), 0);
	if (serial_path)
		ck_assert_int_eq(kflash_board_set_serial_path(b, serial_path), 0);
	return b;
}

/* Add a board; without a serial path it gets one of its own, /dev/serial/by-path/NAME. */
static int
add(const char *name, const char *mcu, const char *serial_path)
{
	char own[128];
	struct kflash_board *b;
	int r;

	snprintf(own, sizeof(own), "/dev/serial/by-path/%s", name ? name : "x");
	b = make_board(name, mcu, serial_path ? serial_path : own);
	r = kflash_registry_add_board(ctx, b);

	kflash_board_unref(b);
	return r;
}

static int
add_board(struct kflash_board *b)
{
	int r = kflash_registry_add_board(ctx, b);

	kflash_board_unref(b);
	return r;
}

/* Add a board with exactly the serial path given (NULL: none). */
static int
add_exact(const char *name, const char *mcu, const char *serial_path)
{
	struct kflash_board *b = make_board(name, mcu, serial_path);
	int r = kflash_registry_add_board(ctx, b);

	kflash_board_unref(b);
	return r;
}

static struct kflash_registry *
load(void)
{
	struct kflash_registry *reg = NULL;

	ck_assert_msg(kflash_registry_load(ctx, &reg) == 0, "%s", kflash_context_last_error(ctx));
	return reg;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(registry_missing_file_is_empty_and_creates_nothing)
{
	struct kflash_registry *reg;
	char cfg[4096];

	setup();
	reg = load();
	ck_assert_uint_eq(kflash_registry_get_board_count(reg), 0);
	ck_assert_ptr_null(kflash_registry_get_board(reg, 0));
	ck_assert_ptr_null(kflash_registry_find_board(reg, "octopus"));
	ck_assert_ptr_null(kflash_registry_unref(reg));
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	ck_assert_int_eq(kf_fs_exists(cfg), 0);
	ck_assert_ptr_null(kflash_registry_unref(NULL));
	ck_assert_ptr_null(kflash_registry_ref(NULL));
	teardown();
}
END_TEST

START_TEST(registry_round_trip)
{
	struct kflash_registry *reg;
	struct kflash_board *b, *got;
	char cfg[4096];

	setup();
	b = make_board("octopus", "stm32f446xx",
		       "/dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00");
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_KATAPULT), 0);
	ck_assert_int_eq(kflash_board_set_klipper_mcu(b, "mcu"), 0);
	ck_assert_int_eq(kflash_board_set_baud(b, 250000), 0);
	ck_assert_int_eq(kflash_board_set_can_interface(b, "can0"), 0);
	ck_assert_int_eq(kflash_board_set_can_uuid(b, "0A1B2C3D4E5F"), 0);
	ck_assert_int_eq(kflash_board_set_service(b, "klipper-2"), 0);
	ck_assert_int_eq(kflash_board_set_notes(b, "main board\nunder the bed"), 0);
	ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
	kflash_board_unref(b);
	ck_assert_int_eq(add("ebb36", "stm32g0b1xx", "/dev/ttyAMA0"), 0);

	reg = load();
	ck_assert_uint_eq(kflash_registry_get_board_count(reg), 2);
	got = kflash_registry_get_board(reg, 0);
	ck_assert_str_eq(kflash_board_get_name(got), "octopus");
	ck_assert_ptr_eq(kflash_registry_find_board(reg, "octopus"), got);
	ck_assert_str_eq(kflash_board_get_mcu(got), "stm32f446xx");
	ck_assert_str_eq(kflash_board_get_usb_serial(got), "1A2B3C4D5E6F708192A3B4C5");
	ck_assert_int_eq(kflash_board_get_method(got), KFLASH_METHOD_KATAPULT);
	ck_assert_str_eq(kflash_board_get_klipper_mcu(got), "mcu");
	ck_assert_uint_eq(kflash_board_get_baud(got), 250000);
	ck_assert_str_eq(kflash_board_get_can_interface(got), "can0");
	ck_assert_str_eq(kflash_board_get_can_uuid(got), "0a1b2c3d4e5f");
	ck_assert_str_eq(kflash_board_get_service(got), "klipper-2");
	ck_assert_str_eq(kflash_board_get_notes(got), "main board\nunder the bed");
	ck_assert_int_eq(kflash_board_has_last_flash(got), 0);
	got = kflash_registry_get_board(reg, 1);
	ck_assert_str_eq(kflash_board_get_name(got), "ebb36");
	ck_assert_str_eq(kflash_board_get_serial_path(got), "/dev/ttyAMA0");
	ck_assert_ptr_null(kflash_board_get_usb_serial(got));

	/* A board taken out of a snapshot outlives it. */
	got = kflash_board_ref(got);
	ck_assert_ptr_null(kflash_registry_unref(reg));
	ck_assert_str_eq(kflash_board_get_mcu(got), "stm32g0b1xx");
	kflash_board_unref(got);

	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	ck_assert_uint_eq(mode_of(cfg), 0700);
	ck_assert_uint_eq(mode_of(reg_path), 0600);
	ck_assert_uint_eq(mode_of(bak_path), 0600);
	teardown();
}
END_TEST

START_TEST(registry_keeps_the_previous_file_as_bak)
{
	char *before, *bak;

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);
	before = kf_test_read_file(reg_path);
	ck_assert_int_eq(add("ebb36", "stm32g0b1xx", NULL), 0);
	bak = kf_test_read_file(bak_path);
	ck_assert_str_eq(bak, before);
	free(before);
	free(bak);
	teardown();
}
END_TEST

START_TEST(registry_unknown_fields_survive_every_change)
{
	struct kflash_registry *reg;
	struct kflash_board *b;
	char *text;

	setup();
	{
		char cfg[4096];

		snprintf(cfg, sizeof(cfg), "%s/config", dir);
		ck_assert_int_eq(kf_fs_mkdir_p(ctx, cfg, 0700), 0);
	}
	kf_test_write_file(reg_path,
			   "{\"version\": 1, \"future_top\": {\"x\": [1, 2]},\n"
			   " \"boards\": [{\"name\": \"octopus\", \"mcu\": \"stm32f446xx\",\n"
			   "   \"future_field\": \"keep me\", \"method\": \"make\"}]}\n");

	ck_assert_int_eq(add("ebb36", "stm32g0b1xx", NULL), 0);
	ck_assert_int_eq(kflash_registry_record_flash(ctx, "octopus", "v0.12.0-1-gabc", "ff00", 1),
			 0);
	reg = load();
	b = kflash_registry_find_board(reg, "octopus");
	ck_assert_int_eq(kflash_board_set_notes(b, "changed"), 0);
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_AUTO), 0);
	ck_assert_int_eq(kflash_registry_update_board(ctx, b), 0);
	kflash_registry_unref(reg);
	ck_assert_int_eq(kflash_registry_remove_board(ctx, "ebb36"), 0);

	text = kf_test_read_file(reg_path);
	ck_assert_ptr_nonnull(strstr(text, "\"future_field\": \"keep me\""));
	ck_assert_ptr_nonnull(strstr(text, "\"future_top\""));
	ck_assert_ptr_nonnull(strstr(text, "\"notes\": \"changed\""));
	ck_assert_ptr_null(strstr(text, "ebb36"));
	free(text);

	reg = load();
	b = kflash_registry_find_board(reg, "octopus");
	ck_assert_int_eq(kflash_board_get_method(b), KFLASH_METHOD_AUTO);
	ck_assert_str_eq(kflash_board_get_last_flash_version(b), "v0.12.0-1-gabc");
	kflash_registry_unref(reg);
	teardown();
}
END_TEST

START_TEST(registry_record_flash)
{
	struct kflash_registry *reg;
	struct kflash_board *b;
	int64_t now = (int64_t)time(NULL);

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);
	ck_assert_int_eq(
		kflash_registry_record_flash(ctx, "octopus", "v0.12.0-396-gabc1234", "00ff", 0), 0);
	reg = load();
	b = kflash_registry_find_board(reg, "octopus");
	ck_assert_int_eq(kflash_board_has_last_flash(b), 1);
	ck_assert_int_eq(kflash_board_get_last_flash_ok(b), 0);
	ck_assert_str_eq(kflash_board_get_last_flash_version(b), "v0.12.0-396-gabc1234");
	ck_assert_str_eq(kflash_board_get_last_flash_hash(b), "00ff");
	ck_assert_int_ge(kflash_board_get_last_flash_time(b), now - 5);
	ck_assert_int_le(kflash_board_get_last_flash_time(b), now + 5);
	kflash_registry_unref(reg);

	ck_assert_int_eq(kflash_registry_record_flash(ctx, "octopus", NULL, NULL, 1), 0);
	reg = load();
	b = kflash_registry_find_board(reg, "octopus");
	ck_assert_int_eq(kflash_board_get_last_flash_ok(b), 1);
	ck_assert_ptr_null(kflash_board_get_last_flash_version(b));
	kflash_registry_unref(reg);

	kf_assert_error(ctx, kflash_registry_record_flash(ctx, "nope", NULL, NULL, 1),
			KFLASH_ERR_NOT_FOUND, "no board named nope");
	kf_assert_error(ctx, kflash_registry_record_flash(ctx, "../x", NULL, NULL, 1),
			KFLASH_ERR_INVALID, "not a valid board name");
	teardown();
}
END_TEST

START_TEST(registry_refuses_duplicates_and_incomplete_boards)
{
	const char *id = "/dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00";
	const char *kat =
		"/dev/serial/by-id/usb-katapult_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00";
	char *before;

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", id), 0);
	before = kf_test_read_file(reg_path);
	kf_assert_error(ctx, add("octopus", "stm32f446xx", NULL), KFLASH_ERR_EXISTS,
			"a board named octopus is registered already");
	/* The same chip under its Katapult name is the same board. */
	kf_assert_error(ctx, add("other", "stm32f446xx", kat), KFLASH_ERR_EXISTS,
			"belongs to board octopus");
	kf_assert_error(ctx, add("nomcu", NULL, NULL), KFLASH_ERR_INVALID,
			"board nomcu has no MCU");
	kf_assert_error(ctx, kflash_registry_add_board(ctx, NULL), KFLASH_ERR_INVALID, "no board");

	/* A board that could never be found; two boards on one port; SD card without its name. */
	kf_assert_error(ctx, add_exact("lost", "stm32f446xx", NULL), KFLASH_ERR_INVALID,
			"board lost has no serial path, USB serial number or CAN UUID");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_EDIT_BOARD);
	kf_assert_error(ctx, add("twin", "rp2040", id), KFLASH_ERR_EXISTS,
			"belongs to board octopus");
	ck_assert_int_eq(add("pi", "rp2040", "/dev/ttyAMA0"), 0);
	kf_assert_error(
		ctx, add("pi2", "rp2040", "/dev/ttyAMA0"), KFLASH_ERR_EXISTS,
		"board pi2 has serial path /dev/ttyAMA0, which belongs to board pi already");
	{
		struct kflash_board *sd = make_board("skr", "lpc1768", "/dev/ttyACM3");

		ck_assert_int_eq(kflash_board_set_method(sd, KFLASH_METHOD_SDCARD), 0);
		kf_assert_error(ctx, add_board(sd), KFLASH_ERR_INVALID,
				"to be flashed through its SD card, but has no SD card board name");
	}
	/* A CAN board needs no serial path; its UUID is its identity on its bus. */
	{
		struct kflash_board *can = make_board("ebb", "stm32g0b1xx", NULL);

		ck_assert_int_eq(kflash_board_set_can_uuid(can, "aabbccddeeff"), 0);
		ck_assert_int_eq(kflash_board_set_can_interface(can, "can0"), 0);
		ck_assert_int_eq(add_board(can), 0);
		can = make_board("ebb2", "stm32g0b1xx", NULL);
		ck_assert_int_eq(kflash_board_set_can_uuid(can, "AABBCCDDEEFF"), 0);
		ck_assert_int_eq(kflash_board_set_can_interface(can, "can0"), 0);
		kf_assert_error(ctx, add_board(can), KFLASH_ERR_EXISTS,
				"board ebb2 has CAN UUID aabbccddeeff, which belongs to board ebb");
		/* The same UUID on another bus is another board. */
		can = make_board("ebb3", "stm32g0b1xx", NULL);
		ck_assert_int_eq(kflash_board_set_can_uuid(can, "aabbccddeeff"), 0);
		ck_assert_int_eq(kflash_board_set_can_interface(can, "can1"), 0);
		ck_assert_int_eq(add_board(can), 0);
	}
	free(before);
	before = kf_test_read_file(reg_path);
	{
		char *after = kf_test_read_file(reg_path);

		ck_assert_str_eq(after, before);
		free(after);
	}
	free(before);
	teardown();
}
END_TEST

START_TEST(registry_update_and_remove_errors)
{
	struct kflash_board *b;
	const char *id = "/dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00";

	setup();
	ck_assert_int_eq(add("pico", "rp2040", id), 0);
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);

	b = make_board("ghost", "rp2040", NULL);
	kf_assert_error(ctx, kflash_registry_update_board(ctx, b), KFLASH_ERR_NOT_FOUND,
			"no board named ghost");
	kflash_board_unref(b);
	kf_assert_error(ctx, kflash_registry_update_board(ctx, NULL), KFLASH_ERR_INVALID,
			"no board");

	/* Moving pico's chip id onto octopus names pico. */
	b = make_board("octopus", "stm32f446xx", id);
	kf_assert_error(ctx, kflash_registry_update_board(ctx, b), KFLASH_ERR_EXISTS,
			"belongs to board pico");
	kflash_board_unref(b);

	kf_assert_error(ctx, kflash_registry_remove_board(ctx, "ghost"), KFLASH_ERR_NOT_FOUND,
			"no board named ghost");
	kf_assert_error(ctx, kflash_registry_remove_board(ctx, "../x"), KFLASH_ERR_INVALID,
			"not a valid board name");
	kf_assert_error(ctx, kflash_registry_remove_board(ctx, NULL), KFLASH_ERR_INVALID,
			"not a valid board name");
	ck_assert_int_eq(kflash_registry_remove_board(ctx, "pico"), 0);
	kf_assert_error(ctx, kflash_registry_load(ctx, NULL), KFLASH_ERR_INVALID, "no place");
	teardown();
}
END_TEST

/* ---- corrupt files ---- */

static const struct corrupt_case {
	const char *what;
	const char *content;
	int code;
	const char *needle; /* in the message, after the path */
} corrupt_cases[] = {
	{ "truncated", "{\"version\": 1, \"boards\": [\n  {\"name\": \"octo", KFLASH_ERR_CORRUPT,
	  ":2:17: the file ends in the middle" },
	{ "bad JSON", "{\"version\": 1,\n \"boards\": [}\n", KFLASH_ERR_CORRUPT, ":2:13: " },
	{ "not an object", "[1, 2]\n", KFLASH_ERR_CORRUPT,
	  ":1:1: the file should hold a JSON object" },
	{ "empty", "", KFLASH_ERR_CORRUPT, ":1:1: the file is empty; a registry without boards" },
	{ "blank", " \n\n", KFLASH_ERR_CORRUPT, ":1:1: the file is empty" },
	{ "no version", "{\"boards\": []}", KFLASH_ERR_CORRUPT,
	  ":1:1: \"version\" should be a positive number" },
	{ "version string", "{\"version\": \"1\", \"boards\": []}", KFLASH_ERR_CORRUPT,
	  ":1:2: \"version\" should be" },
	{ "boards not an array", "{\"version\": 1,\n  \"boards\": {}}", KFLASH_ERR_CORRUPT,
	  ":2:3: \"boards\" should be an array" },
	{ "record not an object", "{\"version\": 1, \"boards\": [\n  \"octopus\"]}",
	  KFLASH_ERR_CORRUPT, ":2:3: board 1 should be a JSON object" },
	{ "baud a string",
	  "{\"version\": 1, \"boards\": [\n  {\"name\": \"octopus\", \"mcu\": \"stm32f446xx\",\n"
	  "   \"baud\": \"fast\"}]}",
	  KFLASH_ERR_CORRUPT, ":3:4: board 1: \"baud\" should be a number" },
	{ "name invalid", "{\"version\": 1, \"boards\": [{\"name\": \"../x\"}]}",
	  KFLASH_ERR_CORRUPT, ":1:28: board 1: \"name\" should be 1 to 32" },
	{ "name missing", "{\"version\": 1, \"boards\": [{\"mcu\": \"rp2040\"}]}",
	  KFLASH_ERR_CORRUPT, "board 1: \"name\" should be a string" },
	{ "method unknown",
	  "{\"version\": 1, \"boards\": [{\"name\": \"a\"}, {\"name\": \"b\", \"method\": "
	  "\"dfu\"}]}",
	  KFLASH_ERR_CORRUPT, ":1:56: board 2: \"method\" should be \"auto\"" },
	{ "duplicate names",
	  "{\"version\": 1, \"boards\": [\n {\"name\": \"a\"},\n {\"name\": \"a\"}]}",
	  KFLASH_ERR_CORRUPT, ":3:3: board 2 has the name \"a\" of board 1" },
	{ "trailing garbage", "{\"version\": 1, \"boards\": []}\nxx", KFLASH_ERR_CORRUPT,
	  ":2:1: text after the end" },
	{ "a NUL byte", "{\"version\": 1, \"boa", KFLASH_ERR_CORRUPT, "a NUL byte" },
	{ "newer version", "{\"version\": 2, \"boards\": []}", KFLASH_ERR_NOT_SUPPORTED,
	  "newer than the 1 this libkflash reads; upgrade kflash" },
};

static void
write_raw(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void
assert_refused_everywhere(int code, const char *needle)
{
	struct kflash_registry *reg = NULL;
	struct kflash_board *b = make_board("octopus", "stm32f446xx", NULL);

	kf_assert_error(ctx, kflash_registry_load(ctx, &reg), code, needle);
	ck_assert_ptr_null(reg);
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), reg_path));
	kf_assert_error(ctx, kflash_registry_add_board(ctx, b), code, needle);
	kf_assert_error(ctx, kflash_registry_update_board(ctx, b), code, needle);
	kf_assert_error(ctx, kflash_registry_remove_board(ctx, "octopus"), code, needle);
	kf_assert_error(ctx, kflash_registry_record_flash(ctx, "octopus", NULL, NULL, 1), code,
			needle);
	kflash_board_unref(b);
}

START_TEST(registry_corrupt_files_are_refused_and_untouched)
{
	const struct corrupt_case *c = &corrupt_cases[_i];
	char cfg[4096];
	size_t len = strlen(c->content);
	char *after;

	setup();
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	ck_assert_int_eq(kf_fs_mkdir_p(ctx, cfg, 0700), 0);
	/* "a NUL byte" gets its NUL in the middle of the text. */
	if (strcmp(c->what, "a NUL byte") == 0) {
		char buf[64];

		memcpy(buf, c->content, len);
		buf[10] = '\0';
		write_raw(reg_path, buf, len);
	} else {
		write_raw(reg_path, c->content, len);
	}
	assert_refused_everywhere(c->code, c->needle);
	if (c->code == KFLASH_ERR_CORRUPT) {
		/* Without a backup, the message says what else to do. */
		ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "fix it by hand"));
	}

	after = kf_test_read_file(reg_path);
	ck_assert_int_eq(memcmp(after, c->content, strcmp(c->what, "a NUL byte") ? len : 10), 0);
	free(after);
	ck_assert_int_eq(kf_fs_exists(bak_path), 0);
	teardown();
}
END_TEST

START_TEST(registry_corrupt_file_names_its_backup)
{
	char *text;

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);
	ck_assert_int_eq(add("ebb36", "stm32g0b1xx", NULL), 0);
	kf_test_write_file(reg_path, "{\"version\": 1, \"boards\": [");
	assert_refused_everywhere(KFLASH_ERR_CORRUPT, "restore the previous version with: cp ");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), bak_path));
	text = kf_test_read_file(reg_path);
	ck_assert_str_eq(text, "{\"version\": 1, \"boards\": [");
	free(text);
	teardown();
}
END_TEST

START_TEST(registry_refuses_a_huge_file)
{
	char cfg[4096];
	size_t size = 10 * 1024 * 1024;
	char *garbage = malloc(size);
	char *head;

	setup();
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	ck_assert_int_eq(kf_fs_mkdir_p(ctx, cfg, 0700), 0);
	for (size_t i = 0; i < size; i++)
		garbage[i] = (char)(' ' + (i * 7919) % 90);
	write_raw(reg_path, garbage, size);
	assert_refused_everywhere(KFLASH_ERR_CORRUPT, "more than the 1048576 bytes");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "fix it by hand"));
	head = kf_test_read_file(reg_path);
	ck_assert_uint_eq(strlen(head), size);
	ck_assert_int_eq(memcmp(head, garbage, size), 0);
	free(head);
	free(garbage);
	teardown();
}
END_TEST

START_TEST(registry_refuses_a_symlink)
{
	char cfg[4096], target[4096];
	char *text;

	setup();
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	ck_assert_int_eq(kf_fs_mkdir_p(ctx, cfg, 0700), 0);
	snprintf(target, sizeof(target), "%s/elsewhere.json", dir);
	kf_test_write_file(target, "{\"version\": 1, \"boards\": []}");
	ck_assert_int_eq(symlink(target, reg_path), 0);
	assert_refused_everywhere(KFLASH_ERR_CORRUPT, "is a symbolic link");
	text = kf_test_read_file(target);
	ck_assert_str_eq(text, "{\"version\": 1, \"boards\": []}");
	free(text);
	teardown();
}
END_TEST

/* ---- processes ---- */

START_TEST(registry_lock_contention)
{
	char lock_path[4200];
	int release;
	pid_t pid;
	struct kflash_registry *reg = NULL;

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);
	snprintf(lock_path, sizeof(lock_path), "%s.lock", reg_path);
	pid = kf_test_hold_lock(lock_path, KF_LOCK_EXCLUSIVE, &release);

	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_LOCK, 200);
	kf_assert_error(ctx, kflash_registry_load(ctx, &reg), KFLASH_ERR_LOCKED, lock_path);
	kf_assert_error(ctx, add("ebb36", "stm32g0b1xx", NULL), KFLASH_ERR_LOCKED, lock_path);

	close(release);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	reg = load();
	ck_assert_uint_eq(kflash_registry_get_board_count(reg), 1);
	kflash_registry_unref(reg);
	teardown();
}
END_TEST

START_TEST(registry_concurrent_adds_lose_nothing)
{
	int n = kf_test_under_valgrind() ? 5 : 20;
	struct kflash_registry *reg;
	pid_t pids[20];

	setup();
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char name[16], path[128];
			struct kflash_board *b;
			int r;

			snprintf(name, sizeof(name), "board%d", i);
			snprintf(path, sizeof(path),
				 "/dev/serial/by-id/usb-Klipper_rp2040_%016X-if00", i + 1);
			kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_LOCK, 60000);
			r = kflash_board_new(ctx, name, &b);
			if (r == 0)
				r = kflash_board_set_mcu(b, "rp2040");
			if (r == 0)
				r = kflash_board_set_serial_path(b, path);
			if (r == 0)
				r = kflash_registry_add_board(ctx, b);
			_exit(r == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < n; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "add %d failed", i);
	}
	reg = load();
	ck_assert_uint_eq(kflash_registry_get_board_count(reg), (size_t)n);
	for (int i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "board%d", i);
		ck_assert_ptr_nonnull(kflash_registry_find_board(reg, name));
	}
	kflash_registry_unref(reg);
	teardown();
}
END_TEST

START_TEST(registry_kill_during_write_loop)
{
	int rounds = kf_test_under_valgrind() ? 3 : 15;

	setup();
	ck_assert_int_eq(add("octopus", "stm32f446xx", NULL), 0);
	for (int round = 0; round < rounds; round++) {
		struct kflash_registry *reg;
		pid_t pid = fork();
		size_t n;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			for (;;) {
				if (add("ebb36", "stm32g0b1xx", NULL) < 0 ||
				    kflash_registry_remove_board(ctx, "ebb36") < 0)
					_exit(1);
			}
		}
		usleep(20000 + (useconds_t)(rand() % 30000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		/* Old or new content, never a torn file. */
		reg = load();
		n = kflash_registry_get_board_count(reg);
		ck_assert_msg(n == 1 || n == 2, "%zu boards", n);
		ck_assert_ptr_nonnull(kflash_registry_find_board(reg, "octopus"));
		kflash_registry_unref(reg);
		if (n == 2)
			ck_assert_int_eq(kflash_registry_remove_board(ctx, "ebb36"), 0);
	}
	teardown();
}
END_TEST

/* ---- positions ---- */

START_TEST(json_locate_finds_keys_and_elements)
{
	const char *text = "{\"a\": {\"x\\\"y\": 1, \"b\": [10, {\"c\": \"}]\"}, [2]]},\n"
			   " \"d\": null}";
	static const char *const p_b[] = { "a", "b", NULL };
	static const char *const p_c[] = { "a", "b", "1", "c", NULL };
	static const char *const p_2[] = { "a", "b", "2", NULL };
	static const char *const p_d[] = { "d", NULL };
	static const char *const p_miss[] = { "a", "nope", NULL };
	static const char *const p_idx[] = { "a", "b", "9", NULL };
	static const char *const p_root[] = { NULL };
	unsigned int line, col;

	ck_assert_uint_eq(kf_json_locate(text, p_b), 18);
	ck_assert_uint_eq(kf_json_locate(text, p_c), 29);
	ck_assert_uint_eq(kf_json_locate(text, p_2), 41);
	ck_assert_uint_eq(kf_json_locate(text, p_miss), 6);
	ck_assert_uint_eq(kf_json_locate(text, p_idx), 23);
	ck_assert_uint_eq(kf_json_locate(text, p_root), 0);
	kf_json_line_col(text, kf_json_locate(text, p_d), &line, &col);
	ck_assert_uint_eq(line, 2);
	ck_assert_uint_eq(col, 2);
}
END_TEST

KF_TEST_SUITE(registry)
{
	kf_test_add(registry_missing_file_is_empty_and_creates_nothing);
	kf_test_add(registry_round_trip);
	kf_test_add(registry_keeps_the_previous_file_as_bak);
	kf_test_add(registry_unknown_fields_survive_every_change);
	kf_test_add(registry_record_flash);
	kf_test_add(registry_refuses_duplicates_and_incomplete_boards);
	kf_test_add(registry_update_and_remove_errors);
	kf_test_add_loop(registry_corrupt_files_are_refused_and_untouched,
			 (int)KF_ARRAY_SIZE(corrupt_cases));
	kf_test_add(registry_corrupt_file_names_its_backup);
	kf_test_add_timeout(registry_refuses_a_huge_file, 30);
	kf_test_add(registry_refuses_a_symlink);
	kf_test_add_timeout(registry_lock_contention, 30);
	kf_test_add_timeout(registry_concurrent_adds_lose_nothing, 120);
	kf_test_add_timeout(registry_kill_during_write_loop, 120);
	kf_test_add(json_locate_finds_keys_and_elements);
}
