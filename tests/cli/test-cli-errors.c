/* SPDX-License-Identifier: MIT */
/*
 * How kflash fails: one JSON document also on failure, hints in kflash's
 * words, usage errors, and the commands that change boards (set, add)
 * refusing what cannot work. Read-only commands need only read access.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-run.h"
#include "kf-test.h"

static char *dir;
static const char *const *env;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	env = kf_cli_env(dir);
	/* A Klipper tree, so that MCU names are checked against its Kconfig. */
	kf_test_fake_klipper(dir);
}

static void
teardown(void)
{
	kf_test_rmtree(dir);
	free(dir);
}

static const char *
member(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return json_object_get_string(v);
}

/* The "error" object of kflash's JSON output; the test fails without one. */
static struct json_object *
error_of(struct json_object *doc)
{
	struct json_object *e = NULL;

	ck_assert_msg(json_object_object_get_ex(doc, "error", &e) &&
			      json_object_is_type(e, json_type_object),
		      "no error object in %s", json_object_to_json_string(doc));
	return e;
}

static void
ok(const char *const *argv)
{
	struct kf_cli_result r = kf_cli_run(env, argv);

	ck_assert_msg(r.status == 0, "kflash %s: %d %s", argv[0], r.status, r.err);
	kf_cli_result_free(&r);
}

