/* SPDX-License-Identifier: MIT */
/*
 * Reading devices.json: parse, check every record, and point at the line
 * and column of the first problem, with what the user can do about it. A
 * file that does not parse or check is never written.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "board-private.h"
#include "internal/fs.h"
#include "registry-private.h"
#include "util/json-pos.h"

/* What the user can do about a file that does not parse. */
static char *
repair_hint(const char *path)
{
	_cleanup_free_ char *bak = kf_strdup_printf("%s.bak", path);

	if (bak && kf_fs_exists(bak) == 1)
		return kf_strdup_printf("fix it by hand, or restore the previous version "
					"with: cp %s %s",
					bak, path);
	return kf_strdup_printf("fix it by hand, or move it away to start with no boards");
}

static int
corrupt_at(struct kflash_context *ctx,
	   const char *path,
	   const char *text,
	   size_t offset,
	   const char *what)
{
	_cleanup_free_ char *hint = repair_hint(path);
	unsigned int line, col;

	kf_json_line_col(text, offset, &line, &col);
	return kf_error(ctx, KFLASH_ERR_CORRUPT,
			"%s:%u:%u: %s; this file is left untouched until it is repaired: %s", path,
			line, col, what, hint ? hint : "fix it by hand");
}

/* A check of one element, pointing at it by @path (NULL-ended) in @text. */
static int
corrupt_element(struct kflash_context *ctx,
		const char *path,
		const char *text,
		const char *const *json_path,
		const char *what)
{
	return corrupt_at(ctx, path, text, kf_json_locate(text, json_path), what);
}

static int
parse_text(struct kflash_context *ctx,
	   const char *path,
	   const char *text,
	   size_t len,
	   struct json_object **ret)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (memchr(text, '\0', len))
		return corrupt_at(ctx, path, text, strlen(text),
				  "a NUL byte, which JSON never has");
	if (strspn(text, " \t\r\n") == len)
		return corrupt_at(ctx, path, text, 0,
				  "the file is empty; a registry without boards is "
				  "{\"version\": 1, \"boards\": []}");
	tok = json_tokener_new_ex(32);
	if (!tok)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (jerr == json_tokener_continue || (!root && jerr == json_tokener_success))
		return corrupt_at(ctx, path, text, len, "the file ends in the middle of its JSON");
	if (jerr != json_tokener_success) {
		json_object_put(root);
		return corrupt_at(ctx, path, text, end < len ? end : len,
				  json_tokener_error_desc(jerr));
	}
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end < len) {
		json_object_put(root);
		return corrupt_at(ctx, path, text, end, "text after the end of the JSON document");
	}
	*ret = root;
	return 0;
}

static int
check_root(struct kflash_context *ctx, const char *path, const char *text, struct json_object *root)
{
	static const char *const at_root[] = { NULL };
	static const char *const at_version[] = { "version", NULL };
	static const char *const at_boards[] = { "boards", NULL };
	struct json_object *version, *boards;
	size_t n;

	if (!json_object_is_type(root, json_type_object))
		return corrupt_element(ctx, path, text, at_root,
				       "the file should hold a JSON object: "
				       "{\"version\": 1, \"boards\": [...]}");
	if (!json_object_object_get_ex(root, "version", &version) ||
	    !json_object_is_type(version, json_type_int) || json_object_get_int64(version) < 1)
		return corrupt_element(ctx, path, text, at_version,
				       "\"version\" should be a positive number");
	if (json_object_get_int64(version) > REGISTRY_VERSION)
		return kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				"%s has version %lld, newer than the %d this libkflash reads; "
				"upgrade kflash",
				path, (long long)json_object_get_int64(version), REGISTRY_VERSION);
	if (!json_object_object_get_ex(root, "boards", &boards) ||
	    !json_object_is_type(boards, json_type_array))
		return corrupt_element(ctx, path, text, at_boards,
				       "\"boards\" should be an array of boards");
	n = json_object_array_length(boards);
	if (n > REGISTRY_MAX_BOARDS)
		return corrupt_element(ctx, path, text, at_boards,
				       "more boards than the 256 a registry can hold");

	for (size_t i = 0; i < n; i++) {
		struct json_object *rec = json_object_array_get_idx(boards, i), *name;
		char index[24];
		const char *field, *problem;
		_cleanup_free_ char *what = NULL;

		snprintf(index, sizeof(index), "%zu", i);
		problem = kf_board_check_json(rec, &field);
		if (problem) {
			const char *at[] = { "boards", index, field, NULL };

			what = field ? kf_strdup_printf("board %zu: \"%s\" should be %s", i + 1,
							field, problem)
				     : kf_strdup_printf("board %zu should be %s", i + 1, problem);
			return corrupt_element(ctx, path, text, at, what ? what : problem);
		}
		json_object_object_get_ex(rec, "name", &name);
		for (size_t j = 0; j < i; j++) {
			struct json_object *other;
			const char *at[] = { "boards", index, "name", NULL };

			json_object_object_get_ex(json_object_array_get_idx(boards, j), "name",
						  &other);
			if (!kf_streq(json_object_get_string(name), json_object_get_string(other)))
				continue;
			what = kf_strdup_printf("board %zu has the name \"%s\" of board %zu; "
						"names must be unique",
						i + 1, json_object_get_string(name), j + 1);
			return corrupt_element(ctx, path, text, at, what ? what : "duplicate name");
		}
	}
	return 0;
}

static struct json_object *
empty_root(void)
{
	struct json_object *root = json_object_new_object();

	if (!root)
		return NULL;
	if (json_object_object_add(root, "version", json_object_new_int(REGISTRY_VERSION)) < 0 ||
	    json_object_object_add(root, "boards", json_object_new_array()) < 0)
		return json_object_put(root), NULL;
	return root;
}

int
kf_registry_read(struct kflash_context *ctx, const char *path, struct json_object **ret)
{
	_cleanup_free_ char *text = NULL, *hint = NULL;
	struct json_object *root = NULL;
	size_t len;
	int r;

	*ret = NULL;
	r = kf_fs_exists(path) == 0
		    ? KFLASH_ERR_NOT_FOUND
		    : kf_fs_read_file(ctx, path, REGISTRY_MAX_SIZE, KF_FS_NOFOLLOW, &text, &len);
	if (r == KFLASH_ERR_NOT_FOUND) {
		*ret = empty_root();
		return *ret ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	if (r == KFLASH_ERR_INVALID || r == KFLASH_ERR_CORRUPT) {
		/* A link, not a regular file, or too large: say what to do. */
		_cleanup_free_ char *detail = kf_strdup(kflash_context_last_error(ctx));

		hint = repair_hint(path);
		return kf_error(ctx, KFLASH_ERR_CORRUPT,
				"%s; it is left untouched until it is repaired: %s",
				detail ? detail : path, hint ? hint : "fix it by hand");
	}
	if (r < 0)
		return r;

	r = parse_text(ctx, path, text, len, &root);
	if (r < 0)
		return r;
	r = check_root(ctx, path, text, root);
	if (r < 0) {
		json_object_put(root);
		return r;
	}
	*ret = root;
	return 0;
}

struct json_object *
kf_registry_boards(struct json_object *root)
{
	struct json_object *boards = NULL;

	json_object_object_get_ex(root, "boards", &boards);
	return boards;
}

char *
kf_registry_lock_path(const char *path)
{
	return kf_strdup_printf("%s.lock", path);
}
