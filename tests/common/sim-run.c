/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "sim-run.h"

#define SIM_TIMEOUT_MS 10000 /* only catches hangs */

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "<dir>/<name>" */
static char *
in_dir(const char *dir, const char *name)
{
	char *s;

	ck_assert(asprintf(&s, "%s/%s", dir, name) >= 0);
	return s;
}

struct kf_sim *
kf_sim_start(const char *dev_dir, const char *const *args)
{
	const char *bin = getenv("KF_SIM_BIN");
	struct kf_sim *s = calloc(1, sizeof(*s));
	const char *argv[64];
	char *ready_path, *ready;
	long deadline = now_ms() + SIM_TIMEOUT_MS;
	size_t n = 0;

	ck_assert_msg(bin != NULL, "KF_SIM_BIN is not set (run the tests with meson test)");
	ck_assert(s != NULL);
	s->dir = kf_test_mkdtemp();
	s->dev = dev_dir ? strdup(dev_dir) : in_dir(s->dir, "dev");
	s->log = in_dir(s->dir, "sim.log");
	s->image = in_dir(s->dir, "image.bin");
	ready_path = in_dir(s->dir, "ready");
	argv[n++] = bin;
	argv[n++] = "--dev-dir";
	argv[n++] = s->dev;
	argv[n++] = "--log";
	argv[n++] = s->log;
	argv[n++] = "--image";
	argv[n++] = s->image;
	argv[n++] = "--ready-file";
	argv[n++] = ready_path;
	for (; args && *args; args++) {
		ck_assert(n < 62);
		argv[n++] = *args;
	}
	argv[n] = NULL;

	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (!(ready = kf_test_read_file(ready_path))) {
		int status;

		ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0,
			      "kflash-sim exited before it was ready (status %d)", status);
		ck_assert_msg(now_ms() < deadline, "kflash-sim did not get ready");
		usleep(2000);
	}
	ready[strcspn(ready, "\n")] = '\0';
	s->path = ready;
	free(ready_path);
	return s;
}

void
kf_sim_end(struct kf_sim *s)
{
	long deadline = now_ms() + SIM_TIMEOUT_MS;
	int status = 0;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			ck_abort_msg("kflash-sim did not exit on SIGTERM");
		}
		usleep(2000);
	}
	s->pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "kflash-sim ended with status 0x%x", status);
}

void
kf_sim_stop(struct kf_sim *s)
{
	kf_sim_end(s);
	kf_test_rmtree(s->dir);
	free(s->dir);
	free(s->dev);
	free(s->log);
	free(s->image);
	free(s->path);
	free(s);
}

char *
kf_sim_log_text(const struct kf_sim *s)
{
	char *text = kf_test_read_file(s->log);

	return text ? text : strdup("");
}

int
kf_sim_log_count(const struct kf_sim *s, const char *prefix)
{
	char *text = kf_sim_log_text(s);
	int count = 0;

	for (char *line = text; line && *line;) {
		char *end = strchr(line, '\n');

		if (strncmp(line, prefix, strlen(prefix)) == 0)
			count++;
		line = end ? end + 1 : NULL;
	}
	free(text);
	return count;
}

bool
kf_sim_log_wait(const struct kf_sim *s, const char *prefix)
{
	long deadline = now_ms() + SIM_TIMEOUT_MS;

	while (kf_sim_log_count(s, prefix) == 0) {
		if (now_ms() > deadline)
			return false;
		usleep(2000);
	}
	return true;
}
