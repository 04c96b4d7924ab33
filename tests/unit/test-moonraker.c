/* SPDX-License-Identifier: MIT */
/*
 * The Moonraker client against the fake Moonraker (tests/fakes/
 * moonraker-server.c): stops, starts, states and the print state, every
 * way the socket can fail, the provider setting, and the sentinel's own
 * request and answer scanner.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"
#include "moonraker-run.h"
#include "service/service-private.h"

static char *dir;
static char log_path[4200], state_dir[4200], sock[4200];
static struct kflash_context *ctx;
static pid_t moonraker;

static void
setup(void)
{
	char path[9000];

	dir = kf_test_mkdtemp();
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
	unsetenv("KF_FAKE_FAIL");
	unsetenv("KF_FAKE_SUDO");
	unsetenv("KFLASH_SERVICE_PROVIDER");
	ctx = kf_test_context(dir);
	ck_assert_str_eq(kflash_context_get_moonraker_socket(ctx), sock);
	ck_assert_int_eq(
		kflash_context_set_service_provider(ctx, KFLASH_SERVICE_PROVIDER_MOONRAKER), 0);
	/* Short enough for the tests that wait for an answer that never comes. */
	ck_assert_int_eq(kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_COMMAND,
						    kf_test_under_valgrind() ? 3000 : 300),
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

/* The fake Moonraker with @misbehave (or NULL) for @only (or every method). */
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

static void
start_fake_with(const char *const *extra)
{
	moonraker = kf_moonraker_start(sock, log_path, state_dir, extra);
}

static int
count_calls(const char *line)
{
	char *text = kf_test_read_file(log_path);
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

static void
assert_no_systemctl(void)
{
	char *text = kf_test_read_file(log_path);

	ck_assert_msg(!text || (!strstr(text, "systemctl") && !strstr(text, "sudo")),
		      "systemctl or sudo ran:\n%s", text);
	free(text);
}

static void
set_state(const char *unit, const char *word)
{
	char path[9000];

	snprintf(path, sizeof(path), "%s/%s", state_dir, unit);
	kf_test_write_file(path, word);
}

static char *
unit_state(const char *unit)
{
	char path[9000];

	snprintf(path, sizeof(path), "%s/%s", state_dir, unit);
	return kf_test_read_file(path);
}

START_TEST(moonraker_stops_and_starts)
{
	char *word;
	int state = -1;

	setup();
	start_fake(NULL, NULL);
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_ACTIVE);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	word = unit_state("klipper");
	ck_assert_str_eq(word, "inactive\n");
	free(word);
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_INACTIVE);
	/* systemd's unit name works too: Moonraker's name has no ".service". */
	ck_assert_int_eq(kflash_service_start(ctx, "klipper.service"), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	word = unit_state("klipper");
	ck_assert_str_eq(word, "active\n");
	free(word);
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper-mcu", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_ACTIVE);
	set_state("klipper", "failed");
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), 0);
	ck_assert_int_eq(state, KFLASH_UNIT_FAILED);
	assert_no_systemctl();
	ck_assert(kf_test_events_contain(ctx, "controlled through Moonraker on"));
	teardown();
}
END_TEST

START_TEST(moonraker_stop_waits_until_the_unit_stopped)
{
	const char *const lag[] = { "--stop-lag", "3", NULL };

	setup();
	start_fake_with(lag);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), 0);
	/* Three answers say "deactivating", the fourth "inactive". */
	ck_assert_int_eq(count_calls("moonraker machine.system_info"), 4);
	ck_assert(kf_test_events_contain(ctx, "Moonraker reports klipper deactivating: waiting"));
	teardown();
}
END_TEST

START_TEST(moonraker_stop_that_never_ends)
{
	const char *const lag[] = { "--stop-lag", "1000000", NULL };

	setup();
	start_fake_with(lag);
	kf_assert_error(ctx, kflash_service_stop(ctx, "klipper"), KFLASH_ERR_TIMEOUT,
			"Moonraker stopped klipper, but still reports it deactivating after");
	assert_no_systemctl();
	teardown();
}
END_TEST

