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
