/* SPDX-License-Identifier: MIT */
/* The simulator as a process: see sim-process.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"

/* ---- the simulator process ---- */

/*
 * The simulators that are running: what a failed test left behind
 * (CK_FORK=no) is killed when the next test starts its first one.
 */
static struct sim *live[16];
static size_t nlive;

static void
forget(struct sim *s)
{
	for (size_t i = 0; i < nlive; i++) {
		if (live[i] == s) {
			live[i] = live[--nlive];
			return;
		}
	}
}

char *
strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert(r >= 0);
	return s;
}

const char *
sim_bin(void)
{
	const char *bin = getenv("KF_SIM_BIN");

	ck_assert_msg(bin != NULL, "KF_SIM_BIN is not set (run the tests with meson test)");
	return bin;
}

void
sim_free(struct sim *s)
{
	kf_test_rmtree(s->dir);
	free(s->dir);
	free(s->dev);
	free(s->log);
	free(s->image);
	free(s->ready);
	free(s->path);
	free(s);
}

pid_t
spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The simulator cleans up and goes when the test dies. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Start a simulator with the common outputs and @extra options; no wait. */
struct sim *
sim_add_nowait_v(const char *const *extra)
{
	const char *argv[64];
	struct sim *s = calloc(1, sizeof(*s));
	size_t n = 0;

	ck_assert(s != NULL);
	ck_assert(nlive < sizeof(live) / sizeof(live[0]));
	s->dir = kf_test_mkdtemp();
	s->dev = strf("%s/dev", s->dir);
	s->log = strf("%s/sim.log", s->dir);
	s->image = strf("%s/image.bin", s->dir);
	s->ready = strf("%s/ready", s->dir);

	argv[n++] = sim_bin();
	argv[n++] = "--dev-dir";
	argv[n++] = s->dev;
	argv[n++] = "--log";
	argv[n++] = s->log;
	argv[n++] = "--image";
	argv[n++] = s->image;
	argv[n++] = "--ready-file";
	argv[n++] = s->ready;
	argv[n++] = "--reenumerate-ms";
	argv[n++] = "20";
	for (; *extra; extra++) {
		ck_assert(n < SIM_ARRAY_MAX);
		argv[n++] = *extra;
	}
	argv[n] = NULL;

	s->pid = spawn(argv, -1, -1);
	live[nlive++] = s;
	return s;
}

/* Wait for the ready file; s->path is what it names. */
void
sim_wait_ready(struct sim *s)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	char *ready;

	while (!(ready = kf_test_read_file(s->ready))) {
		int status;

		ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0,
			      "the simulator exited before it was ready (status %d)", status);
		ck_assert_msg(now_ms() < deadline, "the simulator did not get ready");
		sleep_ms(2);
	}
	ck_assert_msg(strlen(ready) > 1 && ready[strlen(ready) - 1] == '\n', "ready file '%s'",
		      ready);
	ready[strlen(ready) - 1] = '\0';
	s->path = ready;
}

/* Another simulator beside those running, once it is ready. */
struct sim *
sim_add_v(const char *const *extra)
{
	struct sim *s = sim_add_nowait_v(extra);

	sim_wait_ready(s);
	return s;
}

/* The first simulator of a test, once it is ready. */
struct sim *
sim_start_v(const char *const *extra)
{
	while (nlive) {
		struct sim *s = live[--nlive];

		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	return sim_add_v(extra);
}

/* Stop with @sig and return the exit status; the simulator must exit. */
int
sim_stop_with(struct sim *s, int sig)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	int status = 0;

	ck_assert_int_eq(kill(s->pid, sig), 0);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			ck_abort_msg("the simulator did not exit on signal %d", sig);
		}
		sleep_ms(2);
	}
	forget(s);
	ck_assert_msg(WIFEXITED(status), "the simulator died (status 0x%x)", status);
	return WEXITSTATUS(status);
}

void
sim_stop(struct sim *s)
{
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	sim_free(s);
}

char *
sim_link(struct sim *s, const char *name)
{
	return strf("%s/serial/by-id/usb-%s_%s_%s-if00", s->dev, name, MCU, SERIAL);
}

