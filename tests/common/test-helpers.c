/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/fs.h"
#include "kf-test.h"

bool
kf_test_under_valgrind(void)
{
	return getenv("RUNNING_ON_VALGRIND") != NULL;
}

char *
kf_test_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path;

	ck_assert(asprintf(&path, "%s/kflash-test.XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
	ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp: %s", strerror(errno));
	return path;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void
kf_test_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
kf_test_write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	fputs(content, f);
	ck_assert(fclose(f) == 0);
}

char *
kf_test_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = (len + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			ck_assert(buf != NULL);
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

const char *
kf_test_fixtures_dir(void)
{
	const char *d = getenv("KF_TEST_FIXTURES");

	ck_assert_msg(d != NULL, "KF_TEST_FIXTURES is not set (run the tests with meson test)");
	return d;
}

/* @text with every "@ROOT@" replaced by @root; free it. */
static char *
replace_root(const char *text, const char *root)
{
	size_t n = 0, len = strlen(root);
	char *out, *o;

	for (const char *p = strstr(text, "@ROOT@"); p; p = strstr(p + 6, "@ROOT@"))
		n++;
	out = malloc(strlen(text) + n * len + 1);
	ck_assert(out != NULL);
	for (o = out; *text;) {
		if (strncmp(text, "@ROOT@", 6) == 0) {
			memcpy(o, root, len);
			o += len;
			text += 6;
		} else {
			*o++ = *text++;
		}
	}
	*o = '\0';
	return out;
}

static void
copy_tree(const char *from, const char *to, const char *root)
{
	DIR *d = opendir(from);
	struct dirent *de;

	ck_assert_msg(d != NULL, "cannot read %s: %s", from, strerror(errno));
	ck_assert_msg(mkdir(to, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", to, strerror(errno));
	while ((de = readdir(d))) {
		char src[4096], dst[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		ck_assert_int_eq(lstat(src, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(src, dst, root);
		} else {
			char *text = kf_test_read_file(src), *done;

			ck_assert_ptr_nonnull(text);
			done = replace_root(text, root);
			kf_test_write_file(dst, done);
			free(done);
			free(text);
		}
	}
	closedir(d);
}

void
kf_test_copy_fixture(const char *name, const char *dest)
{
	char from[4096];

	snprintf(from, sizeof(from), "%s/%s", kf_test_fixtures_dir(), name);
	copy_tree(from, dest, dest);
}

/* ---- event recording ---- */

struct recorder {
	struct kflash_context *ctx;
	char *text;
	size_t len;
};

#define MAX_RECORDERS 16
static struct recorder *recorders[MAX_RECORDERS];

static const char *const type_names[] = { "?", "log", "phase", "progress", "output" };

static void
record_event(struct kflash_context *ctx, const struct kflash_event *ev, void *data)
{
	struct recorder *rec = data;
	enum kflash_event_type type = kflash_event_get_type(ev);
	const char *board = kflash_event_get_board(ev);
	char *line;
	int n;

	n = asprintf(&line, "%s %d %s %s %s [%llu/%llu]\n",
		     type_names[type <= KFLASH_EVENT_OUTPUT ? type : 0], kflash_event_get_level(ev),
		     *kflash_phase_name(kflash_event_get_phase(ev))
			     ? kflash_phase_name(kflash_event_get_phase(ev))
			     : "-",
		     board ? board : "-", kflash_event_get_message(ev),
		     (unsigned long long)kflash_event_get_progress_done(ev),
		     (unsigned long long)kflash_event_get_progress_total(ev));
	ck_assert(n > 0);
	rec->text = realloc(rec->text, rec->len + (size_t)n + 1);
	ck_assert(rec->text != NULL);
	memcpy(rec->text + rec->len, line, (size_t)n + 1);
	rec->len += (size_t)n;
	free(line);
}

static struct recorder *
find_recorder(struct kflash_context *ctx)
{
	for (int i = 0; i < MAX_RECORDERS; i++)
		if (recorders[i] && recorders[i]->ctx == ctx)
			return recorders[i];
	return NULL;
}

struct kflash_context *
kf_test_context(const char *dir)
{
	struct kflash_context *ctx;
	struct recorder *rec;
	char path[4096];
	int slot = -1;

	ck_assert_int_eq(kflash_context_new(&ctx), 0);

	snprintf(path, sizeof(path), "%s/config", dir);
	ck_assert_int_eq(kflash_context_set_config_dir(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/config/devices.json", dir);
	ck_assert_int_eq(kflash_context_set_registry(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/cache", dir);
	ck_assert_int_eq(kflash_context_set_cache_dir(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/dev", dir);
	ck_assert_int_eq(kflash_context_set_dev_dir(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/sys", dir);
	ck_assert_int_eq(kflash_context_set_sys_dir(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/klipper", dir);
	ck_assert_int_eq(kflash_context_set_klipper_dir(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/klippy.sock", dir);
	ck_assert_int_eq(kflash_context_set_klippy_socket(ctx, path), 0);
	snprintf(path, sizeof(path), "%s/moonraker.sock", dir);
	ck_assert_int_eq(kflash_context_set_moonraker_socket(ctx, path), 0);
	ck_assert_int_eq(kflash_context_set_service(ctx, "klipper"), 0);
	snprintf(path, sizeof(path), "%s/units", dir);
	ck_assert_int_eq(kflash_context_set_units_dir(ctx, path), 0);

	rec = calloc(1, sizeof(*rec));
	ck_assert(rec != NULL);
	rec->ctx = ctx;
	rec->text = strdup("");
	for (int i = 0; i < MAX_RECORDERS; i++) {
		if (!recorders[i]) {
			slot = i;
			break;
		}
	}
	ck_assert_msg(slot >= 0, "too many test contexts at once");
	recorders[slot] = rec;
	kflash_context_set_event_handler(ctx, record_event, rec);
	kflash_context_set_event_level(ctx, KFLASH_LEVEL_DEBUG);
	return ctx;
}

const char *
kf_test_events(struct kflash_context *ctx)
{
	struct recorder *rec = find_recorder(ctx);

	return rec ? rec->text : "";
}

bool
kf_test_events_contain(struct kflash_context *ctx, const char *needle)
{
	return strstr(kf_test_events(ctx), needle) != NULL;
}

struct kflash_context *
kf_test_context_unref(struct kflash_context *ctx)
{
	kflash_context_set_event_handler(ctx, NULL, NULL);
	for (int i = 0; i < MAX_RECORDERS; i++) {
		if (recorders[i] && recorders[i]->ctx == ctx) {
			free(recorders[i]->text);
			free(recorders[i]);
			recorders[i] = NULL;
		}
	}
	return kflash_context_unref(ctx);
}

int
kf_test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert(d != NULL);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream itself */
}

pid_t
kf_test_hold_lock(const char *path, int mode, int *release_fd)
{
	int ready[2], release[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(release), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kflash_context *c2;
		struct kf_lock *lock;

		close(ready[0]);
		close(release[1]);
		if (kflash_context_new(&c2) < 0 ||
		    kf_lock_acquire(c2, path, (enum kf_lock_mode)mode, 1000, &lock) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(release[0], &c, 1) > 0) {
		}
		kf_lock_release(lock);
		kflash_context_unref(c2);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release_fd = release[1];
	return pid;
}

void
kf_test_fake_klipper(const char *dir)
{
	char cmd[16384];

	snprintf(cmd, sizeof(cmd),
		 "cp -r '%s' '%s/klipper' && cd '%s/klipper' && git init -q && "
		 "git -c user.name=kflash -c user.email=kflash@test.invalid add -A && "
		 "git -c user.name=kflash -c user.email=kflash@test.invalid commit -q -m fake && "
		 "git tag v0.12.0",
		 getenv("KF_FAKE_KLIPPER_SRC"), dir, dir);
	ck_assert_msg(system(cmd) == 0, "cannot set up the fake Klipper tree");
}