START_TEST(moonraker_print_state)
{
	static const struct {
		const char *word;
		int state;
	} states[] = {
		{ "standby", KFLASH_PRINT_STANDBY },     { "printing", KFLASH_PRINT_PRINTING },
		{ "paused", KFLASH_PRINT_PAUSED },       { "complete", KFLASH_PRINT_COMPLETE },
		{ "cancelled", KFLASH_PRINT_CANCELLED }, { "error", KFLASH_PRINT_ERROR },
		{ "frobbing", KFLASH_PRINT_UNKNOWN },
	};
	int state;

	setup();
	for (size_t i = 0; i < KF_ARRAY_SIZE(states); i++) {
		const char *const extra[] = { "--print-state", states[i].word, NULL };

		start_fake_with(extra);
		state = -1;
		ck_assert_int_eq(kflash_moonraker_query_print_state(ctx, &state), 0);
		ck_assert_msg(state == states[i].state, "%s: %d", states[i].word, state);
		kf_moonraker_stop(moonraker);
		moonraker = 0;
	}
	ck_assert_int_eq(count_calls("moonraker printer.objects.query"),
			 (int)KF_ARRAY_SIZE(states));
	kf_assert_error(ctx, kflash_moonraker_query_print_state(ctx, NULL), KFLASH_ERR_INVALID,
			"no place to return the print state");
	teardown();
}
END_TEST

/* Every way Moonraker's socket can fail, for each kind of request. */
static const struct failure {
	const char *misbehave; /* NULL: no Moonraker at all */
	int code;
	const char *message; /* of the print state query */
} failures[] = {
	{ NULL, KFLASH_ERR_NOT_FOUND, "there is no Moonraker socket at " },
	{ "refuse", KFLASH_ERR_NOT_FOUND, "nothing listens on Moonraker's socket " },
	{ "error", KFLASH_ERR_SERVICE,
	  "Moonraker refused 'printer.objects.query': DBus Not Connected, the fake was told to "
	  "fail (code 503)" },
	{ "hang", KFLASH_ERR_TIMEOUT, "Moonraker did not answer on " },
	{ "close", KFLASH_ERR_IO, "before it answered (the answer was cut short)" },
	{ "garbage", KFLASH_ERR_PROTOCOL, "sent something that is not a JSON object on " },
	{ "not-object", KFLASH_ERR_PROTOCOL, "sent something that is not a JSON object" },
	{ "endless", KFLASH_ERR_PROTOCOL, "sent a message larger than 1048576 bytes" },
	{ "no-result", KFLASH_ERR_PROTOCOL, "has neither a result nor an error" },
	{ "empty-result", KFLASH_ERR_PROTOCOL,
	  "answer to 'printer.objects.query' has no print_stats state" },
	{ "parse-error", KFLASH_ERR_PROTOCOL,
	  "could not read the request 'printer.objects.query' on " },
};

START_TEST(moonraker_every_failure_is_an_error)
{
	const struct failure *f = &failures[_i];
	int state = -1;

	setup();
	if (f->misbehave)
		start_fake(f->misbehave, NULL);
	kf_assert_error(ctx, kflash_moonraker_query_print_state(ctx, &state), f->code, f->message);
	ck_assert_int_eq(state, KFLASH_PRINT_UNKNOWN);
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "oonraker"));
	/* With Moonraker alone, a state or a stop it fails is an error: no systemctl. */
	ck_assert_int_eq(kflash_service_get_state(ctx, "klipper", &state), f->code);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), f->code);
	assert_no_systemctl();
	teardown();
}
END_TEST

START_TEST(moonraker_units_it_does_not_manage)
{
	int state = -1;

	setup();
	start_fake("unknown-state", NULL);
	kf_assert_error(ctx, kflash_service_get_state(ctx, "klipper", &state), KFLASH_ERR_SERVICE,
			"Moonraker reports the state of klipper as 'unknown', which does not tell");
	kf_moonraker_stop(moonraker);
	start_fake(NULL, NULL);
	set_state("klipper", "maintenance");
	kf_assert_error(ctx, kflash_service_get_state(ctx, "klipper", &state), KFLASH_ERR_SERVICE,
			"as 'maintenance'");
	kf_assert_error(ctx, kflash_service_get_state(ctx, "klipper-9", &state), KFLASH_ERR_SERVICE,
			"Moonraker does not report the state of klipper-9: it is not among");
	kf_assert_error(ctx, kflash_service_stop(ctx, "klipper-9"), KFLASH_ERR_SERVICE,
			"Moonraker refused 'machine.services.stop': Service 'klipper-9' not "
			"allowed (code 400)");
	/* A stop of a unit whose state Moonraker does not know is not waited for. */
	kf_moonraker_stop(moonraker);
	start_fake("unknown-state", NULL);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 1);
	ck_assert(kf_test_events_contain(ctx, "does not report the state of klipper: not waiting"));
	assert_no_systemctl();
	teardown();
}
END_TEST

