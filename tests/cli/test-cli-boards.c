/* SPDX-License-Identifier: MIT */
/* kflash list, show, add, remove: flags, the wizard, JSON, corrupt files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli-run.h"
#include "kf-test.h"

#define OCTOPUS_ID "usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00"
#define PICO_ID "usb-Klipper_rp2040_E66138935F2A4D28-if00"

static char *dir;
static const char *const *env;
static char registry[4200];

static void
setup(void)
{
	char cmd[4400];

	dir = kf_test_mkdtemp();
	env = kf_cli_env(dir);
	snprintf(registry, sizeof(registry), "%s/config/devices.json", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/dev/serial/by-id'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
teardown(void)
{
	kf_test_rmtree(dir);
	free(dir);
}

static char *
by_id(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/dev/serial/by-id/%s", dir, name);
	return path;
}

static const char *
str(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return json_object_get_string(v);
}

static struct json_object *
list_json(size_t expect)
{
	struct kf_cli_result r = kf_cli(env, "list", "--json", NULL);
	struct json_object *doc, *boards;

	ck_assert_msg(r.status == 0, "list failed: %s", r.err);
	doc = kf_cli_json(&r);
	ck_assert(json_object_object_get_ex(doc, "boards", &boards));
	ck_assert_uint_eq(json_object_array_length(boards), expect);
	kf_cli_result_free(&r);
	return doc;
}

static struct json_object *
board_at(struct json_object *doc, size_t i)
{
	return json_object_array_get_idx(json_object_object_get(doc, "boards"), i);
}

START_TEST(cli_add_list_show_remove)
{
	struct kf_cli_result r;
	struct json_object *doc, *b;

	setup();
	doc = list_json(0);
	json_object_put(doc);

	r = kf_cli(env, "add", "octopus", "--serial", by_id(OCTOPUS_ID), "--klipper-mcu", "mcu",
		   NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "is not connected"));
	ck_assert_ptr_nonnull(strstr(r.err, "added anyway"));
	ck_assert_str_eq(r.out, "");
	kf_cli_result_free(&r);

	r = kf_cli(env, "add", "ebb36", "--serial", "/dev/ttyAMA0", "--mcu", "stm32g0b1xx",
		   "--method", "katapult", "--baud", "250000", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	b = kf_cli_json(&r);
	ck_assert_str_eq(str(b, "name"), "ebb36");
	json_object_put(b);
	kf_cli_result_free(&r);

	/* The contract's shape: an array of objects carrying their names. */
	doc = list_json(2);
	b = board_at(doc, 0);
	ck_assert_str_eq(str(b, "name"), "octopus");
	ck_assert_str_eq(str(b, "mcu"), "stm32f446xx");
	ck_assert_str_eq(str(b, "serial_path"), by_id(OCTOPUS_ID));
	ck_assert_str_eq(str(b, "usb_serial"), "1A2B3C4D5E6F708192A3B4C5");
	ck_assert_str_eq(str(b, "method"), "auto");
	ck_assert_str_eq(str(b, "klipper_mcu"), "mcu");
	ck_assert(json_object_object_get_ex(b, "connection", NULL));
	ck_assert(json_object_object_get_ex(b, "last_flash", NULL));
	ck_assert_ptr_null(json_object_object_get(b, "last_flash"));
	b = board_at(doc, 1);
	ck_assert_str_eq(str(b, "method"), "katapult");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(b, "baud")), 250000);
	json_object_put(doc);

	r = kf_cli(env, "list", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus"));
	ck_assert_ptr_nonnull(strstr(r.out, "stm32g0b1xx"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "show", "ebb36", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Baud            250000"));
	ck_assert_ptr_nonnull(strstr(r.out, "Last flash      never"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "show", "ebb36", "--json", NULL);
	b = kf_cli_json(&r);
	ck_assert_str_eq(str(b, "serial_path"), "/dev/ttyAMA0");
	json_object_put(b);
	kf_cli_result_free(&r);

	r = kf_cli(env, "show", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "no board named 'ghost'"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "remove", "octopus", NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	doc = list_json(1);
	ck_assert_str_eq(str(board_at(doc, 0), "name"), "ebb36");
	json_object_put(doc);

	r = kf_cli(env, "remove", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "no board named octopus"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_add_reports_a_board_in_another_mode)
{
	struct kf_cli_result r;

	setup();
	ck_assert_int_eq(symlink("/dev/null",
				 by_id("usb-katapult_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00")),
			 0);
	r = kf_cli(env, "add", "octopus", "--serial", by_id(OCTOPUS_ID), NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "Board octopus is connected, in katapult mode, at "));
	ck_assert_ptr_null(strstr(r.err, "warning"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_seed_tool_aliases)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	r = kf_cli(env, "add", "pico", "--serial", by_id(PICO_ID), NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);

	r = kf_cli(env, "--list-devices", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(str(board_at(doc, 0), "mcu"), "rp2040");
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* --add-device without a terminal cannot ask. */
	r = kf_cli(env, "--add-device", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_TTY);
	ck_assert_ptr_nonnull(strstr(r.err, "stdin is not a terminal"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "--remove-device", "pico", NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	doc = list_json(0);
	json_object_put(doc);
	teardown();
}
END_TEST

START_TEST(cli_add_refuses_bad_input)
{
	static const struct {
		const char *args[10];
		int status;
		const char *needle;
	} cases[] = {
		{ { "add", "../x", "--serial", "/dev/ttyS0", "--mcu", "rp2040" },
		  -KFLASH_ERR_INVALID,
		  "'../x' is not a valid board name" },
		{ { "add", "A b", "--serial", "/dev/ttyS0", "--mcu", "rp2040" },
		  -KFLASH_ERR_INVALID,
		  "'A b' is not a valid board name" },
		{ { "add", "x", "--serial", "/dev/ttyS0" },
		  -KFLASH_ERR_INVALID,
		  "the MCU is unknown" },
		{ { "add", "x", "--serial", "ttyS0", "--mcu", "rp2040" },
		  -KFLASH_ERR_INVALID,
		  "invalid serial path 'ttyS0'" },
		{ { "add", "x", "--serial", "/dev/ttyS0", "--mcu", "rp2040", "--method", "dfu" },
		  -KFLASH_ERR_INVALID,
		  "unknown flash method 'dfu'" },
		{ { "add", "x", "--serial", "/dev/ttyS0", "--mcu", "rp2040", "--baud", "fast" },
		  -KFLASH_ERR_INVALID,
		  "invalid baud rate 'fast'" },
		{ { "add", "x", "--serial", "/dev/ttyS0", "--mcu", "rp2040", "--method", "sdcard" },
		  -KFLASH_ERR_INVALID,
		  "has no SD card board name" },
		{ { "add", "x", "--serial", "/dev/ttyS0", "--mcu", "rp2040", "--klipper-mcu",
		    "tool" },
		  -KFLASH_ERR_INVALID,
		  "\"mcu\" or \"mcu <name>\"" },
		{ { "add", "x", "y" }, 64, "unexpected argument 'y'" },
		{ { "add", "x", "--bogus" }, 64, "bogus" },
	};
	struct kf_cli_result r;

	setup();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = kf_cli_run(env, cases[i].args);
		ck_assert_msg(r.status == cases[i].status, "case %zu: status %d: %s", i, r.status,
			      r.err);
		ck_assert_msg(strstr(r.err, cases[i].needle), "case %zu: %s", i, r.err);
		kf_cli_result_free(&r);
	}
	/* Nothing was written by any of them. */
	ck_assert_ptr_null(kf_test_read_file(registry));
	teardown();
}
END_TEST

START_TEST(cli_add_refuses_duplicates_naming_the_board)
{
	struct kf_cli_result r;

	setup();
	r = kf_cli(env, "add", "octopus", "--serial", by_id(OCTOPUS_ID), NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	r = kf_cli(env, "add", "octopus", "--serial", "/dev/ttyS1", "--mcu", "rp2040", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_EXISTS);
	ck_assert_ptr_nonnull(strstr(r.err, "a board named octopus is registered already"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "add", "again", "--serial",
		   by_id("usb-katapult_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00"), NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_EXISTS);
	ck_assert_ptr_nonnull(strstr(r.err, "belongs to board octopus"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

/* The "error" object of a JSON document; the test fails without one. */
static struct json_object *
fx_error(struct json_object *doc)
{
	struct json_object *e = NULL;

	ck_assert_msg(json_object_object_get_ex(doc, "error", &e) &&
			      json_object_is_type(e, json_type_object),
		      "no error object in %s", json_object_to_json_string(doc));
	return e;
}

START_TEST(cli_corrupt_registry_stops_every_command)
{
	static const char *const commands[][8] = {
		{ "list", NULL },
		{ "list", "--json", NULL },
		{ "show", "octopus", NULL },
		{ "add", "pico", "--serial", "/dev/ttyS0", "--mcu", "rp2040" },
		{ "remove", "octopus", NULL },
		{ "--list-devices", NULL },
	};
	const char *broken = "{\"version\": 1, \"boards\": [\n"
			     "  {\"name\": \"octopus\", \"mcu\": 42}\n"
			     "]}\n";
	struct kf_cli_result r;
	char *after;

	setup();
	/* Two writes: the second keeps the first as devices.json.bak. */
	r = kf_cli(env, "add", "octopus", "--serial", "/dev/ttyS0", "--mcu", "stm32f446xx", NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	r = kf_cli(env, "add", "ebb36", "--serial", "/dev/ttyS1", "--mcu", "stm32g0b1xx", NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	kf_test_write_file(registry, broken);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char where[4300];

		r = kf_cli_run(env, commands[i]);
		ck_assert_msg(r.status == -KFLASH_ERR_CORRUPT, "%s: status %d", commands[i][0],
			      r.status);
		snprintf(where, sizeof(where), "%s:2:23: board 1: \"mcu\" should be", registry);
		ck_assert_msg(strstr(r.err, where), "%s: %s", commands[i][0], r.err);
		ck_assert_ptr_nonnull(strstr(r.err, "restore the previous version with: cp "));
		/* With --json the failure is the one document on stdout; else stdout is empty. */
		if (commands[i][1] && strcmp(commands[i][1], "--json") == 0) {
			struct json_object *doc = kf_cli_json(&r), *e = fx_error(doc);

			ck_assert_int_eq(json_object_get_int(json_object_object_get(e, "code")),
					 -KFLASH_ERR_CORRUPT);
			ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "name")),
					 "KFLASH_ERR_CORRUPT");
			ck_assert_ptr_nonnull(
				strstr(json_object_get_string(json_object_object_get(e, "message")),
				       where));
			json_object_put(doc);
		} else {
			ck_assert_str_eq(r.out, "");
		}
		kf_cli_result_free(&r);
	}
	after = kf_test_read_file(registry);
	ck_assert_str_eq(after, broken);
	free(after);
	teardown();
}
END_TEST

START_TEST(cli_concurrent_adds)
{
	int n = getenv("KF_TEST_VALGRIND_CLI") ? 4 : 20;
	struct json_object *doc;
	pid_t pids[20];

	setup();
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char name[16], serial[128];
			struct kf_cli_result r;

			snprintf(name, sizeof(name), "board%02d", i);
			snprintf(serial, sizeof(serial),
				 "/dev/serial/by-id/usb-Klipper_rp2040_%016X-if00", i + 1);
			r = kf_cli(env, "add", name, "--serial", serial, NULL);
			if (r.status != 0)
				fprintf(stderr, "%s: %s", name, r.err);
			_exit(r.status);
		}
	}
	for (int i = 0; i < n; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "add %d: status %d", i,
			      status);
	}
	doc = list_json((size_t)n);
	for (int i = 0; i < n; i++) {
		char name[16];
		bool found = false;

		snprintf(name, sizeof(name), "board%02d", i);
		for (int j = 0; j < n; j++)
			found = found || strcmp(str(board_at(doc, (size_t)j), "name"), name) == 0;
		ck_assert_msg(found, "%s is missing", name);
	}
	json_object_put(doc);
	teardown();
}
END_TEST

START_TEST(cli_remove_purge)
{
	char config[4300], build[4300], cmd[13000];
	struct kf_cli_result r;

	setup();
	snprintf(config, sizeof(config), "%s/config/configs/octopus.config", dir);
	snprintf(build, sizeof(build), "%s/cache/build/octopus", dir);
	for (int purge = 0; purge < 2; purge++) {
		r = kf_cli(env, "add", "octopus", "--serial", "/dev/ttyS0", "--mcu", "stm32f446xx",
			   NULL);
		ck_assert_int_eq(r.status, 0);
		kf_cli_result_free(&r);
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/config/configs' '%s/out' && echo x > '%s'",
			 dir, build, config);
		ck_assert_int_eq(system(cmd), 0);

		r = purge ? kf_cli(env, "remove", "octopus", "--purge", NULL)
			  : kf_cli(env, "remove", "octopus", NULL);
		ck_assert_msg(r.status == 0, "%s", r.err);
		ck_assert_int_eq(access(config, F_OK) == 0, !purge);
		ck_assert_int_eq(access(build, F_OK) == 0, !purge);
		kf_cli_result_free(&r);
	}
	r = kf_cli(env, "remove", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_add_wizard_on_a_terminal)
{
	static const char *const argv[] = { "add", NULL };
	static const char *const script[] = {
		"Board name",   "A b\n",                            /* refused, asked again */
		"Board name",   "octopus\n",  "Serial port", "9\n", /* out of range */
		"Serial port",  "2\n",        "MCU",         "\n",  /* the by-id name's */
		"Flash method", "katapult\n", NULL,
	};
	struct kf_cli_result r;
	struct json_object *doc, *b;

	setup();
	ck_assert_int_eq(symlink("/dev/null", by_id(PICO_ID)), 0);
	ck_assert_int_eq(symlink("/dev/zero", by_id(OCTOPUS_ID)), 0);
	r = kf_cli_pty(env, argv, script);
	ck_assert_msg(r.status == 0, "status %d:\n%s", r.status, r.out);
	/* The list is sorted: octopus's link is the second. */
	ck_assert_ptr_nonnull(strstr(r.out, "1) " PICO_ID " (klipper, rp2040)"));
	ck_assert_ptr_nonnull(strstr(r.out, "2) " OCTOPUS_ID " (klipper, stm32f446xx)"));
	ck_assert_ptr_nonnull(strstr(r.out, "'A b' is not a valid board name"));
	ck_assert_ptr_nonnull(strstr(r.out, "Type a number from the list"));
	ck_assert_ptr_nonnull(strstr(r.out, "[stm32f446xx]"));
	ck_assert_ptr_nonnull(strstr(r.out, "Added board octopus"));
	kf_cli_result_free(&r);

	doc = list_json(1);
	b = board_at(doc, 0);
	ck_assert_str_eq(str(b, "serial_path"), by_id(OCTOPUS_ID));
	ck_assert_str_eq(str(b, "mcu"), "stm32f446xx");
	ck_assert_str_eq(str(b, "method"), "katapult");
	json_object_put(doc);
	teardown();
}
END_TEST

START_TEST(cli_add_wizard_stops_at_end_of_input)
{
	static const char *const argv[] = { "add", "pico", NULL };
	static const char *const script[] = { "Serial port", "\004", NULL };
	struct kf_cli_result r;

	setup();
	r = kf_cli_pty(env, argv, script);
	ck_assert_msg(r.status == -KFLASH_ERR_CANCELLED, "status %d:\n%s", r.status, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "No serial ports found under"));
	ck_assert_ptr_nonnull(strstr(r.out, "No board added."));
	kf_cli_result_free(&r);
	ck_assert_ptr_null(kf_test_read_file(registry));
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_boards)
{
	kf_test_add_timeout(cli_add_list_show_remove, 120);
	kf_test_add_timeout(cli_add_reports_a_board_in_another_mode, 120);
	kf_test_add_timeout(cli_seed_tool_aliases, 120);
	kf_test_add_timeout(cli_add_refuses_bad_input, 120);
	kf_test_add_timeout(cli_add_refuses_duplicates_naming_the_board, 120);
	kf_test_add_timeout(cli_corrupt_registry_stops_every_command, 120);
	kf_test_add_timeout(cli_concurrent_adds, 240);
	kf_test_add_timeout(cli_remove_purge, 120);
	kf_test_add_timeout(cli_add_wizard_on_a_terminal, 120);
	kf_test_add_timeout(cli_add_wizard_stops_at_end_of_input, 120);
}