/* Every command prints one JSON document with --json, also when it fails. */
static const struct {
	const char *args[8];
	int status;
	const char *name, *message;
} failing[] = {
	{ { "show", "ghost", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "no board named 'ghost'" },
	{ { "remove", "ghost", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "no board named ghost" },
	{ { "flash", "ghost", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "no board named ghost" },
	{ { "build", "ghost", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "ghost" },
	{ { "config", "ghost", "--refresh", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "ghost" },
	{ { "set", "ghost", "--notes", "x", "--json" }, 2, "KFLASH_ERR_NOT_FOUND", "ghost" },
	{ { "add", "x", "--json" }, 15, "KFLASH_ERR_NOT_TTY", "stdin is not a terminal" },
	{ { "list", "--bogus", "--json" }, 64, "usage", "unknown option '--bogus'" },
	{ { "frobnicate", "--json" }, 64, "usage", "unknown command 'frobnicate'" },
};

START_TEST(json_on_failure_is_one_document_with_an_error)
{
	struct kf_cli_result r;
	struct json_object *doc, *e;

	setup();
	r = kf_cli_run(env, failing[_i].args);
	ck_assert_msg(r.status == failing[_i].status, "status %d: %s", r.status, r.err);
	doc = kf_cli_json(&r);
	e = error_of(doc);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(e, "code")), r.status);
	ck_assert_str_eq(member(e, "name"), failing[_i].name);
	ck_assert_msg(strstr(member(e, "message"), failing[_i].message), "%s",
		      member(e, "message"));
	ck_assert_ptr_nonnull(strstr(member(doc, "kflash_version"), "."));
	json_object_put(doc);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(version_and_usage_errors)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	r = kf_cli(env, "--version", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(member(doc, "name"), "kflash");
	ck_assert_ptr_nonnull(strstr(member(doc, "kflash_version"), "."));
	json_object_put(doc);
	kf_cli_result_free(&r);
	r = kf_cli(env, "--version", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "kflash "));
	kf_cli_result_free(&r);

	/* The old tool's options that name a board need the name. */
	r = kf_cli(env, "--device", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "--device needs a board name"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "--remove-device", "--json", NULL);
	ck_assert_int_eq(r.status, 64);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(member(error_of(doc), "name"), "usage");
	json_object_put(doc);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

/* The library's hint, in kflash's words, once. */
START_TEST(errors_say_what_to_do_in_kflash_words)
{
	struct kf_cli_result r;
	struct json_object *doc;
	char from[4400];

	setup();
	ok((const char *const[]){ "add", "octopus", "--serial", "/dev/ttyS0", "--mcu",
				  "stm32f446xx", "-q", NULL });
	r = kf_cli(env, "build", "octopus", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "error: board octopus has no Klipper config yet"));
	ck_assert_ptr_nonnull(
		strstr(r.err, "hint: run kflash config octopus, or kflash config octopus --from"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "build", "octopus", "--json", NULL);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(member(error_of(doc), "hint"), "configure-board");
	ck_assert_str_eq(member(error_of(doc), "subject"), "octopus");
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* A flash of a board that was never built, with --no-build. */
	snprintf(from, sizeof(from), "%s/klipper-configs/stm32f446_usb.config",
		 kf_test_fixtures_dir());
	ok((const char *const[]){ "config", "octopus", "--from", from, "-q", NULL });
	r = kf_cli(env, "flash", "octopus", "--no-build", NULL);
	ck_assert_int_ne(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "hint: drop --no-build, or build it first with "
					    "kflash build octopus"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(set_changes_a_board_in_place)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	ok((const char *const[]){ "add", "octopus", "--serial", "/dev/ttyS0", "--mcu",
				  "stm32f446xx", "--notes", "old", "-q", NULL });
	r = kf_cli(env, "set", "octopus", "--serial", "/dev/ttyS7", "--baud", "250000", "--notes",
		   "", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(member(doc, "serial_path"), "/dev/ttyS7");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "baud")), 250000);
	ck_assert_ptr_null(json_object_object_get(doc, "notes"));
	json_object_put(doc);
	kf_cli_result_free(&r);
	r = kf_cli(env, "show", "octopus", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "/dev/ttyS7"));
	ck_assert_ptr_null(strstr(r.out, "old"));
	kf_cli_result_free(&r);

	/* Nothing to change, an unknown board, a bad value: refused, nothing written. */
	r = kf_cli(env, "set", "octopus", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "say what to change"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "set", "octopus", "--method", "sdcard", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "has no SD card board name"));
	ck_assert_ptr_nonnull(strstr(r.err, "hint: change the board with kflash set octopus"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "set", "octopus", "--mcu", "notachip", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "Klipper does not know the MCU 'notachip'"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "show", "octopus", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "stm32f446xx"));
	ck_assert_ptr_nonnull(strstr(r.out, "auto"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(add_refuses_what_could_never_work)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	r = kf_cli(env, "add", "x", "--serial", "/dev/ttyS0", "--mcu", "notachip", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "Klipper does not know the MCU 'notachip'"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "add", "x", "--serial", "/dev/ttyS0", "--mcu", "stm32f446", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "did you mean stm32f446xx?"));
	kf_cli_result_free(&r);

	ok((const char *const[]){ "add", "pi", "--serial", "/dev/ttyAMA0", "--mcu", "rp2040", "-q",
				  NULL });
	r = kf_cli(env, "add", "pi2", "--serial", "/dev/ttyAMA0", "--mcu", "rp2040", NULL);
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "which belongs to board pi already"));
	kf_cli_result_free(&r);

	/* A CAN board needs no serial path. */
	r = kf_cli(env, "add", "ebb", "--can-uuid", "aabbccddeeff", "--can-interface", "can0",
		   "--mcu", "stm32g0b1xx", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(member(doc, "can_uuid"), "aabbccddeeff");
	ck_assert_ptr_null(json_object_object_get(doc, "serial_path"));
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* Without a Klipper tree, the MCU name is not checked, and that is said. */
	r = kf_cli_run((const char *const[]){ env[0], env[1], env[2],
					      "KFLASH_KLIPPER_DIR=/nonexistent", env[4], env[5],
					      NULL },
		       (const char *const[]){ "add", "y", "--serial", "/dev/ttyS3", "--mcu",
					      "rp2040", NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "warning: the MCU name 'rp2040' is not checked"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

/*
 * list, show and status read; they must work with read access only (a
 * config dir made by another user, or a read-only one), and say nothing
 * about locks.
 */
START_TEST(read_only_commands_need_only_read_access)
{
	const struct kf_cli_opts as_user = { .ordinary_user = true };
	char config[4300], cmd[13000];
	struct kf_cli_result r;

	setup();
	ok((const char *const[]){ "add", "octopus", "--serial", "/dev/ttyS0", "--mcu",
				  "stm32f446xx", "-q", NULL });
	/* Readable by all, writable by nobody else (root's, when the test is root). */
	snprintf(config, sizeof(config), "%s/config", dir);
	snprintf(cmd, sizeof(cmd),
		 "chmod 0755 '%s' '%s' && chmod 0644 '%s/devices.json' && rm -f "
		 "'%s/devices.json.lock'",
		 dir, config, config, config);
	ck_assert_int_eq(system(cmd), 0);
	if (geteuid() != 0)
		ck_assert_int_eq(chmod(config, 0555), 0);
	for (int i = 0; i < 3; i++) {
		static const char *const commands[][3] = { { "list", NULL },
							   { "show", "octopus", NULL },
							   { "status", NULL } };

		r = kf_cli_run_opts(&as_user, env, commands[i]);
		ck_assert_msg(r.status == 0 || (i == 2 && r.status == 70), "%s: %d %s",
			      commands[i][0], r.status, r.err);
		ck_assert_msg(strstr(r.out, "octopus") != NULL, "%s: %s", commands[i][0], r.out);
		ck_assert_ptr_null(strstr(r.err, "lock"));
		kf_cli_result_free(&r);
	}
	/* A change cannot be made, and says whose the directory is. */
	r = kf_cli_run_opts(&as_user, env,
			    (const char *const[]){ "set", "octopus", "--notes", "x", NULL });
	ck_assert_int_eq(r.status, 8);
	if (geteuid() == 0)
		ck_assert_ptr_nonnull(strstr(r.err, "belongs to root, not to nobody"));
	ck_assert_ptr_nonnull(strstr(r.err, config));
	kf_cli_result_free(&r);
	chmod(config, 0700);
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_errors)
{
	kf_test_add_loop(json_on_failure_is_one_document_with_an_error,
			 (int)(sizeof(failing) / sizeof(failing[0])));
	kf_test_add(version_and_usage_errors);
	kf_test_add_timeout(errors_say_what_to_do_in_kflash_words, 30);
	kf_test_add(set_changes_a_board_in_place);
	kf_test_add(add_refuses_what_could_never_work);
	kf_test_add(read_only_commands_need_only_read_access);
}
