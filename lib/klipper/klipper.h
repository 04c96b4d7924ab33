/* SPDX-License-Identifier: MIT */
/*
 * Where a board's files live, and running Klipper's own build tools
 * (make, git describe) against the user's Klipper tree without changing it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "internal/process.h"

struct kflash_context;

/* <config dir>/configs/<name>.config */
char *
kf_board_config_path(struct kflash_context *ctx, const char *name);

/* <cache dir>/build/<name>/ (with the slash Klipper's OUT= needs) */
char *
kf_board_build_dir(struct kflash_context *ctx, const char *name);

/* <cache dir>/boards/<name>: state kept between runs (build.json, firmware/) */
char *
kf_board_state_dir(struct kflash_context *ctx, const char *name);

/*
 * 0 when @dir holds a Klipper tree (its Makefile), else KFLASH_ERR_NOT_FOUND
 * with the hint KFLASH_HINT_SET_KLIPPER_DIR.
 */
int
kf_klipper_check_tree(struct kflash_context *ctx, const char *dir);

struct kf_make {
	const char *config;         /* KCONFIG_CONFIG= */
	const char *out;            /* OUT= */
	const char *const *targets; /* NULL-terminated; none: the default build */
	const char *const *vars;    /* more VAR=VALUE arguments, NULL-terminated */
	const char *const *env;     /* more environment, as kf_process_opts.env */
	uint32_t timeout_ms;
	bool interactive; /* menuconfig: the terminal passes through */
	/*
	 * -j<number of CPUs>, or, when the context has a job server, as many
	 * jobs as its slots allow, shared with every other build using it.
	 */
	bool parallel;
	bool low_priority; /* nice 10 and the idle I/O class */
};

/*
 * Run make -C <klipper dir> KCONFIG_CONFIG=... OUT=... with
 * PYTHONDONTWRITEBYTECODE=1, so the Klipper tree is left as it was. A
 * failure is KFLASH_ERR_BUILD with make's exit status and the last lines of
 * its output; a missing Klipper tree is KFLASH_ERR_NOT_FOUND.
 */
int
kf_klipper_make(struct kflash_context *ctx, const struct kf_make *m);

/*
 * The Klipper tree's version as Klipper's build writes it (git describe
 * --always --tags --long --dirty) in *@ret, or NULL when it cannot be told
 * (no git, not a git tree). Returns 0, KFLASH_ERR_NO_MEMORY or
 * KFLASH_ERR_CANCELLED.
 */
int
kf_klipper_version(struct kflash_context *ctx, char **ret);
