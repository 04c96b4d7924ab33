/* SPDX-License-Identifier: MIT */
/*
 * The service guard against a fake systemctl and sudo (tests/fakes/bin),
 * which log every call: stops and starts, units left alone, failures,
 * missing passwordless sudo, injected functions, and the kill matrix.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"
#include "service/service-private.h"

static char *dir;
static char log_path[4200], state_dir[4200];
static struct kflash_context *ctx;

static void
setup(void)
{
	char path[9000];

	dir = kf_test_mkdtemp();
	/* Another uid writes here in the sudo test. */
	chmod(dir, 0777);
	snprintf(log_path, sizeof(log_path), "%s/calls.log", dir);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	ck_assert_int_eq(mkdir(state_dir, 0777), 0);
	chmod(state_dir, 0777);
	if (!strstr(getenv("PATH"), getenv("KF_FAKES_BIN"))) {
		snprintf(path, sizeof(path), "%s:%s", getenv("KF_FAKES_BIN"), getenv("PATH"));
		setenv("PATH", path, 1);
	}
	setenv("KF_FAKE_LOG", log_path, 1);
	setenv("KF_FAKE_STATE", state_dir, 1);
	unsetenv("KF_FAKE_FAIL");
	unsetenv("KF_FAKE_SUDO");
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static void
set_state(const char *unit, const char *state)
{
	char path[9000];

	snprintf(path, sizeof(path), "%s/%s", state_dir, unit);
	kf_test_write_file(path, state);
}

static char *
calls(void)
{
	char *text = kf_test_read_file(log_path);

	return text ? text : strdup("");
}

/* How many logged calls are exactly @line. */
static int
count_calls(const char *line)
{
	char *text = calls();
	int n = 0;

	for (char *p = text; p && *p;) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == strlen(line) && strncmp(p, line, len) == 0)
			n++;
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(guard_stops_and_starts_once)
{
	struct kflash_service_guard *g;

	setup();
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_uint_eq(kflash_service_guard_get_unit_count(g), 1);
	ck_assert_str_eq(kflash_service_guard_get_unit(g, 0), "klipper");
	ck_assert_ptr_null(kflash_service_guard_get_unit(g, 1));
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 1);
	ck_assert_int_eq(kflash_service_guard_unit_was_stopped(g, 0), 1);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0); /* once only */
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 0), 1);
	kflash_service_guard_unref(g);
	/* The sentinel was dismissed: it starts nothing more. */
	usleep(200000);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	ck_assert(kf_test_events_contain(ctx, "stopping klipper"));
	teardown();
}
END_TEST

START_TEST(guard_ends_when_unreferenced)
{
	struct kflash_service_guard *g;

	setup();
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_ptr_null(kflash_service_guard_unref(g));
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(guard_leaves_stopped_units_stopped)
{
	struct kflash_service_guard *g;

	setup();
	set_state("klipper-mcu", "inactive");
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper-mcu"), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper"), 0); /* twice: once */
	ck_assert_uint_eq(kflash_service_guard_get_unit_count(g), 2);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	kf_assert_error(ctx, kflash_service_guard_add_unit(g, "moonraker"), KFLASH_ERR_BUSY,
			"add moonraker before it begins");
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_int_eq(count_calls("systemctl stop klipper-mcu"), 0);
	ck_assert_int_eq(count_calls("systemctl start klipper-mcu"), 0);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	ck_assert_int_eq(kflash_service_guard_unit_was_stopped(g, 1), 0);
	ck_assert(kf_test_events_contain(ctx, "klipper-mcu is inactive already"));
	kflash_service_guard_unref(g);

	/* Nothing runs: nothing is stopped, no sentinel. */
	set_state("klipper", "failed");
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	kflash_service_guard_unref(g);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 1);
	teardown();
}
END_TEST

START_TEST(guard_failed_stop_starts_what_it_stopped)
{
	struct kflash_service_guard *g;

	setup();
	setenv("KF_FAKE_FAIL", "stop klipper-2", 1);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper-2"), 0);
	kf_assert_error(ctx, kflash_service_guard_begin(g), KFLASH_ERR_SERVICE,
			"systemctl stop klipper-2' failed with exit status 1");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "were started again"));
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	kflash_service_guard_unref(g);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	teardown();
}
END_TEST

START_TEST(guard_failed_start_says_what_to_do)
{
	struct kflash_service_guard *g;

	setup();
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	setenv("KF_FAKE_FAIL", "start klipper", 1);
	kf_assert_error(ctx, kflash_service_guard_end(g), KFLASH_ERR_SERVICE,
			"could not start klipper");
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx), "sudo systemctl start klipper"));
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 0), 0);
	kflash_service_guard_unref(g);
	teardown();
}
END_TEST

