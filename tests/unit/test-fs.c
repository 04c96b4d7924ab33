/* SPDX-License-Identifier: MIT */
/* Files: private directories, bounded reads, atomic replace, locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/fs.h"
#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static struct kflash_context *ctx;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static char *
path_in(const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static int
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert(d != NULL);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

START_TEST(fs_mkdir_p_creates_private_dirs)
{
	char *deep, *a, *file, *under_file;
	mode_t old = umask(0);

	setup();
	deep = path_in("a/b/c");
	a = path_in("a");
	file = path_in("file");
	under_file = path_in("file/x");

	ck_assert_int_eq(kf_fs_mkdir_p(ctx, deep, 0700), 0);
	ck_assert_uint_eq(mode_of(deep), 0700);
	ck_assert_uint_eq(mode_of(a), 0700);
	/* Existing directories are fine and keep their mode. */
	chmod(a, 0755);
	ck_assert_int_eq(kf_fs_mkdir_p(ctx, deep, 0700), 0);
	ck_assert_uint_eq(mode_of(a), 0755);

	kf_test_write_file(file, "x");
	kf_assert_error(ctx, kf_fs_mkdir_p(ctx, file, 0700), KFLASH_ERR_INVALID,
			"exists but is not a directory");
	kf_assert_error(ctx, kf_fs_mkdir_p(ctx, under_file, 0700), KFLASH_ERR_INVALID,
			"file exists but is not a directory");
	umask(old);
	free(deep);
	free(a);
	free(file);
	free(under_file);
	teardown();
}
END_TEST

START_TEST(fs_read_file)
{
	char *p, *link, *missing, *buf = NULL;
	size_t len = 0;

	setup();
	p = path_in("data");
	link = path_in("link");
	missing = path_in("missing");
	kf_test_write_file(p, "hello\n");

	ck_assert_int_eq(kf_fs_read_file(ctx, p, 100, 0, &buf, &len), 0);
	ck_assert_str_eq(buf, "hello\n");
	ck_assert_uint_eq(len, 6);
	free(buf);

	kf_assert_error(ctx, kf_fs_read_file(ctx, p, 5, 0, &buf, NULL), KFLASH_ERR_CORRUPT,
			"is 6 bytes, more than the 5 bytes");
	ck_assert_ptr_null(buf);
	kf_assert_error(ctx, kf_fs_read_file(ctx, missing, 100, 0, &buf, NULL),
			KFLASH_ERR_NOT_FOUND, missing);

	ck_assert_int_eq(symlink(p, link), 0);
	ck_assert_int_eq(kf_fs_read_file(ctx, link, 100, 0, &buf, NULL), 0);
	free(buf);
	kf_assert_error(ctx, kf_fs_read_file(ctx, link, 100, KF_FS_NOFOLLOW, &buf, NULL),
			KFLASH_ERR_INVALID, "is a symbolic link");
	kf_assert_error(ctx, kf_fs_read_file(ctx, dir, 100, 0, &buf, NULL), KFLASH_ERR_INVALID,
			"is not a regular file");

	free(p);
	free(link);
	free(missing);
	teardown();
}
END_TEST

START_TEST(fs_write_atomic_replaces_and_keeps_a_backup)
{
	char *p, *bak, *content, *missing_dir;

	setup();
	p = path_in("devices.json");
	bak = path_in("devices.json.bak");
	missing_dir = path_in("nope/devices.json");

	ck_assert_int_eq(kf_fs_write_atomic(ctx, p, "one", 3, 0600, KF_FS_KEEP_BACKUP), 0);
	ck_assert_uint_eq(mode_of(p), 0600);
	/* Nothing to back up the first time. */
	ck_assert_int_eq(kf_fs_exists(bak), 0);

	ck_assert_int_eq(kf_fs_write_atomic(ctx, p, "two", 3, 0600, KF_FS_KEEP_BACKUP), 0);
	content = kf_test_read_file(p);
	ck_assert_str_eq(content, "two");
	free(content);
	content = kf_test_read_file(bak);
	ck_assert_str_eq(content, "one");
	free(content);

	ck_assert_int_eq(kf_fs_write_atomic(ctx, p, "three", 5, 0644, 0), 0);
	ck_assert_uint_eq(mode_of(p), 0644);
	content = kf_test_read_file(bak);
	ck_assert_str_eq(content, "one");
	free(content);

	/* No temporary files are left behind. */
	ck_assert_int_eq(count_entries(dir), 2);

	kf_assert_error(ctx, kf_fs_write_atomic(ctx, missing_dir, "x", 1, 0600, 0),
			KFLASH_ERR_NOT_FOUND, "beside");
	free(p);
	free(bak);
	free(missing_dir);
	teardown();
}
END_TEST