START_TEST(moonraker_socket_path_too_long)
{
	char path[300];
	int state;

	setup();
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(kflash_context_set_moonraker_socket(ctx, path), 0);
	kf_assert_error(ctx, kflash_moonraker_query_print_state(ctx, &state), KFLASH_ERR_INVALID,
			"is longer than a socket path can be");
	teardown();
}
END_TEST

/* In a child as an ordinary user: ask the print state, report through @fd. */
static void
query_as_nobody(int fd)
{
	struct kflash_context *c;
	char msg[2048];
	int state, r;

	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		_exit(99);
	if (kflash_context_new(&c) < 0 || kflash_context_set_moonraker_socket(c, sock) < 0)
		_exit(98);
	r = kflash_moonraker_query_print_state(c, &state);
	snprintf(msg, sizeof(msg), "%d %s", r, kflash_context_last_error(c));
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(97);
	kflash_context_unref(c);
	_exit(0);
}

START_TEST(moonraker_socket_this_user_may_not_use)
{
	char buf[4096] = "", expect[64];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	setup();
	start_fake(NULL, NULL);
	/* No one but root may write to it: connect() needs that. */
	ck_assert_int_eq(chmod(sock, 0), 0);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		query_as_nobody(p[1]);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(expect, sizeof(expect), "%d ", KFLASH_ERR_PERMISSION);
	ck_assert_msg(strncmp(buf, expect, strlen(expect)) == 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "this user may not use Moonraker's socket"));
	teardown();
}
END_TEST

static struct kflash_context *alarm_ctx;

static void
cancel_on_alarm(int sig)
{
	kflash_context_cancel(alarm_ctx);
}

START_TEST(moonraker_cancel)
{
	struct sigaction sa = { .sa_handler = cancel_on_alarm };
	int state;

	setup();
	start_fake(NULL, NULL);
	kflash_context_cancel(ctx);
	kf_assert_error(ctx, kflash_moonraker_query_print_state(ctx, &state), KFLASH_ERR_CANCELLED,
			"cancelled");
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), KFLASH_ERR_CANCELLED);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 0);
	/* Starting Klipper again is the one thing a cancel does not stop. */
	ck_assert_int_eq(kflash_service_start(ctx, "klipper"), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	kflash_context_clear_cancel(ctx);
	kf_moonraker_stop(moonraker);

	/* A cancel ends the wait for an answer that does not come. */
	start_fake("hang", NULL);
	ck_assert_int_eq(kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_COMMAND, 600000), 0);
	alarm_ctx = ctx;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	kf_assert_error(ctx, kflash_moonraker_query_print_state(ctx, &state), KFLASH_ERR_CANCELLED,
			"cancelled");
	signal(SIGALRM, SIG_DFL);
	kflash_context_clear_cancel(ctx);
	teardown();
}
END_TEST

/* ---- the provider setting ---- */

START_TEST(provider_names_and_setting)
{
	struct kflash_service_guard *g;
	struct kflash_context *c;

	ck_assert_str_eq(kflash_service_provider_name(KFLASH_SERVICE_PROVIDER_AUTO), "auto");
	ck_assert_str_eq(kflash_service_provider_name(KFLASH_SERVICE_PROVIDER_MOONRAKER),
			 "moonraker");
	ck_assert_str_eq(kflash_service_provider_name(KFLASH_SERVICE_PROVIDER_SYSTEMCTL),
			 "systemctl");
	ck_assert_str_eq(kflash_service_provider_name(3), "unknown");
	ck_assert_str_eq(kflash_service_provider_name(-1), "unknown");
	ck_assert_int_eq(kflash_context_set_service_provider(NULL, 0), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_context_get_service_provider(NULL), KFLASH_ERR_INVALID);

	setup();
	start_fake(NULL, NULL);
	/* A word the library does not know stops nothing, through neither provider. */
	setenv("KFLASH_SERVICE_PROVIDER", "systemd", 1);
	c = kf_test_context(dir);
	kf_assert_error(c, kflash_context_get_service_provider(c), KFLASH_ERR_INVALID,
			"KFLASH_SERVICE_PROVIDER is 'systemd', which is not a service provider: "
			"use auto, moonraker or systemctl");
	ck_assert_int_eq(kflash_service_guard_new(c, &g), 0);
	kf_assert_error(c, kflash_service_guard_begin(g), KFLASH_ERR_INVALID,
			"KFLASH_SERVICE_PROVIDER is 'systemd'");
	ck_assert_int_eq(kflash_service_guard_unit_was_stopped(g, 0), 0);
	kflash_service_guard_unref(g);
	ck_assert_int_eq(kflash_service_stop(c, "klipper"), KFLASH_ERR_INVALID);
	ck_assert_ptr_null(kf_test_read_file(log_path));

	/* The setter beats the environment. */
	kf_assert_error(c, kflash_context_set_service_provider(c, 3), KFLASH_ERR_INVALID,
			"3 is not a service provider");
	ck_assert_int_eq(kflash_context_set_service_provider(c, KFLASH_SERVICE_PROVIDER_AUTO), 0);
	ck_assert_int_eq(kflash_context_get_service_provider(c), KFLASH_SERVICE_PROVIDER_AUTO);
	c = kf_test_context_unref(c);

	setenv("KFLASH_SERVICE_PROVIDER", "systemctl", 1);
	c = kf_test_context(dir);
	ck_assert_int_eq(kflash_context_get_service_provider(c), KFLASH_SERVICE_PROVIDER_SYSTEMCTL);
	/* A worker of the update has its own copy, outliving its parent's or not. */
	{
		struct kflash_context *worker;

		ck_assert_int_eq(kf_context_new_worker(c, &worker), 0);
		ck_assert_int_eq(kflash_context_get_service_provider(worker),
				 KFLASH_SERVICE_PROVIDER_SYSTEMCTL);
		ck_assert_str_eq(kflash_context_get_moonraker_socket(worker), sock);
		kflash_context_unref(worker);
	}
	c = kf_test_context_unref(c);
	unsetenv("KFLASH_SERVICE_PROVIDER");
	teardown();
}
END_TEST

