/* SPDX-License-Identifier: MIT */
/*
 * devices.json: {"version": 1, "boards": [record, ...]}, each record a
 * board (board.c). The file is read and written under a short lock on
 * "<file>.lock" and replaced atomically, keeping "<file>.bak". A file that
 * does not parse or check is reported with its line and column and never
 * written.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "board-private.h"
#include "internal/fs.h"
#include "registry-private.h"

struct kflash_registry {
	int refcount;
	struct kflash_context *ctx;
	struct kflash_board **boards;
	size_t n_boards;
};

/* The keys of a record that this version knows; others are kept as they are. */
static const char *const known_keys[] = {
	"name",          "mcu",      "serial_path", "usb_serial", "method", "sdcard_board", "baud",
	"can_interface", "can_uuid", "klipper_mcu", "service",    "notes",  "last_flash",
};

/* ---- the snapshot ---- */

KFLASH_EXPORT int
kflash_registry_load(struct kflash_context *ctx, struct kflash_registry **ret)
{
	_cleanup_lock_ struct kf_lock *lock = NULL;
	_cleanup_free_ char *lock_path = NULL;
	struct kflash_registry *reg;
	struct json_object *root, *boards;
	const char *path = kflash_context_get_registry(ctx);
	size_t n;
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the registry");
	*ret = NULL;
	lock_path = kf_registry_lock_path(path);
	if (!lock_path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");

	/* A reader creates nothing: without the directory there is no file. */
	if (kf_fs_exists(path) == 1) {
		r = kf_lock_acquire(ctx, lock_path, KF_LOCK_SHARED,
				    kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_LOCK), &lock);
		if (r < 0)
			return r;
	}
	r = kf_registry_read(ctx, path, &root);
	if (r < 0)
		return r;
	kf_lock_release(kf_steal(&lock));

	boards = kf_registry_boards(root);
	n = json_object_array_length(boards);
	reg = calloc(1, sizeof(*reg));
	if (reg)
		reg->boards = calloc(n ? n : 1, sizeof(*reg->boards));
	if (!reg || !reg->boards) {
		free(reg);
		json_object_put(root);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	reg->refcount = 1;
	reg->ctx = kflash_context_ref(ctx);
	for (size_t i = 0; i < n; i++) {
		reg->boards[i] = kf_board_from_json(ctx, json_object_array_get_idx(boards, i));
		if (!reg->boards[i]) {
			json_object_put(root);
			kflash_registry_unref(reg);
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		reg->n_boards++;
	}
	json_object_put(root);
	*ret = reg;
	return 0;
}

KFLASH_EXPORT struct kflash_registry *
kflash_registry_ref(struct kflash_registry *registry)
{
	if (registry)
		registry->refcount++;
	return registry;
}

KFLASH_EXPORT struct kflash_registry *
kflash_registry_unref(struct kflash_registry *registry)
{
	if (!registry || --registry->refcount > 0)
		return NULL;
	for (size_t i = 0; i < registry->n_boards; i++)
		kflash_board_unref(registry->boards[i]);
	free(registry->boards);
	kflash_context_unref(registry->ctx);
	free(registry);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_registry_get_board_count(const struct kflash_registry *registry)
{
	return registry ? registry->n_boards : 0;
}

KFLASH_EXPORT struct kflash_board *
kflash_registry_get_board(const struct kflash_registry *registry, size_t index)
{
	if (!registry || index >= registry->n_boards)
		return NULL;
	return registry->boards[index];
}

KFLASH_EXPORT struct kflash_board *
kflash_registry_find_board(const struct kflash_registry *registry, const char *name)
{
	for (size_t i = 0; registry && name && i < registry->n_boards; i++)
		if (kf_streq(kflash_board_get_name(registry->boards[i]), name))
			return registry->boards[i];
	return NULL;
}

/* ---- changes: lock, read, apply, replace ---- */

typedef int (*registry_change)(struct kflash_context *ctx,
			       struct json_object *boards,
			       const void *data);

static int
registry_modify(struct kflash_context *ctx, registry_change change, const void *data)
{
	_cleanup_lock_ struct kf_lock *lock = NULL;
	_cleanup_free_ char *lock_path = NULL, *dir = NULL, *out = NULL;
	struct json_object *root = NULL;
	const char *path = kflash_context_get_registry(ctx), *text;
	char *slash;
	int r;

	lock_path = kf_registry_lock_path(path);
	dir = kf_strdup(path);
	if (!lock_path || !dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = kf_fs_mkdir_p(ctx, dir, 0700);
		if (r < 0)
			return r;
	}
	r = kf_lock_acquire(ctx, lock_path, KF_LOCK_EXCLUSIVE,
			    kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_LOCK), &lock);
	if (r < 0)
		return r;
	r = kf_registry_read(ctx, path, &root);
	if (r < 0)
		return r;
	r = change(ctx, kf_registry_boards(root), data);
	if (r == 0) {
		text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								    JSON_C_TO_STRING_SPACED |
								    JSON_C_TO_STRING_NOSLASHESCAPE);
		out = text ? kf_strdup_printf("%s\n", text) : NULL;
		if (!out)
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		else
			r = kf_fs_write_atomic(ctx, path, out, strlen(out), 0600,
					       KF_FS_KEEP_BACKUP);
	}
	json_object_put(root);
	return r;
}

static ssize_t
find_index(struct json_object *boards, const char *name)
{
	size_t n = json_object_array_length(boards);

	for (size_t i = 0; i < n; i++) {
		struct json_object *v;

		if (json_object_object_get_ex(json_object_array_get_idx(boards, i), "name", &v) &&
		    kf_streq(json_object_get_string(v), name))
			return (ssize_t)i;
	}
	return -1;
}

/* The board other than @name that has USB serial number @serial, if any. */
static const char *
serial_owner(struct json_object *boards, const char *serial, const char *name)
{
	size_t n = json_object_array_length(boards);

	for (size_t i = 0; serial && i < n; i++) {
		struct json_object *rec = json_object_array_get_idx(boards, i), *v, *owner;

		if (json_object_object_get_ex(rec, "usb_serial", &v) &&
		    strcasecmp(json_object_get_string(v), serial) == 0 &&
		    json_object_object_get_ex(rec, "name", &owner) &&
		    !kf_streq(json_object_get_string(owner), name))
			return json_object_get_string(owner);
	}
	return NULL;
}

static int
check_new_record(struct kflash_context *ctx,
		 struct json_object *boards,
		 const struct kflash_board *board)
{
	const char *name = kflash_board_get_name(board);
	const char *serial = kflash_board_get_usb_serial(board);
	const char *owner = serial_owner(boards, serial, name);

	if (!kflash_board_get_mcu(board))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"board %s has no MCU; set one, for example stm32f446xx", name);
	if (owner)
		return kf_error(ctx, KFLASH_ERR_EXISTS,
				"board %s has USB serial number %s, which belongs to board %s "
				"already; one board is registered once (kflash show %s)",
				name, serial, owner, owner);
	return 0;
}

