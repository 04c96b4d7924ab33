/* SPDX-License-Identifier: MIT */
/* The context hub: lifecycle, locations, timeouts, events, errors, cancel. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"

static const char *const kflash_env[] = {
	"KFLASH_CONFIG_DIR",  "KFLASH_REGISTRY",         "KFLASH_CACHE_DIR",
	"KFLASH_KLIPPER_DIR", "KFLASH_SERVICE",          "KFLASH_KLIPPY_SOCKET",
	"KFLASH_DEV_DIR",     "XDG_CONFIG_HOME",         "XDG_CACHE_HOME",
	"LIBKFLASH_DEBUG",    "KFLASH_MOONRAKER_SOCKET", "KFLASH_SERVICE_PROVIDER",
};

static void
clean_env(void)
{
	for (size_t i = 0; i < KF_ARRAY_SIZE(kflash_env); i++)
		unsetenv(kflash_env[i]);
	setenv("HOME", "/home/tester", 1);
}

static struct kflash_context *
new_context(void)
{
	struct kflash_context *ctx = NULL;

	ck_assert_int_eq(kflash_context_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	return ctx;
}

START_TEST(context_lifecycle)
{
	struct kflash_context *ctx = new_context();

	ck_assert_ptr_eq(kflash_context_ref(ctx), ctx);
	ck_assert_ptr_null(kflash_context_unref(ctx));
	/* Still alive: one reference left. */
	ck_assert_str_eq(kflash_context_last_error(ctx), "");
	ck_assert_int_eq(kflash_context_last_error_code(ctx), 0);
	ck_assert_ptr_null(kflash_context_unref(ctx));

	ck_assert_ptr_null(kflash_context_ref(NULL));
	ck_assert_ptr_null(kflash_context_unref(NULL));
	ck_assert_int_eq(kflash_context_new(NULL), KFLASH_ERR_INVALID);
	ck_assert_str_eq(kflash_context_last_error(NULL), "");
	ck_assert_int_eq(kflash_context_is_cancelled(NULL), 0);
	kflash_context_cancel(NULL);
	kflash_context_set_event_handler(NULL, NULL, NULL);
	ck_assert_ptr_null(kflash_context_get_config_dir(NULL));
	ck_assert_int_eq(kflash_context_set_config_dir(NULL, "/x"), KFLASH_ERR_INVALID);
}
END_TEST

