/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fs.h"
#include "internal/process.h"
#include "libkflash-private.h"

#define LOCK_POLL_MIN_MS 5
#define LOCK_POLL_MAX_MS 50

/* The name of user @uid, or its number. */
static char *
user_name(uid_t uid)
{
	struct passwd pw, *found = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		return kf_strdup(found->pw_name);
	return kf_strdup_printf("%u", (unsigned)uid);
}

/*
 * Who owns the directory of @path, when that is not this process's user:
 * the usual cause of a permission error here is an earlier run with sudo.
 */
static char *
owner_note(const char *path)
{
	_cleanup_free_ char *dir = kf_strdup(path), *owner = NULL, *me = NULL;
	struct stat st;

	/* The nearest part of the path that exists. */
	while (dir && stat(dir, &st) < 0 && strcmp(dir, "/") != 0 && strcmp(dir, ".") != 0) {
		char *up = kf_strdup(dirname(dir));

		free(dir);
		dir = up;
	}
	if (!dir || st.st_uid == geteuid())
		return NULL;
	if (!S_ISDIR(st.st_mode)) {
		char *up = kf_strdup(dirname(dir));

		free(dir);
		dir = up;
		if (!dir || stat(dir, &st) < 0 || st.st_uid == geteuid())
			return NULL;
	}
	owner = user_name(st.st_uid);
	me = user_name(geteuid());
	if (!owner || !me)
		return NULL;
	return kf_strdup_printf("%s belongs to %s, not to %s (made by an earlier run with sudo?); "
				"give it back with: sudo chown -R %s: %s",
				dir, owner, me, me, dir);
}

int
kf_fs_error(struct kflash_context *ctx, int errnum, const char *path, const char *what)
{
	_cleanup_free_ char *note = NULL;
	char buf[256];

	if (errnum == EACCES || errnum == EPERM)
		note = owner_note(path);
	if (note)
		return kf_error(ctx, kf_errno_to_error(errnum), "%s %s: %s; %s", what, path,
				strerror_r(errnum, buf, sizeof(buf)), note);
	return kf_error_sys(ctx, errnum, "%s %s", what, path);
}

static int
mkdir_one(struct kflash_context *ctx, const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		/* The umask must not widen or narrow what we asked for. */
		if (chmod(path, mode) < 0)
			return kf_error_sys(ctx, errno, "cannot set the mode of %s", path);
		return 0;
	}
	if (errno != EEXIST)
		return kf_fs_error(ctx, errno, path, "cannot create directory");
	if (stat(path, &st) < 0)
		return kf_error_sys(ctx, errno, "cannot access %s", path);
	if (!S_ISDIR(st.st_mode))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s exists but is not a directory; move it away", path);
	return 0;
}

int
kf_fs_mkdir_p(struct kflash_context *ctx, const char *path, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(path);
	int r;

	if (!copy)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		r = mkdir_one(ctx, copy, mode);
		*p = '/';
		if (r < 0)
			return r;
	}
	return mkdir_one(ctx, copy, mode);
}

