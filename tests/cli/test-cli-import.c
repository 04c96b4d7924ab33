/* SPDX-License-Identifier: MIT */
/* kflash import: a file, the instances of the host, dry runs, JSON, conflicts, the next steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-run.h"
#include "internal/fs.h"
#include "kf-test.h"

static char *dir;
static const char *const *env;
static char registry[4200];

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	env = kf_cli_env(dir);
	snprintf(registry, sizeof(registry), "%s/config/devices.json", dir);
}

static void
teardown(void)
{
	kf_test_rmtree(dir);
	free(dir);
}

static const char *
fixture(const char *name)
{
	static char path[2][4200];
	static int slot;

	slot = !slot;
	snprintf(path[slot], sizeof(path[slot]), "%s/%s", kf_test_fixtures_dir(), name);
	return path[slot];
}

static const char *
write_cfg(const char *content)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/printer.cfg", dir);
	kf_test_write_file(path, content);
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

/* Run kflash, expecting @status. */
#define run(want, ...)                                                                             \
	({                                                                                         \
		struct kf_cli_result _r = kf_cli(env, __VA_ARGS__, NULL);                          \
		ck_assert_msg(_r.status == (want), "exit %d, not %d; stdout:\n%s\nstderr:\n%s",    \
			      _r.status, (want), _r.out, _r.err);                                  \
		_r;                                                                                \
	})