START_TEST(context_defaults_follow_xdg)
{
	struct kflash_context *ctx;

	clean_env();
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/home/tester/.config/kflash");
	ck_assert_str_eq(kflash_context_get_registry(ctx),
			 "/home/tester/.config/kflash/devices.json");
	ck_assert_str_eq(kflash_context_get_cache_dir(ctx), "/home/tester/.cache/kflash");
	ck_assert_str_eq(kflash_context_get_klipper_dir(ctx), "/home/tester/klipper");
	ck_assert_str_eq(kflash_context_get_service(ctx), "klipper");
	ck_assert_str_eq(kflash_context_get_klippy_socket(ctx),
			 "/home/tester/printer_data/comms/klippy.sock");
	ck_assert_str_eq(kflash_context_get_moonraker_socket(ctx),
			 "/home/tester/printer_data/comms/moonraker.sock");
	ck_assert_int_eq(kflash_context_get_service_provider(ctx), KFLASH_SERVICE_PROVIDER_AUTO);
	ck_assert_str_eq(kflash_context_get_dev_dir(ctx), "/dev");
	kflash_context_unref(ctx);

	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/xdg/config/kflash");
	ck_assert_str_eq(kflash_context_get_registry(ctx), "/xdg/config/kflash/devices.json");
	ck_assert_str_eq(kflash_context_get_cache_dir(ctx), "/xdg/cache/kflash");
	kflash_context_unref(ctx);

	/* The XDG spec: relative values are invalid and ignored. */
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/home/tester/.config/kflash");
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(context_environment_overrides_defaults)
{
	struct kflash_context *ctx;

	clean_env();
	setenv("KFLASH_CONFIG_DIR", "/etc/kf", 1);
	setenv("KFLASH_CACHE_DIR", "/var/cache/kf", 1);
	setenv("KFLASH_KLIPPER_DIR", "/opt/klipper", 1);
	setenv("KFLASH_SERVICE", "klipper-2", 1);
	setenv("KFLASH_KLIPPY_SOCKET", "/run/klippy.sock", 1);
	setenv("KFLASH_DEV_DIR", "/tmp/fakedev", 1);
	setenv("KFLASH_MOONRAKER_SOCKET", "/run/moonraker.sock", 1);
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/etc/kf");
	/* The registry follows the config dir unless set itself. */
	ck_assert_str_eq(kflash_context_get_registry(ctx), "/etc/kf/devices.json");
	ck_assert_str_eq(kflash_context_get_cache_dir(ctx), "/var/cache/kf");
	ck_assert_str_eq(kflash_context_get_klipper_dir(ctx), "/opt/klipper");
	ck_assert_str_eq(kflash_context_get_service(ctx), "klipper-2");
	ck_assert_str_eq(kflash_context_get_klippy_socket(ctx), "/run/klippy.sock");
	ck_assert_str_eq(kflash_context_get_dev_dir(ctx), "/tmp/fakedev");
	ck_assert_str_eq(kflash_context_get_moonraker_socket(ctx), "/run/moonraker.sock");
	ck_assert_int_eq(kflash_context_set_moonraker_socket(ctx, "/set/moonraker.sock"), 0);
	ck_assert_str_eq(kflash_context_get_moonraker_socket(ctx), "/set/moonraker.sock");
	kflash_context_unref(ctx);

	setenv("KFLASH_REGISTRY", "/elsewhere/boards.json", 1);
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_registry(ctx), "/elsewhere/boards.json");
	kflash_context_unref(ctx);

	/* An empty variable is the same as an unset one. */
	setenv("KFLASH_SERVICE", "", 1);
	ctx = new_context();
	ck_assert_str_eq(kflash_context_get_service(ctx), "klipper");
	kflash_context_unref(ctx);
	clean_env();
}
END_TEST