int
kf_fs_exists(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

int
kf_fs_read_file(struct kflash_context *ctx,
		const char *path,
		size_t max,
		unsigned int flags,
		char **out,
		size_t *len)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t have = 0;
	struct stat st;

	*out = NULL;
	if (flags & KF_FS_NOFOLLOW)
		oflags |= O_NOFOLLOW;

	fd = open(path, oflags);
	if (fd < 0) {
		if (errno == ELOOP && (flags & KF_FS_NOFOLLOW))
			return kf_error(ctx, KFLASH_ERR_INVALID,
					"%s is a symbolic link; replace it with a regular file",
					path);
		return kf_error_sys(ctx, errno, "cannot open %s", path);
	}
	if (fstat(fd, &st) < 0)
		return kf_error_sys(ctx, errno, "cannot access %s", path);
	if (!S_ISREG(st.st_mode))
		return kf_error(ctx, KFLASH_ERR_INVALID, "%s is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return kf_error(ctx, KFLASH_ERR_CORRUPT,
				"%s is %lld bytes, more than the %zu bytes such a file can have",
				path, (long long)st.st_size, max);

	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory reading %s", path);

	/* The file may change size while we read; never read past max. */
	for (;;) {
		size_t room = (size_t)st.st_size - have;
		ssize_t n;

		if (room == 0) {
			char extra;

			n = read(fd, &extra, 1);
			if (n == 0)
				break;
			if (n > 0)
				return kf_error(ctx, KFLASH_ERR_IO,
						"%s changed while it was read; try again", path);
		} else {
			n = read(fd, buf + have, room);
			if (n == 0)
				break;
			if (n > 0) {
				have += (size_t)n;
				continue;
			}
		}
		if (errno != EINTR)
			return kf_error_sys(ctx, errno, "cannot read %s", path);
	}
	buf[have] = '\0';
	if (len)
		*len = have;
	*out = kf_steal(&buf);
	return 0;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fsync_dir_of(struct kflash_context *ctx, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int dfd = -1;

	if (!copy)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return kf_error_sys(ctx, errno, "cannot sync the directory of %s", path);
	return 0;
}

/* Point "<path>.bak" at the current content of @path, atomically. */
static int
keep_backup(struct kflash_context *ctx, const char *path)
{
	_cleanup_free_ char *bak = kf_strdup_printf("%s.bak", path);
	_cleanup_free_ char *tmp = kf_strdup_printf("%s.bak.%d.tmp", path, (int)getpid());
	struct stat st;

	if (!bak || !tmp)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* nothing to keep yet */
		return kf_error_sys(ctx, errno, "cannot access %s", path);
	}
	if (!S_ISREG(st.st_mode))
		return 0;

	unlink(tmp);
	if (link(path, tmp) < 0)
		return kf_error_sys(ctx, errno, "cannot keep a backup of %s", path);
	if (rename(tmp, bak) < 0) {
		int err = errno;

		unlink(tmp);
		return kf_error_sys(ctx, err, "cannot keep a backup of %s as %s", path, bak);
	}
	return 0;
}

int
kf_fs_write_atomic(struct kflash_context *ctx,
		   const char *path,
		   const void *data,
		   size_t len,
		   mode_t mode,
		   unsigned int flags)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	const char *base = strrchr(path, '/');
	int r;

	if (!copy)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	base = base ? base + 1 : path;
	tmp = kf_strdup_printf("%s/.%s.XXXXXX", dirname(copy), base);
	if (!tmp)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kf_fs_error(ctx, errno, path, "cannot create a temporary file beside");

	if (fchmod(fd, mode) < 0) {
		r = kf_error_sys(ctx, errno, "cannot set the mode of %s", tmp);
		goto fail;
	}
	r = write_all(fd, data, len);
	if (r < 0) {
		r = kf_error_sys(ctx, -r, "cannot write %s", tmp);
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = kf_error_sys(ctx, errno, "cannot sync %s", tmp);
		goto fail;
	}
	close(kf_steal_fd(&fd));

	if (flags & KF_FS_KEEP_BACKUP) {
		r = keep_backup(ctx, path);
		if (r < 0)
			goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = kf_fs_error(ctx, errno, path, "cannot replace");
		goto fail;
	}
	return fsync_dir_of(ctx, path);

fail:
	unlink(tmp);
	return r;
}

int
kf_fs_create_new(struct kflash_context *ctx, const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		if (errno == EEXIST)
			return kf_error(ctx, KFLASH_ERR_EXISTS, "%s already exists", path);
		return kf_fs_error(ctx, errno, path, "cannot create");
	}
	if (fchmod(fd, mode) < 0) {
		int err = errno;

		close(fd);
		unlink(path);
		return kf_error_sys(ctx, err, "cannot set the mode of %s", path);
	}
	return fd;
}

/* ---- locks ---- */

struct kf_lock {
	int fd;
	bool exclusive;
};

