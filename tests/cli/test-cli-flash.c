/* SPDX-License-Identifier: MIT */
/*
 * kflash flash end to end: simulated boards (kflash-sim), the fake Klipper
 * tree, fake systemctl and sudo, and the fake Klipper API server. One log
 * (calls.log) receives both the systemctl calls and the make runs, in
 * order, so the tests can tell what happened before the stop.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli-run.h"
#include "kf-test.h"
#include "sim-run.h"

#define OCTOPUS "1A2B3C4D5E6F708192A3B4C5"
#define EBB "4E0031000B50415833323520"
#define PICO "E66138935F2A4D28"

static char *dir;
static char dev[4200], calls[4200];
static const char *env[24];
static char values[6][9000];
static struct kf_sim *sims[3];
static pid_t klippy;

static void
setup(void)
{
	const char *const *base;
	size_t n = 0;
	char path[4400];

	dir = kf_test_mkdtemp();
	kf_test_fake_klipper(dir);
	snprintf(dev, sizeof(dev), "%s/dev", dir);
	snprintf(calls, sizeof(calls), "%s/calls.log", dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	base = kf_cli_env(dir);
	for (; base[n]; n++)
		env[n] = base[n];
	snprintf(values[0], sizeof(values[0]), "PATH=%s:%s", getenv("KF_FAKES_BIN"),
		 getenv("PATH"));
	snprintf(values[1], sizeof(values[1]), "KF_FAKE_KLIPPER_LOG=%s", calls);
	snprintf(values[2], sizeof(values[2]), "KF_FAKE_LOG=%s", calls);
	snprintf(values[3], sizeof(values[3]), "KF_FAKE_STATE=%s/state", dir);
	for (int i = 0; i < 4; i++)
		env[n++] = values[i];
	env[n] = NULL;
	memset(sims, 0, sizeof(sims));
	klippy = 0;
}

/* Extra environment for one run: @extra is "KEY=VALUE" or NULL. */
static const char *const *
env_with(const char *extra)
{
	static const char *more[26];
	size_t n = 0;

	for (; env[n]; n++)
		more[n] = env[n];
	if (extra)
		more[n++] = extra;
	more[n] = NULL;
	return more;
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
	for (int i = 0; i < 3; i++)
		if (sims[i])
			kf_sim_stop(sims[i]);
	kf_test_rmtree(dir);
	free(dir);
}