START_TEST(context_setters_override_environment)
{
	struct kflash_context *ctx;
	char cwd[4096], expect[4200];

	clean_env();
	setenv("KFLASH_CONFIG_DIR", "/from/env", 1);
	ctx = new_context();

	ck_assert_int_eq(kflash_context_set_config_dir(ctx, "/from/setter"), 0);
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/from/setter");
	ck_assert_str_eq(kflash_context_get_registry(ctx), "/from/setter/devices.json");

	/* NULL drops the override: the environment applies again. */
	ck_assert_int_eq(kflash_context_set_config_dir(ctx, NULL), 0);
	ck_assert_str_eq(kflash_context_get_config_dir(ctx), "/from/env");

	/* Relative paths become absolute; unit names stay as they are. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(kflash_context_set_klipper_dir(ctx, "src/klipper"), 0);
	snprintf(expect, sizeof(expect), "%s/src/klipper", cwd);
	ck_assert_str_eq(kflash_context_get_klipper_dir(ctx), expect);
	ck_assert_int_eq(kflash_context_set_service(ctx, "klipper-1"), 0);
	ck_assert_str_eq(kflash_context_get_service(ctx), "klipper-1");

	kf_assert_error(ctx, kflash_context_set_dev_dir(ctx, ""), KFLASH_ERR_INVALID,
			"KFLASH_DEV_DIR");
	kf_assert_error(ctx, kflash_context_set_service(ctx, "a\nb"), KFLASH_ERR_INVALID,
			"without newlines");
	ck_assert_str_eq(kflash_context_get_service(ctx), "klipper-1");

	kflash_context_unref(ctx);
	clean_env();
}
END_TEST

START_TEST(context_timeouts)
{
	struct kflash_context *ctx = new_context();

	ck_assert_uint_eq(kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BUILD), 20 * 60 * 1000);
	ck_assert_uint_eq(kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_RETURN), 10 * 1000);
	ck_assert_uint_eq(kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_KLIPPY), 5 * 1000);

	ck_assert_int_eq(kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_BUILD, 1234), 0);
	ck_assert_uint_eq(kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BUILD), 1234);
	ck_assert_int_eq(kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_BUILD, 0), 0);

	kf_assert_error(ctx, kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_LOCK, 0),
			KFLASH_ERR_INVALID, "cannot be 0");
	kf_assert_error(ctx, kflash_context_set_timeout(ctx, (enum kflash_timeout)99, 5),
			KFLASH_ERR_INVALID, "unknown timeout");
	ck_assert_uint_eq(kflash_context_get_timeout(ctx, (enum kflash_timeout)99), 0);
	ck_assert_uint_eq(kflash_context_get_timeout(ctx, (enum kflash_timeout)0), 0);
	kflash_context_unref(ctx);
}
END_TEST

/* ---- events ---- */

struct captured {
	int count;
	enum kflash_event_type type;
	enum kflash_event_level level;
	enum kflash_phase phase;
	char board[64];
	char message[2048];
	uint64_t done, total;
	struct kflash_context *ctx;
};

static void
capture(struct kflash_context *ctx, const struct kflash_event *ev, void *data)
{
	struct captured *c = data;
	const char *board = kflash_event_get_board(ev);

	c->count++;
	c->ctx = ctx;
	c->type = kflash_event_get_type(ev);
	c->level = kflash_event_get_level(ev);
	c->phase = kflash_event_get_phase(ev);
	snprintf(c->board, sizeof(c->board), "%s", board ? board : "(null)");
	snprintf(c->message, sizeof(c->message), "%s", kflash_event_get_message(ev));
	c->done = kflash_event_get_progress_done(ev);
	c->total = kflash_event_get_progress_total(ev);
}

START_TEST(events_reach_the_handler)
{
	struct kflash_context *ctx = new_context();
	struct captured c = { 0 };
	struct kf_scope saved;

	/* Silent by default: no handler, nothing happens. */
	kf_info(ctx, "nobody listens");

	kflash_context_set_event_handler(ctx, capture, &c);
	kf_info(ctx, "hello %d\n", 42);
	ck_assert_int_eq(c.count, 1);
	ck_assert_ptr_eq(c.ctx, ctx);
	ck_assert_int_eq(c.type, KFLASH_EVENT_LOG);
	ck_assert_int_eq(c.level, KFLASH_LEVEL_INFO);
	ck_assert_int_eq(c.phase, KFLASH_PHASE_NONE);
	ck_assert_str_eq(c.board, "(null)");
	ck_assert_str_eq(c.message, "hello 42");
	ck_assert_uint_eq(c.done, 0);

	saved = kf_scope_enter(ctx, KFLASH_PHASE_BUILD, "octopus");
	kf_progress(ctx, 3, 10, "blocks");
	ck_assert_int_eq(c.type, KFLASH_EVENT_PROGRESS);
	ck_assert_int_eq(c.phase, KFLASH_PHASE_BUILD);
	ck_assert_str_eq(c.board, "octopus");
	ck_assert_uint_eq(c.done, 3);
	ck_assert_uint_eq(c.total, 10);
	kf_phase_event(ctx, "building");
	ck_assert_int_eq(c.type, KFLASH_EVENT_PHASE);
	kf_output_line(ctx, "CC out/src/sched.o");
	ck_assert_int_eq(c.type, KFLASH_EVENT_OUTPUT);
	ck_assert_str_eq(c.message, "CC out/src/sched.o");
	kf_scope_leave(ctx, saved);
	kf_warn(ctx, "after");
	ck_assert_int_eq(c.phase, KFLASH_PHASE_NONE);
	ck_assert_int_eq(c.level, KFLASH_LEVEL_WARNING);

	kflash_context_set_event_handler(ctx, NULL, NULL);
	kf_warn(ctx, "silent again");
	ck_assert_int_eq(c.count, 5);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(events_are_filtered_by_level)
{
	struct kflash_context *ctx = new_context();
	struct captured c = { 0 };

	kflash_context_set_event_handler(ctx, capture, &c);
	ck_assert_int_eq(kflash_context_get_event_level(ctx), KFLASH_LEVEL_INFO);
	kf_debug(ctx, "hidden");
	ck_assert_int_eq(c.count, 0);

	kflash_context_set_event_level(ctx, KFLASH_LEVEL_DEBUG);
	kf_debug(ctx, "shown");
	ck_assert_int_eq(c.count, 1);

	kflash_context_set_event_level(ctx, KFLASH_LEVEL_WARNING);
	kf_info(ctx, "hidden");
	kf_progress(ctx, 1, 2, "hidden");
	kf_warn(ctx, "shown");
	ck_assert_int_eq(c.count, 2);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(events_carry_long_messages)
{
	struct kflash_context *ctx = new_context();
	struct captured c = { 0 };
	char long_text[1500];

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	kflash_context_set_event_handler(ctx, capture, &c);
	kf_info(ctx, "%s!", long_text);
	ck_assert_uint_eq(strlen(c.message), sizeof(long_text));
	ck_assert_int_eq(c.message[sizeof(long_text) - 1], '!');
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(events_debug_env_prints_to_stderr)
{
	struct kflash_context *ctx;
	char path[] = "/tmp/kflash-stderr.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *out;

	ck_assert_int_ge(fd, 0);
	setenv("LIBKFLASH_DEBUG", "1", 1);
	ctx = new_context();
	unsetenv("LIBKFLASH_DEBUG");
	ck_assert_int_eq(kflash_context_get_event_level(ctx), KFLASH_LEVEL_DEBUG);

	dup2(fd, STDERR_FILENO);
	{
		struct kf_scope s = kf_scope_enter(ctx, KFLASH_PHASE_FLASH, "ebb");

		kf_debug(ctx, "wrote %d blocks", 7);
		kf_scope_leave(ctx, s);
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);

	out = kf_test_read_file(path);
	unlink(path);
	ck_assert_str_eq(out, "libkflash: [Flash] ebb: wrote 7 blocks\n");
	free(out);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(events_phase_names)
{
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_DISCOVERY), "Discovery");
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_CONFIG), "Config");
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_BUILD), "Build");
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_SERVICE), "Service");
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_FLASH), "Flash");
	ck_assert_str_eq(kflash_phase_name(KFLASH_PHASE_NONE), "");
	ck_assert_str_eq(kflash_phase_name((enum kflash_phase)77), "");
}
END_TEST

