/* SPDX-License-Identifier: MIT */
/* Child processes: streaming, exit status, environment, timeout, cancel. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/process.h"
#include "kf-test.h"
#include "libkflash-private.h"

struct lines {
	char text[65536];
	int count;
	int stderr_count;
};

static void
collect(void *data, enum kf_stream stream, const char *line)
{
	struct lines *l = data;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%s%s\n",
		 stream == KF_STREAM_STDERR ? "E:" : "", line);
	l->count++;
	if (stream == KF_STREAM_STDERR)
		l->stderr_count++;
}

static struct kflash_context *
ctx_new(void)
{
	struct kflash_context *ctx;

	ck_assert_int_eq(kflash_context_new(&ctx), 0);
	return ctx;
}

static int
run_sh(struct kflash_context *ctx,
       const char *script,
       struct kf_process_opts *o,
       struct kf_process_result *res)
{
	const char *argv[] = { "sh", "-c", script, NULL };

	o->argv = argv;
	return kf_process_run(ctx, o, res);
}

/* A pid is gone when kill() says so or it is a zombie. */
static bool
pid_is_gone(pid_t pid)
{
	char path[64], *stat;
	bool gone;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = kf_test_read_file(path);
	if (!stat)
		return true;
	gone = strstr(stat, ") Z ") != NULL;
	free(stat);
	return gone;
}

static pid_t
read_pid(const char *path)
{
	char *s = kf_test_read_file(path);
	pid_t pid;

	ck_assert_msg(s != NULL, "no pid file %s", path);
	pid = (pid_t)atoi(s);
	free(s);
	ck_assert_int_gt(pid, 1);
	return pid;
}

