/* SPDX-License-Identifier: MIT */
/*
 * What makes builds cheaper without changing what they build: ccache (a
 * fake one, tests/fakes/ccache), the cache of the Klipper and compiler
 * versions, and the job server builds share. Against the fake Klipper
 * tree, as test-build.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/build-private.h"
#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static char make_log[4200], ccache_log[4200];
static char *saved_path;
static struct kflash_context *ctx;

static void
prepend_path(const char *bin)
{
	char path[16384];

	snprintf(path, sizeof(path), "%s:%s", bin, getenv("PATH"));
	setenv("PATH", path, 1);
}

static void
setup(void)
{
	char bin[4300];

	saved_path = strdup(getenv("PATH"));
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	kf_test_fake_klipper(dir);
	snprintf(make_log, sizeof(make_log), "%s/make.log", dir);
	snprintf(ccache_log, sizeof(ccache_log), "%s/ccache.log", dir);
	setenv("KF_FAKE_KLIPPER_LOG", make_log, 1);
	setenv("KF_FAKE_CCACHE_LOG", ccache_log, 1);
	/* A compiler of our own, which a test may replace. */
	snprintf(bin, sizeof(bin), "mkdir -p '%s/bin' && cp '%s/arm-none-eabi-gcc' '%s/bin/'", dir,
		 getenv("KF_FAKES_BIN"), dir);
	ck_assert_int_eq(system(bin), 0);
	prepend_path(getenv("KF_FAKES_BIN"));
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	prepend_path(bin);
	unsetenv("KF_FAKE_KLIPPER_TAKE_SLOT");
	unsetenv("KF_FAKE_GCC_VERSION");
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
	setenv("PATH", saved_path, 1);
	free(saved_path);
}

static struct kflash_board *
board(const char *name, const char *mcu, const char *config)
{
	struct kflash_board *b;
	char *from;

	ck_assert_int_eq(kflash_board_new(ctx, name, &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, mcu), 0);
	ck_assert(asprintf(&from, "%s/klipper-configs/%s.config", kf_test_fixtures_dir(), config) >
		  0);
	ck_assert_msg(kflash_board_config_seed(ctx, b, from) == 0, "%s",
		      kflash_context_last_error(ctx));
	free(from);
	return b;
}

static enum kflash_build_result
build(struct kflash_context *c, struct kflash_board *b, unsigned int flags, char fp[65])
{
	struct kflash_build *out = NULL;
	enum kflash_build_result r;

	ck_assert_msg(kflash_build_board(c, b, flags, &out) == 0, "%s",
		      kflash_context_last_error(c));
	r = kflash_build_get_result(out);
	if (fp)
		snprintf(fp, 65, "%s", kflash_build_get_fingerprint(out));
	kflash_build_unref(out);
	return r;
}