/* ---- errors ---- */

START_TEST(errors_have_names_and_texts)
{
	for (int code = 0; code >= KFLASH_ERR_NOT_READY; code--) {
		const char *name = kflash_error_name(code);

		ck_assert_msg(strncmp(name, "KFLASH_", 7) == 0, "code %d has name %s", code, name);
		ck_assert_str_ne(name, "KFLASH_ERR_UNKNOWN");
		ck_assert_str_ne(kflash_strerror(code), "Unknown error");
		/* Either sign works. */
		ck_assert_str_eq(kflash_error_name(-code), name);
	}
	ck_assert_str_eq(kflash_error_name(KFLASH_ERR_MCU_MISMATCH), "KFLASH_ERR_MCU_MISMATCH");
	ck_assert_str_eq(kflash_strerror(KFLASH_ERR_NOT_FOUND), "Not found");
	ck_assert_str_eq(kflash_error_name(-1000), "KFLASH_ERR_UNKNOWN");
	ck_assert_str_eq(kflash_strerror(-1000), "Unknown error");
}
END_TEST

START_TEST(errors_are_recorded_on_the_context)
{
	struct kflash_context *ctx = new_context();

	ck_assert_int_eq(kf_error(ctx, KFLASH_ERR_NOT_FOUND, "board %s is not registered", "ebb"),
			 KFLASH_ERR_NOT_FOUND);
	ck_assert_str_eq(kflash_context_last_error(ctx), "board ebb is not registered");
	ck_assert_int_eq(kflash_context_last_error_code(ctx), KFLASH_ERR_NOT_FOUND);

	/* A positive code is normalised. */
	ck_assert_int_eq(kf_error(ctx, 6, "x"), KFLASH_ERR_IO);

	ck_assert_int_eq(kf_error_errno(ctx, KFLASH_ERR_IO, ENOSPC, "cannot write %s", "f"),
			 KFLASH_ERR_IO);
	ck_assert_str_eq(kflash_context_last_error(ctx), "cannot write f: No space left on device");

	ck_assert_int_eq(kf_error_sys(ctx, EACCES, "open"), KFLASH_ERR_PERMISSION);
	ck_assert_int_eq(kf_error_sys(ctx, ENOENT, "open"), KFLASH_ERR_NOT_FOUND);
	ck_assert_int_eq(kf_error_sys(ctx, EIO, "open"), KFLASH_ERR_IO);
	ck_assert_int_eq(kf_errno_to_error(0), 0);
	ck_assert_int_eq(kf_errno_to_error(ENOMEM), KFLASH_ERR_NO_MEMORY);
	ck_assert_int_eq(kf_errno_to_error(EBUSY), KFLASH_ERR_BUSY);

	/* A success does not clear the last error. */
	ck_assert_int_eq(kflash_context_set_service(ctx, "klipper"), 0);
	ck_assert_int_eq(kflash_context_last_error_code(ctx), KFLASH_ERR_IO);
	ck_assert_str_eq(kflash_context_last_error(ctx), "open: Input/output error");
	kflash_context_unref(ctx);
}
END_TEST

