/* SPDX-License-Identifier: MIT */
/* kflash service stop|start|status, against the fake systemctl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-run.h"
#include "kf-test.h"

static char *dir;
static const char *env[16];
static char values[4][4400];

static void
setup(void)
{
	const char *const *base;
	size_t n = 0;

	dir = kf_test_mkdtemp();
	base = kf_cli_env(dir);
	for (; base[n]; n++)
		env[n] = base[n];
	snprintf(values[0], sizeof(values[0]), "PATH=%s:%s", getenv("KF_FAKES_BIN"),
		 getenv("PATH"));
	snprintf(values[1], sizeof(values[1]), "KF_FAKE_LOG=%s/calls.log", dir);
	snprintf(values[2], sizeof(values[2]), "KF_FAKE_STATE=%s/state", dir);
	for (int i = 0; i < 3; i++)
		env[n++] = values[i];
	env[n] = NULL;
	snprintf(values[3], sizeof(values[3]), "%s/state", dir);
	ck_assert_int_eq(mkdir(values[3], 0755), 0);
}

static void
teardown(void)
{
	kf_test_rmtree(dir);
	free(dir);
}

static const char *
unit_state(struct json_object *doc, size_t i, const char *name)
{
	struct json_object *units, *u, *v;

	ck_assert(json_object_object_get_ex(doc, "units", &units));
	u = json_object_array_get_idx(units, i);
	ck_assert(json_object_object_get_ex(u, "name", &v));
	ck_assert_str_eq(json_object_get_string(v), name);
	ck_assert(json_object_object_get_ex(u, "state", &v));
	return json_object_get_string(v);
}

START_TEST(cli_service_stop_status_start)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	/* A board with a unit of its own is listed too. */
	r = kf_cli(env, "add", "ebb", "--serial", "/dev/ttyS0", "--mcu", "rp2040", "--unit",
		   "klipper-2", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);

	r = kf_cli(env, "service", "stop", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(unit_state(doc, 0, "klipper"), "inactive");
	ck_assert_str_eq(unit_state(doc, 1, "klipper-2"), "inactive");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "service", "status", "--json", "klipper", NULL);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(unit_state(doc, 0, "klipper"), "inactive");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "service", "start", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "klipper              active"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(cli_service_errors)
{
	struct kf_cli_result r;

	setup();
	r = kf_cli(env, "service", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "stop, start or status"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "service", "restart", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown action 'restart'"));
	kf_cli_result_free(&r);
	/* A broken registry: the configured unit still answers, with a warning. */
	{
		char path[4400];

		snprintf(path, sizeof(path), "mkdir -p '%s/config'", dir);
		ck_assert_int_eq(system(path), 0);
		snprintf(path, sizeof(path), "%s/config/devices.json", dir);
		kf_test_write_file(path, "{");
	}
	r = kf_cli(env, "service", "status", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "klipper"));
	ck_assert_ptr_nonnull(strstr(r.err, "the boards' own units are not known"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "service", "status", "bad/unit", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(r.err, "'bad/unit' is not a systemd unit name"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_service)
{
	kf_test_add_timeout(cli_service_stop_status_start, 120);
	kf_test_add_timeout(cli_service_errors, 120);
}
