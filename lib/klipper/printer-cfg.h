/* SPDX-License-Identifier: MIT */
/*
 * Klipper's config (printer.cfg) read the way Klipper reads it:
 *
 * - `[include SPEC]` reads SPEC relative to the directory of the file that
 *   names it; a SPEC with `*`, `?` or `[` is a pattern whose matches are
 *   read in sorted order (none is fine), a plain SPEC must exist. A file
 *   that includes itself, directly or through others, is an error. After
 *   an include no section is current, so options need a header again.
 * - `#` starts a comment anywhere on a line. `;` starts one at the start
 *   of a line or after whitespace; elsewhere it is part of the value.
 * - `[name]` opens a section; a later section of the same name continues
 *   it (a later option replaces an earlier one). Options of `[DEFAULT]`
 *   are the defaults of every section.
 * - `key: value` or `key = value` (the first ':' or '=' separates them;
 *   keys are case-insensitive, section names are not). A line indented
 *   deeper than its option continues the option's value, even after blank
 *   lines.
 * - The SAVE_CONFIG block at the end of printer.cfg (`#*# ...` lines) is
 *   comments to this reader. Klipper reads it as a layer beneath the
 *   regular options, but only SAVE_CONFIG writes it, and that never writes
 *   what identifies an MCU; so it is not read here.
 *
 * Everything is bounded: file size, line length, include depth, the number
 * of files, sections and options. Every error names the file and line.
 */
#pragma once

#include <stddef.h>

struct kflash_context;

#define KF_CFG_MAX_FILE (1024 * 1024)
#define KF_CFG_MAX_TOTAL (16 * 1024 * 1024)
#define KF_CFG_MAX_LINE 16384
#define KF_CFG_MAX_DEPTH 32
#define KF_CFG_MAX_FILES 512
#define KF_CFG_MAX_SECTIONS 4096
#define KF_CFG_MAX_OPTIONS 1024 /* per section */

struct kf_cfg_option {
	char *key;        /* lower case */
	char *value;      /* continuation lines joined with '\n', trailing space removed */
	const char *file; /* owned by the config */
	unsigned int line;
	size_t len, cap; /* of value, while it grows */
};

struct kf_cfg_section {
	char *name;
	const char *file; /* where it first appears; owned by the config */
	unsigned int line;
	struct kf_cfg_option *options;
	size_t n_options;
};

struct kf_printer_cfg {
	char *path;   /* the main file, absolute */
	char **files; /* every file read, in order; NULL-terminated */
	struct kf_cfg_section *sections;
	size_t n_sections;
	struct kf_cfg_section *defaults; /* [DEFAULT], or NULL */
};

/*
 * Read @path and its includes. Errors: KFLASH_ERR_NOT_FOUND (the file or
 * a plain include is missing), KFLASH_ERR_CORRUPT (a line that is neither
 * a section, an option nor a continuation; a line or file too long),
 * KFLASH_ERR_INVALID (an include loop, includes nested too deep, too many
 * files, sections or options), or the error of reading a file.
 */
int
kf_printer_cfg_read(struct kflash_context *ctx, const char *path, struct kf_printer_cfg **ret);

void
kf_printer_cfg_free(struct kf_printer_cfg *cfg);

/* The section named exactly @name, or NULL. */
const struct kf_cfg_section *
kf_printer_cfg_find(const struct kf_printer_cfg *cfg, const char *name);

/*
 * Option @key (lower case) of @section, else of [DEFAULT]; NULL when
 * neither has it.
 */
const struct kf_cfg_option *
kf_printer_cfg_get(const struct kf_printer_cfg *cfg,
		   const struct kf_cfg_section *section,
		   const char *key);
