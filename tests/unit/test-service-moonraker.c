/* SPDX-License-Identifier: MIT */
/*
 * The service guard and its sentinel with Moonraker as the provider, against
 * the fake Moonraker and the fake systemctl and sudo, which log into one
 * file: stops and starts through Moonraker with no sudo, the fall back to
 * systemctl after each way Moonraker can fail, Moonraker alone, and the
 * kill matrix.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"
#include "moonraker-run.h"

static char *dir;
static char log_path[4200], state_dir[4200], sock[4200];
static struct kflash_context *ctx;
static pid_t moonraker;

static void
setup(void)
{
	char path[9000];

	dir = kf_test_mkdtemp();
	/* Another uid connects and writes here in the tests without root. */
	chmod(dir, 0777);
	snprintf(log_path, sizeof(log_path), "%s/calls.log", dir);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	snprintf(sock, sizeof(sock), "%s/moonraker.sock", dir);
	ck_assert_int_eq(mkdir(state_dir, 0777), 0);
	chmod(state_dir, 0777);
	if (!strstr(getenv("PATH"), getenv("KF_FAKES_BIN"))) {
		snprintf(path, sizeof(path), "%s:%s", getenv("KF_FAKES_BIN"), getenv("PATH"));
		setenv("PATH", path, 1);
	}
	setenv("KF_FAKE_LOG", log_path, 1);
	setenv("KF_FAKE_STATE", state_dir, 1);
	/* For the guarded jobs, which make contexts of their own. */
	setenv("KFLASH_MOONRAKER_SOCKET", sock, 1);
	unsetenv("KF_FAKE_FAIL");
	unsetenv("KF_FAKE_SUDO");
	unsetenv("KFLASH_SERVICE_PROVIDER");
	/* Every process appends to it, whatever its uid. */
	kf_test_write_file(log_path, "");
	chmod(log_path, 0666);
	ctx = kf_test_context(dir);
	ck_assert_int_eq(kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_COMMAND,
						    kf_test_under_valgrind() ? 8000 : 1500),
			 0);
	moonraker = 0;
}

static void
teardown(void)
{
	kf_moonraker_stop(moonraker);
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static void
start_fake(const char *misbehave, const char *only)
{
	const char *extra[6];
	size_t n = 0;

	if (misbehave) {
		extra[n++] = "--misbehave";
		extra[n++] = misbehave;
	}
	if (only) {
		extra[n++] = "--only";
		extra[n++] = only;
	}
	extra[n] = NULL;
	moonraker = kf_moonraker_start(sock, log_path, state_dir, extra);
}

static char *
calls(void)
{
	char *text = kf_test_read_file(log_path);

	return text ? text : strdup("");
}

static int
count_calls(const char *line)
{
	char *text = calls();
	int n = 0;

	for (char *p = text; *p;) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == strlen(line) && strncmp(p, line, len) == 0)
			n++;
		p = end ? end + 1 : p + len;
	}
	free(text);
	return n;
}

/* The line number of the first call that is @line, or -1. */
static int
line_of(const char *line)
{
	char *text = calls();
	int n = 0, found = -1;

	for (char *p = text; *p && found < 0; n++) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == strlen(line) && strncmp(p, line, len) == 0)
			found = n;
		p = end ? end + 1 : p + len;
	}
	free(text);
	return found;
}

static bool
logged(const char *needle)
{
	char *text = calls();
	bool found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(guard_through_moonraker)
{
	struct kflash_service_guard *g;
	char *word, path[9000];

	setup();
	start_fake(NULL, NULL);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper-mcu"), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper-mcu"), 1);
	/* The state the fake systemctl and the fake Klipper read. */
	snprintf(path, sizeof(path), "%s/klipper", state_dir);
	word = kf_test_read_file(path);
	ck_assert_str_eq(word, "inactive\n");
	free(word);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 0), 1);
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 1), 1);
	kflash_service_guard_unref(g);
	/* Started in the reverse order, once each: the sentinel was dismissed. */
	usleep(200000);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper-mcu"), 1);
	ck_assert_int_lt(line_of("moonraker machine.services.start klipper-mcu"),
			 line_of("moonraker machine.services.start klipper"));
	ck_assert_msg(!logged("systemctl") && !logged("sudo"), "%s", calls());
	snprintf(path, sizeof(path), "Klipper's service is controlled through Moonraker on %s",
		 sock);
	ck_assert(kf_test_events_contain(ctx, path));
	teardown();
}
END_TEST

