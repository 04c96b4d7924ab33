/* SPDX-License-Identifier: MIT */
/*
 * The test runner shared by every Check binary of libkflash.
 *
 * A test file declares its suite with KF_TEST_SUITE(name) { ... } and adds
 * its tests inside with kf_test_add(). Suites register themselves, so a
 * binary is test-main.c plus any number of topic files. Each test gets
 * its own TCase, so that CK_RUN_CASE=<test name> runs exactly one.
 */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <kflash/kflash.h>

void
kf_test_register_suite(const char *name, void (*fn)(void));

void
kf_test_add_tcase(const TTest *test, const char *name, int timeout_s, int loop_end);

#define KF_TEST_SUITE(name)                                                                        \
	static void kf_suite_fn_##name(void);                                                      \
	__attribute__((constructor)) static void kf_suite_register_##name(void)                    \
	{                                                                                          \
		kf_test_register_suite(#name, kf_suite_fn_##name);                                 \
	}                                                                                          \
	static void kf_suite_fn_##name(void)

/*
 * Run @setup before and @teardown after each test added after this call
 * in the current suite (Check's checked fixtures). NULL, NULL stops it.
 */
void
kf_test_fixture(void (*setup)(void), void (*teardown)(void));

/* The default per-test timeout is 10 s (scaled by CK_TIMEOUT_MULTIPLIER). */
#define kf_test_add(test) kf_test_add_tcase(test, #test, 0, 0)
#define kf_test_add_timeout(test, seconds) kf_test_add_tcase(test, #test, seconds, 0)
/* Runs test for _i = 0 .. n-1. */
#define kf_test_add_loop(test, n) kf_test_add_tcase(test, #test, 0, n)

/* ---- helpers ---- */

/* True when running under valgrind (the valgrind test setup sets this). */
bool
kf_test_under_valgrind(void);

/* A new empty directory under $TMPDIR; the caller removes it. */
char *
kf_test_mkdtemp(void);

/* rm -rf */
void
kf_test_rmtree(const char *path);

/* Write a file (mode 0644), creating nothing else. */
void
kf_test_write_file(const char *path, const char *content);

/* Read a whole file; NULL when it does not exist. */
char *
kf_test_read_file(const char *path);

/* The directory of the test fixtures (tests/fixtures in the source tree). */
const char *
kf_test_fixtures_dir(void);

/*
 * Copy the fixture directory tests/fixtures/@name to @dest (created if
 * needed), replacing "@ROOT@" in every file with @dest.
 */
void
kf_test_copy_fixture(const char *name, const char *dest);

/*
 * A context whose config and cache dirs are inside @dir, whose dev dir is
 * @dir/dev, whose units dir is @dir/units, and whose events are recorded (see kf_test_events_*).
 * The environment's KFLASH_* variables are not consulted.
 */
struct kflash_context *
kf_test_context(const char *dir);

/* The recorded events of a context from kf_test_context(), one per line:
 * "<type> <level> <phase> <board or -> <message>". */
const char *
kf_test_events(struct kflash_context *ctx);

/* True when some recorded event's message contains @needle. */
bool
kf_test_events_contain(struct kflash_context *ctx, const char *needle);

/* Free the recorded events (and the context's handler data). */
struct kflash_context *
kf_test_context_unref(struct kflash_context *ctx);

/*
 * A child process that holds a kf_lock on @path (see lib/internal/fs.h)
 * until the returned *@release_fd is closed. Returns the child's pid, for
 * waitpid(), once the lock is held.
 */
pid_t
kf_test_hold_lock(const char *path, int mode, int *release_fd);

/*
 * A copy of tests/fake-klipper at @dir/klipper, made a git repository
 * tagged v0.12.0 (so git describe works), as kf_test_context() expects.
 */
void
kf_test_fake_klipper(const char *dir);

/* The number of open file descriptors of this process. */
int
kf_test_count_fds(void);

/* Fail unless @ctx's last error is @code and its message contains @needle. */
#define kf_assert_error(ctx, r, code, needle)                                                      \
	do {                                                                                       \
		int _r = (r);                                                                      \
		ck_assert_msg(_r == (code), "expected %s, got %s (%s)", kflash_error_name(code),   \
			      kflash_error_name(_r), kflash_context_last_error(ctx));              \
		ck_assert_msg(strstr(kflash_context_last_error(ctx), (needle)) != NULL,            \
			      "error message \"%s\" does not contain \"%s\"",                      \
			      kflash_context_last_error(ctx), (needle));                           \
	} while (0)
