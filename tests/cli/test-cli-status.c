/* SPDX-License-Identifier: MIT */
/* kflash status against the fake Klipper tree and API server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-run.h"
#include "kf-test.h"

#define OLD "v0.11.0-120-g1234567"

static char *dir;
static char host[128];
static const char *const *env;
static pid_t klippy;

/* The fake tree's version, as git describes it. */
static void
read_host_version(void)
{
	char cmd[4400];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "git -C '%s/klipper' describe --always --tags --long --dirty",
		 dir);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(host, sizeof(host), p));
	pclose(p);
	host[strcspn(host, "\n")] = '\0';
	ck_assert_ptr_nonnull(strstr(host, "v0.12.0-0-g"));
}

/* Boards with their last flashes, written as the registry keeps them. */
static void
write_registry(void)
{
	char path[4400], text[4096];

	snprintf(path, sizeof(path), "mkdir -p '%s/config'", dir);
	ck_assert_int_eq(system(path), 0);
	snprintf(
		text, sizeof(text),
		"{\"version\": 1, \"boards\": [\n"
		"{\"name\": \"octopus\", \"mcu\": \"stm32f446xx\", \"klipper_mcu\": \"mcu\",\n"
		" \"last_flash\": {\"klipper_version\": \"%s\", \"time\": \"2026-11-24T10:00:00Z\","
		" \"firmware_hash\": null, \"result\": \"success\"}},\n"
		"{\"name\": \"ebb\", \"mcu\": \"stm32g0b1xx\", \"klipper_mcu\": \"mcu toolhead\",\n"
		" \"last_flash\": {\"klipper_version\": \"%s\", \"time\": \"2026-11-24T10:00:00Z\","
		" \"firmware_hash\": null, \"result\": \"success\"}},\n"
		"{\"name\": \"pico\", \"mcu\": \"rp2040\"},\n"
		"{\"name\": \"skr\", \"mcu\": \"stm32f407xx\",\n"
		" \"last_flash\": {\"klipper_version\": \"%s\", \"time\": \"2026-11-24T10:00:00Z\","
		" \"firmware_hash\": null, \"result\": \"failed\"}},\n"
		"{\"name\": \"old\", \"mcu\": \"stm32f103xe\",\n"
		" \"last_flash\": {\"klipper_version\": \"%s\", \"time\": \"2026-11-24T10:00:00Z\","
		" \"firmware_hash\": null, \"result\": \"success\"}}\n"
		"]}\n",
		host, host, host, OLD);
	snprintf(path, sizeof(path), "%s/config/devices.json", dir);
	kf_test_write_file(path, text);
}

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	kf_test_fake_klipper(dir);
	env = kf_cli_env(dir);
	read_host_version();
	write_registry();
	klippy = 0;
}

static void
stop_klippy(void)
{
	if (klippy > 0) {
		kill(klippy, SIGTERM);
		waitpid(klippy, NULL, 0);
		klippy = 0;
	}
}

static void
teardown(void)
{
	stop_klippy();
	kf_test_rmtree(dir);
	free(dir);
}

/* The fake API server with MCUs "NAME=VERSION", NULL-terminated. */
static void
start_klippy(const char *const *mcus)
{
	char sock[4400], ready[4400];
	const char *argv[32];
	size_t n = 0;

	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	snprintf(ready, sizeof(ready), "%s/klippy.ready", dir);
	argv[n++] = getenv("KF_KLIPPY_SERVER_BIN");
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	for (; *mcus; mcus++) {
		argv[n++] = "--mcu";
		argv[n++] = *mcus;
	}
	argv[n] = NULL;
	klippy = fork();
	ck_assert_int_ge(klippy, 0);
	if (klippy == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert(i < 5000);
		usleep(1000);
	}
}

static struct json_object *
find(struct json_object *doc, const char *list, const char *name)
{
	struct json_object *a = json_object_object_get(doc, list);

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);

		if (strcmp(json_object_get_string(json_object_object_get(o, "name")), name) == 0)
			return o;
	}
	ck_abort_msg("no %s named %s", list, name);
	return NULL;
}

