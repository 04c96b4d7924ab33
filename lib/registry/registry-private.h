/* SPDX-License-Identifier: MIT */
/* devices.json between file.c (reading and checking) and registry.c (the rest). */
#pragma once

#include <json-c/json.h>

#include "libkflash-private.h"

#define REGISTRY_VERSION 1
#define REGISTRY_MAX_SIZE (1024 * 1024)
#define REGISTRY_MAX_BOARDS 256

/*
 * Read and check the file at @path (the caller holds its lock). A missing
 * file is an empty registry. KFLASH_ERR_CORRUPT names the file, the line
 * and column, and how to repair it.
 */
int
kf_registry_read(struct kflash_context *ctx, const char *path, struct json_object **ret);

/* The "boards" array of a checked root, borrowed. */
struct json_object *
kf_registry_boards(struct json_object *root);

/* "<path>.lock": a separate lock file, since the data file is replaced by rename. */
char *
kf_registry_lock_path(const char *path);

/* A change of the boards array of the locked, freshly read file; 0 to write it. */
typedef int (*kf_registry_change)(struct kflash_context *ctx,
				  struct json_object *boards,
				  const void *data);

/*
 * Take the registry's lock, read the file, apply @change and, when it
 * returns 0, replace the file atomically: one write for any number of
 * boards.
 */
int
kf_registry_modify(struct kflash_context *ctx, kf_registry_change change, const void *data);

/* Add or update one board in @boards, with every check of kflash_registry_add/update_board(). */
int
kf_registry_add_record(struct kflash_context *ctx,
		       struct json_object *boards,
		       const struct kflash_board *board);

int
kf_registry_update_record(struct kflash_context *ctx,
			  struct json_object *boards,
			  const struct kflash_board *board);
