/* SPDX-License-Identifier: MIT */
/*
 * A board is its JSON record in devices.json: fields this version does not
 * know stay in the object and survive a rewrite.
 */
#pragma once

#include <json-c/json.h>

#include "libkflash-private.h"

struct kflash_board {
	int refcount;
	struct kflash_context *ctx;
	struct json_object *obj; /* the record, "name" included */
};

/* A board around @obj (a reference is taken); validates nothing. */
struct kflash_board *
kf_board_from_json(struct kflash_context *ctx, struct json_object *obj);

/*
 * Check a record read from the file: the types and values of the fields
 * this version knows, and the name. Returns NULL when fine; else what the
 * first bad field should be, as a noun phrase ("a string", "an absolute
 * path, ..."), with *field set to its key (NULL when the record itself is
 * not an object).
 */
const char *
kf_board_check_json(struct json_object *obj, const char **field);

/*
 * Check the value of string field @key ("serial_path", "mcu", ...) as
 * the setters and kf_board_check_json() do: NULL when fine (or when @key
 * is no string field), else what it should be.
 */
const char *
kf_board_check_value(const char *key, const char *value);

/* The record, borrowed. */
struct json_object *
kf_board_json(const struct kflash_board *board);

/*
 * True when the record has an "imported" object (lib/import): the board
 * came from Klipper's config, and may lack its MCU until its own config
 * names it.
 */
bool
kf_board_is_imported(const struct kflash_board *board);