#define WRITE_SIZE (256 * 1024)

static void
writer_loop(const char *path)
{
	char *a = malloc(WRITE_SIZE), *b = malloc(WRITE_SIZE);
	struct kflash_context *c;

	memset(a, 'a', WRITE_SIZE);
	memset(b, 'b', WRITE_SIZE / 2);
	if (kflash_context_new(&c) < 0)
		_exit(2);
	for (unsigned i = 0;; i++)
		if (kf_fs_write_atomic(c, path, i % 2 ? a : b, i % 2 ? WRITE_SIZE : WRITE_SIZE / 2,
				       0600, KF_FS_KEEP_BACKUP) < 0)
			_exit(1);
}

/* The file is all 'a' (full size) or all 'b' (half size), nothing else. */
static void
assert_whole(const char *path)
{
	char *content = kf_test_read_file(path);
	size_t len;

	ck_assert_msg(content != NULL, "%s vanished", path);
	len = strlen(content);
	ck_assert_msg(len == WRITE_SIZE || len == WRITE_SIZE / 2, "torn file: %zu bytes", len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(content[i] == (len == WRITE_SIZE ? 'a' : 'b'), "torn at %zu", i);
	free(content);
}

START_TEST(fs_kill_during_write_loop_never_tears_the_file)
{
	char *p;

	setup();
	p = path_in("devices.json");
	ck_assert_int_eq(kf_fs_write_atomic(ctx, p, "", 0, 0600, 0), 0);

	for (int round = 0; round < 15; round++) {
		pid_t pid = fork();
		int status;

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			writer_loop(p);
		usleep(20000 + (useconds_t)(rand() % 30000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "the writer failed on its own");
		assert_whole(p);
	}
	free(p);
	teardown();
}
END_TEST

START_TEST(fs_create_new)
{
	char *p, *link;
	int fd;
	mode_t old = umask(0077);

	setup();
	p = path_in("new");
	link = path_in("link");
	fd = kf_fs_create_new(ctx, p, 0640);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_uint_eq(mode_of(p), 0640);
	kf_assert_error(ctx, kf_fs_create_new(ctx, p, 0600), KFLASH_ERR_EXISTS, "already exists");

	/* A dangling link is never followed to create its target. */
	ck_assert_int_eq(symlink("/tmp/kflash-should-not-exist", link), 0);
	kf_assert_error(ctx, kf_fs_create_new(ctx, link, 0600), KFLASH_ERR_EXISTS, link);
	ck_assert_int_eq(access("/tmp/kflash-should-not-exist", F_OK), -1);
	umask(old);
	free(p);
	free(link);
	teardown();
}
END_TEST

static void
let_go(pid_t pid, int release_fd)
{
	int status;

	close(release_fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(fs_lock_contention_between_processes)
{
	struct kf_lock *lock = NULL, *lock2 = NULL;
	char *p, expect[64];
	int release;
	pid_t pid;
	uint64_t start;

	setup();
	p = path_in("kflash.lock");

	/* Exclusive against exclusive: wait, then fail naming file and holder. */
	pid = kf_test_hold_lock(p, KF_LOCK_EXCLUSIVE, &release);
	start = kf_now_ms();
	kf_assert_error(ctx, kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 200, &lock),
			KFLASH_ERR_LOCKED, p);
	ck_assert_uint_ge(kf_now_ms() - start, 190);
	snprintf(expect, sizeof(expect), "is held by process %d (", (int)pid);
	ck_assert_msg(strstr(kflash_context_last_error(ctx), expect), "%s",
		      kflash_context_last_error(ctx));
	/* What it waits for is said at once, and once. */
	ck_assert(kf_test_events_contain(ctx, "waiting up to 0.2 s for"));
	kf_assert_error(ctx, kf_lock_acquire(ctx, p, KF_LOCK_SHARED, 100, &lock), KFLASH_ERR_LOCKED,
			expect);
	ck_assert_ptr_null(lock);
	let_go(pid, release);

	/* Shared with shared is fine; exclusive must wait for both. */
	pid = kf_test_hold_lock(p, KF_LOCK_SHARED, &release);
	ck_assert_int_eq(kf_lock_acquire(ctx, p, KF_LOCK_SHARED, 200, &lock), 0);
	kf_assert_error(ctx, kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 100, &lock2),
			KFLASH_ERR_LOCKED, p);
	kf_lock_release(lock);
	let_go(pid, release);

	/* Once free, the lock is ours, and it is mode 0600. */
	ck_assert_int_eq(kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 200, &lock), 0);
	ck_assert_uint_eq(mode_of(p), 0600);
	kf_lock_release(lock);
	kf_lock_release(NULL);
	free(p);
	teardown();
}
END_TEST

START_TEST(fs_lock_waits_for_a_release)
{
	struct kf_lock *lock = NULL;
	char *p;
	int release;
	pid_t pid, closer;

	setup();
	p = path_in("kflash.lock");
	pid = kf_test_hold_lock(p, KF_LOCK_EXCLUSIVE, &release);

	/* Let the holder go after 150 ms, from another process. */
	closer = fork();
	ck_assert_int_ge(closer, 0);
	if (closer == 0) {
		usleep(150000);
		_exit(0);
	}
	close(release);
	ck_assert_int_eq(kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 5000, &lock), 0);
	kf_lock_release(lock);
	waitpid(pid, NULL, 0);
	waitpid(closer, NULL, 0);
	free(p);
	teardown();
}
END_TEST

