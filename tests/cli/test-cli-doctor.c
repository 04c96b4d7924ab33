/* SPDX-License-Identifier: MIT */
/*
 * kflash doctor on a sandbox where a flash would work (every check ok)
 * and on ones where it would not: no Klipper tree, no compilers on PATH,
 * a unit systemd does not know, Klipper's socket out of reach, boards not
 * found, Katapult impossible, sudo asking for a password; and CAN nodes,
 * which are queried only while Klipper is stopped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check/check-private.h"
#include "flash-fixture.h"
#include "internal/process.h"

#define EBB_UUID "aabbccddeeff"
#define SB_UUID "0102030405a6"

/* The check @name about @subject (NULL: none) in the doctor's document. */
static struct json_object *
check_of(struct json_object *doc, const char *name, const char *subject)
{
	struct json_object *checks = fx_member(doc, "checks");

	for (size_t i = 0; i < json_object_array_length(checks); i++) {
		struct json_object *c = json_object_array_get_idx(checks, i);
		struct json_object *s = fx_member(c, "subject");

		if (strcmp(json_object_get_string(fx_member(c, "name")), name) != 0)
			continue;
		if ((!subject && !s) ||
		    (subject && s && strcmp(json_object_get_string(s), subject) == 0))
			return c;
	}
	ck_abort_msg("no check %s %s in %s", name, subject ? subject : "",
		     json_object_to_json_string(checks));
	return NULL;
}

/*
 * Check @name @subject has @status, its message contains @message and its
 * fix @fix (NULL: it has no fix).
 */
static void
expect(struct json_object *doc,
       const char *name,
       const char *subject,
       const char *status,
       const char *message,
       const char *fix)
{
	struct json_object *c = check_of(doc, name, subject);
	const char *got = json_object_get_string(fx_member(c, "status"));
	const char *msg = json_object_get_string(fx_member(c, "message"));
	struct json_object *f = fx_member(c, "fix");

	ck_assert_msg(strcmp(got, status) == 0, "%s %s: %s, not %s: %s", name,
		      subject ? subject : "", got, status, msg);
	ck_assert_msg(strstr(msg, message), "%s %s: \"%s\" does not say \"%s\"", name,
		      subject ? subject : "", msg, message);
	if (!fix) {
		ck_assert_msg(!f, "%s %s has a fix: %s", name, subject ? subject : "",
			      json_object_get_string(f));
		return;
	}
	ck_assert_msg(f && strstr(json_object_get_string(f), fix),
		      "%s %s: the fix \"%s\" does not say \"%s\"", name, subject ? subject : "",
		      f ? json_object_get_string(f) : "(none)", fix);
}

/* What the free-space check of the sandbox must say, from the file system itself. */
static const char *
expected_space(size_t boards)
{
	struct statvfs st;

	ck_assert_int_eq(statvfs(fx.dir, &st), 0);
	switch (kf_space_judge((uint64_t)st.f_bavail * st.f_frsize, boards)) {
	case KFLASH_SPACE_ENOUGH:
		return "ok";
	case KFLASH_SPACE_LOW:
		return "warning";
	default:
		return "fail";
	}
}

/* The fake Klipper API server, reporting MCUs (NAME=VERSION), in place of the one running. */
static void
start_klippy_with_mcus(const char *mcu1, const char *mcu2)
{
	char sock[4400], ready[4400], unit[4400];

	fx_stop_klippy();
	snprintf(sock, sizeof(sock), "%s/klippy.sock", fx.dir);
	snprintf(ready, sizeof(ready), "%s/klippy.ready", fx.dir);
	snprintf(unit, sizeof(unit), "%s/state/klipper", fx.dir);
	unlink(ready);
	fx.klippy = fork();
	ck_assert_int_ge(fx.klippy, 0);
	if (fx.klippy == 0) {
		execl(getenv("KF_KLIPPY_SERVER_BIN"), "klippy-server", "--socket", sock,
		      "--ready-file", ready, "--unit-state", unit, "--mcu", mcu1, "--mcu", mcu2,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert(i < 5000);
		usleep(1000);
	}
}

static void
write_state(const char *file, const char *content)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/state/%s", fx.dir, file);
	kf_test_write_file(path, content);
}

static void
seed_config(const char *board, const char *config)
{
	char from[4400];

	snprintf(from, sizeof(from), "%s/klipper-configs/%s.config", kf_test_fixtures_dir(),
		 config);
	fx_cli_ok(fx.env, (const char *const[]){ "config", board, "--from", from, "-q", NULL });
}