START_TEST(process_streams_lines_in_order)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l };
	struct kf_process_result res;

	ck_assert_int_eq(
		run_sh(ctx, "echo one; echo two >&2; printf 'three\\nfour'; exit 3", &o, &res), 0);
	ck_assert_int_eq(res.exit_code, 3);
	ck_assert_int_eq(res.signal, 0);
	ck_assert_int_eq(l.count, 4);
	ck_assert_int_eq(l.stderr_count, 1);
	/* Each stream keeps its order; the unterminated last line is delivered. */
	ck_assert_ptr_nonnull(strstr(l.text, "one\n"));
	ck_assert_ptr_nonnull(strstr(l.text, "three\n"));
	ck_assert_ptr_nonnull(strstr(l.text, "four\n"));
	ck_assert(strstr(l.text, "one\n") < strstr(l.text, "three\n"));
	ck_assert(strstr(l.text, "three\n") < strstr(l.text, "four\n"));
	ck_assert_ptr_nonnull(strstr(l.text, "E:two\n"));
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_lines_become_output_events)
{
	char *dir = kf_test_mkdtemp();
	struct kflash_context *ctx = kf_test_context(dir);
	struct kf_process_opts o = { 0 };
	struct kf_process_result res;

	ck_assert_int_eq(run_sh(ctx, "echo compiling sched.c", &o, &res), 0);
	ck_assert_msg(kf_test_events_contain(ctx, "output 20 - - compiling sched.c"), "%s",
		      kf_test_events(ctx));
	kf_process_result_clear(&res);
	kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(process_long_lines_are_split)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l };
	struct kf_process_result res;

	/* 10000 characters without a newline: 4096 + 4096 + 1808. */
	ck_assert_int_eq(run_sh(ctx, "head -c 10000 /dev/zero | tr '\\0' x", &o, &res), 0);
	ck_assert_int_eq(l.count, 3);
	ck_assert_uint_eq(strlen(l.text), 10000 + 3);
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_keeps_the_tail)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l, .tail_lines = 3 };
	struct kf_process_result res;

	ck_assert_int_eq(
		run_sh(ctx, "for i in 1 2 3 4 5 6; do echo line$i; done; echo err >&2", &o, &res),
		0);
	ck_assert_str_eq(res.tail, "line5\nline6\nerr");
	kf_process_result_clear(&res);

	ck_assert_int_eq(run_sh(ctx, "echo only", &o, &res), 0);
	ck_assert_str_eq(res.tail, "only");
	kf_process_result_clear(&res);

	ck_assert_int_eq(run_sh(ctx, "true", &o, &res), 0);
	ck_assert_ptr_null(res.tail);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_captures_stdout)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect,
				     .on_line_data = &l,
				     .capture_stdout = true };
	struct kf_process_result res;

	ck_assert_int_eq(run_sh(ctx, "echo v0.12.0-1-gabc; echo warn >&2", &o, &res), 0);
	ck_assert_str_eq(res.out, "v0.12.0-1-gabc\n");
	ck_assert_str_eq(l.text, "E:warn\n");
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_reports_a_signal)
{
	struct kflash_context *ctx = ctx_new();
	struct kf_process_opts o = { 0 };
	struct kf_process_result res;

	ck_assert_int_eq(run_sh(ctx, "kill -USR1 $$", &o, &res), 0);
	ck_assert_int_eq(res.exit_code, -1);
	ck_assert_int_eq(res.signal, SIGUSR1);
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_program_not_found)
{
	struct kflash_context *ctx = ctx_new();
	const char *argv[] = { "kflash-no-such-program", NULL };
	const char *argv2[] = { "/nonexistent/dir/prog", NULL };
	struct kf_process_opts o = { .argv = argv };
	struct kf_process_result res;

	kf_assert_error(ctx, kf_process_run(ctx, &o, &res), KFLASH_ERR_NOT_FOUND,
			"'kflash-no-such-program' was not found on PATH");
	kf_process_result_clear(&res);
	o.argv = argv2;
	kf_assert_error(ctx, kf_process_run(ctx, &o, &res), KFLASH_ERR_NOT_FOUND,
			"/nonexistent/dir/prog");
	kf_process_result_clear(&res);
	o.argv = NULL;
	kf_assert_error(ctx, kf_process_run(ctx, &o, &res), KFLASH_ERR_INVALID, "no program");
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_exec_failure_is_reported)
{
	struct kflash_context *ctx = ctx_new();
	char *dir = kf_test_mkdtemp(), path[4200];
	const char *argv[] = { path, NULL };
	struct kf_process_opts o = { .argv = argv };
	struct kf_process_result res;

	/* Executable bit, but not a valid program: execve fails with ENOEXEC. */
	snprintf(path, sizeof(path), "%s/bogus", dir);
	kf_test_write_file(path, "\x7f"
				 "ELF garbage");
	chmod(path, 0755);
	kf_assert_error(ctx, kf_process_run(ctx, &o, &res), KFLASH_ERR_NOT_FOUND, "cannot run");
	kf_process_result_clear(&res);

	/* A missing working directory. */
	argv[0] = "true";
	o.cwd = "/nonexistent-kflash-dir";
	kf_assert_error(ctx, kf_process_run(ctx, &o, &res), KFLASH_ERR_NOT_FOUND,
			"No such file or directory");
	kf_process_result_clear(&res);
	kf_test_rmtree(dir);
	free(dir);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_environment_overlay)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	const char *env[] = { "KF_TEST_FOO=bar baz", "KF_TEST_GONE", NULL };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l, .env = env };
	struct kf_process_result res;

	setenv("KF_TEST_GONE", "still here", 1);
	setenv("KF_TEST_FOO", "old", 1);
	ck_assert_int_eq(run_sh(ctx, "echo \"[$KF_TEST_FOO][${KF_TEST_GONE-unset}]\"", &o, &res),
			 0);
	ck_assert_str_eq(l.text, "[bar baz][unset]\n");
	kf_process_result_clear(&res);
	unsetenv("KF_TEST_GONE");
	unsetenv("KF_TEST_FOO");
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_path_comes_from_the_overlay)
{
	struct kflash_context *ctx = ctx_new();
	char *dir = kf_test_mkdtemp(), path[4200], pathenv[4300];
	struct lines l = { 0 };
	const char *argv[] = { "kf-fake-tool", NULL };
	const char *env[] = { pathenv, NULL };
	struct kf_process_opts o = {
		.argv = argv, .env = env, .on_line = collect, .on_line_data = &l
	};
	struct kf_process_result res;

	snprintf(path, sizeof(path), "%s/kf-fake-tool", dir);
	kf_test_write_file(path, "#!/bin/sh\necho fake tool ran\n");
	chmod(path, 0755);
	snprintf(pathenv, sizeof(pathenv), "PATH=%s:/usr/bin:/bin", dir);
	ck_assert_int_eq(kf_process_run(ctx, &o, &res), 0);
	ck_assert_str_eq(l.text, "fake tool ran\n");
	kf_process_result_clear(&res);
	kf_test_rmtree(dir);
	free(dir);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_runs_in_cwd_with_priority)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = {
		.on_line = collect, .on_line_data = &l, .cwd = "/", .nice = 10, .idle_io = true
	};
	struct kf_process_result res;
	char expect[64];

	errno = 0;
	snprintf(expect, sizeof(expect), "/ %d\n",
		 getpriority(PRIO_PROCESS, 0) + 10 > 19 ? 19 : getpriority(PRIO_PROCESS, 0) + 10);
	ck_assert_int_eq(run_sh(ctx, "echo \"$(pwd) $(nice)\"", &o, &res), 0);
	ck_assert_str_eq(l.text, expect);
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_stdin_is_not_inherited)
{
	struct kflash_context *ctx = ctx_new();
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l, .timeout_ms = 5000 };
	struct kf_process_result res;

	/* A child reading stdin must see EOF at once, not hang. */
	ck_assert_int_eq(run_sh(ctx, "cat; echo done", &o, &res), 0);
	ck_assert_str_eq(l.text, "done\n");
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

