/* SPDX-License-Identifier: MIT */
/*
 * Files: atomic replacement, bounded reads, private directories and
 * advisory locks on separate lock files. Every failure is recorded on the
 * context with the path it concerns.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kflash_context;

enum kf_fs_flags {
	/* kf_fs_write_atomic: keep the replaced file as "<path>.bak". */
	KF_FS_KEEP_BACKUP = 1 << 0,
	/* kf_fs_read_file: refuse a symbolic link as the file itself. */
	KF_FS_NOFOLLOW = 1 << 1,
};

/*
 * Create @path and its missing parents. Directories created here get
 * @mode exactly (whatever the umask); existing ones are left alone, but
 * must be directories.
 */
int
kf_fs_mkdir_p(struct kflash_context *ctx, const char *path, mode_t mode);

/*
 * Read a whole regular file into a NUL-terminated buffer. A file larger
 * than @max bytes is KFLASH_ERR_CORRUPT; a missing one KFLASH_ERR_NOT_FOUND;
 * a symbolic link with KF_FS_NOFOLLOW, or anything but a regular file,
 * KFLASH_ERR_INVALID. @len may be NULL.
 */
int
kf_fs_read_file(struct kflash_context *ctx,
		const char *path,
		size_t max,
		unsigned int flags,
		char **out,
		size_t *len);

/*
 * Replace @path with @data atomically: a temporary file in the same
 * directory is written, fsync'ed and renamed over @path, then the
 * directory is fsync'ed. Readers see the old or the new content, never a
 * mix, even if the process dies at any point. The file gets @mode. With
 * KF_FS_KEEP_BACKUP the previous content stays as "<path>.bak" (replaced
 * atomically too).
 */
int
kf_fs_write_atomic(struct kflash_context *ctx,
		   const char *path,
		   const void *data,
		   size_t len,
		   mode_t mode,
		   unsigned int flags);

/*
 * Create a new file that must not exist yet (O_EXCL, O_NOFOLLOW) with
 * @mode exactly. Returns the open descriptor (O_CLOEXEC) or a negative
 * enum kflash_error (KFLASH_ERR_EXISTS when it exists).
 */
int
kf_fs_create_new(struct kflash_context *ctx, const char *path, mode_t mode);

/*
 * Record the failure @errnum of "@what @path": for a permission error, the
 * message names the directory's owner when it is another user (an earlier
 * run with sudo) and the chown that gives it back.
 */
int
kf_fs_error(struct kflash_context *ctx, int errnum, const char *path, const char *what);

/* 1 when @path exists (links are not followed), 0 when not, < 0 on error. */
int
kf_fs_exists(const char *path);

/* ---- advisory locks on separate lock files ---- */

struct kf_lock;

enum kf_lock_mode {
	KF_LOCK_SHARED,
	KF_LOCK_EXCLUSIVE,
};

/*
 * Lock @lock_path (created 0600 if needed; never the data file itself,
 * since a rename replaces that). Waits up to @timeout_ms, then fails with
 * KFLASH_ERR_LOCKED naming the file and, for an exclusive holder, its pid.
 * Cancellation ends the wait with KFLASH_ERR_CANCELLED.
 */
int
kf_lock_acquire(struct kflash_context *ctx,
		const char *lock_path,
		enum kf_lock_mode mode,
		uint32_t timeout_ms,
		struct kf_lock **out);

/* Release and free; NULL is fine. */
void
kf_lock_release(struct kf_lock *lock);

static inline void
kf_lock_releasep(struct kf_lock **lock)
{
	kf_lock_release(*lock);
}

#define _cleanup_lock_ __attribute__((cleanup(kf_lock_releasep)))

/*
 * Remove @path and, when it is a directory, everything in it. Symbolic
 * links are removed, never followed. A missing @path is fine.
 */
int
kf_fs_remove_tree(struct kflash_context *ctx, const char *path);