static int
count_status(struct json_object *doc, const char *status)
{
	struct json_object *checks = fx_member(doc, "checks");
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(checks); i++)
		n += strcmp(json_object_get_string(
				    fx_member(json_object_array_get_idx(checks, i), "status")),
			    status) == 0;
	return n;
}

START_TEST(doctor_on_a_healthy_sandbox)
{
	struct kf_cli_result r;
	struct json_object *doc, *checks;
	const char *space;
	char dev[4400];

	fx_setup();
	fx_can_bus();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_can_node(1, "ebb", EBB_UUID, NULL);
	fx_cli_ok(fx.env,
		  (const char *const[]){ "set", "octopus", "--method", "katapult", "-q", NULL });
	fx_cli_ok(fx.env,
		  (const char *const[]){ "set", "ebb", "--klipper-mcu", "mcu ebb", "-q", NULL });
	start_klippy_with_mcus("mcu=v0.12.0-396-gabc1234", "mcu ebb=v0.12.0-396-gabc1234");

	r = kf_cli(fx.env, "doctor", "--json", NULL);
	space = expected_space(2);
	ck_assert_msg(r.status == (strcmp(space, "fail") == 0 ? 71 : 0), "%d: %s%s", r.status,
		      r.out, r.err);
	doc = kf_cli_json(&r);
	ck_assert_ptr_nonnull(fx_member(doc, "kflash_version"));
	expect(doc, "klipper-tree", NULL, "ok", "is v0.12.0-0-g", NULL);
	expect(doc, "registry", NULL, "ok", "2 boards registered in", NULL);
	expect(doc, "config", "octopus", "ok", "octopus.config: stm32f446xx, usb", NULL);
	expect(doc, "config", "ebb", "ok", "ebb.config: stm32f446xx, can", NULL);
	expect(doc, "compiler", "arm-none-eabi-gcc", "ok",
	       "arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205, for the builds of octopus, ebb",
	       NULL);
	expect(doc, "compiler", "cpp", "ok", "for the builds of octopus, ebb", NULL);
	expect(doc, "program", "make", "ok", "for the builds of octopus, ebb", NULL);
	expect(doc, "program", "python3", "ok", "for the builds of octopus, ebb", NULL);
	if (geteuid() == 0)
		expect(doc, "sudo", NULL, "ok", "kflash runs as root", NULL);
	else
		expect(doc, "sudo", "klipper", "ok",
		       "sudo -n systemctl stop klipper and sudo -n systemctl start klipper run "
		       "without a password",
		       NULL);
	expect(doc, "service", "klipper", "ok", "klipper is active", NULL);
	expect(doc, "klippy-socket", NULL, "ok",
	       "Klipper v0.12.0-396-gabc1234 is ready, and the printer is standby", NULL);
	snprintf(dev, sizeof(dev), "klipper mode at %s/serial/by-id/usb-Klipper_stm32f446xx_%s",
		 fx.dev, OCTOPUS);
	expect(doc, "board", "octopus", "ok", dev, NULL);
	expect(doc, "board", "ebb", "ok",
	       "node " EBB_UUID " on can0: Klipper talks to it as [mcu ebb], firmware "
	       "v0.12.0-396-gabc1234",
	       NULL);
	expect(doc, "katapult", "octopus", "ok",
	       "unknown: the board runs Klipper, and kflash doctor does not send a board to its "
	       "bootloader to look; its config leaves 0x8000 bytes from 0x08000000 for a "
	       "bootloader",
	       NULL);
	expect(doc, "katapult", "ebb", "ok", "unknown: the board runs Klipper", NULL);
	expect(doc, "can-interface", "can0", "ok", "can0 answers, as a socket in", NULL);
	expect(doc, "cache-space", NULL, space, "free", NULL);
	/* Every check is ok (the free space is the file system's to decide). */
	checks = fx_member(doc, "checks");
	ck_assert_int_eq(count_status(doc, "ok") + (strcmp(space, "ok") != 0),
			 (int)json_object_array_length(checks));
	ck_assert_int_eq(json_object_get_int(fx_member(fx_member(doc, "summary"), "ok")),
			 count_status(doc, "ok"));
	ck_assert_int_eq(json_object_get_int(fx_member(fx_member(doc, "summary"), "fail")),
			 strcmp(space, "fail") == 0);
	ck_assert(!json_object_object_get_ex(doc, "error", NULL) || strcmp(space, "fail") == 0);
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* The same as text: one line per check, and the fix under those that need one. */
	r = kf_cli(fx.env, "doctor", NULL);
	ck_assert_msg(r.status == (strcmp(space, "fail") == 0 ? 71 : 0), "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "ok       klipper-tree: "));
	ck_assert_ptr_nonnull(strstr(r.out, "\nok       board octopus: klipper mode at "));
	ck_assert_ptr_nonnull(strstr(r.out, "\nok       can-interface can0: can0 answers"));
	if (strcmp(space, "ok") == 0) {
		ck_assert_ptr_null(strstr(r.out, "fix: "));
		ck_assert_ptr_nonnull(strstr(r.out, " 0 warnings, 0 failed: nothing would make a "
						    "flash fail\n"));
	}
	/* Nothing was said on stderr (valgrind aside); nothing was disturbed. */
	if (!kf_test_under_valgrind())
		ck_assert_str_eq(r.err, "");
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(fx_count("make"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "touch 1200"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "can rx admin QUERY_UNASSIGNED"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "request-bootloader"), 0);
	fx_teardown();
}
END_TEST

/* A directory of links to the programs named, to be the whole PATH. */
static char *
sandbox_path(const char *const *fakes, const char *const *system_programs)
{
	char *bin, link[4400], target[4400];

	ck_assert(asprintf(&bin, "%s/bin", fx.dir) > 0);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	for (; *fakes; fakes++) {
		snprintf(target, sizeof(target), "%s/%s", getenv("KF_FAKES_BIN"), *fakes);
		snprintf(link, sizeof(link), "%s/%s", bin, *fakes);
		ck_assert_int_eq(symlink(target, link), 0);
	}
	for (; *system_programs; system_programs++) {
		char *found = kf_process_find_program(*system_programs, NULL);

		ck_assert_msg(found, "%s is not on PATH", *system_programs);
		snprintf(link, sizeof(link), "%s/%s", bin, *system_programs);
		ck_assert_int_eq(symlink(found, link), 0);
		free(found);
	}
	return bin;
}

START_TEST(doctor_on_a_broken_sandbox)
{
	const char *env[32];
	struct kf_cli_result r;
	struct json_object *doc, *error;
	char by_id[4400], path[4400], socket_fix[4400], message[9000], *bin;
	size_t n = 0;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	/* An rp2040 that is not plugged in, on a unit systemd does not know. */
	snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-Klipper_rp2040_%s-if00", fx.dev, PICO);
	fx_cli_ok(fx.env, (const char *const[]){ "add", "gone", "--serial", by_id, "--unit",
						 "klipper-9", "-q", NULL });
	seed_config("gone", "rp2040_can_katapult");
	write_state("klipper-9.load", "not-found\n");
	/* An AVR set to Katapult, which has no port for it; not plugged in either. */
	snprintf(path, sizeof(path), "%s/ttyUSB7", fx.dev);
	fx_cli_ok(fx.env,
		  (const char *const[]){ "add", "mega", "--serial", path, "--mcu", "atmega2560",
					 "--method", "katapult", "-q", NULL });
	seed_config("mega", "atmega2560");
	/* The host MCU, whose service is stopped. */
	fx_cli_ok(fx.env, (const char *const[]){ "add", "host", "--mcu", "linux", "-q", NULL });
	seed_config("host", "linux");
	write_state("klipper-mcu", "inactive\n");
	/* Klipper's service runs, but its API socket is gone. */
	fx_stop_klippy();

	/* No Klipper tree, and a PATH with the fakes and nothing to build with. */
	/* (The tests' valgrind setup runs kflash under valgrind, found on that PATH too.) */
	bin = sandbox_path(
		(const char *const[]){ "sudo", "systemctl", NULL },
		getenv("KF_TEST_VALGRIND_CLI")
			? (const char *const[]){ "cat", "true", "valgrind", "valgrind.bin", NULL }
			: (const char *const[]){ "cat", "true", NULL });
	for (; fx.env[n]; n++)
		env[n] = fx.env[n];
	env[n++] = "KFLASH_KLIPPER_DIR=/nonexistent/klipper";
	snprintf(path, sizeof(path), "PATH=%s", bin);
	env[n++] = path;
	env[n] = NULL;

	r = kf_cli_run(env, (const char *const[]){ "doctor", "--json", NULL });
	ck_assert_msg(r.status == 71, "%d: %s%s", r.status, r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "klipper-tree", NULL, "fail",
	       "no Klipper source tree at /nonexistent/klipper (no Makefile)",
	       "give the Klipper checkout with --klipper-dir DIR or KFLASH_KLIPPER_DIR; or clone "
	       "Klipper there: git clone https://github.com/Klipper3d/klipper "
	       "/nonexistent/klipper");
	expect(doc, "registry", NULL, "ok", "4 boards registered", NULL);
	expect(doc, "config", "mega", "ok", "atmega2560", NULL);
	snprintf(message, sizeof(message),
		 "arm-none-eabi-gcc is not on PATH (%s); the builds of octopus, gone need it", bin);
	expect(doc, "compiler", "arm-none-eabi-gcc", "fail", message,
	       "sudo apt-get install gcc-arm-none-eabi binutils-arm-none-eabi "
	       "libnewlib-arm-none-eabi");
	expect(doc, "compiler", "avr-gcc", "fail", "the builds of mega need it",
	       "sudo apt-get install gcc-avr binutils-avr avr-libc");
	expect(doc, "compiler", "gcc", "fail", "the builds of host need it",
	       "sudo apt-get install gcc");
	expect(doc, "compiler", "cpp", "fail", "the builds of octopus, gone need it",
	       "sudo apt-get install cpp");
	expect(doc, "program", "make", "fail", "the builds of octopus, gone, mega, host need it",
	       "sudo apt-get install make");
	expect(doc, "program", "python3", "fail", "need it", "sudo apt-get install python3");
	if (geteuid() != 0) {
		expect(doc, "sudo", "klipper-9", "ok", "run without a password", NULL);
		expect(doc, "sudo", "flash-linux.sh", "ok",
		       "/nonexistent/klipper/scripts/flash-linux.sh", NULL);
	}
	expect(doc, "service", "klipper", "ok", "klipper is active", NULL);
	expect(doc, "service", "klipper-9", "fail",
	       "there is no unit klipper-9 (systemctl show says not-found)",
	       "kflash set gone --unit UNIT");
	expect(doc, "service", "klipper-mcu", "warning",
	       "klipper-mcu is inactive: it does not run now, and a flash leaves it so",
	       "kflash service start klipper-mcu starts it");
	snprintf(socket_fix, sizeof(socket_fix), "it was looked for at %s/klippy.sock", fx.dir);
	expect(doc, "klippy-socket", NULL, "fail", "Klipper's service klipper is active, but",
	       socket_fix);
	expect(doc, "board", "octopus", "ok", "klipper mode at", NULL);
	expect(doc, "board", "gone", "fail", PICO, "kflash scan lists what is plugged in");
	expect(doc, "board", "mega", "fail", "ttyUSB7", "kflash set mega --serial PATH");
	expect(doc, "board", "host", "ok", "Klipper's host MCU", NULL);
	expect(doc, "katapult", "octopus", "ok", "unknown: the board runs Klipper", NULL);
	expect(doc, "katapult", "gone", "ok",
	       "unknown: the board was not found, and kflash doctor does not send a board to its "
	       "bootloader to look; its config leaves 0x3f00 bytes from 0x10000100",
	       NULL);
	expect(doc, "katapult", "mega", "fail",
	       "absent: Katapult has no port for avr (only stm32, rp2040 and lpc176x), but its "
	       "method is katapult",
	       "kflash set mega --method auto");
	expect(doc, "cache-space", NULL, expected_space(4), "free", NULL);
	/* The failure is the document's error too. */
	error = fx_member(doc, "error");
	ck_assert_int_eq(json_object_get_int(fx_member(error, "code")), 71);
	ck_assert_str_eq(json_object_get_string(fx_member(error, "name")), "checks-failed");
	ck_assert_ptr_nonnull(strstr(json_object_get_string(fx_member(error, "message")),
				     "checks failed: a flash would fail"));
	ck_assert_int_eq(json_object_get_int(fx_member(fx_member(doc, "summary"), "fail")),
			 count_status(doc, "fail"));
	ck_assert_int_ge(count_status(doc, "fail"), 11);
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* As text: the status first, the fix on the line below. */
	r = kf_cli_run(env, (const char *const[]){ "doctor", NULL });
	ck_assert_int_eq(r.status, 71);
	ck_assert_ptr_nonnull(strstr(r.out, "fail     klipper-tree: no Klipper source tree at "
					    "/nonexistent/klipper"));
	ck_assert_ptr_nonnull(strstr(r.out, "\n         fix: give the Klipper checkout with "
					    "--klipper-dir DIR"));
	ck_assert_ptr_nonnull(strstr(r.out, "\nwarning  service klipper-mcu: klipper-mcu is "
					    "inactive"));
	ck_assert_ptr_nonnull(
		strstr(r.out, "failed: a flash would fail; fix what says fail first\n"));
	kf_cli_result_free(&r);
	/* Klipper was left alone, and so were the boards. */
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(fx_count("systemctl start"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "touch 1200"), 0);
	free(bin);
	fx_teardown();
}
END_TEST

/* kflash doctor as an ordinary user (nobody, when the tests run as root). */
START_TEST(doctor_says_which_sudo_line_is_missing)
{
	const struct kf_cli_opts as_user = { .ordinary_user = true };
	const char *env[32];
	struct kf_cli_result r;
	struct json_object *doc;
	char cmd[13000], line[4400];
	size_t n = 0;

	fx_setup();
	fx_cli_ok(fx.env, (const char *const[]){ "add", "host", "--mcu", "linux", "-q", NULL });
	seed_config("host", "linux");
	/* Klipper is stopped, so that its socket says nothing of permissions. */
	fx_stop_klippy();
	write_state("klipper", "inactive\n");
	write_state("klipper-mcu", "inactive\n");
	/* Readable by that user; the fakes' log and state writable. */
	kf_test_write_file(fx.calls, "");
	snprintf(cmd, sizeof(cmd),
		 "chmod -R a+rX '%s' && chmod 0666 '%s' && chmod 0777 '%s/state' && "
		 "chmod 0666 '%s'/state/* && rm -f '%s/config/devices.json.lock'",
		 fx.dir, fx.calls, fx.dir, fx.dir, fx.dir);
	ck_assert_int_eq(system(cmd), 0);
	for (; fx.env[n]; n++)
		env[n] = fx.env[n];
	env[n++] = "KF_FAKE_SUDO=systemctl";
	env[n] = NULL;

	/* sudo runs systemctl stop and start without a password, but not the host MCU's script. */
	r = kf_cli_run_opts(&as_user, env, (const char *const[]){ "doctor", "--json", NULL });
	ck_assert_msg(r.status == 71, "%d: %s%s", r.status, r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "sudo", "klipper", "ok",
	       "sudo -n systemctl stop klipper and sudo -n systemctl start klipper run without a "
	       "password",
	       NULL);
	expect(doc, "sudo", "klipper-mcu", "ok", "run without a password", NULL);
	snprintf(line, sizeof(line), "ALL=(root) NOPASSWD: %s/klipper/scripts/flash-linux.sh",
		 fx.dir);
	expect(doc, "sudo", "flash-linux.sh", "fail", line,
	       "add that line with sudo visudo -f /etc/sudoers.d/kflash");
	expect(doc, "service", "klipper", "warning", "klipper is inactive",
	       "kflash service start klipper");
	expect(doc, "klippy-socket", NULL, "warning", "Klipper is not running",
	       "kflash service start klipper");
	json_object_put(doc);
	kf_cli_result_free(&r);

	/* sudo asks for a password for everything: every line to add is said. */
	env[n - 1] = "KF_FAKE_SUDO=none";
	r = kf_cli_run_opts(&as_user, env, (const char *const[]){ "doctor", "--json", NULL });
	ck_assert_msg(r.status == 71, "%d: %s%s", r.status, r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "sudo", "klipper", "fail", "stop klipper, ", "sudo visudo");
	expect(doc, "sudo", "klipper-mcu", "fail", "start klipper-mcu", "sudo visudo");
	expect(doc, "sudo", "flash-linux.sh", "fail",
	       "must run through sudo, which asks for a password", "sudo visudo");
	json_object_put(doc);
	kf_cli_result_free(&r);
	/* Nothing was stopped or started to find out. */
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(fx_count("sudo -n systemctl"), 0);
	fx_teardown();
}
END_TEST

START_TEST(doctor_queries_can_only_while_klipper_is_stopped)
{
	struct kf_cli_result r;
	struct json_object *doc;

	fx_setup();
	fx_can_bus();
	fx_can_node(0, "ebb", EBB_UUID, NULL);
	fx.sims[1] = kf_sim_startl(NULL, "--mode", "can", "--can-dir", fx.can, "--can-uuid",
				   SB_UUID, "--mcu", "stm32f446xx", "--can-start", "katapult");
	fx_cli_ok(fx.env, (const char *const[]){ "add", "sb", "--can-interface", "can0",
						 "--can-uuid", SB_UUID, "--mcu", "stm32f446xx",
						 "--method", "katapult", "-q", NULL });
	seed_config("sb", "stm32f446_can_katapult");

	/* Klipper runs and names neither node: they are not seen, and the bus is left alone. */
	r = kf_cli(fx.env, "doctor", "--json", NULL);
	ck_assert_msg(r.status == 0 || strcmp(expected_space(2), "fail") == 0, "%d: %s%s", r.status,
		      r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "board", "ebb", "warning",
	       "node " EBB_UUID " on can0 is not seen: a CAN node answers a query only while "
	       "Klipper is stopped, and kflash doctor neither stops Klipper nor queries a CAN bus "
	       "while it runs",
	       "kflash set ebb --klipper-mcu 'mcu NAME'");
	expect(doc, "board", "sb", "warning", "is not seen", "kflash service stop");
	expect(doc, "katapult", "sb", "ok", "unknown: what the board runs is not known", NULL);
	expect(doc, "can-interface", "can0", "ok", "can0 answers", NULL);
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "can rx admin QUERY_UNASSIGNED"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "can rx admin QUERY_UNASSIGNED"), 0);

	/* Stopped: one query of can0 finds both, and what each runs. */
	write_state("klipper", "inactive\n");
	r = kf_cli(fx.env, "doctor", "--json", NULL);
	ck_assert_msg(r.status == 0 || strcmp(expected_space(2), "fail") == 0, "%d: %s%s", r.status,
		      r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "service", "klipper", "warning", "klipper is inactive",
	       "kflash service start klipper");
	expect(doc, "klippy-socket", NULL, "warning", "Klipper is not running",
	       "kflash service start klipper");
	expect(doc, "board", "ebb", "ok",
	       "node " EBB_UUID " on can0 runs Klipper (it answered a query, as Klipper is "
	       "stopped)",
	       NULL);
	expect(doc, "board", "sb", "ok", "node " SB_UUID " on can0 runs Katapult", NULL);
	expect(doc, "katapult", "sb", "ok", "present: the board runs it now", NULL);
	expect(doc, "katapult", "ebb", "ok", "unknown: the board runs Klipper", NULL);
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "can rx admin QUERY_UNASSIGNED"), 1);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "can rx admin QUERY_UNASSIGNED"), 1);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	ck_assert_int_eq(fx_count("systemctl start"), 0);
	fx_teardown();
}
END_TEST