START_TEST(provider_systemctl_leaves_moonraker_alone)
{
	setup();
	start_fake(NULL, NULL);
	ck_assert_int_eq(
		kflash_context_set_service_provider(ctx, KFLASH_SERVICE_PROVIDER_SYSTEMCTL), 0);
	ck_assert_int_eq(kflash_service_stop(ctx, "klipper"), 0);
	ck_assert_int_eq(kflash_service_start(ctx, "klipper"), 0);
	ck_assert_int_eq(count_calls("systemctl stop klipper"), 1);
	ck_assert_int_eq(count_calls("systemctl start klipper"), 1);
	ck_assert_int_eq(count_calls("moonraker machine.services.stop klipper"), 0);
	ck_assert(kf_test_events_contain(ctx, "controlled with systemctl"));
	teardown();
}
END_TEST

/* ---- what the sentinel sends, and how it reads the answer ---- */

START_TEST(sentinel_request_text)
{
	char buf[KF_MOONRAKER_REQUEST_MAX];
	size_t n = kf_moonraker_start_request(buf, sizeof(buf), "klipper-2.service", 42);
	struct json_object *req, *v;

	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(buf[n - 1], 0x03);
	buf[n - 1] = '\0';
	req = json_tokener_parse(buf);
	ck_assert_ptr_nonnull(req);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(req, "jsonrpc")), "2.0");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(req, "method")),
			 "machine.services.start");
	ck_assert(json_object_object_get_ex(json_object_object_get(req, "params"), "service", &v));
	ck_assert_str_eq(json_object_get_string(v), "klipper-2");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(req, "id")), 42);
	json_object_put(req);
	ck_assert_uint_eq(kf_moonraker_start_request(buf, sizeof(buf), "bad unit", 1), 0);
	ck_assert_uint_eq(kf_moonraker_start_request(buf, sizeof(buf), "x\"y", 1), 0);
	ck_assert_uint_eq(kf_moonraker_start_request(buf, 20, "klipper", 1), 0);
}
END_TEST