/* ---- cancellation ---- */

static struct kflash_context *signal_ctx;

static void
on_alarm(int sig)
{
	kflash_context_cancel(signal_ctx);
}

START_TEST(cancel_from_a_signal_handler)
{
	struct kflash_context *ctx = new_context();
	struct itimerval it = { .it_value = { .tv_usec = 100 * 1000 } };
	struct sigaction sa = { .sa_handler = on_alarm };
	uint64_t start;

	ck_assert_int_eq(kf_check_cancel(ctx), 0);
	signal_ctx = ctx;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);

	start = kf_now_ms();
	kf_assert_error(ctx, kf_sleep_ms(ctx, 20000), KFLASH_ERR_CANCELLED, "cancelled");
	ck_assert_uint_lt(kf_now_ms() - start, 5000);
	ck_assert_int_eq(kflash_context_is_cancelled(ctx), 1);
	ck_assert_int_eq(kf_check_cancel(ctx), KFLASH_ERR_CANCELLED);

	/* Cancelling twice is harmless; clearing makes the context usable. */
	kflash_context_cancel(ctx);
	kflash_context_clear_cancel(ctx);
	ck_assert_int_eq(kflash_context_is_cancelled(ctx), 0);
	ck_assert_int_eq(kf_sleep_ms(ctx, 10), 0);

	signal(SIGALRM, SIG_DFL);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(cancel_many_times_never_blocks)
{
	struct kflash_context *ctx = new_context();

	/* The wake-up pipe fills up; cancel must neither block nor fail. */
	for (int i = 0; i < 100000; i++)
		kflash_context_cancel(ctx);
	ck_assert_int_eq(kflash_context_is_cancelled(ctx), 1);
	kflash_context_clear_cancel(ctx);
	ck_assert_int_eq(kf_sleep_ms(ctx, 1), 0);
	kflash_context_unref(ctx);
}
END_TEST

START_TEST(version_is_the_release)
{
	ck_assert_str_eq(kflash_version(), KFLASH_VERSION);
}
END_TEST

KF_TEST_SUITE(context)
{
	kf_test_add(context_lifecycle);
	kf_test_add(context_defaults_follow_xdg);
	kf_test_add(context_environment_overrides_defaults);
	kf_test_add(context_setters_override_environment);
	kf_test_add(context_timeouts);
	kf_test_add(version_is_the_release);
}

KF_TEST_SUITE(events)
{
	kf_test_add(events_reach_the_handler);
	kf_test_add(events_are_filtered_by_level);
	kf_test_add(events_carry_long_messages);
	kf_test_add(events_debug_env_prints_to_stderr);
	kf_test_add(events_phase_names);
}

KF_TEST_SUITE(errors)
{
	kf_test_add(errors_have_names_and_texts);
	kf_test_add(errors_are_recorded_on_the_context);
}

KF_TEST_SUITE(cancel)
{
	kf_test_add(cancel_from_a_signal_handler);
	kf_test_add(cancel_many_times_never_blocks);
}
