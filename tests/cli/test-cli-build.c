/* SPDX-License-Identifier: MIT */
/* kflash config and kflash build against the fake Klipper tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-run.h"
#include "kf-test.h"

static char *dir;
static const char *env[16];
static char values[3][9000];

static void
setup(void)
{
	const char *const *base;
	size_t n = 0;

	dir = kf_test_mkdtemp();
	kf_test_fake_klipper(dir);
	base = kf_cli_env(dir);
	for (; base[n]; n++)
		env[n] = base[n];
	snprintf(values[0], sizeof(values[0]), "PATH=%s:%s", getenv("KF_FAKES_BIN"),
		 getenv("PATH"));
	snprintf(values[1], sizeof(values[1]), "KF_FAKE_KLIPPER_LOG=%s/make.log", dir);
	env[n++] = values[0];
	env[n++] = values[1];
	env[n] = NULL;
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
	snprintf(values[2], sizeof(values[2]), "%s/klipper-configs/%s.config",
		 kf_test_fixtures_dir(), name);
	return values[2];
}

static void
add_octopus(void)
{
	struct kf_cli_result r = kf_cli(env, "add", "octopus", "--serial", "/dev/ttyACM0", "--mcu",
					"stm32f446xx", NULL);

	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
}

static const char *
str(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

START_TEST(cli_config_from_and_refresh)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	add_octopus();
	r = kf_cli(env, "config", "octopus", "--from", fixture("rp2040_usb"), NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	ck_assert_ptr_nonnull(strstr(r.err, "board octopus is a stm32f446xx"));
	ck_assert_ptr_nonnull(strstr(r.err, "is for a rp2040"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "config", "octopus", "--from", fixture("stm32f446_usb"), "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(str(doc, "mcu"), "stm32f446xx");
	ck_assert_str_eq(str(doc, "communication"), "usb");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "config", "octopus", "--refresh", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "Next: kflash build octopus"));
	kf_cli_result_free(&r);

	/* menuconfig needs a terminal; kf_cli gives it /dev/null. */
	r = kf_cli(env, "config", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_TTY);
	ck_assert_ptr_nonnull(strstr(r.err, "needs a terminal"));
	ck_assert_ptr_nonnull(strstr(r.err, "hint: run kflash config octopus, or kflash config "
					    "octopus --from FILE"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "config", "octopus", "--from", "x", "--refresh", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(env, "config", "ghost", "--refresh", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_config_menuconfig_on_a_terminal)
{
	static const char *const argv[] = { "config", "octopus", NULL };
	static const char *const script[] = { "Press Enter", "\n", NULL };
	struct kf_cli_result r;

	setup();
	add_octopus();
	r = kf_cli(env, "config", "octopus", "--from", fixture("stm32f446_usb"), NULL);
	ck_assert_int_eq(r.status, 0);
	kf_cli_result_free(&r);
	r = kf_cli_pty(env, argv, script);
	ck_assert_msg(r.status == 0, "status %d:\n%s", r.status, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "is for a stm32f446xx (usb)"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_build_json_and_up_to_date)
{
	struct kf_cli_result r;
	struct json_object *doc, *b;

	setup();
	/* Nothing registered: --all says so, as flash --all does. */
	r = kf_cli(env, "build", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "no boards to build: register one with kflash add"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_str_eq(r.out, "");
	kf_cli_result_free(&r);
	add_octopus();
	r = kf_cli(env, "build", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "kflash config octopus"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "config", "octopus", "--from", fixture("stm32f446_usb"), NULL);
	kf_cli_result_free(&r);

	r = kf_cli(env, "build", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	b = json_object_array_get_idx(json_object_object_get(doc, "boards"), 0);
	ck_assert_str_eq(str(b, "name"), "octopus");
	ck_assert_str_eq(str(b, "result"), "built");
	ck_assert_str_eq(str(b, "mcu"), "stm32f446xx");
	ck_assert_ptr_nonnull(strstr(str(b, "artifact"), "/build/octopus/klipper.bin"));
	ck_assert_int_gt(json_object_get_int(json_object_object_get(b, "size")), 1000);
	ck_assert_ptr_nonnull(strstr(str(b, "version"), "v0.12.0-0-g"));
	ck_assert_ptr_nonnull(strstr(r.err, "[Build] octopus:"));
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "build", "octopus", "--json", NULL);
	doc = kf_cli_json(&r);
	b = json_object_array_get_idx(json_object_object_get(doc, "boards"), 0);
	ck_assert_str_eq(str(b, "result"), "up-to-date");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "build", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(env, "build", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_build_failure_shows_the_tail)
{
	const char *fail_env[20];
	struct kf_cli_result r;
	size_t n = 0;

	setup();
	add_octopus();
	r = kf_cli(env, "config", "octopus", "--from", fixture("stm32f446_usb"), NULL);
	kf_cli_result_free(&r);
	for (; env[n]; n++)
		fail_env[n] = env[n];
	fail_env[n++] = "KF_FAKE_KLIPPER_FAIL=1";
	fail_env[n] = NULL;
	/* Quiet: make's lines are hidden, but the failure shows its last lines. */
	r = kf_cli(fail_env, "-q", "build", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_BUILD);
	ck_assert_ptr_nonnull(strstr(r.err, "failed with exit status 2"));
	ck_assert_ptr_nonnull(strstr(r.err, "'timer' undeclared"));
	ck_assert_ptr_null(strstr(r.err, "[Build] octopus: src/sched.c"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_build)
{
	kf_test_add_timeout(cli_config_from_and_refresh, 120);
	kf_test_add_timeout(cli_config_menuconfig_on_a_terminal, 120);
	kf_test_add_timeout(cli_build_json_and_up_to_date, 120);
	kf_test_add_timeout(cli_build_failure_shows_the_tail, 120);
}