/* A print in progress is no setup problem, but a flash now would be refused. */
START_TEST(doctor_warns_of_a_print)
{
	struct kf_cli_result r;
	struct json_object *doc;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_start_klippy("printing", "ready", "Printer is ready");
	r = kf_cli(fx.env, "doctor", "--json", NULL);
	ck_assert_msg(r.status == 0 || strcmp(expected_space(1), "fail") == 0, "%d: %s%s", r.status,
		      r.out, r.err);
	doc = kf_cli_json(&r);
	expect(doc, "klippy-socket", NULL, "warning", "the printer is printing",
	       "wait until the print is done");
	expect(doc, "board", "octopus", "ok", "klipper mode at", NULL);
	json_object_put(doc);
	kf_cli_result_free(&r);
	ck_assert_int_eq(fx_count("systemctl stop"), 0);
	fx_teardown();
}
END_TEST

START_TEST(doctor_usage)
{
	struct kf_cli_result r;

	fx_setup();
	r = kf_cli(fx.env, "doctor", "extra", NULL);
	ck_assert_int_eq(r.status, 64);
	ck_assert_ptr_nonnull(strstr(r.err, "kflash doctor: unexpected argument 'extra'"));
	kf_cli_result_free(&r);
	r = kf_cli(fx.env, "doctor", "--help", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kflash doctor"));
	ck_assert_ptr_nonnull(strstr(r.out, "71 when something"));
	kf_cli_result_free(&r);
	/* The exit code is listed with the others. */
	r = kf_cli(fx.env, "--help", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "  71   kflash doctor: a check failed"));
	kf_cli_result_free(&r);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_doctor)
{
	kf_test_add_timeout(doctor_on_a_healthy_sandbox, 60);
	kf_test_add_timeout(doctor_on_a_broken_sandbox, 60);
	kf_test_add_timeout(doctor_says_which_sudo_line_is_missing, 60);
	kf_test_add_timeout(doctor_queries_can_only_while_klipper_is_stopped, 60);
	kf_test_add_timeout(doctor_warns_of_a_print, 60);
	kf_test_add_timeout(doctor_usage, 30);
}
