/* SPDX-License-Identifier: MIT */
/* The kflash tool's skeleton: help, version, options, exit codes, JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-run.h"
#include "kf-test.h"

static const char *
json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key %s", key);
	return json_object_get_string(v);
}

START_TEST(cli_help_lists_commands_and_exit_codes)
{
	struct kf_cli_result r = kf_cli(NULL, "--help", NULL);

	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kflash"));
	ck_assert_ptr_nonnull(strstr(r.out, "paths"));
	ck_assert_ptr_nonnull(strstr(r.out, "--klipper-dir DIR"));
	ck_assert_ptr_nonnull(strstr(r.out, "9    MCU mismatch (KFLASH_ERR_MCU_MISMATCH)"));
	ck_assert_ptr_nonnull(strstr(r.out, "64   usage error"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "help", "paths", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kflash paths"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "paths", "--help", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kflash paths"));
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_version)
{
	struct kf_cli_result r = kf_cli(NULL, "--version", NULL);

	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "kflash " KFLASH_VERSION "\n");
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_usage_errors_exit_64)
{
	const char *none[] = { NULL };
	struct kf_cli_result r = kf_cli_run(NULL, none);

	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "Usage: kflash"));
	ck_assert_str_eq(r.out, "");
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "frobnicate", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "paths", "--frob", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--frob'"));
	ck_assert_ptr_nonnull(strstr(r.err, "kflash paths --help"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "paths", "--config-dir", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "needs a value"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "paths", "--service=", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "KFLASH_SERVICE must be a non-empty value"));
	kf_cli_result_free(&r);

	r = kf_cli(NULL, "paths", "extra", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "unexpected argument 'extra'"));
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_flags_beat_environment)
{
	const char *env[] = { "KFLASH_CONFIG_DIR=/env/config", "KFLASH_SERVICE=klipper-env", NULL };
	struct kf_cli_result r;
	struct json_object *doc;

	/* Global options work before and after the command. */
	r = kf_cli(env, "--service", "klipper-flag", "paths", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_str(doc, "config_dir"), "/env/config");
	ck_assert_str_eq(json_str(doc, "registry"), "/env/config/devices.json");
	ck_assert_str_eq(json_str(doc, "service"), "klipper-flag");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "paths", "--json", "--config-dir=/flag/config", "--dev-dir", "/tmp/d",
		   NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_str(doc, "config_dir"), "/flag/config");
	ck_assert_str_eq(json_str(doc, "dev_dir"), "/tmp/d");
	ck_assert_str_eq(json_str(doc, "service"), "klipper-env");
	json_object_put(doc);
	kf_cli_result_free(&r);
}
END_TEST

START_TEST(cli_paths_text)
{
	char *dir = kf_test_mkdtemp();
	struct kf_cli_result r = kf_cli(kf_cli_env(dir), "paths", NULL);
	char expect[4200];

	ck_assert_int_eq(r.status, 0);
	snprintf(expect, sizeof(expect), "config_dir       %s/config\n", dir);
	ck_assert_ptr_nonnull(strstr(r.out, expect));
	ck_assert_str_eq(r.err, "");
	kf_cli_result_free(&r);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

KF_TEST_SUITE(cli_basics)
{
	kf_test_add(cli_help_lists_commands_and_exit_codes);
	kf_test_add(cli_version);
	kf_test_add(cli_usage_errors_exit_64);
	kf_test_add(cli_flags_beat_environment);
	kf_test_add(cli_paths_text);
}