/* ---- injected functions ---- */

static char injected[256];

static int
fake_stop(struct kflash_context *c, const char *unit, void *data)
{
	strcat(injected, "stop ");
	strcat(injected, unit);
	strcat(injected, ";");
	return *(int *)data;
}

static int
fake_start(struct kflash_context *c, const char *unit, void *data)
{
	strcat(injected, "start ");
	strcat(injected, unit);
	strcat(injected, ";");
	return 0;
}

static int
fake_query(struct kflash_context *c, const char *unit, void *data)
{
	return strcmp(unit, "klipper") == 0;
}

START_TEST(guard_with_injected_functions)
{
	struct kflash_service_guard *g;
	int state;
	int stop_result = 0;

	setup();
	injected[0] = '\0';
	kflash_context_set_service_stop_func(ctx, fake_stop, &stop_result);
	kflash_context_set_service_start_func(ctx, fake_start, NULL);
	kflash_context_set_service_query_func(ctx, fake_query, NULL);
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_ACTIVE);
	ck_assert_int_eq(kflash_service_get_state(ctx, "other", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_INACTIVE);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "other"), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_str_eq(injected, "stop klipper;start klipper;");
	kflash_service_guard_unref(g);
	/* No systemctl, no sudo. */
	ck_assert_ptr_null(kf_test_read_file(log_path));

	/* A failing injected stop without a message gets one. */
	stop_result = -1;
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	kf_assert_error(ctx, kflash_service_guard_begin(g), KFLASH_ERR_SERVICE,
			"cannot stop klipper");
	kflash_service_guard_unref(g);
	kflash_context_set_service_stop_func(ctx, NULL, NULL);
	kflash_context_set_service_start_func(ctx, NULL, NULL);
	kflash_context_set_service_query_func(ctx, NULL, NULL);
	teardown();
}
END_TEST

START_TEST(service_state_and_manual_control)
{
	struct kflash_service_guard *g;
	int state = -1;

	setup();
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_ACTIVE);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), 0);
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_INACTIVE);
	ck_assert_str_eq(kflash_unit_state_name(state), "inactive");
	ck_assert_int_eq(kflash_unit_state_is_running(state), 0);
	ck_assert_int_eq(kflash_service_start(ctx, "klipper"), 0);
	set_state("klipper", "failed");
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_FAILED);
	set_state("klipper", "gibberish");
	kf_assert_error(ctx, kflash_service_get_state(ctx, "klipper", &state), KFLASH_ERR_SERVICE,
			"said 'gibberish'");
	kf_assert_error(ctx, kflash_service_get_state(ctx, "../x", &state), KFLASH_ERR_INVALID,
			"'../x' is not a systemd unit name");
	kf_assert_error(ctx, kflash_service_stop(ctx, "-x"), KFLASH_ERR_INVALID,
			"not a systemd unit");
	ck_assert_int_eq(kflash_context_set_service(ctx, "bad unit"), 0);
	kf_assert_error(ctx, kflash_service_guard_new(ctx, &g), KFLASH_ERR_INVALID,
			"'bad unit' is not a systemd unit name");
	teardown();
}
END_TEST

/* The children of this process that lead a session of their own. */
static pid_t
sentinel_child(void)
{
	for (int tries = 0; tries < 500; tries++) {
		DIR *proc = opendir("/proc");
		struct dirent *de;
		pid_t found = 0;

		while (proc && !found && (de = readdir(proc))) {
			char path[300], buf[512], *paren;
			int ppid = 0, pgrp = 0, session = 0;
			FILE *f;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) &&
			    sscanf(paren + 2, "%*c %d %d %d", &ppid, &pgrp, &session) == 3 &&
			    ppid == getpid() && session == atoi(de->d_name))
				found = (pid_t)atoi(de->d_name);
			fclose(f);
		}
		if (proc)
			closedir(proc);
		if (found)
			return found;
		usleep(2000);
	}
	return 0;
}

START_TEST(sentinel_holds_nothing_but_its_socket)
{
	struct kflash_service_guard *g;
	char fd_dir[64];
	int held = open("/dev/null", O_RDONLY), count = 0;
	struct dirent *de;
	pid_t sentinel;
	DIR *d;

	setup();
	/* Without O_CLOEXEC, as a careless caller's serial port or lock file. */
	ck_assert_int_ge(held, 0);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	sentinel = sentinel_child();
	ck_assert_int_gt(sentinel, 0);
	/* Its session is its own: a terminal's hangup does not reach it. */
	ck_assert_int_eq(getsid(sentinel), sentinel);
	/* stdin, stdout, stderr (/dev/null) and its socket: nothing else. */
	for (int tries = 0; tries < 500; tries++) {
		snprintf(fd_dir, sizeof(fd_dir), "/proc/%d/fd", (int)sentinel);
		d = opendir(fd_dir);
		count = 0;
		/* valgrind keeps descriptors of its own at the top of the range */
		while (d && (de = readdir(d)))
			count += de->d_name[0] != '.' && atoi(de->d_name) < 1000;
		if (d)
			closedir(d);
		if (count == 4)
			break;
		usleep(2000);
	}
	ck_assert_int_eq(count, 4);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	kflash_service_guard_unref(g);
	close(held);
	teardown();
}
END_TEST

