/* SPDX-License-Identifier: MIT */
/*
 * The fingerprint's two slow questions, answered from a cache when nothing
 * the answer depends on has changed: the Klipper version (git describe
 * --dirty) and the compiler's first line of --version.
 *
 * Each answer is one file in <cache dir>/versions/: a key (text that
 * describes everything the answer depends on, as it was when the answer
 * was given), the answer, and a CRC-32 of both (against damage, and cheap
 * enough for the 200 KiB of a Klipper tree's file list). The file is used only when
 * its checksum holds and its key is exactly the key computed now; anything
 * else (a change, a damaged or foreign file) asks again and rewrites it.
 *
 * For git the key holds HEAD, the ref it names, packed-refs, every
 * directory under refs/tags, the index, objects/pack (which decides the
 * length of the abbreviated hash) and the git configs that could change the
 * output. A clean answer also records every tracked file's lstat (mode,
 * inode, size, modification and change times): a tracked file edited,
 * replaced, removed or chmod'ed makes git ask again, so that a tree that
 * became dirty is told as git tells it. A dirty answer is never cached, a
 * tree with submodules or a .git that is not a directory is never cached,
 * and neither is an answer while a tracked file was modified less than two
 * seconds ago (it could change again within one timestamp).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build-private.h"
#include "internal/fs.h"
#include "internal/process.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"
#include "util/sha256.h"

#include <zlib.h>

#define CACHE_MAGIC "kflash-version-cache 1\n"
#define CACHE_MAX (16 * 1024 * 1024)
/* A file this young may change again without its timestamps changing. */
#define RACY_SECONDS 2

/* ---- the cache files ---- */

static char *
cache_file(struct kflash_context *ctx, const char *kind, const char *subject)
{
	struct kf_sha256 sha;
	char hex[65];

	kf_sha256_init(&sha);
	kf_sha256_update(&sha, subject, strlen(subject));
	kf_sha256_hex(&sha, hex);
	return kf_strdup_printf("%s/versions/%s-%.16s", kflash_context_get_cache_dir(ctx), kind,
				hex);
}

/*
 * The answer part of the cache file @path when its checksum holds and it
 * starts with @key; NULL otherwise. The result is freed with free().
 */
static char *
cache_read(struct kflash_context *ctx, const char *path, const char *key)
{
	_cleanup_free_ char *text = NULL;
	char hex[16], *sum;
	size_t len, klen = strlen(key);

	if (kf_fs_exists(path) != 1 || kf_fs_read_file(ctx, path, CACHE_MAX, 0, &text, &len) < 0)
		return NULL;
	/* The last line: "crc32 " and 8 hex digits. */
	sum = len > 15 ? text + len - 15 : NULL;
	if (!sum || strncmp(sum, "crc32 ", 6) != 0 || text[len - 1] != '\n' ||
	    strlen(text) != len) {
		kf_debug(ctx, "ignoring %s: it is damaged", path);
		return NULL;
	}
	snprintf(hex, sizeof(hex), "%08lx",
		 crc32(0, (const unsigned char *)text, (unsigned int)(sum - text)));
	if (strncmp(sum + 6, hex, 8) != 0) {
		kf_debug(ctx, "ignoring %s: its checksum does not match", path);
		return NULL;
	}
	if ((size_t)(sum - text) < klen || memcmp(text, key, klen) != 0) {
		kf_debug(ctx, "%s is out of date", path);
		return NULL;
	}
	*sum = '\0';
	return kf_strdup(text + klen);
}

/* Best effort: a cache that cannot be written only costs time. */
static void
cache_write(struct kflash_context *ctx, const char *path, const char *key, const char *value)
{
	_cleanup_free_ char *dir = kf_strdup(path), *text = kf_strdup_printf("%s%s", key, value);
	_cleanup_free_ char *whole = NULL;

	if (!dir || !text)
		return;
	*strrchr(dir, '/') = '\0';
	whole = kf_strdup_printf("%scrc32 %08lx\n", text,
				 crc32(0, (const unsigned char *)text, (unsigned int)strlen(text)));
	if (!whole || kf_fs_mkdir_p(ctx, dir, 0700) < 0 ||
	    kf_fs_write_atomic(ctx, path, whole, strlen(whole), 0600, 0) < 0)
		kf_debug(ctx, "cannot keep %s: %s", path, kflash_context_last_error(ctx));
}

/* ---- keys ---- */