/* A deep copy of @obj, or NULL without memory. */
static struct json_object *
json_copy(struct json_object *obj)
{
	struct json_object *copy = NULL;

	if (json_object_deep_copy(obj, &copy, NULL) < 0)
		return NULL;
	return copy;
}

static int
change_add(struct kflash_context *ctx, struct json_object *boards, const void *data)
{
	const struct kflash_board *board = data;
	const char *name = kflash_board_get_name(board);
	struct json_object *copy;
	int r;

	if (find_index(boards, name) >= 0)
		return kf_error(ctx, KFLASH_ERR_EXISTS,
				"a board named %s is registered already; choose another name, "
				"or change it with kflash remove %s first",
				name, name);
	r = check_new_record(ctx, boards, board);
	if (r < 0)
		return r;
	if (json_object_array_length(boards) >= REGISTRY_MAX_BOARDS)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"the registry holds %d boards already, its most",
				REGISTRY_MAX_BOARDS);
	copy = json_copy(kf_board_json(board));
	if (!copy || json_object_array_add(boards, copy) < 0) {
		json_object_put(copy);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

static int
change_update(struct kflash_context *ctx, struct json_object *boards, const void *data)
{
	const struct kflash_board *board = data;
	const char *name = kflash_board_get_name(board);
	ssize_t i = find_index(boards, name);
	struct json_object *merged;
	int r;

	if (i < 0)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"no board named %s is registered; see kflash list", name);
	r = check_new_record(ctx, boards, board);
	if (r < 0)
		return r;

	/* The stored record's unknown fields, then every field of @board. */
	merged = json_copy(json_object_array_get_idx(boards, (size_t)i));
	if (!merged)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t k = 0; k < KF_ARRAY_SIZE(known_keys); k++)
		json_object_object_del(merged, known_keys[k]);
	json_object_object_foreach(kf_board_json(board), key, val)
	{
		struct json_object *copy = json_copy(val);

		if (!copy || json_object_object_add(merged, key, copy) < 0) {
			json_object_put(copy);
			json_object_put(merged);
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
	}
	json_object_array_put_idx(boards, (size_t)i, merged);
	return 0;
}

