/* SPDX-License-Identifier: MIT */
/*
 * kflash with Moonraker: a flash that stops and starts Klipper through the
 * fake Moonraker (one stop, one start, no systemctl, no sudo), the fall back
 * to systemctl when Moonraker fails the stop, `kflash service` through it,
 * and the flags, environment and `kflash paths` of the socket and the
 * provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash-fixture.h"
#include "moonraker-run.h"

static pid_t moonraker;

/* The end of @text, short enough for a failure message. */
static const char *
tail_of(const char *text)
{
	size_t n = strlen(text);

	return n > 3000 ? text + n - 3000 : text;
}

/* The fake Moonraker in the sandbox, where kflash's environment points. */
static void
start_moonraker(const char *const *extra)
{
	char sock[4400], state[4400];

	snprintf(sock, sizeof(sock), "%s/moonraker.sock", fx.dir);
	snprintf(state, sizeof(state), "%s/state", fx.dir);
	moonraker = kf_moonraker_start(sock, fx.calls, state, extra);
}

static void
stop_moonraker(void)
{
	kf_moonraker_stop(moonraker);
	moonraker = 0;
}

START_TEST(flash_through_moonraker)
{
	struct kf_cli_result r;
	struct json_object *doc, *board, *klipper;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	start_moonraker(NULL);
	/* sudo would ask for a password: Moonraker needs none. */
	r = kf_cli(fx_env_with("KF_FAKE_SUDO=none"), "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, tail_of(r.err));
	doc = kf_cli_json(&r);
	board = json_object_array_get_idx(fx_member(doc, "boards"), 0);
	ck_assert_str_eq(json_object_get_string(fx_member(board, "result")), "flashed");
	klipper = fx_member(doc, "klipper");
	ck_assert(json_object_get_boolean(fx_member(klipper, "stopped")));
	ck_assert(json_object_get_boolean(fx_member(klipper, "restarted")));
	/* The fake Klipper went away with the stop and came back with the start. */
	ck_assert_str_eq(json_object_get_string(fx_member(klipper, "state")), "ready");
	json_object_put(doc);

	ck_assert_int_eq(fx_count("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(fx_count("moonraker machine.services.start klipper"), 1);
	ck_assert_int_gt(fx_first_line("moonraker machine.services.start"),
			 fx_first_line("moonraker machine.services.stop"));
	ck_assert_int_lt(fx_last_line("make build"),
			 fx_first_line("moonraker machine.services.stop"));
	ck_assert_int_eq(fx_count("systemctl"), 0);
	ck_assert_int_eq(fx_count("sudo"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 1);
	ck_assert_ptr_nonnull(
		strstr(r.err, "[Service] Klipper's service is controlled through Moonraker on "));
	kf_cli_result_free(&r);
	stop_moonraker();
	fx_teardown();
}
END_TEST

START_TEST(flash_falls_back_to_systemctl)
{
	static const char *const failing_stop[] = { "--misbehave", "error", "--only",
						    "machine.services.stop", NULL };
	struct kf_cli_result r;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	start_moonraker(failing_stop);
	r = kf_cli(fx.env, "flash", "--all", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, tail_of(r.err));
	ck_assert_ptr_nonnull(strstr(r.err, "Moonraker could not stop klipper (Moonraker refused "
					    "'machine.services.stop'"));
	ck_assert_ptr_nonnull(strstr(r.err, "stopping it with systemctl"));
	ck_assert_int_eq(fx_count("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	/* The start goes through Moonraker again, once. */
	ck_assert_int_eq(fx_count("moonraker machine.services.start klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl start klipper"), 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, started again"));
	kf_cli_result_free(&r);
	stop_moonraker();

	/* Moonraker alone: its failed stop is the run's error, and nothing else stops Klipper. */
	start_moonraker(failing_stop);
	r = kf_cli(fx.env, "--service-provider", "moonraker", "flash", "--all", "--reflash", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_SERVICE);
	ck_assert_ptr_nonnull(strstr(r.err, "Moonraker refused 'machine.services.stop'"));
	ck_assert_int_eq(fx_count("systemctl stop klipper"), 1);
	ck_assert_int_eq(fx_count("moonraker machine.services.start klipper"), 2);
	kf_cli_result_free(&r);
	stop_moonraker();
	fx_teardown();
}
END_TEST

START_TEST(service_command_through_moonraker)
{
	struct kf_cli_result r;
	struct json_object *doc, *unit;

	fx_setup();
	start_moonraker(NULL);
	r = kf_cli(fx.env, "service", "stop", "--json", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, tail_of(r.err));
	doc = kf_cli_json(&r);
	unit = json_object_array_get_idx(fx_member(doc, "units"), 0);
	ck_assert_str_eq(json_object_get_string(fx_member(unit, "name")), "klipper");
	ck_assert_str_eq(json_object_get_string(fx_member(unit, "state")), "inactive");
	json_object_put(doc);
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "service", "start", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, tail_of(r.err));
	ck_assert_ptr_nonnull(strstr(r.out, "klipper              active"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(fx_count("moonraker machine.services.start klipper"), 1);
	ck_assert_int_eq(fx_count("systemctl"), 0);
	stop_moonraker();

	/* Without Moonraker, systemctl, as before. */
	r = kf_cli(fx.env, "service", "status", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, tail_of(r.err));
	ck_assert_int_eq(fx_count("systemctl is-active klipper"), 1);
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

static const char *
json_str(struct json_object *doc, const char *key)
{
	return json_object_get_string(fx_member(doc, key));
}

START_TEST(paths_flags_and_environment)
{
	char *dir = kf_test_mkdtemp(), expect[4400];
	const char *const *env = kf_cli_env(dir);
	const char *with_env[16];
	struct kf_cli_result r;
	struct json_object *doc;
	size_t n = 0;

	r = kf_cli(env, "paths", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	snprintf(expect, sizeof(expect), "%s/moonraker.sock", dir);
	ck_assert_str_eq(json_str(doc, "moonraker_socket"), expect);
	ck_assert_str_eq(json_str(doc, "service_provider"), "auto");
	json_object_put(doc);
	kf_cli_result_free(&r);

	r = kf_cli(env, "--moonraker-socket", "/run/m.sock", "paths", "--service-provider",
		   "systemctl", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "moonraker_socket /run/m.sock\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "service_provider systemctl\n"));
	kf_cli_result_free(&r);

	r = kf_cli(env, "--service-provider", "frob", "paths", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(
		r.err,
		"invalid value 'frob' for --service-provider: use auto, moonraker or systemctl"));
	kf_cli_result_free(&r);

	for (; env[n]; n++)
		with_env[n] = env[n];
	with_env[n++] = "KFLASH_SERVICE_PROVIDER=moonraker";
	with_env[n] = NULL;
	r = kf_cli(with_env, "paths", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_str(doc, "service_provider"), "moonraker");
	json_object_put(doc);
	kf_cli_result_free(&r);
	/* The flag beats the environment. */
	r = kf_cli(with_env, "--service-provider", "auto", "paths", "--json", NULL);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_str(doc, "service_provider"), "auto");
	json_object_put(doc);
	kf_cli_result_free(&r);

	with_env[n - 1] = "KFLASH_SERVICE_PROVIDER=frob";
	r = kf_cli(with_env, "paths", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(r.err, "KFLASH_SERVICE_PROVIDER is 'frob'"));
	kf_cli_result_free(&r);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

KF_TEST_SUITE(cli_moonraker)
{
	kf_test_add_timeout(flash_through_moonraker, 120);
	kf_test_add_timeout(flash_falls_back_to_systemctl, 120);
	kf_test_add_timeout(service_command_through_moonraker, 60);
	kf_test_add(paths_flags_and_environment);
}