START_TEST(fs_lock_wait_can_be_cancelled)
{
	struct kf_lock *lock = NULL;
	char *p;
	int release;
	pid_t pid;

	setup();
	p = path_in("kflash.lock");
	pid = kf_test_hold_lock(p, KF_LOCK_EXCLUSIVE, &release);
	kflash_context_cancel(ctx);
	kf_assert_error(ctx, kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 10000, &lock),
			KFLASH_ERR_CANCELLED, "cancelled");
	let_go(pid, release);
	free(p);
	teardown();
}
END_TEST

START_TEST(fs_lock_file_errors)
{
	struct kf_lock *lock = NULL;
	char *p;

	setup();
	p = path_in("missing-dir/kflash.lock");
	kf_assert_error(ctx, kf_lock_acquire(ctx, p, KF_LOCK_EXCLUSIVE, 10, &lock),
			KFLASH_ERR_NOT_FOUND, "cannot open the lock file");
	free(p);
	teardown();
}
END_TEST

START_TEST(fs_remove_tree_never_follows_links)
{
	char *tree, *outside, *cmd, *kept;

	setup();
	tree = path_in("tree");
	outside = path_in("outside");
	ck_assert(asprintf(&cmd,
			   "mkdir -p '%s/a/b' '%s' && echo x > '%s/a/b/f' && "
			   "echo keep > '%s/kept' && ln -s '%s' '%s/a/link'",
			   tree, outside, tree, outside, outside, tree) > 0);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(kf_fs_remove_tree(ctx, tree), 0);
	ck_assert_int_eq(kf_fs_exists(tree), 0);
	ck_assert(asprintf(&kept, "%s/kept", outside) > 0);
	ck_assert_int_eq(kf_fs_exists(kept), 1);
	/* Missing is fine. */
	ck_assert_int_eq(kf_fs_remove_tree(ctx, tree), 0);
	free(tree);
	free(outside);
	free(cmd);
	free(kept);
	teardown();
}
END_TEST

KF_TEST_SUITE(fs)
{
	kf_test_add(fs_mkdir_p_creates_private_dirs);
	kf_test_add(fs_read_file);
	kf_test_add(fs_write_atomic_replaces_and_keeps_a_backup);
	kf_test_add_timeout(fs_kill_during_write_loop_never_tears_the_file, 60);
	kf_test_add(fs_create_new);
	kf_test_add(fs_lock_contention_between_processes);
	kf_test_add(fs_lock_waits_for_a_release);
	kf_test_add(fs_lock_wait_can_be_cancelled);
	kf_test_add(fs_lock_file_errors);
	kf_test_add(fs_remove_tree_never_follows_links);
}
