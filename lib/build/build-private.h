/* SPDX-License-Identifier: MIT */
/*
 * What the build module shares inside the library: the job server's slots
 * (taken around each make), ccache, and the cached answers of the
 * fingerprint's slow questions (the Klipper version, the compiler's).
 */
#pragma once

#include <stdbool.h>

struct kflash_context;
struct kflash_jobserver;

/*
 * Take one slot of @js for a make that is about to start: the slot make
 * itself runs in. Waits for one to be free; cancellation ends the wait
 * with KFLASH_ERR_CANCELLED. Returns 0 or a negative enum kflash_error.
 */
int
kf_jobserver_acquire(struct kflash_context *ctx, struct kflash_jobserver *js);

/* Give back the slot of kf_jobserver_acquire(). */
void
kf_jobserver_release(struct kflash_context *ctx, struct kflash_jobserver *js);

/* "MAKEFLAGS=..." that makes a make a client of @js; NULL on OOM. */
char *
kf_jobserver_makeflags(const struct kflash_jobserver *js);

/* The descriptors make must inherit, ended by -1. */
const int *
kf_jobserver_fds(const struct kflash_jobserver *js);

/*
 * The make variables (CC=ccache @gcc) and environment (CCACHE_DIR=...)
 * that run board @board's compiler @gcc through ccache, appended to @vars
 * and @env; nothing when ccache is off or not found. Returns 0 or
 * KFLASH_ERR_NO_MEMORY.
 */
int
kf_ccache_setup(
	struct kflash_context *ctx, const char *gcc, const char *board, char ***vars, char ***env);

/*
 * As kf_klipper_version(), answered from <cache dir>/versions/ when
 * nothing git's answer depends on has changed since it was given.
 */
int
kf_cached_klipper_version(struct kflash_context *ctx, char **ret);

/*
 * The first line of `@gcc --version`, or "@gcc: not found"; answered from
 * <cache dir>/versions/ while the program found on PATH is the same file
 * (path, size, modification time). NULL on OOM or cancellation.
 */
char *
kf_cached_compiler_version(struct kflash_context *ctx, const char *gcc);