/* Each way Moonraker can fail a guard, and what the fall back does then. */
static const struct fallback {
	const char *misbehave; /* NULL: no Moonraker */
	const char *only;      /* the method that misbehaves, or NULL for every one */
	const char *said;      /* in the events */
	int moonraker_stops, systemctl_stops, moonraker_starts, systemctl_starts;
} fallbacks[] = {
	{ NULL, NULL, "controlled with systemctl: there is no Moonraker socket at ", 0, 1, 0, 1 },
	{ "refuse", NULL, "controlled with systemctl: nothing listens on Moonraker's socket", 0, 1,
	  0, 1 },
	{ "error", "machine.services.stop",
	  "Moonraker could not stop klipper (Moonraker refused 'machine.services.stop': DBus Not "
	  "Connected, the fake was told to fail (code 503)): stopping it with systemctl",
	  1, 1, 1, 0 },
	/* Moonraker itself is broken: the start does not ask it again. */
	{ "hang", "machine.services.stop",
	  "Moonraker could not stop klipper (Moonraker did not answer on ", 1, 1, 0, 1 },
	{ "close", "machine.services.stop", "(the answer was cut short)): stopping it", 1, 1, 0,
	  1 },
	{ "garbage", "machine.services.stop", "not a JSON object", 1, 1, 0, 1 },
	{ "not-object", "machine.services.stop", "not a JSON object", 1, 1, 0, 1 },
	{ "endless", "machine.services.stop", "a message larger than 1048576 bytes", 1, 1, 0, 1 },
	{ "no-result", "machine.services.stop", "neither a result nor an error", 1, 1, 0, 1 },
	{ "parse-error", "machine.services.stop", "could not read the request", 1, 1, 0, 1 },
	/* The state from systemctl; the wait after the stop fails too, so systemctl stops. */
	{ "error", "machine.system_info",
	  "Moonraker could not tell the state of klipper (Moonraker refused "
	  "'machine.system_info'",
	  1, 1, 1, 0 },
	{ "unknown-state", NULL,
	  "(Moonraker reports the state of klipper as 'unknown', which does not tell whether it "
	  "runs): asking systemctl",
	  1, 0, 1, 0 },
	{ "error", "machine.services.start",
	  "Moonraker could not start klipper (Moonraker refused 'machine.services.start'", 1, 0, 1,
	  1 },
	{ "hang", "machine.services.start", "Moonraker could not start klipper (Moonraker did not",
	  1, 0, 1, 1 },
	{ "garbage", "machine.services.start", "): starting it with systemctl", 1, 0, 1, 1 },
};

START_TEST(guard_falls_back_to_systemctl)
{
	const struct fallback *f = &fallbacks[_i];
	struct kflash_service_guard *g;

	setup();
	if (f->misbehave)
		start_fake(f->misbehave, f->only);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_msg(kflash_service_guard_begin(g) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_service_guard_unit_was_stopped(g, 0), 1);
	ck_assert_msg(kflash_service_guard_end(g) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 0), 1);
	kflash_service_guard_unref(g);
	ck_assert_msg(kf_test_events_contain(ctx, f->said), "no '%s' in:\n%s", f->said,
		      kf_test_events(ctx));
	ck_assert_msg(count_calls("moonraker machine.services.stop klipper") ==
				      f->moonraker_stops &&
			      count_calls("systemctl stop klipper") == f->systemctl_stops &&
			      count_calls("moonraker machine.services.start klipper") ==
				      f->moonraker_starts &&
			      count_calls("systemctl start klipper") == f->systemctl_starts,
		      "calls:\n%s", calls());
	teardown();
}
END_TEST

START_TEST(guard_gives_up_on_a_broken_moonraker)
{
	struct kflash_service_guard *g;

	setup();
	/* Every answer is cut short: each unit would wait for it again. */
	start_fake("close", NULL);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper-mcu"), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	kflash_service_guard_unref(g);
	ck_assert(kf_test_events_contain(ctx, "Moonraker is not asked again: Klipper's service is "
					      "controlled with systemctl from now on"));
	/* One request to Moonraker, then systemctl for everything. */
	ck_assert_int_eq(count_calls("moonraker machine.system_info"), 1);
	ck_assert_msg(!logged("moonraker machine.services"), "%s", calls());
	ck_assert_int_eq(count_calls("systemctl is-active klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl is-active klipper-mcu"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper-mcu"), 1);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl start klipper-mcu"), 1);
	teardown();
}
END_TEST