/* ---- not root: passwordless sudo or nothing ---- */

/*
 * Become an ordinary user: uid 65534 when root, or stay the ordinary user
 * the tests run as. The sudo checks only run for a user other than root.
 */
static int
drop_root(void)
{
	if (geteuid() != 0)
		return 0;
	return setgid(65534) < 0 || setuid(65534) < 0 ? -1 : 0;
}

/* In a child as an ordinary user: begin a guard, report the result through @fd. */
static void
begin_as_nobody(int fd)
{
	struct kflash_context *c;
	struct kflash_service_guard *g;
	char msg[2048];
	int r;

	if (drop_root() < 0)
		_exit(99);
	if (kflash_context_new(&c) < 0 || kflash_context_set_service(c, "klipper") < 0 ||
	    kflash_service_guard_new(c, &g) < 0)
		_exit(98);
	r = kflash_service_guard_begin(g);
	snprintf(msg, sizeof(msg), "%d %s", r, kflash_context_last_error(c));
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(97);
	kflash_service_guard_unref(g);
	kflash_context_unref(c);
	_exit(0);
}

/* In a child as an ordinary user: may sudo run the host MCU's install script? */
static void
check_script_as_nobody(int fd)
{
	struct kflash_context *c;
	char msg[2048];
	int r;

	if (drop_root() < 0)
		_exit(99);
	if (kflash_context_new(&c) < 0)
		_exit(98);
	r = kflash_service_check_sudo(c, "/home/pi/klipper/scripts/flash-linux.sh");
	snprintf(msg, sizeof(msg), "%d %s", r, r < 0 ? kflash_context_last_error(c) : "");
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(97);
	kflash_context_unref(c);
	_exit(0);
}