/* The lines of @path that contain @needle. */
static int
count(const char *path, const char *needle)
{
	char *text = kf_test_read_file(path);
	int n = 0;

	for (char *p = text; p && *p;) {
		char *end = strchr(p, '\n');

		if (end)
			*end = '\0';
		if (strstr(p, needle))
			n++;
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

static void KF_PRINTF(1, 2) sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* ---- ccache ---- */

START_TEST(ccache_is_used_with_a_cache_per_board)
{
	struct kflash_board *octopus, *pico;
	char fake[4300], want[9000], fp_with[65], fp_without[65];

	setup();
	snprintf(fake, sizeof(fake), "%s/../ccache", getenv("KF_FAKES_BIN"));
	prepend_path(fake);
	/* The test environment turns ccache off (KFLASH_NO_CCACHE); on again. */
	ck_assert_int_eq(kflash_context_get_ccache_enabled(ctx), 0);
	ck_assert_int_eq(kflash_context_set_ccache_enabled(ctx, 1), 0);
	ck_assert_int_eq(kflash_context_get_ccache_enabled(ctx), 1);
	ck_assert_str_eq(kflash_context_get_ccache(ctx), "ccache");
	octopus = board("octopus", "stm32f446xx", "stm32f446_usb");
	pico = board("pico", "rp2040", "rp2040_usb");
	ck_assert_int_eq(build(ctx, octopus, 0, fp_with), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(build(ctx, pico, 0, NULL), KFLASH_BUILD_BUILT);

	/* make ran the compiler through ccache... */
	ck_assert_int_eq(count(make_log, "make build"), 2);
	ck_assert_int_eq(count(make_log, "/ccache arm-none-eabi-gcc"), 2);
	ck_assert_int_eq(count(ccache_log, "arm-none-eabi-gcc -c src/"), 8);
	/* ...each board with its own cache, and its own objects only. */
	snprintf(want, sizeof(want), "CCACHE_DIR=%s/cache/boards/octopus/ccache arm-none-eabi-gcc",
		 dir);
	ck_assert_int_eq(count(ccache_log, want), 4);
	ck_assert_int_eq(count(ccache_log, "/cache/build/octopus/src/"), 4);
	snprintf(want, sizeof(want), "CCACHE_DIR=%s/cache/boards/pico/ccache arm-none-eabi-gcc",
		 dir);
	ck_assert_int_eq(count(ccache_log, want), 4);
	ck_assert_int_eq(count(ccache_log, "/cache/build/pico/src/"), 4);
	snprintf(want, sizeof(want), "%s/cache/build/octopus/src/sched.o", dir);
	ck_assert_int_eq(access(want, F_OK), 0);

	/* ccache is not part of the fingerprint: turning it off changes nothing. */
	ck_assert_int_eq(kflash_context_set_ccache_enabled(ctx, 0), 0);
	ck_assert_int_eq(build(ctx, octopus, 0, fp_without), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_str_eq(fp_with, fp_without);
	ck_assert_int_eq(build(ctx, octopus, KFLASH_BUILD_CLEAN, fp_without), KFLASH_BUILD_BUILT);
	ck_assert_str_eq(fp_with, fp_without);
	ck_assert_int_eq(count(ccache_log, "arm-none-eabi-gcc -c src/"), 8);
	ck_assert_int_eq(count(make_log, "make build"), 3);
	ck_assert_int_eq(count(make_log, "CC="), 2);
	kflash_board_unref(octopus);
	kflash_board_unref(pico);
	teardown();
}
END_TEST

START_TEST(ccache_off_switch_and_program)
{
	struct kflash_context *c;
	struct kflash_board *b;
	char fake[4300], cwd[4096], want[8300];

	setup();
	snprintf(fake, sizeof(fake), "%s/../ccache", getenv("KF_FAKES_BIN"));
	prepend_path(fake);
	b = board("octopus", "stm32f446xx", "stm32f446_usb");

	/* The environment turns it off; the setter beats it. */
	setenv("KFLASH_NO_CCACHE", "1", 1);
	ck_assert_int_eq(kflash_context_new(&c), 0);
	ck_assert_int_eq(kflash_context_get_ccache_enabled(c), 0);
	kflash_context_unref(c);
	setenv("KFLASH_NO_CCACHE", "", 1);
	ck_assert_int_eq(kflash_context_new(&c), 0);
	ck_assert_int_eq(kflash_context_get_ccache_enabled(c), 1);
	kflash_context_unref(c);
	unsetenv("KFLASH_NO_CCACHE");
	ck_assert_int_eq(kflash_context_new(&c), 0);
	ck_assert_int_eq(kflash_context_get_ccache_enabled(c), 1);

	/* KFLASH_CCACHE names the program: a path is made absolute, a name is not. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	setenv("KFLASH_CCACHE", "tools/ccache", 1);
	kflash_context_unref(c);
	ck_assert_int_eq(kflash_context_new(&c), 0);
	snprintf(want, sizeof(want), "%s/tools/ccache", cwd);
	ck_assert_str_eq(kflash_context_get_ccache(c), want);
	unsetenv("KFLASH_CCACHE");
	kflash_context_unref(c);
	ck_assert_int_eq(kflash_context_new(&c), 0);
	ck_assert_int_eq(kflash_context_set_ccache(c, "my-ccache"), 0);
	ck_assert_str_eq(kflash_context_get_ccache(c), "my-ccache");
	ck_assert_int_eq(kflash_context_set_ccache(c, NULL), 0);
	ck_assert_str_eq(kflash_context_get_ccache(c), "ccache");
	ck_assert_int_eq(kflash_context_set_ccache(c, ""), KFLASH_ERR_INVALID);
	kflash_context_unref(c);
	ck_assert_int_eq(kflash_context_set_ccache_enabled(NULL, 1), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_context_get_ccache_enabled(NULL), 0);

	/* Off: make gets no CC, although ccache is on PATH. */
	ck_assert_int_eq(kflash_context_set_ccache_enabled(ctx, 0), 0);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(count(make_log, "make build"), 1);
	ck_assert_int_eq(count(make_log, "CC="), 0);
	ck_assert_int_eq(access(ccache_log, F_OK), -1);

	/* On, but the program is not there: the build runs without it. */
	ck_assert_int_eq(kflash_context_set_ccache_enabled(ctx, 1), 0);
	ck_assert_int_eq(kflash_context_set_ccache(ctx, "kf-no-such-ccache"), 0);
	ck_assert_int_eq(build(ctx, b, KFLASH_BUILD_CLEAN, NULL), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(count(make_log, "make build"), 2);
	ck_assert_int_eq(count(make_log, "CC="), 0);
	ck_assert(kf_test_events_contain(ctx, "no kf-no-such-ccache on PATH"));

	/* A path to it works as well as a name found on PATH. */
	snprintf(want, sizeof(want), "%s/ccache", fake);
	ck_assert_int_eq(kflash_context_set_ccache(ctx, want), 0);
	ck_assert_int_eq(build(ctx, b, KFLASH_BUILD_CLEAN, NULL), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(count(make_log, "/ccache arm-none-eabi-gcc"), 1);
	ck_assert_int_eq(count(ccache_log, "arm-none-eabi-gcc -c src/"), 4);
	kflash_board_unref(b);
	teardown();
}
END_TEST

/* ---- the cached versions ---- */

/*
 * Files written just now are "racy" (they could change again within one
 * timestamp), and the version is not cached while there are any: age the
 * tree, and let git refresh its index once.
 */
static void
age_tree(void)
{
	sh("cd '%s/klipper' && find . -path ./.git -prune -o -exec touch -h -d '-1 hour' {} + "
	   "&& git status --porcelain >/dev/null",
	   dir);
}

static void
commit(const char *what)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s/klipper' && git -c user.name=kflash -c user.email=kflash@test.invalid "
		 "commit -q --allow-empty -m '%s'",
		 dir, what);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
version_of(struct kflash_board *b)
{
	struct kflash_build *out = NULL;
	char *v;

	ck_assert_int_eq(kflash_build_board(ctx, b, 0, &out), 0);
	v = strdup(kflash_firmware_get_version(kflash_build_get_firmware(out)));
	kflash_build_unref(out);
	return v;
}

START_TEST(version_cache_follows_commits_tags_and_edits)
{
	struct kflash_board *b;
	char *v1, *v2, *v3;

	setup();
	age_tree();
	b = board("octopus", "stm32f446xx", "stm32f446_usb");
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	/* The second check may still find git's index being refreshed. */
	build(ctx, b, 0, NULL);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	ck_assert(kf_test_events_contain(ctx, "(cached: nothing in"));
	ck_assert(kf_test_events_contain(ctx, "(cached: the compiler did not change)"));
	ck_assert_int_eq(count(make_log, "make build"), 1);

	/* A commit: a new version, a clean build. */
	v1 = version_of(b);
	commit("one more");
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(count(make_log, "make clean"), 2);
	v2 = version_of(b);
	ck_assert_str_ne(v1, v2);
	ck_assert_ptr_nonnull(strstr(v2, "v0.12.0-1-g"));

	/* A tag (a loose ref of its own). */
	build(ctx, b, 0, NULL);
	sh("cd '%s/klipper' && git tag v0.13.0", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	v3 = version_of(b);
	ck_assert_ptr_nonnull(strstr(v3, "v0.13.0-0-g"));
	free(v1);
	free(v2);
	free(v3);

	/* An edit of a tracked file after a clean, cached answer: dirty, as git says. */
	build(ctx, b, 0, NULL);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	sh("echo '# an edit' >> '%s/klipper/README.md'", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	v1 = version_of(b);
	ck_assert_ptr_nonnull(strstr(v1, "-dirty"));
	/* Dirty stays dirty, as before: one version string, no rebuild. */
	sh("echo '# another edit' >> '%s/klipper/README.md'", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	/* Clean again: the version without -dirty, a rebuild. */
	sh("cd '%s/klipper' && git checkout -q README.md", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	v2 = version_of(b);
	ck_assert_ptr_null(strstr(v2, "-dirty"));
	free(v1);
	free(v2);

	/* A chmod of a tracked file is a change git sees, so it is asked again. */
	age_tree();
	build(ctx, b, 0, NULL);
	build(ctx, b, 0, NULL);
	sh("chmod +x '%s/klipper/README.md'", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	v1 = version_of(b);
	ck_assert_ptr_nonnull(strstr(v1, "-dirty"));
	free(v1);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(version_cache_notices_a_new_compiler)
{
	struct kflash_board *b;
	char gcc[4300], fp1[65], fp2[65];

	setup();
	age_tree();
	b = board("octopus", "stm32f446xx", "stm32f446_usb");
	ck_assert_int_eq(build(ctx, b, 0, fp1), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	ck_assert(kf_test_events_contain(ctx, "(cached: the compiler did not change)"));

	/* The same compiler telling another version is not asked again... */
	setenv("KF_FAKE_GCC_VERSION", "arm-none-eabi-gcc 13.2.1", 1);
	ck_assert_int_eq(build(ctx, b, 0, fp2), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_str_eq(fp1, fp2);
	/* ...but a compiler replaced is: a new version, a clean build. */
	snprintf(gcc, sizeof(gcc), "%s/bin/arm-none-eabi-gcc", dir);
	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", gcc, gcc, gcc, gcc);
	ck_assert_int_eq(build(ctx, b, 0, fp2), KFLASH_BUILD_BUILT);
	ck_assert_str_ne(fp1, fp2);
	ck_assert_int_eq(count(make_log, "make clean"), 2);
	unsetenv("KF_FAKE_GCC_VERSION");
	/* Also when it is rewritten in place. */
	sh("touch -d '-1 day' '%s'", gcc);
	ck_assert_int_eq(build(ctx, b, 0, fp1), KFLASH_BUILD_BUILT);
	ck_assert_str_ne(fp1, fp2);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(version_cache_damaged_files_are_ignored_and_rewritten)
{
	struct kflash_board *b;
	char versions[4300], fp1[65], fp2[65];
	int files = 0;

	setup();
	age_tree();
	b = board("octopus", "stm32f446xx", "stm32f446_usb");
	ck_assert_int_eq(build(ctx, b, 0, fp1), KFLASH_BUILD_BUILT);
	build(ctx, b, 0, NULL);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	snprintf(versions, sizeof(versions), "%s/cache/versions", dir);
	for (const char *kind = "klipper-"; kind;
	     kind = kf_streq(kind, "klipper-") ? "compiler-" : NULL) {
		char cmd[9000];

		snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q '^%s'", versions, kind);
		files += system(cmd) == 0;
	}
	ck_assert_int_eq(files, 2);

	/* A changed version, a truncated file, garbage: each is asked again. */
	sh("cd '%s/cache/versions' && for f in *; do sed -i 's/^version .*/version v9.9.9/' $f; "
	   "done",
	   dir);
	ck_assert_int_eq(build(ctx, b, 0, fp2), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_str_eq(fp1, fp2);
	ck_assert(kf_test_events_contain(ctx, "its checksum does not match"));
	sh("! grep -q 'v9.9.9' '%s/cache/versions/'*", dir);
	sh("cd '%s/cache/versions' && for f in *; do head -c 30 $f > t && mv t $f; done", dir);
	ck_assert_int_eq(build(ctx, b, 0, fp2), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_str_eq(fp1, fp2);
	sh("cd '%s/cache/versions' && for f in *; do head -c 3000 /dev/urandom > $f; done", dir);
	ck_assert_int_eq(build(ctx, b, 0, fp2), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_str_eq(fp1, fp2);
	/* Rewritten: the next check is answered from them again. */
	sh("grep -q '^crc32 ' '%s/cache/versions/'klipper-*", dir);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_int_eq(count(make_log, "make build"), 1);
	kflash_board_unref(b);
	teardown();
}
END_TEST

/* ---- the job server ---- */

static int
slots_free(struct kflash_jobserver *js)
{
	int n = -1;

	ck_assert_int_eq(ioctl(kf_jobserver_fds(js)[0], FIONREAD, &n), 0);
	return n;
}

START_TEST(jobserver_basics)
{
	struct kflash_jobserver *js = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	setup();
	kf_assert_error(ctx, kflash_jobserver_new(ctx, 5000, &js), KFLASH_ERR_INVALID,
			"more than 4096");
	ck_assert_ptr_null(js);
	ck_assert_int_eq(kflash_jobserver_new(ctx, 0, &js), 0);
	ck_assert_uint_eq(kflash_jobserver_get_slots(js), (unsigned int)(cpus > 0 ? cpus : 1));
	ck_assert_int_eq(slots_free(js), cpus > 0 ? cpus : 1);
	kflash_jobserver_unref(js);
	ck_assert_int_eq(kflash_jobserver_new(ctx, 3, &js), 0);
	ck_assert_uint_eq(kflash_jobserver_get_slots(js), 3);
	ck_assert_uint_eq(kflash_jobserver_get_slots(NULL), 0);
	ck_assert_ptr_null(kflash_context_get_jobserver(ctx));
	ck_assert_int_eq(kflash_context_set_jobserver(ctx, js), 0);
	ck_assert_ptr_eq(kflash_context_get_jobserver(ctx), js);
	ck_assert_int_eq(kflash_context_set_jobserver(NULL, js), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kf_jobserver_acquire(ctx, js), 0);
	ck_assert_int_eq(slots_free(js), 2);
	kf_jobserver_release(ctx, js);
	ck_assert_int_eq(slots_free(js), 3);
	/* The context keeps its reference; setting NULL drops it. */
	ck_assert_ptr_eq(kflash_jobserver_ref(js), js);
	kflash_jobserver_unref(js);
	kflash_jobserver_unref(js);
	ck_assert_uint_eq(kflash_jobserver_get_slots(kflash_context_get_jobserver(ctx)), 3);
	ck_assert_int_eq(kflash_context_set_jobserver(ctx, NULL), 0);
	ck_assert_ptr_null(kflash_context_get_jobserver(ctx));
	ck_assert_ptr_null(kflash_jobserver_ref(NULL));
	ck_assert_ptr_null(kflash_jobserver_unref(NULL));
	kf_assert_error(ctx, kflash_jobserver_new(ctx, 1, NULL), KFLASH_ERR_INVALID, "result");
	teardown();
}
END_TEST

START_TEST(jobserver_is_handed_to_make)
{
	struct kflash_jobserver *js;
	struct kflash_board *b;
	char taken[4300];
	struct kflash_build *r = NULL;

	setup();
	b = board("octopus", "stm32f446xx", "stm32f446_usb");
	ck_assert_int_eq(kflash_jobserver_new(ctx, 2, &js), 0);
	ck_assert_int_eq(kflash_context_set_jobserver(ctx, js), 0);
	ck_assert_int_eq(build(ctx, b, 0, NULL), KFLASH_BUILD_BUILT);
	/* make is the server's client: its pipe, and no -jN of its own. */
	ck_assert_int_eq(count(make_log, "make build"), 1);
	ck_assert_int_eq(count(make_log, " jobserver=ok"), 1);
	ck_assert_int_eq(count(make_log, "make-jobs="), 0);
	ck_assert_int_eq(slots_free(js), 2);

	/* A make killed with a slot taken: the slot comes back. */
	snprintf(taken, sizeof(taken), "%s/taken", dir);
	setenv("KF_FAKE_KLIPPER_TAKE_SLOT", taken, 1);
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_BUILD,
				   kf_test_under_valgrind() ? 5000 : 1000);
	kf_assert_error(ctx, kflash_build_board(ctx, b, KFLASH_BUILD_CLEAN, &r), KFLASH_ERR_TIMEOUT,
			"did not finish within");
	unsetenv("KF_FAKE_KLIPPER_TAKE_SLOT");
	ck_assert_int_eq(access(taken, F_OK), 0);
	ck_assert_int_eq(slots_free(js), 2);
	ck_assert(kf_test_events_contain(ctx, "restoring 1 job slots"));
	kflash_jobserver_unref(js);
	kflash_board_unref(b);
	teardown();
}
END_TEST

struct worker {
	struct kflash_context *ctx;
	struct kflash_board *board;
	int r;
	enum kflash_build_result result;
};

static void *
build_thread(void *data)
{
	struct worker *w = data;
	struct kflash_build *out = NULL;

	w->r = kflash_build_board(w->ctx, w->board, 0, &out);
	w->result = kflash_build_get_result(out);
	kflash_build_unref(out);
	return NULL;
}

static void *
cancel_soon(void *data)
{
	usleep(100 * 1000);
	kflash_context_cancel(data);
	return NULL;
}

START_TEST(jobserver_shared_by_builds_in_threads)
{
	struct kflash_jobserver *js;
	struct worker w[3] = { { 0 } };
	pthread_t t[3];
	static const char *const names[] = { "octopus", "pico", "ebb" };
	static const char *const mcus[] = { "stm32f446xx", "rp2040", "stm32f446xx" };
	static const char *const configs[] = { "stm32f446_usb", "rp2040_usb",
					       "stm32f446_can_katapult" };

	setup();
	/* One slot for three builds: each waits for its turn. */
	ck_assert_int_eq(kflash_jobserver_new(ctx, 1, &js), 0);
	for (int i = 0; i < 3; i++) {
		w[i].board = board(names[i], mcus[i], configs[i]);
		w[i].ctx = kf_test_context(dir);
		ck_assert_int_eq(kflash_context_set_jobserver(w[i].ctx, js), 0);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, build_thread, &w[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(w[i].r == 0, "%s: %s", names[i], kflash_context_last_error(w[i].ctx));
		ck_assert_int_eq(w[i].result, KFLASH_BUILD_BUILT);
	}
	ck_assert_int_eq(count(make_log, " jobserver=ok"), 3);
	ck_assert_int_eq(slots_free(js), 1);

	/* A build waiting for a slot can be cancelled. */
	ck_assert_int_eq(kf_jobserver_acquire(ctx, js), 0);
	ck_assert_int_eq(pthread_create(&t[0], NULL, cancel_soon, w[0].ctx), 0);
	{
		struct kflash_build *out = NULL;

		kf_assert_error(w[0].ctx,
				kflash_build_board(w[0].ctx, w[0].board, KFLASH_BUILD_CLEAN, &out),
				KFLASH_ERR_CANCELLED, "cancelled");
	}
	pthread_join(t[0], NULL);
	kf_jobserver_release(ctx, js);
	ck_assert_int_eq(slots_free(js), 1);
	for (int i = 0; i < 3; i++) {
		kflash_board_unref(w[i].board);
		kf_test_context_unref(w[i].ctx);
	}
	kflash_jobserver_unref(js);
	teardown();
}
END_TEST

KF_TEST_SUITE(build_speed)
{
	kf_test_add_timeout(ccache_is_used_with_a_cache_per_board, 60);
	kf_test_add_timeout(ccache_off_switch_and_program, 60);
	kf_test_add_timeout(version_cache_follows_commits_tags_and_edits, 120);
	kf_test_add_timeout(version_cache_notices_a_new_compiler, 60);
	kf_test_add_timeout(version_cache_damaged_files_are_ignored_and_rewritten, 60);
	kf_test_add_timeout(jobserver_basics, 30);
	kf_test_add_timeout(jobserver_is_handed_to_make, 60);
	kf_test_add_timeout(jobserver_shared_by_builds_in_threads, 60);
}
