/* SPDX-License-Identifier: MIT */
/*
 * Compiling through ccache: Klipper's Makefile runs every compile and link
 * as $(CC), so CC=<ccache> <the board's gcc> on make's command line is all
 * it takes. Each board has a ccache directory of its own under its state
 * dir: ccache's hash already covers the compiler, the flags and the
 * preprocessed source, but a directory per board makes a mix of boards
 * impossible whatever ccache's hash misses, keeps one board's builds from
 * evicting another's objects, and goes away with the board's state. The
 * boards have nothing to share anyway: their OUT directories, which are in
 * every compile command, differ.
 */
#include <string.h>

#include "build-private.h"
#include "internal/process.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"

int
kf_ccache_setup(
	struct kflash_context *ctx, const char *gcc, const char *board, char ***vars, char ***env)
{
	const char *program = kflash_context_get_ccache(ctx);
	_cleanup_free_ char *path = NULL, *state = NULL;

	if (!kflash_context_get_ccache_enabled(ctx)) {
		kf_debug(ctx, "ccache is off: compiling with %s directly", gcc);
		return 0;
	}
	if (!program)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	path = kf_process_find_program(program, NULL);
	if (!path) {
		kf_debug(ctx, "no %s on PATH: compiling with %s directly", program, gcc);
		return 0;
	}
	/* make splits CC at blanks and expands '$': such a path cannot be given. */
	if (strpbrk(path, " \t\\$#'\"")) {
		kf_warn(ctx,
			"compiling without ccache: make cannot run %s, whose path has a blank "
			"or a special character",
			path);
		return 0;
	}
	state = kf_board_state_dir(ctx, board);
	if (!state || !kf_strv_pushf(vars, "CC=%s %s", path, gcc) ||
	    !kf_strv_pushf(env, "CCACHE_DIR=%s/ccache", state))
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	kf_debug(ctx, "compiling through %s, with the cache %s/ccache", path, state);
	return 0;
}