/* The same, for a caller that does not free it (kept with the sim). */
const char *
sim_link_path(struct sim *s, const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/serial/by-id/usb-%s_%s_%s-if00", s->dev, name, MCU, SERIAL);
	return buf;
}

char *
sim_bypath(struct sim *s)
{
	return strf("%s/serial/by-path/platform-sim-usb-0:1.2:1.0", s->dev);
}

char *
sim_usbfs(struct sim *s, unsigned devnum)
{
	return strf("%s/bus/usb/001/%03u", s->dev, devnum);
}

bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

char *
sim_log_text(struct sim *s)
{
	char *text = kf_test_read_file(s->log);

	return text ? text : strdup("");
}

/* Wait for the exact line in the log. */
bool
sim_log_wait(struct sim *s, const char *fmt, ...)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	va_list ap;
	char *line;
	bool found;

	va_start(ap, fmt);
	ck_assert(vasprintf(&line, fmt, ap) >= 0);
	va_end(ap);
	for (;;) {
		char *text = sim_log_text(s);

		found = has_line(text, line);
		free(text);
		if (found || now_ms() > deadline)
			break;
		sleep_ms(2);
	}
	if (!found) {
		char *text = sim_log_text(s);

		fprintf(stderr, "log line '%s' missing; the log:\n%s", line, text);
		free(text);
	}
	free(line);
	return found;
}

/* How often the exact line is in the log. */
int
sim_log_lines(struct sim *s, const char *line)
{
	char *text = sim_log_text(s);
	size_t n = strlen(line);
	int count = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			count++;
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return count;
}

/* Wait until the exact line is in the log @count times. */
void
assert_log_count(struct sim *s, int count, const char *line)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;

	while (sim_log_lines(s, line) < count && now_ms() < deadline)
		sleep_ms(2);
	ck_assert_msg(sim_log_lines(s, line) == count, "'%s' is in the log %d times, not %d", line,
		      sim_log_lines(s, line), count);
}

/* Lines that start with @prefix. */
int
sim_log_count(struct sim *s, const char *prefix)
{
	char *text = sim_log_text(s);
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return n;
}

/* The sum of N over the "rx garbage N" lines. */
unsigned
sim_log_garbage(struct sim *s)
{
	char *text = sim_log_text(s);
	unsigned sum = 0;

	for (const char *p = text; (p = strstr(p, "rx garbage ")); p++)
		sum += (unsigned)strtoul(p + strlen("rx garbage "), NULL, 10);
	free(text);
	return sum;
}

bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

char *
link_target(const char *path)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* @path is a link to a pty slave; returns the slave. */
char *
assert_pty_link(const char *path)
{
	char *target = link_target(path);
	struct stat st;

	ck_assert_msg(target != NULL, "%s is not a link", path);
	ck_assert_msg(strncmp(target, "/dev/pts/", 9) == 0, "%s points to %s", path, target);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	return target;
}

void
assert_usbfs(const char *path, uint16_t vid, uint16_t pid)
{
	uint8_t d[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_msg(fd >= 0, "no usbfs node %s", path);
	n = read(fd, d, sizeof(d));
	close(fd);
	ck_assert_int_eq(n, 18);
	ck_assert_uint_eq(d[0], 18); /* bLength */
	ck_assert_uint_eq(d[1], 1);  /* DEVICE */
	ck_assert_uint_ge(d[2] | d[3] << 8, 0x0110);
	ck_assert_uint_eq(d[8] | d[9] << 8, vid);
	ck_assert_uint_eq(d[10] | d[11] << 8, pid);
	ck_assert_uint_eq(d[17], 1); /* bNumConfigurations */
}

/* Touch, and wait for Katapult; returns its port. */
int
enter_katapult(struct sim *s)
{
	char *link = sim_link(s, "katapult");
	char *line = strf("enumerate katapult %s", link);
	int n = sim_log_lines(s, line);
	int fd;

	touch_1200(sim_link_path(s, "Klipper"));
	assert_log_count(s, n + 1, line);
	fd = port_open(link);
	free(line);
	free(link);
	return fd;
}