/* One line describing the file @name (relative to @dirfd) or its absence. */
static void
key_stat(FILE *f, int dirfd, const char *name, int flags)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, flags) < 0) {
		fprintf(f, "stat %s -\n", name);
		return;
	}
	fprintf(f, "stat %s %lu %lu %o %lld %lld.%09ld %lld.%09ld\n", name,
		(unsigned long)st.st_dev, (unsigned long)st.st_ino, (unsigned int)st.st_mode,
		(long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		(long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

/* The first line of a small file, or "-". */
static void
key_content(FILE *f, int dirfd, const char *name)
{
	char buf[256];
	ssize_t n = -1;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fprintf(f, "file %s %s\n", name, n > 0 ? buf : "-");
}

/* Every directory under @name (a loose tag is added by a rename in one). */
static void
key_tree(FILE *f, int dirfd, const char *name, int depth)
{
	DIR *d;
	struct dirent *e;
	int fd;

	key_stat(f, dirfd, name, AT_SYMLINK_NOFOLLOW);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || depth > 8 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		_cleanup_free_ char *sub = NULL;

		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = kf_strdup_printf("%s/%s", name, e->d_name);
		if (sub)
			key_tree(f, dirfd, sub, depth + 1);
	}
	closedir(d);
}

static void
key_home_configs(FILE *f)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	_cleanup_free_ char *a = home ? kf_strdup_printf("%s/.gitconfig", home) : NULL;
	_cleanup_free_ char *b = xdg    ? kf_strdup_printf("%s/git/config", xdg)
				 : home ? kf_strdup_printf("%s/.config/git/config", home)
					: NULL;

	key_stat(f, AT_FDCWD, "/etc/gitconfig", 0);
	if (a)
		key_stat(f, AT_FDCWD, a, 0);
	if (b)
		key_stat(f, AT_FDCWD, b, 0);
}

/*
 * The key of the Klipper version in @dir, or NULL when it cannot be cached
 * (no .git directory at its top) or memory runs out.
 */
static char *
git_key(const char *dir)
{
	_cleanup_close_ int gitfd = -1;
	char *text = NULL, head[256] = "";
	size_t len = 0;
	ssize_t n;
	FILE *f;
	int fd;

	{
		_cleanup_free_ char *git = kf_strdup_printf("%s/.git", dir);

		if (!git)
			return NULL;
		gitfd = open(git, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (gitfd < 0)
		return NULL;
	fd = openat(gitfd, "HEAD", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	head[n] = '\0';
	head[strcspn(head, "\n")] = '\0';

	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	fputs(CACHE_MAGIC, f);
	fprintf(f, "klipper %s\nHEAD %s\n", dir, head);
	/* The branch HEAD names, when it is a loose ref (else packed-refs). */
	if (kf_startswith(head, "ref: refs/") && !strstr(head, ".."))
		key_content(f, gitfd, head + 5);
	key_stat(f, gitfd, "packed-refs", AT_SYMLINK_NOFOLLOW);
	key_tree(f, gitfd, "refs/tags", 0);
	key_stat(f, gitfd, "index", AT_SYMLINK_NOFOLLOW);
	key_stat(f, gitfd, "objects/pack", AT_SYMLINK_NOFOLLOW);
	key_stat(f, gitfd, "objects/info/alternates", AT_SYMLINK_NOFOLLOW);
	key_stat(f, gitfd, "commondir", AT_SYMLINK_NOFOLLOW);
	key_stat(f, gitfd, "config", AT_SYMLINK_NOFOLLOW);
	key_home_configs(f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- the tracked files of a clean tree ---- */

#define SNAPSHOT_LINE "%o %lu %lld %lld.%09ld %lld.%09ld %s\n"
#define SNAPSHOT_ARGS(st, path)                                                                    \
	(unsigned int)(st)->st_mode, (unsigned long)(st)->st_ino, (long long)(st)->st_size,        \
		(long long)(st)->st_mtim.tv_sec, (st)->st_mtim.tv_nsec,                            \
		(long long)(st)->st_ctim.tv_sec, (st)->st_ctim.tv_nsec, (path)

/*
 * "files N\n" and one line per tracked file of @dir, from `git ls-files -s
 * -z`; NULL when the tree cannot be recorded (a submodule, a name with a
 * newline, a file too young, git failing) or memory runs out.
 */
static char *
snapshot_take(struct kflash_context *ctx, const char *dir)
{
	_cleanup_free_ char *safe = kf_strdup_printf("safe.directory=%s", dir);
	const char *argv[] = { "git", "-c", safe, "-C", dir, "ls-files", "-s", "-z", NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
	};
	struct kf_process_result res;
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *body = NULL, *text = NULL, *p, *end;
	size_t len = 0, count = 0;
	struct timespec now;
	bool ok = true;
	FILE *f;

	if (!safe || dirfd < 0)
		return NULL;
	if (kf_process_run(ctx, &o, &res) < 0 || res.exit_code != 0 || !res.out) {
		kf_process_result_clear(&res);
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	f = open_memstream(&body, &len);
	if (!f) {
		kf_process_result_clear(&res);
		return NULL;
	}
	/* Each entry: "<mode> <object> <stage>\t<path>\0". The output ends with a NUL. */
	for (p = res.out; ok && *p; p = end + 1) {
		char *path = strchr(p, '\t');
		struct stat st;

		end = p + strlen(p);
		if (!path || strncmp(p, "160000 ", 7) == 0 || strchr(path, '\n')) {
			ok = false;
			break;
		}
		path++;
		/*
		 * Only the modification time can be racy: a write sets it (and
		 * the change time) to now, so a recorded one from before this
		 * tick always differs, and a chmod changes the mode.
		 */
		if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtim.tv_sec + RACY_SECONDS >= now.tv_sec) {
			ok = false;
			break;
		}
		fprintf(f, SNAPSHOT_LINE, SNAPSHOT_ARGS(&st, path));
		count++;
	}
	kf_process_result_clear(&res);
	if (fclose(f) != 0 || !ok || !body) {
		free(body);
		return NULL;
	}
	text = kf_strdup_printf("files %zu\n%s", count, body);
	free(body);
	return text;
}

/* True when every file of the snapshot @p (after "files N\n") is as recorded. */
static bool
snapshot_holds(const char *dir, const char *p)
{
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned long long count;
	char *end;

	if (dirfd < 0 || !kf_startswith(p, "files "))
		return false;
	count = strtoull(p + 6, &end, 10);
	if (*end != '\n')
		return false;
	p = end + 1;
	for (unsigned long long i = 0; i < count; i++) {
		char line[64 + 4096], now[sizeof(line)];
		const char *nl = strchr(p, '\n'), *path;
		struct stat st;
		size_t n;

		if (!nl || (size_t)(nl - p) >= sizeof(line))
			return false;
		n = (size_t)(nl - p);
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		/* The path is what follows the fifth blank. */
		path = line;
		for (int k = 0; k < 5 && path; k++) {
			path = strchr(path, ' ');
			path = path ? path + 1 : NULL;
		}
		if (!path || fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return false;
		if ((size_t)snprintf(now, sizeof(now), SNAPSHOT_LINE, SNAPSHOT_ARGS(&st, path)) !=
			    n + 1 ||
		    memcmp(now, line, n) != 0)
			return false;
	}
	return *p == '\0';
}

/* ---- the answers ---- */

int
kf_cached_klipper_version(struct kflash_context *ctx, char **ret)
{
	const char *dir = kflash_context_get_klipper_dir(ctx);
	_cleanup_free_ char *before = NULL, *after = NULL, *path = NULL, *cached = NULL;
	_cleanup_free_ char *snapshot = NULL, *value = NULL;
	char *nl;
	int r;

	*ret = NULL;
	if (!dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	before = git_key(dir);
	path = cache_file(ctx, "klipper", dir);
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (before && (cached = cache_read(ctx, path, before)) &&
	    kf_startswith(cached, "version ") && (nl = strchr(cached, '\n')) &&
	    snapshot_holds(dir, nl + 1)) {
		*nl = '\0';
		*ret = kf_strdup(cached + 8);
		if (!*ret)
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		kf_debug(ctx, "Klipper version %s (cached: nothing in %s changed)", *ret, dir);
		return 0;
	}

	r = kf_klipper_version(ctx, ret);
	if (r < 0 || !*ret || !before || strstr(*ret, "-dirty") || strchr(*ret, '\n'))
		return r;
	snapshot = snapshot_take(ctx, dir);
	after = git_key(dir);
	/* Something changed while git looked: keep nothing this time. */
	if (!snapshot || !after || strcmp(before, after) != 0) {
		kf_debug(ctx, "the Klipper version is not cached this time");
		return 0;
	}
	value = kf_strdup_printf("version %s\n%s", *ret, snapshot);
	if (value)
		cache_write(ctx, path, after, value);
	return 0;
}

/* The key of compiler @gcc: the file found on PATH, or NULL when there is none. */
static char *
compiler_key(const char *gcc)
{
	_cleanup_free_ char *path = kf_process_find_program(gcc, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!path || strchr(path, '\n'))
		return NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	fprintf(f, "%scompiler %s\npath %s\n", CACHE_MAGIC, gcc, path);
	key_stat(f, AT_FDCWD, path, 0);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

char *
kf_cached_compiler_version(struct kflash_context *ctx, const char *gcc)
{
	const char *argv[] = { gcc, "--version", NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
	};
	_cleanup_free_ char *key = compiler_key(gcc), *path = cache_file(ctx, "compiler", gcc);
	_cleanup_free_ char *value = NULL;
	struct kf_process_result res;
	char *version = NULL, *cached;
	int r;

	if (!path)
		return NULL;
	if (key && (cached = cache_read(ctx, path, key))) {
		if (kf_startswith(cached, "version ") && strchr(cached, '\n')) {
			version = kf_strdup(cached + 8);
			if (version)
				version[strcspn(version, "\n")] = '\0';
		}
		free(cached);
		if (version) {
			kf_debug(ctx, "%s (cached: the compiler did not change)", version);
			return version;
		}
	}

	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code == 0 && res.out) {
		res.out[strcspn(res.out, "\n")] = '\0';
		version = kf_strdup(res.out);
	}
	kf_process_result_clear(&res);
	if (r == KFLASH_ERR_CANCELLED) {
		free(version);
		return NULL;
	}
	if (version && key && (value = kf_strdup_printf("version %s\n", version))) {
		/* Only when the compiler is still the one the key describes. */
		_cleanup_free_ char *again = compiler_key(gcc);

		if (kf_streq(again, key))
			cache_write(ctx, path, key, value);
	}
	/* No compiler: make will say so; the fingerprint notes it. */
	return version ? version : kf_strdup_printf("%s: not found", gcc);
}
