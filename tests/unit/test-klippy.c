/* SPDX-License-Identifier: MIT */
/* The Klipper API client against tests/fakes/klippy-server, and versions. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static char sock[4200];
static struct kflash_context *ctx;
static pid_t server;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_KLIPPY, 2000);
	server = 0;
}

static void
stop_server(void)
{
	int status;

	if (server <= 0)
		return;
	kill(server, SIGTERM);
	ck_assert_int_eq(waitpid(server, &status, 0), server);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server status 0x%x", status);
	server = 0;
}

static void
teardown(void)
{
	stop_server();
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

/* Start the fake server with @args (NULL-terminated). */
static void
start_server_v(const char *const *args)
{
	const char *argv[32];
	char ready[4300];
	size_t n = 0;

	snprintf(ready, sizeof(ready), "%s/server.ready", dir);
	unlink(ready);
	argv[n++] = getenv("KF_KLIPPY_SERVER_BIN");
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert_msg(i < 5000, "the fake klippy server did not start");
		usleep(1000);
	}
}

#define start_server(...) start_server_v((const char *const[]){ __VA_ARGS__, NULL })

static struct kflash_klippy *
connect_ok(void)
{
	struct kflash_klippy *k = NULL;

	ck_assert_msg(kflash_klippy_connect(ctx, &k) == 0, "%s", kflash_context_last_error(ctx));
	return k;
}

START_TEST(klippy_not_running)
{
	struct kflash_klippy *k = NULL;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	setup();
	kf_assert_error(ctx, kflash_klippy_connect(ctx, &k), KFLASH_ERR_NOT_FOUND,
			"Klipper is not running: there is no API socket at");
	ck_assert_ptr_null(k);
	/* A socket file that nobody listens on any more. */
	strcpy(addr.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	kf_assert_error(ctx, kflash_klippy_connect(ctx, &k), KFLASH_ERR_NOT_FOUND,
			"nothing listens on");
	ck_assert_ptr_null(kflash_klippy_unref(NULL));
	teardown();
}
END_TEST

START_TEST(klippy_info_and_status)
{
	struct kflash_klippy *k;

	setup();
	start_server("--state", "ready", "--print-state", "printing", "--mcu",
		     "mcu=v0.12.0-380-gdeadbee=stm32f446xx", "--mcu",
		     "mcu toolhead=v0.12.0-396-gabc1234=stm32g0b1xx");
	k = connect_ok();
	ck_assert_int_eq(kflash_klippy_get_state(k), KFLASH_KLIPPER_UNKNOWN);
	ck_assert_int_eq(kflash_klippy_query_info(k), 0);
	ck_assert_int_eq(kflash_klippy_get_state(k), KFLASH_KLIPPER_READY);
	ck_assert_str_eq(kflash_klippy_get_state_message(k), "Printer is ready");
	ck_assert_str_eq(kflash_klippy_get_software_version(k), "v0.12.0-396-gabc1234");
	ck_assert_int_eq(kflash_klippy_query_status(k), 0);
	ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_PRINTING);
	ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 2);
	for (size_t i = 0; i < 2; i++) {
		const char *name = kflash_klippy_get_mcu_name(k, i);

		if (strcmp(name, "mcu") == 0) {
			ck_assert_str_eq(kflash_klippy_get_mcu_version(k, i),
					 "v0.12.0-380-gdeadbee");
			ck_assert_str_eq(kflash_klippy_get_mcu_type(k, i), "stm32f446xx");
		} else {
			ck_assert_str_eq(name, "mcu toolhead");
			ck_assert_str_eq(kflash_klippy_get_mcu_type(k, i), "stm32g0b1xx");
		}
	}
	ck_assert_ptr_null(kflash_klippy_get_mcu_name(k, 2));
	/* The same connection answers again. */
	ck_assert_int_eq(kflash_klippy_query_info(k), 0);
	ck_assert_ptr_eq(kflash_klippy_ref(k), k);
	kflash_klippy_unref(k);
	kflash_klippy_unref(k);
	teardown();
}
END_TEST

static const struct {
	const char *kind;
	int code;
	const char *needle;
} misbehaviours[] = {
	{ "malformed", KFLASH_ERR_PROTOCOL, "not a JSON object" },
	{ "not-object", KFLASH_ERR_PROTOCOL, "not a JSON object" },
	{ "hang", KFLASH_ERR_TIMEOUT, "did not answer" },
	{ "close", KFLASH_ERR_IO, "closed its API socket" },
	{ "no-etx", KFLASH_ERR_IO, "the reply was cut short" },
	{ "huge", KFLASH_ERR_PROTOCOL, "larger than 1048576 bytes" },
	{ "error", KFLASH_ERR_PROTOCOL, "Klipper refused 'info': Invalid Request" },
	{ "no-result", KFLASH_ERR_PROTOCOL, "has no result object" },
	{ "empty-result", KFLASH_ERR_PROTOCOL, "Klipper's 'info' answer has no state" },
};