START_TEST(cli_import_file)
{
	struct kf_cli_result r;

	r = run(0, "import", fixture("printer-cfg/can-toolhead/printer.cfg"));
	ck_assert_ptr_nonnull(
		strstr(r.out, "add        mcu              a new board from [mcu] ("));
	ck_assert_ptr_nonnull(
		strstr(r.out, "add        ebbcan           a new board from [mcu EBBCan]"));
	ck_assert_ptr_nonnull(strstr(r.out, "add        host             "));
	/* Each board without its config gets its next step, then the flash. */
	ck_assert_ptr_nonnull(strstr(r.err, "  kflash config mcu\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "  kflash config ebbcan   (its MCU is not known yet"));
	ck_assert_ptr_nonnull(strstr(r.err, "Then: kflash flash --all\n"));
	kf_cli_result_free(&r);

	r = run(0, "import", fixture("printer-cfg/can-toolhead/printer.cfg"));
	ck_assert_ptr_nonnull(strstr(r.out, "unchanged  mcu              registered as [mcu] ("));
	kf_cli_result_free(&r);
	/* list and show tell what the import set. */
	r = run(0, "list");
	ck_assert_ptr_nonnull(strstr(r.out, "ebbcan           -              auto"));
	ck_assert_ptr_null(strstr(r.out, "INSTANCE"));
	kf_cli_result_free(&r);
	r = run(0, "show", "ebbcan");
	ck_assert_ptr_nonnull(strstr(r.out, "Imported from   [mcu EBBCan] of "));
	ck_assert_ptr_nonnull(strstr(r.out, "CAN UUID        61755fe321ac\n"));
	kf_cli_result_free(&r);
	r = run(0, "import", fixture("printer-cfg/can-toolhead/printer.cfg"), "-q");
	ck_assert_str_eq(r.err, "");
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_dry_run_and_json)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards, *b, *changes;

	r = run(0, "import", fixture("printer-cfg/one-mcu/printer.cfg"), "--dry-run");
	ck_assert_ptr_nonnull(strstr(r.err, "Dry run: these changes are not written."));
	ck_assert_ptr_nonnull(strstr(r.out, "add        mcu "));
	ck_assert_ptr_nonnull(strstr(r.err, "(after the import)"));
	ck_assert_int_eq(kf_fs_exists(registry), 0);
	kf_cli_result_free(&r);

	r = run(0, "import", fixture("printer-cfg/one-mcu/printer.cfg"), "--dry-run", "--json");
	doc = kf_cli_json(&r);
	ck_assert(json_object_get_boolean(json_object_object_get(doc, "dry_run")));
	ck_assert_ptr_nonnull(json_object_object_get(doc, "kflash_version"));
	ck_assert_ptr_null(json_object_object_get(doc, "error"));
	boards = json_object_object_get(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 1);
	b = json_object_array_get_idx(boards, 0);
	ck_assert_str_eq(str(b, "name"), "mcu");
	ck_assert_str_eq(str(b, "action"), "add");
	ck_assert_str_eq(str(b, "section"), "mcu");
	ck_assert_str_eq(str(b, "file"), fixture("printer-cfg/one-mcu/printer.cfg"));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(b, "line")), 30);
	ck_assert_str_eq(str(b, "mcu"), "stm32f103xe");
	ck_assert_str_eq(str(b, "mcu_source"), "by-id");
	ck_assert_str_eq(str(b, "usb_serial"), "34FFD8054E4B313830761643");
	ck_assert_str_eq(str(b, "restart_method"), "command");
	ck_assert_ptr_null(json_object_object_get(b, "instance"));
	ck_assert_ptr_null(json_object_object_get(b, "baud"));
	ck_assert(!json_object_get_boolean(json_object_object_get(b, "has_config")));
	ck_assert_ptr_nonnull(strstr(str(b, "message"), "a new board from [mcu]"));
	changes = json_object_object_get(b, "changes");
	ck_assert_uint_eq(json_object_array_length(changes), 4);
	ck_assert_str_eq(str(json_object_array_get_idx(changes, 1), "field"), "serial_path");
	ck_assert_ptr_null(json_object_object_get(json_object_array_get_idx(changes, 1), "from"));
	ck_assert(!json_object_get_boolean(
		json_object_object_get(json_object_array_get_idx(changes, 1), "conflict")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_fs_exists(registry), 0);

	r = run(0, "import", fixture("printer-cfg/one-mcu/printer.cfg"), "--json");
	doc = kf_cli_json(&r);
	ck_assert(!json_object_get_boolean(json_object_object_get(doc, "dry_run")));
	ck_assert_int_eq(kf_fs_exists(registry), 1);
	json_object_put(doc);
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_instances)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards;

	kf_test_copy_fixture("printer-cfg/instances", dir);
	r = run(0, "import");
	ck_assert_ptr_nonnull(strstr(r.out, "add        1-mcu            klipper-1: a new board"));
	ck_assert_ptr_nonnull(strstr(r.out, "add        2-mcu            klipper-2: a new board"));
	ck_assert_ptr_nonnull(strstr(r.out, "add        2-toolhead       klipper-2: a new board"));
	kf_cli_result_free(&r);
	/* The instance of each board shows, as it is not the default one. */
	r = run(0, "list");
	ck_assert_ptr_nonnull(strstr(r.out, "INSTANCE"));
	ck_assert_ptr_nonnull(strstr(r.out, " klipper-2    "));
	kf_cli_result_free(&r);
	r = run(0, "list", "--json");
	doc = kf_cli_json(&r);
	boards = json_object_object_get(doc, "boards");
	ck_assert_str_eq(str(json_object_array_get_idx(boards, 0), "service"), "klipper-1");
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* One instance by its name; an unknown one is refused with the list. */
	r = run(0, "import", "--instance", "2");
	ck_assert_ptr_nonnull(strstr(r.out, "unchanged  2-mcu            klipper-2: registered"));
	ck_assert_ptr_null(strstr(r.out, "1-mcu"));
	kf_cli_result_free(&r);
	r = run(2, "import", "--instance", "klipper-9");
	ck_assert_ptr_nonnull(strstr(r.err, "no Klipper instance 'klipper-9' among the units of "));
	ck_assert_ptr_nonnull(strstr(r.err, "(klipper-1, klipper-2)"));
	kf_cli_result_free(&r);
	/* A file for an instance: its boards get the instance's unit. */
	r = run(0, "import", write_cfg("[mcu]\nserial: /dev/ttyAMA0\n"), "--instance", "klipper-1",
		"--json");
	doc = kf_cli_json(&r);
	boards = json_object_object_get(doc, "boards");
	ck_assert_str_eq(str(json_object_array_get_idx(boards, 0), "name"), "1-mcu");
	ck_assert_str_eq(str(json_object_array_get_idx(boards, 0), "action"), "update");
	ck_assert_str_eq(str(json_object_array_get_idx(boards, 0), "instance"), "klipper-1");
	json_object_put(doc);
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_status_shows_instances)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards;

	kf_test_copy_fixture("printer-cfg/instances", dir);
	r = run(0, "import", "-q");
	kf_cli_result_free(&r);
	r = kf_cli(env, "status", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "BOARD            INSTANCE     LAST FLASHED"));
	ck_assert_ptr_nonnull(strstr(r.out, "2-toolhead       klipper-2    -"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "status", "--json", NULL);
	doc = kf_cli_json(&r);
	boards = json_object_object_get(doc, "boards");
	ck_assert_str_eq(str(json_object_array_get_idx(boards, 0), "instance"), "klipper-1");
	json_object_put(doc);
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_without_instances)
{
	struct kf_cli_result r = run(2, "import");

	ck_assert_ptr_nonnull(strstr(r.err, "no Klipper instance was found in "));
	ck_assert_ptr_nonnull(strstr(r.err, "kflash import ~/printer_data/config/printer.cfg"));
	kf_cli_result_free(&r);
	r = run(0, "paths");
	ck_assert_ptr_nonnull(strstr(r.out, "units_dir      "));
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_conflict)
{
	struct kf_cli_result r;
	struct json_object *doc, *err;

	r = run(0, "import", write_cfg("[mcu]\nserial: /dev/ttyAMA0\n"), "-q");
	kf_cli_result_free(&r);
	r = run(0, "set", "mcu", "--serial", "/dev/ttyACM0", "-q");
	kf_cli_result_free(&r);
	write_cfg("[mcu]\nserial: /dev/ttyS0\n");
	r = run(3, "import", write_cfg("[mcu]\nserial: /dev/ttyS0\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "conflict   mcu              edited since its import"));
	ck_assert_ptr_nonnull(strstr(r.err, "error: board mcu was edited since its import"));
	ck_assert_ptr_nonnull(strstr(r.err, "hint: add --force"));
	kf_cli_result_free(&r);

	r = run(3, "import", write_cfg("[mcu]\nserial: /dev/ttyS0\n"), "--json");
	doc = kf_cli_json(&r);
	err = json_object_object_get(doc, "error");
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(str(err, "name"), "KFLASH_ERR_EXISTS");
	ck_assert_str_eq(str(err, "hint"), "force");
	ck_assert_str_eq(
		str(json_object_array_get_idx(json_object_object_get(doc, "boards"), 0), "action"),
		"conflict");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = run(0, "import", write_cfg("[mcu]\nserial: /dev/ttyS0\n"), "--force");
	ck_assert_ptr_nonnull(strstr(r.out, "update     mcu              [mcu] ("));
	ck_assert_ptr_nonnull(
		strstr(r.out, "serial path /dev/ttyACM0 -> /dev/ttyS0 (over an edit)"));
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_import_errors)
{
	struct kf_cli_result r;
	struct json_object *doc;
	char missing[4300];

	snprintf(missing, sizeof(missing), "%s/nothing.cfg", dir);
	r = run(2, "import", missing, "--json");
	doc = kf_cli_json(&r);
	ck_assert_str_eq(str(json_object_object_get(doc, "error"), "name"), "KFLASH_ERR_NOT_FOUND");
	ck_assert_ptr_nonnull(strstr(str(json_object_object_get(doc, "error"), "message"),
				     "there is no Klipper config at "));
	ck_assert_ptr_nonnull(json_object_object_get(doc, "kflash_version"));
	json_object_put(doc);
	kf_cli_result_free(&r);
	r = run(1, "import", fixture("printer-cfg/errors/loop-a.cfg"));
	ck_assert_ptr_nonnull(strstr(r.err, "an include loop"));
	kf_cli_result_free(&r);
	r = run(4, "import", fixture("printer-cfg/errors/bad-section.cfg"));
	ck_assert_ptr_nonnull(strstr(r.err, "bad-section.cfg:4:"));
	kf_cli_result_free(&r);
	r = run(64, "import", "a.cfg", "b.cfg");
	ck_assert_ptr_nonnull(strstr(r.err, "unexpected argument 'b.cfg'"));
	kf_cli_result_free(&r);
	r = run(64, "import", "--instance");
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_fs_exists(registry), 0);
}
END_TEST

START_TEST(cli_import_then_config)
{
	struct kf_cli_result r;

	/* The three commands of a first use: import, config, (flash). */
	r = run(0, "import", write_cfg("[mcu]\ncanbus_uuid: 0e0d81e4210c\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "  kflash config mcu   (its MCU is not known yet"));
	kf_cli_result_free(&r);
	r = run(0, "config", "mcu", "--from",
		fixture("klipper-configs/stm32f446_can_katapult.config"));
	ck_assert_ptr_nonnull(strstr(r.err, "Board mcu is a stm32f446xx, as its config says."));
	kf_cli_result_free(&r);
	r = run(0, "show", "mcu");
	ck_assert_ptr_nonnull(strstr(r.out, "MCU             stm32f446xx\n"));
	kf_cli_result_free(&r);
	/* With its config, the next step is the flash. */
	r = run(0, "import", write_cfg("[mcu]\ncanbus_uuid: 0e0d81e4210c\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "unchanged  mcu "));
	ck_assert_ptr_nonnull(
		strstr(r.err, "Every board has its Klipper config. Next: kflash flash --all"));
	kf_cli_result_free(&r);
	r = run(0, "import", "--help");
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kflash import [FILE] [--instance NAME]"));
	kf_cli_result_free(&r);
}
END_TEST

KF_TEST_SUITE(cli_import)
{
	kf_test_fixture(setup, teardown);
	kf_test_add_timeout(cli_import_file, 60);
	kf_test_add_timeout(cli_import_dry_run_and_json, 60);
	kf_test_add_timeout(cli_import_instances, 60);
	kf_test_add_timeout(cli_import_status_shows_instances, 60);
	kf_test_add_timeout(cli_import_without_instances, 60);
	kf_test_add_timeout(cli_import_conflict, 60);
	kf_test_add_timeout(cli_import_errors, 60);
	kf_test_add_timeout(cli_import_then_config, 60);
}