/* The pid an exclusive holder wrote into the lock file, or 0. */
static int
lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return atoi(buf);
}

/* "process N (its command line)" of the lock's holder, or "another process". */
static char *
holder_text(int fd)
{
	int pid = lock_holder(fd);
	_cleanup_free_ char *cmd = pid > 0 ? kf_process_cmdline((pid_t)pid) : NULL;

	if (pid <= 0)
		return kf_strdup("another process");
	return cmd ? kf_strdup_printf("process %d (%s)", pid, cmd)
		   : kf_strdup_printf("process %d", pid);
}

/*
 * The lock file for a shared lock in a directory this user cannot write:
 * read-only, and no lock at all when it does not exist (its writers
 * replace files by rename, so a reader sees a whole file either way).
 */
static int
open_for_reading(struct kflash_context *ctx, const char *lock_path, int *fd)
{
	*fd = open(lock_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (*fd >= 0 || errno == ENOENT) {
		kf_debug(ctx, "%s cannot be written: reading %s", lock_path,
			 *fd >= 0 ? "under a read-only lock" : "without a lock");
		return 0;
	}
	return kf_fs_error(ctx, errno, lock_path, "cannot open the lock file");
}

int
kf_lock_acquire(struct kflash_context *ctx,
		const char *lock_path,
		enum kf_lock_mode mode,
		uint32_t timeout_ms,
		struct kf_lock **out)
{
	int op = (mode == KF_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | LOCK_NB;
	uint64_t deadline = kf_now_ms() + timeout_ms;
	uint32_t delay = LOCK_POLL_MIN_MS;
	_cleanup_close_ int fd = -1;
	struct kf_lock *lock;
	bool said = false;
	int r;

	*out = NULL;
	fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && mode == KF_LOCK_SHARED && (errno == EACCES || errno == EROFS)) {
		r = open_for_reading(ctx, lock_path, &fd);
		if (r < 0)
			return r;
	} else if (fd < 0) {
		return kf_fs_error(ctx, errno, lock_path, "cannot open the lock file");
	}

	while (fd >= 0 && flock(fd, op) < 0) {
		uint64_t now = kf_now_ms();

		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return kf_error_sys(ctx, errno, "cannot lock %s", lock_path);
		if (now >= deadline) {
			_cleanup_free_ char *holder = holder_text(fd);

			return kf_error(ctx, KFLASH_ERR_LOCKED, "%s is held by %s", lock_path,
					holder ? holder : "another process");
		}
		/* Said once, at once: what it waits for, and how long at most. */
		if (!said) {
			_cleanup_free_ char *holder = holder_text(fd);

			kf_info(ctx, "waiting up to %.1f s for %s, held by %s",
				(double)timeout_ms / 1000, lock_path,
				holder ? holder : "another process");
			said = true;
		}
		r = kf_sleep_ms(ctx, (uint32_t)(deadline - now) < delay ? (uint32_t)(deadline - now)
									: delay);
		if (r < 0)
			return r;
		if (delay < LOCK_POLL_MAX_MS)
			delay *= 2;
	}

	if (fd >= 0 && mode == KF_LOCK_EXCLUSIVE) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

		/* Only a hint for the message of whoever waits. */
		if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
			/* ignore */
		}
	}

	lock = calloc(1, sizeof(*lock));
	if (!lock)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	lock->fd = kf_steal_fd(&fd);
	lock->exclusive = mode == KF_LOCK_EXCLUSIVE;
	*out = lock;
	return 0;
}

void
kf_lock_release(struct kf_lock *lock)
{
	if (!lock)
		return;
	if (lock->exclusive && ftruncate(lock->fd, 0) < 0) {
		/* the pid hint stays; harmless */
	}
	if (lock->fd >= 0)
		close(lock->fd);
	free(lock);
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int
kf_fs_remove_tree(struct kflash_context *ctx, const char *path)
{
	if (kf_fs_exists(path) == 0)
		return 0;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return kf_error_sys(ctx, errno, "cannot remove %s", path);
	return 0;
}
