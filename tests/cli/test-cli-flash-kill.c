/* SPDX-License-Identifier: MIT */
/*
 * The kill matrix: kflash flash is killed with SIGINT, SIGTERM, SIGHUP
 * and SIGKILL during the build, right after the stop, mid-transfer and
 * during the verify, and while two boards are flashed at once; after every
 * stop, klipper is started exactly once.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flash-fixture.h"

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
		return fx_count("make build") > 0 && access(hang_file, F_OK) == 0;
	case 1:
		return fx_count("systemctl stop") > 0;
	case 2:
		return kf_sim_log_count(fx.sims[0], "rx SEND_BLOCK") > 3;
	default:
		return kf_sim_log_count(fx.sims[0], "rx REQUEST_BLOCK") > 3;
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

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", slow);
	snprintf(hang_file, sizeof(hang_file), "%s/hang.pid", fx.dir);
	snprintf(hang, sizeof(hang), "KF_FAKE_KLIPPER_HANG=%s", hang_file);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kf_cli_result r = kf_cli_run(fx_env_with(moment == 0 ? hang : NULL), args);

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
	for (waited = 0; fx_count("systemctl start klipper") < fx_count("systemctl stop klipper") &&
			 waited < (kf_test_under_valgrind() ? 20000 : 2000);
	     waited += 5)
		usleep(5000);
	usleep(100000);
	ck_assert_msg(fx_count("systemctl start klipper") == fx_count("systemctl stop klipper"),
		      "%s at %s: %d stops, %d starts", strsignal(sig), moments[moment],
		      fx_count("systemctl stop klipper"), fx_count("systemctl start klipper"));
	ck_assert_int_eq(fx_count("systemctl stop klipper"), moment == 0 ? 0 : 1);
	/* No COMPLETE after an interrupted transfer. */
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	if (moment == 0 && sig != SIGKILL) {
		/* make's hung child went with its process group. */
		pid_t hung = hung_pid();

		for (int i = 0; i < 200 && kill(hung, 0) == 0; i++)
			usleep(10000);
		ck_assert_msg(kill(hung, 0) < 0, "make's child survived %s", strsignal(sig));
	}
	fx_teardown();
}
END_TEST

/*
 * Two boards flashed at once, killed while both transfer (or while both
 * verify): one start for the one stop, and no COMPLETE on either.
 */
START_TEST(flash_kill_matrix_parallel)
{
	int sig = signals[_i % 4], status;
	bool verify = _i >= 4;
	static const char *const slow[] = { "--rate", "20000", NULL };
	const char *args[] = { "flash", "--all", NULL };
	long waited = 0;
	pid_t pid;

	fx_setup();
	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", slow);
	fx_board(1, "pico", "stm32f446xx", EBB, "stm32f446_usb", slow);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kf_cli_result r = kf_cli_run(fx.env, args);

		_exit(r.status);
	}
	while (kf_sim_log_count(fx.sims[0], verify ? "rx REQUEST_BLOCK" : "rx SEND_BLOCK") <= 3 ||
	       kf_sim_log_count(fx.sims[1], verify ? "rx REQUEST_BLOCK" : "rx SEND_BLOCK") <= 3) {
		ck_assert_msg(waited < 60000, "the run never reached both boards' %s",
			      verify ? "verify" : "transfer");
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
			      "kflash ended before both boards were flashed at once (status 0x%x)",
			      status);
		usleep(2000);
		waited += 2;
	}
	ck_assert_int_eq(kill(child_of(pid), sig), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	for (waited = 0; fx_count("systemctl start klipper") < 1 &&
			 waited < (kf_test_under_valgrind() ? 20000 : 2000);
	     waited += 5)
		usleep(5000);
	usleep(100000);
	ck_assert_msg(fx_count("systemctl start klipper") == 1 &&
			      fx_count("systemctl stop klipper") == 1,
		      "%s while both %s: %d stops, %d starts", strsignal(sig),
		      verify ? "verify" : "transfer", fx_count("systemctl stop klipper"),
		      fx_count("systemctl start klipper"));
	ck_assert_int_eq(kf_sim_log_count(fx.sims[0], "rx COMPLETE"), 0);
	ck_assert_int_eq(kf_sim_log_count(fx.sims[1], "rx COMPLETE"), 0);
	fx_teardown();
}
END_TEST

KF_TEST_SUITE(cli_flash_kill)
{
	kf_test_add_loop(flash_kill_matrix_parallel, 8);
	kf_test_add_loop(flash_kill_matrix, (int)(sizeof(moments) / sizeof(moments[0]) *
						  sizeof(signals) / sizeof(signals[0])));
}