/*
 * In a child that has a terminal of its own (a pty as its controlling
 * terminal, as kflash has in an SSH session): run a program that tries to
 * open /dev/tty, the way sudo does to ask for a password, and write what it
 * printed to @fd.
 */
static void
run_with_a_terminal(int fd)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), slave;
	struct kflash_context *ctx;
	struct lines l = { 0 };
	struct kf_process_opts o = { .on_line = collect, .on_line_data = &l, .timeout_ms = 5000 };
	struct kf_process_result res;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || setsid() < 0)
		_exit(90);
	slave = open(ptsname(master), O_RDWR); /* the session's controlling terminal now */
	if (slave < 0 || open("/dev/tty", O_RDWR) < 0)
		_exit(91);
	if (kflash_context_new(&ctx) < 0 ||
	    run_sh(ctx, "if (exec 3</dev/tty) 2>/dev/null; then echo terminal; else echo none; fi",
		   &o, &res) < 0)
		_exit(92);
	if (write(fd, l.text, strlen(l.text)) < 0)
		_exit(93);
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
	_exit(0);
}

START_TEST(process_children_have_no_terminal)
{
	char buf[256] = "";
	int p[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		run_with_a_terminal(p[1]);
	}
	close(p[1]);
	ck_assert_int_ge(read(p[0], buf, sizeof(buf) - 1), 0);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	/* The test's own process could open it; the child cannot ask there. */
	ck_assert_str_eq(buf, "none\n");
}
END_TEST

START_TEST(process_timeout_kills_the_group)
{
	struct kflash_context *ctx = ctx_new();
	char *dir = kf_test_mkdtemp(), script[16384], p1[4200], p2[4200];
	struct kf_process_opts o = { .timeout_ms = 300, .kill_grace_ms = 300 };
	struct kf_process_result res;
	uint64_t start;

	/* The leader and a grandchild both ignore SIGTERM. */
	snprintf(p1, sizeof(p1), "%s/leader", dir);
	snprintf(p2, sizeof(p2), "%s/grandchild", dir);
	snprintf(script, sizeof(script),
		 "trap '' TERM; echo $$ > %s; "
		 "sh -c 'trap \"\" TERM; echo $$ > %s; while :; do sleep 0.05; done' & "
		 "while :; do sleep 0.05; done",
		 p1, p2);

	start = kf_now_ms();
	kf_assert_error(ctx, run_sh(ctx, script, &o, &res), KFLASH_ERR_TIMEOUT,
			"did not finish within 300 ms and was killed");
	ck_assert_uint_lt(kf_now_ms() - start, 5000);
	ck_assert_int_eq(res.signal, SIGKILL);
	ck_assert(pid_is_gone(read_pid(p1)));
	/* Give init a moment to reap the orphan. */
	for (int i = 0; i < 100 && !pid_is_gone(read_pid(p2)); i++)
		usleep(10000);
	ck_assert_msg(pid_is_gone(read_pid(p2)), "the grandchild survived the timeout");
	kf_process_result_clear(&res);
	kf_test_rmtree(dir);
	free(dir);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_sigterm_is_enough_for_polite_children)
{
	struct kflash_context *ctx = ctx_new();
	struct kf_process_opts o = { .timeout_ms = 200, .kill_grace_ms = 10000 };
	struct kf_process_result res;
	uint64_t start = kf_now_ms();

	ck_assert_int_eq(run_sh(ctx, "exec sleep 30", &o, &res), KFLASH_ERR_TIMEOUT);
	/* Ended by SIGTERM, long before the grace period. */
	ck_assert_int_eq(res.signal, SIGTERM);
	ck_assert_uint_lt(kf_now_ms() - start, 5000);
	kf_process_result_clear(&res);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_descendants_holding_the_pipe_do_not_hang_us)
{
	struct kflash_context *ctx = ctx_new();
	char *dir = kf_test_mkdtemp(), script[16384], p[4200];
	struct kf_process_opts o = { 0 };
	struct kf_process_result res;
	uint64_t start = kf_now_ms();

	snprintf(p, sizeof(p), "%s/bg", dir);
	snprintf(script, sizeof(script), "sh -c 'echo $$ > %s; exec sleep 30' & sleep 0.2; exit 0",
		 p);
	ck_assert_int_eq(run_sh(ctx, script, &o, &res), 0);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_lt(kf_now_ms() - start, 5000);
	for (int i = 0; i < 100 && !pid_is_gone(read_pid(p)); i++)
		usleep(10000);
	ck_assert(pid_is_gone(read_pid(p)));
	kf_process_result_clear(&res);
	kf_test_rmtree(dir);
	free(dir);
	kflash_context_unref(ctx);
}
END_TEST

