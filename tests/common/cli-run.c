/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli-run.h"

static void
append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert(*buf != NULL);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* The command line that runs kflash @argv: under valgrind in its setup. */
static void
build_args(const char **args, const char *const *argv)
{
	const char *bin = getenv("KF_KFLASH_BIN");
	size_t n = 0;

	ck_assert_msg(bin != NULL, "KF_KFLASH_BIN is not set (run the tests with meson test)");
	if (getenv("KF_TEST_VALGRIND_CLI")) {
		args[n++] = "valgrind";
		args[n++] = "-q";
		args[n++] = "--leak-check=full";
		args[n++] = "--errors-for-leak-kinds=definite,indirect";
		args[n++] = "--error-exitcode=99";
	}
	args[n++] = bin;
	for (size_t i = 0; argv[i]; i++) {
		ck_assert(n < 63);
		args[n++] = argv[i];
	}
	args[n] = NULL;
}

struct kf_cli_result
kf_cli_run(const char *const *env, const char *const *argv)
{
	return kf_cli_run_opts(NULL, env, argv);
}

struct kf_cli_result
kf_cli_run_opts(const struct kf_cli_opts *opts, const char *const *env, const char *const *argv)
{
	struct kf_cli_result r = { 0 };
	int out[2], err[2], status;
	size_t out_len = 0, err_len = 0;
	const char *args[64];
	pid_t pid;

	build_args(args, argv);

	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		for (const char *const *e = env; e && *e; e++)
			putenv((char *)*e);
		if (opts && opts->cwd && chdir(opts->cwd) < 0)
			_exit(126);
		/* Root becomes nobody; an ordinary user is one already. */
		if (opts && opts->ordinary_user && geteuid() == 0 &&
		    (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(125);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);

	r.out = strdup("");
	r.err = strdup("");
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN } };
		char buf[4096];

		ck_assert_int_ge(poll(p, 2, -1), 0);
		for (int i = 0; i < 2; i++) {
			ssize_t got;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			got = read(p[i].fd, buf, sizeof(buf));
			if (got <= 0) {
				close(p[i].fd);
				if (i == 0)
					out[0] = -1;
				else
					err[0] = -1;
				open_fds--;
				continue;
			}
			if (i == 0)
				append(&r.out, &out_len, buf, (size_t)got);
			else
				append(&r.err, &err_len, buf, (size_t)got);
		}
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r;
}

struct kf_cli_result
kf_cli(const char *const *env, const char *arg, ...)
{
	const char *argv[64];
	size_t n = 0;
	va_list ap;

	va_start(ap, arg);
	for (const char *a = arg; a; a = va_arg(ap, const char *)) {
		ck_assert(n < 63);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	return kf_cli_run(env, argv);
}

void
kf_cli_result_free(struct kf_cli_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

struct json_object *
kf_cli_json(const struct kf_cli_result *r)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc;

	doc = json_tokener_parse_ex(tok, r->out, (int)strlen(r->out));
	ck_assert_msg(doc != NULL && json_tokener_get_error(tok) == json_tokener_success,
		      "stdout is not one JSON document:\n%s\nstderr:\n%s", r->out, r->err);
	/* Nothing but whitespace may follow the document. */
	for (const char *p = r->out + json_tokener_get_parse_end(tok); *p; p++)
		ck_assert_msg(*p == ' ' || *p == '\n', "text after the JSON document: %s", p);
	json_tokener_free(tok);
	return doc;
}

const char *const *
kf_cli_env(const char *dir)
{
	static const struct {
		const char *name;
		const char *suffix;
	} vars[] = {
		{ "KFLASH_CONFIG_DIR", "/config" },
		{ "KFLASH_REGISTRY", "/config/devices.json" },
		{ "KFLASH_CACHE_DIR", "/cache" },
		{ "KFLASH_KLIPPER_DIR", "/klipper" },
		{ "KFLASH_KLIPPY_SOCKET", "/klippy.sock" },
		{ "KFLASH_DEV_DIR", "/dev" },
		{ "KFLASH_SYS_DIR", "/sys" },
		{ "KFLASH_MOONRAKER_SOCKET", "/moonraker.sock" },
		{ "KFLASH_UNITS_DIR", "/units" },
	};
	static char values[sizeof(vars) / sizeof(vars[0])][4200];
	static const char *env[sizeof(vars) / sizeof(vars[0]) + 2];
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		snprintf(values[i], sizeof(values[i]), "%s=%s%s", vars[i].name, dir,
			 vars[i].suffix);
		env[i] = values[i];
	}
	env[i++] = "KFLASH_SERVICE=klipper";
	env[i] = NULL;
	return env;
}

/* Read from the pty into @r->out until @needle shows after @from; 0 on EOF. */
static int
pty_expect(int fd,
	   struct kf_cli_result *r,
	   size_t *len,
	   size_t *from,
	   const char *needle,
	   int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[1024];
		const char *hit = needle ? strstr(r->out + *from, needle) : NULL;
		ssize_t got;
		long waited;

		if (hit) {
			*from = (size_t)(hit - r->out) + strlen(needle);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 +
			 (now.tv_nsec - start.tv_nsec) / 1000000;
		ck_assert_msg(waited < timeout_ms, "no \"%s\" on the terminal after %d ms:\n%s",
			      needle ? needle : "end", timeout_ms, r->out);
		if (poll(&p, 1, 100) <= 0)
			continue;
		got = read(fd, buf, sizeof(buf));
		if (got <= 0)
			return 0; /* EIO: the child closed the terminal */
		append(&r->out, len, buf, (size_t)got);
	}
}

struct kf_cli_result
kf_cli_pty(const char *const *env, const char *const *argv, const char *const *script)
{
	struct kf_cli_result r = { 0 };
	int timeout_ms = getenv("RUNNING_ON_VALGRIND") ? 60000 : 10000;
	size_t len = 0, from = 0;
	const char *args[64];
	int fd, status;
	pid_t pid;

	build_args(args, argv);
	pid = forkpty(&fd, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (const char *const *e = env; e && *e; e++)
			putenv((char *)*e);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	r.out = strdup("");
	r.err = strdup("");
	for (const char *const *s = script; s && s[0]; s += 2) {
		ck_assert_msg(pty_expect(fd, &r, &len, &from, s[0], timeout_ms),
			      "kflash ended before \"%s\":\n%s", s[0], r.out);
		ck_assert_int_eq(write(fd, s[1], strlen(s[1])), (ssize_t)strlen(s[1]));
	}
	pty_expect(fd, &r, &len, &from, NULL, timeout_ms);
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r;
}