/* The fake Klipper API server, with @print_state and @state. */
static void
start_klippy(const char *print_state, const char *state, const char *message)
{
	char sock[4400], ready[4400];

	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	snprintf(ready, sizeof(ready), "%s/klippy.ready", dir);
	unlink(ready);
	klippy = fork();
	ck_assert_int_ge(klippy, 0);
	if (klippy == 0) {
		execl(getenv("KF_KLIPPY_SERVER_BIN"), "klippy-server", "--socket", sock,
		      "--ready-file", ready, "--print-state", print_state, "--state", state,
		      "--state-message", message, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert(i < 5000);
		usleep(1000);
	}
}

static void
cli_ok(const char *const *e, const char *const *argv)
{
	struct kf_cli_result r = kf_cli_run(e, argv);

	ck_assert_msg(r.status == 0, "kflash %s: %d\n%s", argv[0], r.status, r.err);
	kf_cli_result_free(&r);
}

/* A simulated USB board registered as @name, with its config. */
static void
board(int slot,
      const char *name,
      const char *mcu,
      const char *serial,
      const char *config,
      const char *const *sim_extra)
{
	const char *args[24];
	char by_id[4400], from[4400];
	size_t n = 0;

	args[n++] = "--mode";
	args[n++] = "usb";
	args[n++] = "--mcu";
	args[n++] = mcu;
	args[n++] = "--serial";
	args[n++] = serial;
	args[n++] = "--reenumerate-ms";
	args[n++] = "50";
	for (; sim_extra && *sim_extra; sim_extra++)
		args[n++] = *sim_extra;
	args[n] = NULL;
	sims[slot] = kf_sim_start(dev, args);
	snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-Klipper_%s_%s-if00", dev, mcu, serial);
	cli_ok(env, (const char *const[]){ "add", name, "--serial", by_id, "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/%s.config", kf_test_fixtures_dir(),
		 config);
	cli_ok(env, (const char *const[]){ "config", name, "--from", from, "-q", NULL });
}

static void
three_boards(void)
{
	static const char *const rp[] = { "--flash-start", "0x10000000", "--app-start",
					  "0x10004000", NULL };

	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	board(2, "pico", "rp2040", PICO, "rp2040_can_katapult", rp);
}

/* Lines of calls.log starting with @prefix: how many, the first and the last (-1: none). */
static int
scan_calls(const char *prefix, int *first, int *last)
{
	char *text = kf_test_read_file(calls);
	int n = 0, line = 0;

	*first = *last = -1;
	for (char *p = text; p && *p; line++) {
		char *end = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			n++;
			if (*first < 0)
				*first = line;
			*last = line;
		}
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

static int
count(const char *prefix)
{
	int first, last;

	return scan_calls(prefix, &first, &last);
}

static int
first_line(const char *prefix)
{
	int first, last;

	scan_calls(prefix, &first, &last);
	return first;
}

static int
last_line(const char *prefix)
{
	int first, last;

	scan_calls(prefix, &first, &last);
	return last;
}

static struct json_object *
member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return v;
}

START_TEST(flash_all_three_boards)
{
	struct kf_cli_result r;
	struct json_object *doc, *boards, *klipper;

	setup();
	three_boards();
	start_klippy("standby", "ready", "Printer is ready");
	r = kf_cli(env, "flash", "--all", "--json", NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
	doc = kf_cli_json(&r);
	boards = member(doc, "boards");
	ck_assert_uint_eq(json_object_array_length(boards), 3);
	for (size_t i = 0; i < 3; i++) {
		struct json_object *b = json_object_array_get_idx(boards, i);

		ck_assert_str_eq(json_object_get_string(member(b, "result")), "flashed");
		ck_assert_str_eq(json_object_get_string(member(b, "method")), "katapult");
		ck_assert_str_eq(json_object_get_string(member(b, "build")), "built");
		ck_assert_ptr_nonnull(
			strstr(json_object_get_string(member(b, "version")), "v0.12.0"));
		ck_assert(json_object_get_double(member(b, "seconds")) > 0);
	}
	klipper = member(doc, "klipper");
	ck_assert(json_object_get_boolean(member(klipper, "stopped")));
	ck_assert(json_object_get_boolean(member(klipper, "restarted")));
	ck_assert_str_eq(json_object_get_string(member(klipper, "state")), "ready");
	json_object_put(doc);

	/* One stop, one start, and every build before the stop. */
	ck_assert_int_eq(count("systemctl stop klipper"), 1);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	ck_assert_int_eq(count("make build"), 3);
	ck_assert_int_lt(last_line("make build"), first_line("systemctl stop"));
	ck_assert_int_gt(first_line("systemctl start"), first_line("systemctl stop"));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(kf_sim_log_count(sims[i], "rx COMPLETE"), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "[Flash] octopus: writing"));
	kf_cli_result_free(&r);

	/* The registry remembers; the second run does not rebuild. */
	r = kf_cli(env, "list", "--json", NULL);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(
		json_object_get_string(member(
			member(json_object_array_get_idx(member(doc, "boards"), 0), "last_flash"),
			"result")),
		"success");
	json_object_put(doc);
	kf_cli_result_free(&r);
	r = kf_cli(env, "flash", "octopus", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "up-to-date"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, started again"));
	ck_assert_int_eq(count("make build"), 3);
	kf_cli_result_free(&r);

	/* Each flashed firmware is kept, outside build/, to flash again. */
	{
		char kept[4400];

		snprintf(kept, sizeof(kept), "%s/cache/boards/pico/firmware/klipper.bin", dir);
		ck_assert_int_eq(access(kept, F_OK), 0);
		snprintf(kept, sizeof(kept), "%s/cache/boards/pico/firmware/klipper.dict", dir);
		ck_assert_int_eq(access(kept, F_OK), 0);
	}
	/* --no-build flashes the last build as it is. */
	r = kf_cli(env, "flash", "ebb", "--no-build", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	boards = member(doc, "boards");
	ck_assert_str_eq(
		json_object_get_string(member(json_object_array_get_idx(boards, 0), "build")),
		"last build");
	ck_assert(
		json_object_get_boolean(member(json_object_array_get_idx(boards, 0), "came_back")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("make build"), 3);
	teardown();
}
END_TEST

START_TEST(flash_asks_which_boards_on_a_terminal)
{
	static const char *const argv[] = { "flash", NULL };
	static const char *const script[] = { "Boards:", "2 9\n", NULL };
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	r = kf_cli_pty(env, argv, script);
	ck_assert_msg(r.status == 0, "status %d:\n%s", r.status, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "1) octopus"));
	ck_assert_ptr_nonnull(strstr(r.out, "connected"));
	ck_assert_ptr_nonnull(strstr(r.out, "'9' is not a number from the list"));
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              flashed"));
	ck_assert_ptr_null(strstr(r.out, "octopus          flashed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx "), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[1], "rx COMPLETE"), 1);
	teardown();
}
END_TEST

START_TEST(flash_dry_run_touches_nothing)
{
	struct kf_cli_result r;

	setup();
	three_boards();
	r = kf_cli(env, "flash", "--all", "--dry-run", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "planned"));
	ck_assert_ptr_nonnull(strstr(r.out, "Dry run: nothing was built, stopped or flashed."));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("make"), 0);
	ck_assert_int_eq(count("systemctl"), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(kf_sim_log_count(sims[i], "rx "), 0);
	teardown();
}
END_TEST

START_TEST(flash_refused_while_printing)
{
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	start_klippy("printing", "ready", "Printer is ready");
	r = kf_cli(env, "flash", "octopus", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_PRINTING);
	ck_assert_ptr_nonnull(strstr(r.err, "the printer is printing"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl stop"), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx "), 0);

	/* --force goes on. */
	r = kf_cli(env, "flash", "octopus", "--force", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(flash_missing_board_fails_alone)
{
	struct kf_cli_result r;
	struct json_object *doc;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	cli_ok(env,
	       (const char *const[]){ "add", "gone", "--serial",
				      "/dev/serial/by-id/usb-Klipper_rp2040_0000000000000001-if00",
				      "-q", NULL });
	r = kf_cli(env, "flash", "--all", "--json", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_object_get_string(member(
				 json_object_array_get_idx(member(doc, "boards"), 0), "result")),
			 "flashed");
	ck_assert_str_eq(json_object_get_string(member(
				 json_object_array_get_idx(member(doc, "boards"), 1), "result")),
			 "failed");
	ck_assert_ptr_nonnull(
		strstr(json_object_get_string(member(
			       json_object_array_get_idx(member(doc, "boards"), 1), "message")),
		       "board gone is not connected"));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl stop klipper"), 1);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(flash_says_when_klipper_does_not_start_again)
{
	struct kf_cli_result r;
	struct json_object *doc, *klipper;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	r = kf_cli_run(env_with("KF_FAKE_FAIL=start klipper"),
		       (const char *const[]){ "flash", "octopus", "--json", NULL });
	/* The board is flashed, but the run fails: the printer is down. */
	ck_assert_int_eq(r.status, -KFLASH_ERR_SERVICE);
	ck_assert_ptr_nonnull(
		strstr(r.err, "start it by hand with 'sudo systemctl start klipper'"));
	doc = kf_cli_json(&r);
	ck_assert_str_eq(json_object_get_string(member(
				 json_object_array_get_idx(member(doc, "boards"), 0), "result")),
			 "flashed");
	klipper = member(doc, "klipper");
	ck_assert(json_object_get_boolean(member(klipper, "stopped")));
	ck_assert(!json_object_get_boolean(member(klipper, "restarted")));
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl start klipper"), 1);

	/* The text summary says it in capitals. */
	r = kf_cli(env, "service", "start", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	r = kf_cli_run(env_with("KF_FAKE_FAIL=start klipper"),
		       (const char *const[]){ "flash", "octopus", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_SERVICE);
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: stopped, NOT STARTED AGAIN"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(flash_confirmation_not_ready)
{
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	start_klippy("standby", "error", "MCU Protocol error: MCU(s) which should be updated: mcu");
	r = kf_cli(env, "flash", "octopus", "--wait-ready", "1", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_READY);
	ck_assert_ptr_nonnull(strstr(r.out, "MCU Protocol error"));
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

START_TEST(flash_usage)
{
	struct kf_cli_result r;

	setup();
	r = kf_cli(env, "flash", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_TTY);
	ck_assert_ptr_nonnull(strstr(r.err, "name the boards to flash"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "flash", "x", "--all", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(env, "flash", "--all", "--firmware", "f.bin", NULL);
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	r = kf_cli(env, "flash", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.err, "no board named ghost"));
	kf_cli_result_free(&r);
	r = kf_cli(env, "--device", "ghost", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

/* ---- one board, each path ---- */

static struct kf_cli_result
flash_one(const char *const *extra)
{
	const char *argv[16] = { "flash", "octopus" };
	size_t n = 2;

	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	return kf_cli_run(env, argv);
}

START_TEST(flash_a_firmware_file)
{
	char bin[4400], dict[4400], image[2048];
	struct kf_cli_result r;
	char *got;
	FILE *f;
	size_t n;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	snprintf(bin, sizeof(bin), "%s/mine/klipper.bin", dir);
	snprintf(dict, sizeof(dict), "%s/mine/klipper.dict", dir);
	snprintf(image, sizeof(image), "mkdir -p '%s/mine'", dir);
	ck_assert_int_eq(system(image), 0);
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (char)(i * 17 + 3);
	f = fopen(bin, "wb");
	fwrite(image, 1, sizeof(image), f);
	fclose(f);
	/* A firmware built for another MCU is refused before anything stops. */
	kf_test_write_file(dict, "{\"version\": \"v0.12.0-1-gfeed\", \"config\": "
				 "{\"MCU\": \"rp2040\"}}");
	r = flash_one((const char *const[]){ "--firmware", bin, NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_MCU_MISMATCH);
	ck_assert_ptr_nonnull(strstr(r.err, "stm32f446xx"));
	ck_assert_ptr_nonnull(strstr(r.err, "rp2040"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl"), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx "), 0);

	kf_test_write_file(dict, "{\"version\": \"v0.12.0-1-gfeed\", \"config\": "
				 "{\"MCU\": \"stm32f446xx\"}}");
	r = flash_one((const char *const[]){ "--firmware", bin, NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "given"));
	ck_assert_ptr_nonnull(strstr(r.out, "v0.12.0-1-gfeed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("make"), 0);
	ck_assert_int_eq(count("systemctl stop klipper"), 1);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	ck_assert(kf_sim_log_wait(sims[0], "boot klipper"));
	kf_sim_end(sims[0]);
	got = kf_test_read_file(sims[0]->image);
	ck_assert_ptr_nonnull(got);
	f = fopen(sims[0]->image, "rb");
	n = fread(image, 1, sizeof(image), f);
	fclose(f);
	ck_assert_uint_eq(n, sizeof(image));
	for (size_t i = 0; i < sizeof(image); i++)
		ck_assert_int_eq(image[i], (char)(i * 17 + 3));
	free(got);
	teardown();
}
END_TEST

START_TEST(flash_falls_back_to_make_when_dfu_comes_back)
{
	static const char *const dfu[] = { "--fault", "dfu", NULL };
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", dfu);
	r = flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   make"));
	ck_assert_ptr_nonnull(strstr(r.err, "came back as the STM32 ROM DFU bootloader"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("make flash KCONFIG_CONFIG="), 1);
	ck_assert_int_ne(first_line("make flash"), -1);
	{
		char *text = kf_test_read_file(calls);

		ck_assert_ptr_nonnull(strstr(text, "FLASH_DEVICE=0483:df11"));
		free(text);
	}
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(flash_katapult_only_fails_on_dfu)
{
	static const char *const dfu[] = { "--fault", "dfu", NULL };
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", dfu);
	r = flash_one((const char *const[]){ "--method", "katapult", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_SUPPORTED);
	ck_assert_ptr_nonnull(
		strstr(r.out, "came back as the STM32 ROM DFU bootloader (0483:df11)"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("make flash"), 0);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	r = flash_one((const char *const[]){ "--method", "jtag", NULL });
	ck_assert_int_eq(r.status, 64);
	kf_cli_result_free(&r);
	teardown();
}
END_TEST

static const struct {
	const char *fault;
	int status;
	const char *needle;
} refusals[] = {
	{ "wrong-mcu=stm32f103xe", -KFLASH_ERR_MCU_MISMATCH,
	  "reports a stm32f103xe, but the board is registered as a stm32f446xx" },
	{ "wrong-start=0x8002000", -KFLASH_ERR_FLASH,
	  "starts the application at 0x08002000, but its config" },
};

START_TEST(flash_refuses_before_the_first_block)
{
	const char *const fault[] = { "--fault", refusals[_i].fault, NULL };
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", fault);
	r = flash_one(NULL);
	ck_assert_int_eq(r.status, refusals[_i].status);
	ck_assert_msg(strstr(r.out, refusals[_i].needle), "%s", r.out);
	kf_cli_result_free(&r);
	/* Nothing written, nothing booted, and Klipper started again. */
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx SEND_BLOCK"), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(flash_recovers_from_line_faults)
{
	static const char *const faults[] = { "--fault", "crc",
					      "--fault", "busy:SEND_BLOCK#3",
					      "--fault", "drop:REQUEST_BLOCK#2",
					      NULL };
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", faults);
	r = flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "fault "), 3);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx COMPLETE"), 1);
	teardown();
}
END_TEST

START_TEST(flash_a_uart_board)
{
	const char *args[] = { "--mode", "uart",   "--mcu", "stm32f446xx", "--baud",
			       "250000", "--rate", "25000", NULL };
	char link[4400], from[4400], cmd[13000];
	struct kf_cli_result r;

	setup();
	sims[0] = kf_sim_start(dev, args);
	snprintf(link, sizeof(link), "%s/ttyAMA0", dev);
	cli_ok(env, (const char *const[]){ "add", "toolhead", "--serial", link, "--mcu",
					   "stm32f446xx", "--baud", "250000", "-q", NULL });
	/* The USB config, switched to the UART as menuconfig would. */
	snprintf(from, sizeof(from), "%s/uart.config", dir);
	snprintf(cmd, sizeof(cmd),
		 "sed -e 's/^CONFIG_USBSERIAL=y$/CONFIG_SERIAL=y\\nCONFIG_SERIAL_BAUD=250000/' "
		 "'%s/klipper-configs/stm32f446_usb.config' > '%s'",
		 kf_test_fixtures_dir(), from);
	ck_assert_int_eq(system(cmd), 0);
	cli_ok(env, (const char *const[]){ "config", "toolhead", "--from", from, "-q", NULL });
	r = kf_cli(env, "flash", "toolhead", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "request string at 250000 baud"));
	ck_assert_ptr_nonnull(strstr(r.out, "toolhead         flashed   katapult"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "request-string"), 1);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "baud-mismatch"), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx COMPLETE"), 1);
	teardown();
}
END_TEST

START_TEST(flash_fail_fast_stops_before_the_stop)
{
	struct kf_cli_result r;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	/* octopus loses its config: it fails at the config check. */
	{
		char path[4400];

		snprintf(path, sizeof(path), "%s/config/configs/octopus.config", dir);
		ck_assert_int_eq(unlink(path), 0);
	}
	r = kf_cli(env, "flash", "--all", "--fail-fast", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          failed"));
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              skipped"));
	ck_assert_ptr_nonnull(strstr(r.out, "Klipper: not stopped"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl stop"), 0);

	/* Without --fail-fast, the other board is flashed. */
	r = kf_cli(env, "flash", "--all", NULL);
	ck_assert_int_eq(r.status, -KFLASH_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r.out, "ebb              flashed"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(flash_a_board_already_in_katapult)
{
	const char *args[] = { "--mode",   "katapult", "--mcu", "stm32f446xx",
			       "--serial", OCTOPUS,    NULL };
	char by_id[4400], from[4400];
	struct kf_cli_result r;

	setup();
	sims[0] = kf_sim_start(dev, args);
	snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-katapult_stm32f446xx_%s-if00", dev,
		 OCTOPUS);
	cli_ok(env, (const char *const[]){ "add", "octopus", "--serial", by_id, "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/stm32f446_usb.config",
		 kf_test_fixtures_dir());
	cli_ok(env, (const char *const[]){ "config", "octopus", "--from", from, "-q", NULL });
	/* The seed tool's spelling: kflash --device NAME. */
	r = kf_cli(env, "--device", "octopus", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "found in katapult mode"));
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   katapult"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl stop klipper"), 1);
	ck_assert_int_eq(count("systemctl start klipper"), 1);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "touch 1200"), 0);
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx COMPLETE"), 1);
	teardown();
}
END_TEST

START_TEST(flash_through_the_sd_card)
{
	struct kf_cli_result r;
	char *text;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	cli_ok(env, (const char *const[]){ "remove", "octopus", "-q", NULL });
	{
		char by_id[4400];

		snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-Klipper_stm32f446xx_%s-if00",
			 dev, OCTOPUS);
		cli_ok(env, (const char *const[]){ "add", "octopus", "--serial", by_id, "--method",
						   "sdcard", "--sdcard-board", "btt-octopus", "-q",
						   NULL });
	}
	r = flash_one(NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   sdcard"));
	kf_cli_result_free(&r);
	text = kf_test_read_file(calls);
	ck_assert_ptr_nonnull(strstr(text, "flash-sdcard.sh -f "));
	ck_assert_ptr_nonnull(strstr(text, "/build/octopus/klipper.dict "));
	ck_assert_ptr_nonnull(strstr(text, " btt-octopus"));
	free(text);
	teardown();
}
END_TEST

START_TEST(flash_by_make_flash)
{
	char want[4400];
	struct kf_cli_result r;
	char *text;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	r = flash_one((const char *const[]){ "--method", "make", NULL });
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          flashed   make"));
	kf_cli_result_free(&r);
	/* Klipper's own make flash, on the board's by-id path; no Katapult at all. */
	text = kf_test_read_file(calls);
	snprintf(want, sizeof(want),
		 "FLASH_DEVICE=%s/serial/by-id/usb-Klipper_stm32f446xx_%s-if00\n", dev, OCTOPUS);
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
	free(text);
	ck_assert_int_eq(count("make flash KCONFIG_CONFIG="), 1);
	ck_assert_int_gt(first_line("make flash"), first_line("systemctl stop klipper"));
	ck_assert_int_lt(first_line("make flash"), first_line("systemctl start klipper"));
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx "), 0);
	ck_assert_int_eq(count("systemctl start klipper"), 1);

	/* A failing make flash: the flash fails with make's last lines, klipper starts again. */
	r = kf_cli_run(env_with("KF_FAKE_FLASH_FAIL=1"),
		       (const char *const[]){ "flash", "octopus", "--method", "make", NULL });
	ck_assert_int_eq(r.status, -KFLASH_ERR_FLASH);
	ck_assert_ptr_nonnull(strstr(r.err, "make flash failed"));
	ck_assert_ptr_nonnull(strstr(r.err, "Flashing failed: no device at"));
	ck_assert_ptr_nonnull(strstr(r.out, "octopus          failed    make"));
	kf_cli_result_free(&r);
	ck_assert_int_eq(count("systemctl stop klipper"), 2);
	ck_assert_int_eq(count("systemctl start klipper"), 2);
	teardown();
}
END_TEST

START_TEST(flash_the_host_mcu)
{
	char from[4400];
	struct kf_cli_result r;
	struct json_object *doc, *b;

	setup();
	/* The host MCU needs no --serial: it has its own pty. */
	r = kf_cli(env, "add", "host", "--mcu", "linux", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "/tmp/klipper_host_mcu"));
	ck_assert_ptr_nonnull(strstr(r.err, "klipper-mcu service"));
	kf_cli_result_free(&r);
	snprintf(from, sizeof(from), "%s/klipper-configs/linux.config", kf_test_fixtures_dir());
	cli_ok(env, (const char *const[]){ "config", "host", "--from", from, "-q", NULL });

	r = kf_cli(env, "flash", "host", "--json", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	doc = kf_cli_json(&r);
	b = json_object_array_get_idx(member(doc, "boards"), 0);
	ck_assert_str_eq(json_object_get_string(member(b, "result")), "flashed");
	ck_assert_str_eq(json_object_get_string(member(b, "method")), "make");
	json_object_put(doc);
	kf_cli_result_free(&r);
	/* make flash installs it, with no device, while both services are stopped. */
	ck_assert_int_eq(count("make flash KCONFIG_CONFIG="), 1);
	{
		char *text = kf_test_read_file(calls);

		ck_assert_ptr_null(strstr(text, "FLASH_DEVICE="));
		free(text);
	}
	ck_assert_int_eq(count("systemctl stop klipper-mcu"), 1);
	ck_assert_int_eq(count("systemctl start klipper-mcu"), 1);
	ck_assert_int_lt(first_line("systemctl stop klipper-mcu"), first_line("make flash"));
	ck_assert_int_gt(first_line("systemctl start klipper-mcu"), first_line("make flash"));
	teardown();
}
END_TEST

/* ---- the kill matrix ---- */

/* The one child process of @parent, from /proc. */
static pid_t
child_of(pid_t parent)
{
	for (int tries = 0; tries < 1000; tries++) {
		DIR *proc = opendir("/proc");
		struct dirent *de;
		pid_t found = 0;

		while (proc && (de = readdir(proc)) && !found) {
			char path[300], buf[512], *close_paren;
			int ppid = 0;
			FILE *f;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')) &&
			    sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == parent)
				found = (pid_t)atoi(de->d_name);
			fclose(f);
		}
		if (proc)
			closedir(proc);
		if (found)
			return found;
		usleep(1000);
	}
	ck_abort_msg("no child of %d", (int)parent);
	return -1;
}

/* Where the fake build's hung child writes its pid. */
static char hang_file[4400];

/* The pid in the hang file, once written. */
static pid_t
hung_pid(void)
{
	for (int i = 0; i < 1000; i++) {
		char *text = kf_test_read_file(hang_file);
		pid_t pid = text ? (pid_t)atoi(text) : 0;

		free(text);
		if (pid > 0)
			return pid;
		usleep(1000);
	}
	ck_abort_msg("no pid in %s", hang_file);
	return 0;
}

static const char *const moments[] = { "build", "stopped", "transfer", "verify" };
static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGKILL };

static bool
moment_reached(int moment)
{
	switch (moment) {
	case 0:
		return count("make build") > 0 && access(hang_file, F_OK) == 0;
	case 1:
		return count("systemctl stop") > 0;
	case 2:
		return kf_sim_log_count(sims[0], "rx SEND_BLOCK") > 3;
	default:
		return kf_sim_log_count(sims[0], "rx REQUEST_BLOCK") > 3;
	}
}

START_TEST(flash_kill_matrix)
{
	int moment = _i / 4, sig = signals[_i % 4], status;
	static const char *const slow[] = { "--rate", "20000", NULL };
	char hang[4500];
	const char *args[] = { "flash", "octopus", NULL };
	long waited = 0;
	pid_t pid;

	setup();
	board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", slow);
	snprintf(hang_file, sizeof(hang_file), "%s/hang.pid", dir);
	snprintf(hang, sizeof(hang), "KF_FAKE_KLIPPER_HANG=%s", hang_file);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kf_cli_result r = kf_cli_run(env_with(moment == 0 ? hang : NULL), args);

		_exit(r.status);
	}
	while (!moment_reached(moment)) {
		ck_assert_msg(waited < 60000, "the run never reached '%s'", moments[moment]);
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
			      "kflash ended before '%s' (status 0x%x)", moments[moment], status);
		usleep(2000);
		waited += 2;
	}
	/* The child of the fork runs kflash as its own child. */
	ck_assert_int_eq(kill(child_of(pid), sig), 0);
	if (moment == 0 && sig == SIGKILL) {
		/* A killed kflash cannot reap make: end the hung build, which holds its pipes. */
		kill(hung_pid(), SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

	/* After every stop, klipper is started exactly once. */
	for (waited = 0; count("systemctl start klipper") < count("systemctl stop klipper") &&
			 waited < (kf_test_under_valgrind() ? 20000 : 2000);
	     waited += 5)
		usleep(5000);
	usleep(100000);
	ck_assert_msg(count("systemctl start klipper") == count("systemctl stop klipper"),
		      "%s at %s: %d stops, %d starts", strsignal(sig), moments[moment],
		      count("systemctl stop klipper"), count("systemctl start klipper"));
	ck_assert_int_eq(count("systemctl stop klipper"), moment == 0 ? 0 : 1);
	/* No COMPLETE after an interrupted transfer. */
	ck_assert_int_eq(kf_sim_log_count(sims[0], "rx COMPLETE"), 0);
	if (moment == 0 && sig != SIGKILL) {
		/* make's hung child went with its process group. */
		pid_t hung = hung_pid();

		for (int i = 0; i < 200 && kill(hung, 0) == 0; i++)
			usleep(10000);
		ck_assert_msg(kill(hung, 0) < 0, "make's child survived %s", strsignal(sig));
	}
	teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash)
{
	kf_test_add_timeout(flash_all_three_boards, 180);
	kf_test_add_timeout(flash_dry_run_touches_nothing, 120);
	kf_test_add_timeout(flash_refused_while_printing, 120);
	kf_test_add_timeout(flash_missing_board_fails_alone, 120);
	kf_test_add_timeout(flash_confirmation_not_ready, 120);
	kf_test_add_timeout(flash_says_when_klipper_does_not_start_again, 120);
	kf_test_add_timeout(flash_usage, 60);
	kf_test_add_timeout(flash_asks_which_boards_on_a_terminal, 120);
	kf_test_add_timeout(flash_a_firmware_file, 120);
	kf_test_add_timeout(flash_falls_back_to_make_when_dfu_comes_back, 120);
	kf_test_add_timeout(flash_katapult_only_fails_on_dfu, 120);
	kf_test_add_loop(flash_refuses_before_the_first_block,
			 (int)(sizeof(refusals) / sizeof(refusals[0])));
	kf_test_add_timeout(flash_recovers_from_line_faults, 120);
	kf_test_add_timeout(flash_a_board_already_in_katapult, 120);
	kf_test_add_timeout(flash_a_uart_board, 120);
	kf_test_add_timeout(flash_fail_fast_stops_before_the_stop, 120);
	kf_test_add_timeout(flash_through_the_sd_card, 120);
	kf_test_add_timeout(flash_by_make_flash, 120);
	kf_test_add_timeout(flash_the_host_mcu, 120);
	kf_test_add_loop(flash_kill_matrix, (int)(sizeof(moments) / sizeof(moments[0]) *
						  sizeof(signals) / sizeof(signals[0])));
}