static struct kflash_context *alarm_ctx;

static void
cancel_on_alarm(int sig)
{
	kflash_context_cancel(alarm_ctx);
}

START_TEST(process_cancel_kills_the_child)
{
	struct kflash_context *ctx = ctx_new();
	struct itimerval it = { .it_value = { .tv_usec = 200 * 1000 } };
	struct sigaction sa = { .sa_handler = cancel_on_alarm };
	struct kf_process_opts o = { .kill_grace_ms = 200 };
	struct kf_process_result res;
	uint64_t start = kf_now_ms();

	alarm_ctx = ctx;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	kf_assert_error(ctx, run_sh(ctx, "trap '' TERM; while :; do sleep 0.05; done", &o, &res),
			KFLASH_ERR_CANCELLED, "cancelled");
	ck_assert_uint_lt(kf_now_ms() - start, 5000);
	kf_process_result_clear(&res);

	/* A cancelled context starts nothing until it is cleared. */
	kf_assert_error(ctx, run_sh(ctx, "true", &o, &res), KFLASH_ERR_CANCELLED, "cancelled");
	kflash_context_clear_cancel(ctx);
	ck_assert_int_eq(run_sh(ctx, "true", &o, &res), 0);
	kf_process_result_clear(&res);
	signal(SIGALRM, SIG_DFL);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_interactive_needs_a_terminal)
{
	struct kflash_context *ctx = ctx_new();
	struct kf_process_opts o = { .interactive = true };
	struct kf_process_result res;
	int saved = dup(STDIN_FILENO), null = open("/dev/null", O_RDONLY);

	dup2(null, STDIN_FILENO);
	kf_assert_error(ctx, run_sh(ctx, "true", &o, &res), KFLASH_ERR_NOT_TTY, "needs a terminal");
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(null);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_leaks_no_descriptors)
{
	struct kflash_context *ctx = ctx_new();
	struct kf_process_opts o = { .tail_lines = 2, .timeout_ms = 100, .kill_grace_ms = 50 };
	struct kf_process_result res;
	int before = kf_test_count_fds();

	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(run_sh(ctx, "echo a; echo b >&2", &o, &res), 0);
		kf_process_result_clear(&res);
		ck_assert_int_eq(run_sh(ctx, "sleep 5", &o, &res), KFLASH_ERR_TIMEOUT);
		kf_process_result_clear(&res);
	}
	ck_assert_int_eq(kf_test_count_fds(), before);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(process_find_program)
{
	char *p = kf_process_find_program("sh", "/nonexistent:/bin:/usr/bin");

	ck_assert_ptr_nonnull(p);
	ck_assert(strcmp(p, "/bin/sh") == 0 || strcmp(p, "/usr/bin/sh") == 0);
	free(p);
	ck_assert_ptr_null(kf_process_find_program("sh", "/nonexistent"));
	ck_assert_ptr_null(kf_process_find_program("", NULL));
	ck_assert_ptr_null(kf_process_find_program(NULL, NULL));
	p = kf_process_find_program("/bin/sh", "/nonexistent");
	ck_assert_str_eq(p, "/bin/sh");
	free(p);
}
END_TEST

KF_TEST_SUITE(process)
{
	kf_test_add(process_streams_lines_in_order);
	kf_test_add(process_lines_become_output_events);
	kf_test_add(process_long_lines_are_split);
	kf_test_add(process_keeps_the_tail);
	kf_test_add(process_captures_stdout);
	kf_test_add(process_reports_a_signal);
	kf_test_add(process_program_not_found);
	kf_test_add(process_exec_failure_is_reported);
	kf_test_add(process_environment_overlay);
	kf_test_add(process_path_comes_from_the_overlay);
	kf_test_add(process_runs_in_cwd_with_priority);
	kf_test_add(process_stdin_is_not_inherited);
	kf_test_add(process_children_have_no_terminal);
	kf_test_add_timeout(process_timeout_kills_the_group, 20);
	kf_test_add_timeout(process_sigterm_is_enough_for_polite_children, 20);
	kf_test_add_timeout(process_descendants_holding_the_pipe_do_not_hang_us, 20);
	kf_test_add_timeout(process_cancel_kills_the_child, 20);
	kf_test_add(process_interactive_needs_a_terminal);
	kf_test_add_timeout(process_leaks_no_descriptors, 30);
	kf_test_add(process_find_program);
}