static const char *
field(struct json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

static bool
flag(struct json_object *o, const char *key)
{
	return json_object_get_boolean(json_object_object_get(o, key));
}

START_TEST(status_with_live_mcus)
{
	char cur[256], toolhead[256], dirty[256], extra[256];
	struct kf_cli_result r;
	struct json_object *doc, *o;

	setup();
	snprintf(cur, sizeof(cur), "mcu=%s", host);
	snprintf(toolhead, sizeof(toolhead), "mcu toolhead=%s", OLD);
	snprintf(dirty, sizeof(dirty), "mcu dirty=%s-dirty-20261124_120000-pi", host);
	snprintf(extra, sizeof(extra), "mcu extra=%s", OLD);
	start_klippy((const char *const[]){ cur, toolhead, dirty, extra, NULL });

	r = kf_cli(env, "status", "--json", NULL);
	ck_assert_int_eq(r.status, 70);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(field(doc, "host_version"), host);
	ck_assert_str_eq(field(json_object_object_get(doc, "klipper"), "state"), "ready");

	/* A current MCU, on its board. */
	o = find(doc, "mcus", "mcu");
	ck_assert_str_eq(field(o, "board"), "octopus");
	ck_assert(!flag(o, "needs_reflash"));
	o = find(doc, "boards", "octopus");
	ck_assert(!flag(o, "needs_reflash"));
	ck_assert_str_eq(field(o, "live_version"), host);

	/* An old MCU on a board: the board needs it, though its last flash was current. */
	o = find(doc, "mcus", "mcu toolhead");
	ck_assert_str_eq(field(o, "board"), "ebb");
	ck_assert(flag(o, "needs_reflash"));
	o = find(doc, "boards", "ebb");
	ck_assert(flag(o, "needs_reflash"));
	ck_assert_str_eq(field(o, "reason"), "live-older");

	/* An old MCU of no board is listed and flagged. */
	o = find(doc, "mcus", "mcu extra");
	ck_assert_ptr_null(json_object_object_get(o, "board"));
	ck_assert(flag(o, "needs_reflash"));

	/* A build suffix is not a difference. */
	ck_assert(!flag(find(doc, "mcus", "mcu dirty"), "needs_reflash"));
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "status", NULL);
	ck_assert_int_eq(r.status, 70);
	ck_assert_ptr_nonnull(
		strstr(r.out, "REFLASH: its MCU runs " OLD ", older than the host's"));
	ck_assert_ptr_nonnull(
		strstr(r.out, "MCU 'mcu extra' runs " OLD " and belongs to no board"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(status_without_klipper)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	r = kf_cli(env, "status", "--json", NULL);
	ck_assert_int_eq(r.status, 70);
	doc = kf_cli_json(&r);
	ck_assert_ptr_null(json_object_object_get(doc, "klipper"));
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(doc, "mcus")), 0);
	ck_assert(!flag(find(doc, "boards", "octopus"), "needs_reflash"));
	ck_assert_str_eq(field(find(doc, "boards", "pico"), "reason"), "never-flashed");
	ck_assert_str_eq(field(find(doc, "boards", "skr"), "reason"), "flash-failed");
	ck_assert_str_eq(field(find(doc, "boards", "old"), "reason"), "flash-older");
	ck_assert_ptr_nonnull(strstr(field(find(doc, "boards", "old"), "message"),
				     "it was last flashed with v0.11.0"));
	ck_assert_ptr_null(json_object_object_get(find(doc, "boards", "octopus"), "reason"));
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "status", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper does not run: only the registry's"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

/* No Klipper checkout and no boards: said plainly, and git's own words stay out. */
START_TEST(status_with_nothing)
{
	struct kf_cli_result r;
	char path[4400], want[4500];

	setup();
	snprintf(path, sizeof(path), "%s/config/devices.json", dir);
	kf_test_write_file(path, "{\"version\": 1, \"boards\": []}");
	snprintf(path, sizeof(path), "%s/klipper", dir);
	kf_test_rmtree(path);
	r = kf_cli(env, "status", NULL);
	ck_assert_msg(r.status == 0, "%d: %s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want),
		 "Klipper in %s: unknown version (no git checkout there; see --klipper-dir)", path);
	ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "No boards registered. Add one with: kflash add"));
	/* (not empty under valgrind, which has its own words there) */
	ck_assert_ptr_null(strstr(r.err, "fatal:"));
	ck_assert_ptr_null(strstr(r.err, "error:"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(status_all_current)
{
	char path[4400], text[1024], cur[256];
	struct kf_cli_result r;

	setup();
	snprintf(text, sizeof(text),
		 "{\"version\": 1, \"boards\": [{\"name\": \"octopus\", \"mcu\": \"stm32f446xx\","
		 " \"klipper_mcu\": \"mcu\", \"last_flash\": {\"klipper_version\": \"%s\","
		 " \"time\": \"2026-11-24T10:00:00Z\", \"result\": \"success\"}}]}",
		 host);
	snprintf(path, sizeof(path), "%s/config/devices.json", dir);
	kf_test_write_file(path, text);
	snprintf(cur, sizeof(cur), "mcu=%s", host);
	start_klippy((const char *const[]){ cur, NULL });
	r = kf_cli(env, "status", NULL);
	ck_assert_msg(r.status == 0, "%d: %s%s", r.status, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Every board is up to date."));
	kf_cli_result_free(&r);

	/* A corrupt registry is an error, not a status. */
	kf_test_write_file(path, "{");
	r = kf_cli(env, "status", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_CORRUPT);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_status)
{
	kf_test_add_timeout(status_with_live_mcus, 120);
	kf_test_add_timeout(status_without_klipper, 120);
	kf_test_add_timeout(status_all_current, 120);
	kf_test_add_timeout(status_with_nothing, 60);
}
