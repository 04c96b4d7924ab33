/* SPDX-License-Identifier: MIT */
/*
 * Where a value sits in a JSON text, for error messages that point the
 * user at a line and column. json-c keeps no positions once it has
 * parsed, so this walks the (already valid) text again.
 */
#pragma once

#include <stddef.h>

/*
 * Find the element that @path names in the valid JSON @text: a list of
 * object keys and array indexes (a decimal string names an index when the
 * value there is an array), ended by NULL. Returns the offset of the last
 * key's opening quote, or of the indexed value; when a step is missing,
 * the offset of the deepest container found. An empty path is offset 0.
 */
size_t
kf_json_locate(const char *text, const char *const *path);

/* 1-based line and column (in bytes) of @offset in @text. */
void
kf_json_line_col(const char *text, size_t offset, unsigned int *line, unsigned int *col);