/* Answers that parse but lack what the status query needs. */
START_TEST(klippy_status_answers_without_their_parts)
{
	static const struct {
		const char *kind, *needle;
	} cases[] = {
		{ "empty-result", "Klipper's 'objects/list' answer has no list of objects" },
		{ "no-status", "Klipper's 'objects/query' answer has no status" },
	};
	struct kflash_klippy *k;

	for (size_t i = 0; i < KF_ARRAY_SIZE(cases); i++) {
		setup();
		start_server("--mcu", "mcu=v0.12.0-1-gabc", "--misbehave", cases[i].kind);
		k = connect_ok();
		kf_assert_error(ctx, kflash_klippy_query_status(k), KFLASH_ERR_PROTOCOL,
				cases[i].needle);
		ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 0);
		ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_UNKNOWN);
		kflash_klippy_unref(k);
		teardown();
	}
}
END_TEST

START_TEST(klippy_bad_replies_are_errors)
{
	struct kflash_klippy *k;

	setup();
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_KLIPPY,
				   kf_test_under_valgrind() ? 3000 : 300);
	start_server("--misbehave", misbehaviours[_i].kind);
	k = connect_ok();
	kf_assert_error(ctx, kflash_klippy_query_info(k), misbehaviours[_i].code,
			misbehaviours[_i].needle);
	ck_assert_int_eq(kflash_klippy_get_state(k), KFLASH_KLIPPER_UNKNOWN);
	kflash_klippy_unref(k);
	teardown();
}
END_TEST

static void *
cancel_later(void *data)
{
	usleep(200000);
	kflash_context_cancel(data);
	return NULL;
}

START_TEST(klippy_cancel_during_a_hung_request)
{
	struct kflash_klippy *k;
	pthread_t t;

	setup();
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_KLIPPY, 60000);
	start_server("--misbehave", "hang");
	k = connect_ok();
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, ctx), 0);
	kf_assert_error(ctx, kflash_klippy_query_status(k), KFLASH_ERR_CANCELLED, "");
	pthread_join(t, NULL);
	kflash_klippy_unref(k);
	kflash_context_clear_cancel(ctx);
	teardown();
}
END_TEST

/* The service's state, as an injected query answers it: 1 active, 0 not, < 0 fails. */
static int
service_answer(struct kflash_context *c, const char *unit, void *data)
{
	return *(int *)data;
}

START_TEST(klippy_print_gate)
{
	int service = 0, gate = 0;

	setup();
	kflash_context_set_service_query_func(ctx, service_answer, &service);
	/* No API socket, and the service does not run: nothing to stop, no question. */
	ck_assert_int_eq(kflash_klippy_check_idle(ctx, 0, &gate), 0);
	ck_assert_int_eq(gate, KFLASH_GATE_NOT_RUNNING);
	ck_assert(kf_test_events_contain(ctx, "Klipper is not running: its service klipper is "
					      "inactive"));

	start_server("--print-state", "printing");
	kf_assert_error(ctx, kflash_klippy_check_idle(ctx, 0, &gate), KFLASH_ERR_PRINTING,
			"the printer is printing");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_FORCE);
	ck_assert_ptr_null(strstr(kflash_context_last_error(ctx), "--"));
	ck_assert_int_eq(kflash_klippy_check_idle(ctx, 1, &gate), 0);
	ck_assert_int_eq(gate, KFLASH_GATE_FORCED_PRINTING);
	ck_assert(kf_test_events_contain(ctx, "the update was forced: going on"));
	stop_server();

	start_server("--print-state", "paused");
	kf_assert_error(ctx, kflash_klippy_check_idle(ctx, 0, NULL), KFLASH_ERR_PRINTING,
			"the printer is paused");
	stop_server();
	start_server("--print-state", "complete");
	ck_assert_int_eq(kflash_klippy_check_idle(ctx, 0, &gate), 0);
	ck_assert_int_eq(gate, KFLASH_GATE_IDLE);
	stop_server();
	start_server("--misbehave", "error");
	kf_assert_error(ctx, kflash_klippy_check_idle(ctx, 0, NULL), KFLASH_ERR_PROTOCOL,
			"refused");
	kflash_context_set_service_query_func(ctx, NULL, NULL);
	teardown();
}
END_TEST

/*
 * The service runs, but its API socket is not where the context looks
 * (sudo's home, another instance): the print state cannot be told, so the
 * gate stays shut unless forced. It once went on, saying "not running".
 */