static char *
run_as_nobody_with(void (*child)(int fd))
{
	char buf[4096];
	int p[2], status;
	ssize_t n, total = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	while ((n = read(p[0], buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	buf[total] = '\0';
	return strdup(buf);
}

static char *
run_as_nobody(void)
{
	return run_as_nobody_with(begin_as_nobody);
}

START_TEST(not_root_needs_passwordless_sudo)
{
	char *result, expect[64];

	setup();
	/* sudo asks for a password: nothing is stopped, and the line to add is said. */
	setenv("KF_FAKE_SUDO", "none", 1);
	result = run_as_nobody();
	snprintf(expect, sizeof(expect), "%d ", KFLASH_ERR_PERMISSION);
	ck_assert_msg(strncmp(result, expect, strlen(expect)) == 0, "%s", result);
	ck_assert_ptr_nonnull(strstr(result, "sudo asks for a password"));
	ck_assert_ptr_nonnull(strstr(result, "nothing was stopped"));
	ck_assert_ptr_nonnull(strstr(result, "ALL=(root) NOPASSWD:"));
	ck_assert_ptr_nonnull(strstr(result, "/systemctl stop klipper,"));
	ck_assert_ptr_nonnull(strstr(result, "/systemctl start klipper"));
	ck_assert_int_eq(count_calls("sudo -n true"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 0);
	free(result);

	/* With passwordless sudo, the stop and start go through it. */
	setenv("KF_FAKE_SUDO", "passwordless", 1);
	result = run_as_nobody();
	ck_assert_msg(strncmp(result, "0 ", 2) == 0, "%s", result);
	ck_assert_int_eq(count_calls("sudo -n systemctl stop klipper"), 1);
	ck_assert_int_eq(count_calls("sudo -n systemctl start klipper"), 1);
	free(result);

	/* The sudoers line of the hint is enough: sudo -l lists both commands. */
	setenv("KF_FAKE_SUDO", "systemctl", 1);
	result = run_as_nobody();
	ck_assert_msg(strncmp(result, "0 ", 2) == 0, "%s", result);
	/* (the first run asked once too, and was refused) */
	ck_assert_int_eq(count_calls("sudo -n -l systemctl stop klipper"), 2);
	ck_assert_int_eq(count_calls("sudo -n -l systemctl start klipper"), 1);
	ck_assert_int_eq(count_calls("sudo -n systemctl stop klipper"), 2);
	ck_assert_int_eq(count_calls("sudo -n systemctl start klipper"), 2);
	free(result);
	teardown();
}
END_TEST

START_TEST(not_root_needs_sudo_for_the_host_mcu_script)
{
	char *result, expect[64];

	setup();
	/* Only systemctl allowed: the script is refused, with the line to add. */
	setenv("KF_FAKE_SUDO", "systemctl", 1);
	result = run_as_nobody_with(check_script_as_nobody);
	snprintf(expect, sizeof(expect), "%d ", KFLASH_ERR_PERMISSION);
	ck_assert_msg(strncmp(result, expect, strlen(expect)) == 0, "%s", result);
	ck_assert_ptr_nonnull(strstr(result, "/home/pi/klipper/scripts/flash-linux.sh must run "
					     "through sudo, which asks for a password"));
	ck_assert_ptr_nonnull(strstr(result, "NOPASSWD: /home/pi/klipper/scripts/flash-linux.sh"));
	ck_assert_int_eq(count_calls("sudo -n -l /home/pi/klipper/scripts/flash-linux.sh"), 1);
	free(result);
	/* NOPASSWD for everything: fine. */
	setenv("KF_FAKE_SUDO", "passwordless", 1);
	result = run_as_nobody_with(check_script_as_nobody);
	ck_assert_msg(strcmp(result, "0 ") == 0, "%s", result);
	free(result);
	teardown();
}
END_TEST

/* ---- the kill matrix ---- */

static const char *const markers[] = { "stopping", "stopped", "working", "ending" };
static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGKILL };

START_TEST(kill_matrix_every_stop_gets_one_start)
{
	const char *marker = markers[_i / 4];
	int sig = signals[_i % 4];
	int to_job[2], from_job[2], status;
	long bound = kf_test_under_valgrind() ? 20000 : 2000, deadline;
	char line[64];
	FILE *out;
	pid_t pid;

	setup();
	/* The job may be dead when the test writes to it. */
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(pipe(to_job), 0);
	ck_assert_int_eq(pipe(from_job), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(to_job[0], STDIN_FILENO);
		dup2(from_job[1], STDOUT_FILENO);
		close(to_job[1]);
		close(from_job[0]);
		execl(getenv("KF_GUARDED_JOB"), "guarded-job", "klipper", "klipper-mcu",
		      (char *)NULL);
		_exit(127);
	}
	close(to_job[0]);
	close(from_job[1]);
	out = fdopen(from_job[0], "r");
	while (fgets(line, sizeof(line), out)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, marker) == 0) {
			ck_assert_int_eq(kill(pid, sig), 0);
			break;
		}
		ck_assert_int_eq(write(to_job[1], "\n", 1), 1);
	}
	/* Let a cancelled job run to its end. */
	while (fgets(line, sizeof(line), out))
		if (write(to_job[1], "\n", 1) < 0)
			break;
	fclose(out);
	close(to_job[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

	/* After every stop, exactly one start (from the job or its sentinel). */
	deadline = now_ms() + bound;
	while (count_calls("systemctl start klipper") < count_calls("systemctl stop klipper") &&
	       now_ms() < deadline)
		usleep(5000);
	usleep(100000); /* and no second one */
	ck_assert_msg(count_calls("systemctl stop klipper") ==
			      count_calls("systemctl start klipper"),
		      "%s at '%s': stops and starts differ:\n%s", strsignal(sig), marker, calls());
	ck_assert_msg(count_calls("systemctl stop klipper-mcu") ==
			      count_calls("systemctl start klipper-mcu"),
		      "%s at '%s': klipper-mcu stops and starts differ:\n%s", strsignal(sig),
		      marker, calls());
	/* Killed before the stop, nothing was stopped; after it, one start. */
	ck_assert_int_eq(count_calls("systemctl start klipper"),
			 strcmp(marker, "stopping") == 0 ? 0 : 1);
	teardown();
}
END_TEST

KF_TEST_SUITE(service)
{
	kf_test_add(guard_stops_and_starts_once);
	kf_test_add(guard_ends_when_unreferenced);
	kf_test_add(guard_leaves_stopped_units_stopped);
	kf_test_add(guard_failed_stop_starts_what_it_stopped);
	kf_test_add(guard_failed_start_says_what_to_do);
	kf_test_add(guard_with_injected_functions);
	kf_test_add(service_state_and_manual_control);
	kf_test_add_timeout(sentinel_holds_nothing_but_its_socket, 30);
	kf_test_add_timeout(not_root_needs_passwordless_sudo, 30);
	kf_test_add_timeout(not_root_needs_sudo_for_the_host_mcu_script, 30);
	kf_test_add_loop(kill_matrix_every_stop_gets_one_start,
			 (int)(KF_ARRAY_SIZE(markers) * KF_ARRAY_SIZE(signals)));
}