START_TEST(sentinel_answer_scanner)
{
	static const struct {
		const char *msg;
		int kind;
	} answers[] = {
		{ "{\"jsonrpc\":\"2.0\",\"result\":\"ok\",\"id\":7}", 1 },
		{ " { \"id\" : 7 , \"result\" : {\"a\": [1, {\"id\": 8}, -2.5e3], \"b\": null} } ",
		  1 },
		{ "{\"result\":\"a \\\"quoted\\\" } and ]\",\"id\":7}", 1 },
		{ "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"no\"},\"id\":7}",
		  -1 },
		{ "{\"id\":7,\"result\":\"ok\",\"error\":null}", -1 },
		{ "{\"id\":7}", -1 },
		{ "{\"id\":8,\"result\":\"ok\"}", 0 },
		{ "{\"method\":\"notify_proc_stat_update\",\"params\":[{\"id\":7}]}", 0 },
		{ "{\"id\":\"7\",\"result\":\"ok\"}", 0 },
		{ "{\"id\":7.0,\"result\":\"ok\"}", 0 },
		{ "{\"id\":99999999999999999999999,\"result\":1}", 0 },
		{ "{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}", -1 },
		{ "{\"id\":null,\"result\":1}", 0 },
		{ "{}", 0 },
		{ "", -1 },
		{ "this is not JSON", -1 },
		{ "[1,2,3]", -1 },
		{ "{\"id\":7,\"result\":", -1 },
		{ "{\"id\":7,\"result\":\"ok\"", -1 },
		{ "{\"id\":7,\"result\":\"ok\"} trailing", -1 },
		{ "{\"id\":7 \"result\":1}", -1 },
		{ "{\"id\" 7,\"result\":1}", -1 },
		{ "{id:7}", -1 },
		{ "{\"result\":\"\x01\",\"id\":7}", -1 },
		{ "{\"result\":[1,,2],\"id\":7}", -1 },
		{ "{\"result\":\"unterminated\\", -1 },
		{ "{\"id\":nullx,\"result\":1}", -1 },
	};
	char deep[400], nul[] = "{\"id\":7,\"result\":1\0}";
	size_t n = 0;

	for (size_t i = 0; i < KF_ARRAY_SIZE(answers); i++)
		ck_assert_msg(kf_jsonrpc_answer_kind(answers[i].msg, strlen(answers[i].msg), 7) ==
				      answers[i].kind,
			      "%s: expected %d", answers[i].msg, answers[i].kind);
	/* Only the bytes given count. */
	ck_assert_int_eq(kf_jsonrpc_answer_kind(answers[0].msg, 10, 7), -1);
	ck_assert_int_eq(kf_jsonrpc_answer_kind(nul, sizeof(nul) - 1, 7), -1);
	/* Nesting deeper than it follows is not an answer. */
	n += (size_t)snprintf(deep, sizeof(deep), "{\"id\":7,\"result\":");
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	ck_assert_int_eq(kf_jsonrpc_answer_kind(deep, n, 7), -1);
}
END_TEST

static struct kf_moonraker_start
raw_start(const char *unit, uint32_t timeout_ms)
{
	struct kf_moonraker_start m = { .addr = { .sun_family = AF_UNIX }, .id = 5 };

	ck_assert_uint_lt(strlen(sock), sizeof(m.addr.sun_path));
	strcpy(m.addr.sun_path, sock);
	m.len = kf_moonraker_start_request(m.request, sizeof(m.request), unit, m.id);
	m.timeout_ms = timeout_ms;
	return m;
}

START_TEST(sentinel_start_through_moonraker)
{
	static const char *const failing[] = { "error",   "hang",      "close",       "garbage",
					       "endless", "no-result", "parse-error", "refuse" };
	struct kf_moonraker_start m;
	char *word;

	setup();
	/* Nothing there. */
	m = raw_start("klipper", 2000);
	ck_assert_int_eq(kf_moonraker_start_raw(&m), -1);
	start_fake(NULL, NULL);
	set_state("klipper", "inactive");
	ck_assert_int_eq(kf_moonraker_start_raw(&m), 0);
	ck_assert_int_eq(count_calls("moonraker machine.services.start klipper"), 1);
	word = unit_state("klipper");
	ck_assert_str_eq(word, "active\n");
	free(word);
	/* A service Moonraker does not manage: its error. */
	m = raw_start("klipper-9", 2000);
	ck_assert_int_eq(kf_moonraker_start_raw(&m), -1);
	kf_moonraker_stop(moonraker);
	for (size_t i = 0; i < KF_ARRAY_SIZE(failing); i++) {
		start_fake(failing[i], NULL);
		m = raw_start("klipper", 300);
		ck_assert_msg(kf_moonraker_start_raw(&m) == -1, "%s", failing[i]);
		kf_moonraker_stop(moonraker);
	}
	moonraker = 0;
	teardown();
}
END_TEST

KF_TEST_SUITE(moonraker)
{
	kf_test_add(moonraker_stops_and_starts);
	kf_test_add(moonraker_stop_waits_until_the_unit_stopped);
	kf_test_add(moonraker_stop_that_never_ends);
	kf_test_add_timeout(moonraker_print_state, 30);
	kf_test_add_loop(moonraker_every_failure_is_an_error, (int)KF_ARRAY_SIZE(failures));
	kf_test_add(moonraker_units_it_does_not_manage);
	kf_test_add(moonraker_socket_path_too_long);
	kf_test_add(moonraker_socket_this_user_may_not_use);
	kf_test_add(moonraker_cancel);
	kf_test_add(provider_names_and_setting);
	kf_test_add(provider_systemctl_leaves_moonraker_alone);
	kf_test_add(sentinel_request_text);
	kf_test_add(sentinel_answer_scanner);
	kf_test_add_timeout(sentinel_start_through_moonraker, 30);
}