START_TEST(klippy_gate_shut_when_the_socket_of_a_running_service_is_missing)
{
	int service = 1, gate = 0;
	char *events;

	setup();
	kflash_context_set_service_query_func(ctx, service_answer, &service);
	kf_assert_error(ctx, kflash_klippy_check_idle(ctx, 0, &gate), KFLASH_ERR_NOT_FOUND,
			"Klipper's service klipper is active, but");
	ck_assert(strstr(kflash_context_last_error(ctx), sock) != NULL);
	ck_assert(strstr(kflash_context_last_error(ctx), "Klipper is not stopped") != NULL);
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_SET_KLIPPY_SOCKET);
	ck_assert_str_eq(kflash_context_last_error_subject(ctx), sock);
	ck_assert_int_eq(gate, 0);
	ck_assert_int_eq(kflash_klippy_check_idle(ctx, 1, &gate), 0);
	ck_assert_int_eq(gate, KFLASH_GATE_FORCED_UNREACHABLE);
	ck_assert(kf_test_events_contain(ctx, "going on, since the update was forced"));

	/* A state that cannot be asked is no licence either. */
	service = KFLASH_ERR_SERVICE;
	kf_assert_error(ctx, kflash_klippy_check_idle(ctx, 0, &gate), KFLASH_ERR_NOT_FOUND,
			"the state of Klipper's service klipper cannot be asked");
	events = kf_strdup(kf_test_events(ctx));
	ck_assert_ptr_null(strstr(events, "nothing to wait for"));
	free(events);
	kflash_context_set_service_query_func(ctx, NULL, NULL);
	teardown();
}
END_TEST

START_TEST(klippy_wait_ready)
{
	setup();
	start_server("--ready-after", "3");
	ck_assert_int_eq(kflash_klippy_wait_ready(ctx, 10000), 0);
	stop_server();

	start_server("--state", "error", "--state-message",
		     "MCU Protocol error\nMCU(s) which should be updated: mcu");
	kf_assert_error(ctx, kflash_klippy_wait_ready(ctx, 600), KFLASH_ERR_NOT_READY,
			"Klipper is in state 'error': MCU Protocol error");
	stop_server();
	kf_assert_error(ctx, kflash_klippy_wait_ready(ctx, 300), KFLASH_ERR_NOT_READY,
			"no API socket");
	teardown();
}
END_TEST

/* ---- versions ---- */

static const struct {
	const char *a, *b;
	int order;
} versions[] = {
	{ "v0.12.0-396-gabc1234", "v0.12.0-396-gabc1234", KFLASH_VERSION_SAME },
	{ "v0.12.0-380-gdeadbee", "v0.12.0-396-gabc1234", KFLASH_VERSION_OLDER },
	{ "v0.12.0-396-gabc1234", "v0.12.0-380-gdeadbee", KFLASH_VERSION_NEWER },
	{ "v0.11.0-250-g1111111", "v0.12.0-1-g2222222", KFLASH_VERSION_OLDER },
	{ "v0.12.0", "v0.12.0-1-g2222222", KFLASH_VERSION_OLDER },
	{ "v0.9.1-5-gaaaaaaa", "v0.10.0-0-gbbbbbbb", KFLASH_VERSION_OLDER },
	/* Build suffixes are not a difference. */
	{ "v0.12.0-396-gabc1234-dirty", "v0.12.0-396-gabc1234", KFLASH_VERSION_SAME },
	{ "v0.12.0-396-gabc1234-dirty-20261124_165644-pi", "v0.12.0-396-gabc1234",
	  KFLASH_VERSION_SAME },
	{ "v0.12.0-396-gabc1234-20261124_165644-pi", "v0.12.0-396-gabc1234-dirty",
	  KFLASH_VERSION_SAME },
	{ "v0.12.0-380-gdeadbee-dirty-20261124_165644-pi", "v0.12.0-396-gabc1234",
	  KFLASH_VERSION_OLDER },
	/* Not orderable: never "older" by guess. */
	{ "v0.12.0-396-gabc1234", "v0.12.0-396-gfffffff", KFLASH_VERSION_DIFFERENT },
	{ "?-20261124_165628-vm", "v0.12.0-396-gabc1234", KFLASH_VERSION_DIFFERENT },
	{ "?-20261124_165628-vm", "?-20261124_170000-vm", KFLASH_VERSION_SAME },
	{ "abc1234", "def5678", KFLASH_VERSION_DIFFERENT },
	{ "v0.12.0-396-gXYZ", "v0.12.0-1-g1", KFLASH_VERSION_DIFFERENT },
	{ "", "v0.12.0", KFLASH_VERSION_DIFFERENT },
	{ NULL, "v0.12.0", KFLASH_VERSION_DIFFERENT },
};

START_TEST(version_compare_table)
{
	ck_assert_msg(kflash_klipper_version_compare(versions[_i].a, versions[_i].b) ==
			      versions[_i].order,
		      "%s vs %s: %d, expected %d", versions[_i].a ? versions[_i].a : "NULL",
		      versions[_i].b,
		      kflash_klipper_version_compare(versions[_i].a, versions[_i].b),
		      versions[_i].order);
}
END_TEST

KF_TEST_SUITE(klippy)
{
	kf_test_add(klippy_not_running);
	kf_test_add(klippy_info_and_status);
	kf_test_add_loop(klippy_bad_replies_are_errors, (int)KF_ARRAY_SIZE(misbehaviours));
	kf_test_add(klippy_status_answers_without_their_parts);
	kf_test_add(klippy_cancel_during_a_hung_request);
	kf_test_add_timeout(klippy_print_gate, 30);
	kf_test_add(klippy_gate_shut_when_the_socket_of_a_running_service_is_missing);
	kf_test_add_timeout(klippy_wait_ready, 30);
	kf_test_add_loop(version_compare_table, (int)KF_ARRAY_SIZE(versions));
}