static int
change_remove(struct kflash_context *ctx, struct json_object *boards, const void *data)
{
	const char *name = data;
	ssize_t i = find_index(boards, name);

	if (i < 0)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"no board named %s is registered; see kflash list", name);
	json_object_array_del_idx(boards, (size_t)i, 1);
	return 0;
}

struct flash_record {
	const char *name;
	const char *version;
	const char *hash;
	int ok;
};

static int
change_record_flash(struct kflash_context *ctx, struct json_object *boards, const void *data)
{
	const struct flash_record *fr = data;
	ssize_t i = find_index(boards, fr->name);
	struct json_object *lf;
	char when[32];
	struct tm tm;
	time_t now = time(NULL);

	if (i < 0)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"no board named %s is registered; its flash was not recorded",
				fr->name);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	lf = json_object_new_object();
	if (!lf)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	json_object_object_add(lf, "klipper_version",
			       fr->version ? json_object_new_string(fr->version) : NULL);
	json_object_object_add(lf, "time", json_object_new_string(when));
	json_object_object_add(lf, "firmware_hash",
			       fr->hash ? json_object_new_string(fr->hash) : NULL);
	json_object_object_add(lf, "result", json_object_new_string(fr->ok ? "success" : "failed"));
	if (json_object_object_add(json_object_array_get_idx(boards, (size_t)i), "last_flash", lf) <
	    0) {
		json_object_put(lf);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

KFLASH_EXPORT int
kflash_registry_add_board(struct kflash_context *ctx, const struct kflash_board *board)
{
	if (!board)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board to add");
	return registry_modify(ctx, change_add, board);
}

KFLASH_EXPORT int
kflash_registry_update_board(struct kflash_context *ctx, const struct kflash_board *board)
{
	if (!board)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board to update");
	return registry_modify(ctx, change_update, board);
}

KFLASH_EXPORT int
kflash_registry_remove_board(struct kflash_context *ctx, const char *name)
{
	if (!kf_name_is_valid(name))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a valid board name; see kflash list",
				name ? name : "");
	return registry_modify(ctx, change_remove, name);
}

KFLASH_EXPORT int
kflash_registry_record_flash(struct kflash_context *ctx,
			     const char *name,
			     const char *klipper_version,
			     const char *firmware_hash,
			     int ok)
{
	struct flash_record fr = { name, klipper_version, firmware_hash, ok };

	if (!kf_name_is_valid(name))
		return kf_error(ctx, KFLASH_ERR_INVALID, "'%s' is not a valid board name",
				name ? name : "");
	return registry_modify(ctx, change_record_flash, &fr);
}