START_TEST(guard_falls_back_for_a_unit_moonraker_does_not_manage)
{
	const char *const only_klipper[] = { "--service", "klipper", NULL };
	struct kflash_service_guard *g;

	setup();
	moonraker = kf_moonraker_start(sock, log_path, state_dir, only_klipper);
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_add_unit(g, "klipper-mcu"), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	kflash_service_guard_unref(g);
	/* klipper through Moonraker, klipper-mcu with systemctl. */
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl is-active klipper-mcu"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper-mcu"), 1);
	ck_assert_int_eq(count_calls("systemctl start klipper-mcu"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 0);
	ck_assert(kf_test_events_contain(ctx, "Service 'klipper-mcu' not allowed"));
	teardown();
}
END_TEST

START_TEST(guard_with_moonraker_alone)
{
	struct kflash_service_guard *g;

	setup();
	ck_assert_int_eq(
		kflash_context_set_service_provider(ctx, KFLASH_SERVICE_PROVIDER_MOONRAKER), 0);
	/* A failed stop is an error: no systemctl, and the unit is started again. */
	start_fake("error", "machine.services.stop");
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	kf_assert_error(ctx, kflash_service_guard_begin(g), KFLASH_ERR_SERVICE,
			"Moonraker refused 'machine.services.stop'");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "were started again"));
	kflash_service_guard_unref(g);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	ck_assert_msg(!logged("systemctl") && !logged("sudo"), "%s", calls());
	kf_moonraker_stop(moonraker);

	/* Nothing listens: nothing is stopped. */
	moonraker = 0;
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	kf_assert_error(ctx, kflash_service_guard_begin(g), KFLASH_ERR_NOT_FOUND,
			"there is no Moonraker socket at");
	ck_assert_int_eq(kflash_service_guard_unit_was_stopped(g, 0), 0);
	kflash_service_guard_unref(g);
	ck_assert_msg(!logged("systemctl") && !logged("sudo"), "%s", calls());

	/* A start it fails still happens: systemctl is the last resort. */
	start_fake("error", "machine.services.start");
	ck_assert_int_eq(kflash_service_guard_new(ctx, &g), 0);
	ck_assert_int_eq(kflash_service_guard_begin(g), 0);
	ck_assert_int_eq(kflash_service_guard_end(g), 0);
	ck_assert_int_eq(kflash_service_guard_unit_was_restarted(g, 0), 1);
	kflash_service_guard_unref(g);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 0);
	ck_assert(kf_test_events_contain(ctx, "Moonraker could not start klipper"));
	teardown();
}
END_TEST

/* ---- not root: Moonraker needs no sudo ---- */

/* In a child as an ordinary user: a guard's begin and end; the result through @fd. */
static void
guard_as_nobody(int fd)
{
	struct kflash_context *c;
	struct kflash_service_guard *g;
	char msg[4096];
	int r;

	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		_exit(99);
	if (kflash_context_new(&c) < 0 || kflash_context_set_service(c, "klipper") < 0 ||
	    kflash_service_guard_new(c, &g) < 0)
		_exit(98);
	r = kflash_service_guard_begin(g);
	if (r == 0)
		r = kflash_service_guard_end(g);
	snprintf(msg, sizeof(msg), "%d %s", r, r < 0 ? kflash_context_last_error(c) : "");
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(97);
	kflash_service_guard_unref(g);
	kflash_context_unref(c);
	_exit(0);
}

static char *
run_as_nobody(void)
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
		guard_as_nobody(p[1]);
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

START_TEST(not_root_needs_no_sudo_with_moonraker)
{
	char *result, expect[64];

	setup();
	/* sudo would ask for a password: Moonraker does not need it. */
	setenv("KF_FAKE_SUDO", "none", 1);
	start_fake(NULL, NULL);
	result = run_as_nobody();
	ck_assert_msg(strcmp(result, "0 ") == 0, "%s", result);
	free(result);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	ck_assert_msg(!logged("sudo") && !logged("systemctl"), "%s", calls());
	kf_moonraker_stop(moonraker);

	/* When Moonraker fails the stop, systemctl needs sudo, which says what to add. */
	start_fake("error", "machine.services.stop");
	result = run_as_nobody();
	snprintf(expect, sizeof(expect), "%d ", KFLASH_ERR_SERVICE);
	ck_assert_msg(strncmp(result, expect, strlen(expect)) == 0, "%s", result);
	ck_assert_ptr_nonnull(strstr(result, "NOPASSWD:"));
	ck_assert_ptr_nonnull(strstr(result, "were started again"));
	free(result);
	ck_assert_int_eq(count_calls("sudo -n systemctl stop klipper"), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 2);
	teardown();
}
END_TEST

/* ---- the kill matrix, through Moonraker ---- */

static const char *const markers[] = { "stopping", "stopped", "working", "ending" };
static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGKILL };

/* The starts of @unit through either provider. */
static int
starts(const char *unit)
{
	char moonraker_line[256], systemctl_line[256];

	snprintf(moonraker_line, sizeof(moonraker_line), "moonraker machine.services.start %s",
		 unit);
	snprintf(systemctl_line, sizeof(systemctl_line), "systemctl start %s", unit);
	return count_calls(moonraker_line) + count_calls(systemctl_line);
}

/*
 * Run the guarded job on klipper and klipper-mcu, kill it with @sig at
 * @marker (and stop the fake Moonraker there when @stop_moonraker), and
 * wait until every stop got its start, or the bound passed.
 */
static void
kill_job_at(const char *marker, int sig, bool stop_moonraker)
{
	int to_job[2], from_job[2], status;
	long bound = kf_test_under_valgrind() ? 20000 : 2000, deadline;
	char line[64];
	FILE *out;
	pid_t pid;

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
			if (stop_moonraker) {
				kf_moonraker_stop(moonraker);
				moonraker = 0;
			}
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

	deadline = now_ms() + bound;
	while ((starts("klipper") < count_calls("moonraker machine.services.stop klipper") ||
		starts("klipper-mcu") <
			count_calls("moonraker machine.services.stop klipper-mcu")) &&
	       now_ms() < deadline)
		usleep(5000);
	usleep(100000); /* and no second one */
}

/* Wait until @line was called, within a bound that only catches a hang. */
static void
wait_for_call(const char *line)
{
	long deadline = now_ms() + (kf_test_under_valgrind() ? 20000 : 5000);

	while (count_calls(line) == 0 && now_ms() < deadline)
		usleep(5000);
}

START_TEST(kill_matrix_through_moonraker)
{
	const char *marker = markers[_i / 4];
	int sig = signals[_i % 4];
	int expected = strcmp(marker, "stopping") == 0 ? 0 : 1;

	setup();
	start_fake(NULL, NULL);
	kill_job_at(marker, sig, false);
	/* Every stop through Moonraker, and exactly one start after it: the job's or its
	 * sentinel's. */
	ck_assert_msg(
		count_calls("moonraker machine.services.stop klipper") == expected &&
			count_calls("moonraker machine.services.start klipper") == expected &&
			count_calls("moonraker machine.services.stop klipper-mcu") == expected &&
			count_calls("moonraker machine.services.start klipper-mcu") == expected,
		"%s at '%s':\n%s", strsignal(sig), marker, calls());
	ck_assert_msg(!logged("systemctl") && !logged("sudo"), "%s at '%s':\n%s", strsignal(sig),
		      marker, calls());
	teardown();
}
END_TEST

START_TEST(sentinel_falls_back_to_systemctl)
{
	setup();
	/* Moonraker refuses the sentinel's start. */
	start_fake("error", "machine.services.start");
	kill_job_at("working", SIGKILL, false);
	wait_for_call("systemctl start klipper-mcu");
	usleep(100000);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	ck_assert_msg(count_calls("moonraker machine.services.start klipper") == 1 &&
			      count_calls("systemctl start klipper") == 1 &&
			      count_calls("systemctl start klipper-mcu") == 1,
		      "%s", calls());
	ck_assert_int_lt(line_of("moonraker machine.services.start klipper"),
			 line_of("systemctl start klipper"));
	kf_moonraker_stop(moonraker);
	moonraker = 0;
	unlink(log_path);

	/* Moonraker is gone by the time kflash dies. */
	start_fake(NULL, NULL);
	kill_job_at("stopped", SIGKILL, true);
	wait_for_call("systemctl start klipper-mcu");
	usleep(100000);
	ck_assert_msg(count_calls("moonraker machine.services.stop klipper") == 1 &&
			      count_calls("moonraker machine.services.start klipper") == 0 &&
			      count_calls("systemctl start klipper") == 1 &&
			      count_calls("systemctl start klipper-mcu") == 1,
		      "%s", calls());
	teardown();
}
END_TEST

KF_TEST_SUITE(service_moonraker)
{
	kf_test_add(guard_through_moonraker);
	kf_test_add_loop(guard_falls_back_to_systemctl, (int)KF_ARRAY_SIZE(fallbacks));
	kf_test_add(guard_gives_up_on_a_broken_moonraker);
	kf_test_add(guard_falls_back_for_a_unit_moonraker_does_not_manage);
	kf_test_add_timeout(guard_with_moonraker_alone, 30);
	kf_test_add_timeout(not_root_needs_no_sudo_with_moonraker, 30);
	kf_test_add_loop(kill_matrix_through_moonraker,
			 (int)(KF_ARRAY_SIZE(markers) * KF_ARRAY_SIZE(signals)));
	kf_test_add_timeout(sentinel_falls_back_to_systemctl, 30);
}
