/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kf-test.h"
#include "moonraker-run.h"

#define MAX_ARGS 32

pid_t
kf_moonraker_start(const char *sock,
		   const char *log,
		   const char *state_dir,
		   const char *const *extra)
{
	const char *bin = getenv("KF_MOONRAKER_SERVER_BIN");
	const char *argv[MAX_ARGS];
	char ready[4200];
	size_t n = 0;
	pid_t pid;

	ck_assert_msg(bin != NULL,
		      "KF_MOONRAKER_SERVER_BIN is not set (run the tests with meson test)");
	snprintf(ready, sizeof(ready), "%s.ready", sock);
	unlink(ready);
	argv[n++] = "moonraker-server";
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	argv[n++] = "--log";
	argv[n++] = log;
	argv[n++] = "--state-dir";
	argv[n++] = state_dir;
	for (size_t i = 0; extra && extra[i]; i++) {
		ck_assert(n < MAX_ARGS - 1);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		int status;

		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "the fake Moonraker exited");
		ck_assert_msg(i < 10000, "the fake Moonraker made no socket");
		usleep(1000);
	}
	chmod(sock, 0777);
	return pid;
}

void
kf_moonraker_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
