/* SPDX-License-Identifier: MIT */
/*
 * devices.json: {"version": 1, "boards": [record, ...]}, each record a
 * board (board.c). The file is read and written under a short lock on
 * "<file>.lock" and replaced atomically, keeping "<file>.bak". A file that
 * does not parse or check is reported with its line and column and never
 * written.
 */
#include <ctype.h>
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
	char **suggested; /* names kflash_registry_suggest_name() handed out */
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
	kf_strv_free(registry->suggested);
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

static bool
name_taken(const struct kflash_registry *reg, const char *name)
{
	for (size_t i = 0; reg->suggested && reg->suggested[i]; i++)
		if (strcmp(reg->suggested[i], name) == 0)
			return true;
	return kflash_registry_find_board(reg, name) != NULL;
}

KFLASH_EXPORT const char *
kflash_registry_suggest_name(struct kflash_registry *reg, const char *hint)
{
	char base[21], name[40];
	size_t n = 0;

	if (!reg)
		return NULL;
	/* "stm32f446xx" -> "stm32f446": the MCU without its package letters. */
	for (const char *c = hint ? hint : "board"; *c && n < sizeof(base) - 1; c++)
		if (isalnum((unsigned char)*c) || ((*c == '-' || *c == '_') && n > 0))
			base[n++] = (char)tolower((unsigned char)*c);
	while (n > 4 && base[n - 1] == 'x')
		n--;
	base[n] = '\0';
	if (!kf_name_is_valid(base))
		snprintf(base, sizeof(base), "board");
	snprintf(name, sizeof(name), "%s", base);
	for (int i = 2; name_taken(reg, name); i++)
		snprintf(name, sizeof(name), "%s-%d", base, i);
	if (!kf_strv_push(&reg->suggested, name))
		return NULL;
	return reg->suggested[kf_strv_length(reg->suggested) - 1];
}

/* ---- changes: lock, read, apply, replace ---- */

static int
registry_modify(struct kflash_context *ctx, kf_registry_change change, const void *data)
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

/* The board other than @name whose string @key is @value, if any (case-insensitive). */
static const char *
owner_of(struct json_object *boards, const char *key, const char *value, const char *name)
{
	size_t n = json_object_array_length(boards);

	for (size_t i = 0; value && i < n; i++) {
		struct json_object *rec = json_object_array_get_idx(boards, i), *v, *owner;

		if (json_object_object_get_ex(rec, key, &v) &&
		    json_object_is_type(v, json_type_string) &&
		    strcasecmp(json_object_get_string(v), value) == 0 &&
		    json_object_object_get_ex(rec, "name", &owner) &&
		    !kf_streq(json_object_get_string(owner), name))
			return json_object_get_string(owner);
	}
	return NULL;
}

/* Another board with the same CAN UUID on the same interface, if any. */
static const char *
can_owner(struct json_object *boards, const struct kflash_board *board)
{
	const char *uuid = kflash_board_get_can_uuid(board);
	const char *iface = kflash_board_get_can_interface(board);
	size_t n = json_object_array_length(boards);

	for (size_t i = 0; uuid && i < n; i++) {
		struct json_object *rec = json_object_array_get_idx(boards, i), *u, *f, *owner;
		const char *other_iface = NULL;

		if (!json_object_object_get_ex(rec, "can_uuid", &u) ||
		    strcasecmp(json_object_get_string(u), uuid) != 0 ||
		    !json_object_object_get_ex(rec, "name", &owner) ||
		    kf_streq(json_object_get_string(owner), kflash_board_get_name(board)))
			continue;
		if (json_object_object_get_ex(rec, "can_interface", &f))
			other_iface = json_object_get_string(f);
		/* One UUID on two buses are two boards; an unset interface is any. */
		if (!iface || !other_iface || strcmp(iface, other_iface) == 0)
			return json_object_get_string(owner);
	}
	return NULL;
}

/*
 * The rules every record of @boards must keep; @adding for a new board,
 * which must also be findable (an old record may lack what it needs, and
 * must be repairable).
 */
static int
check_new_record(struct kflash_context *ctx,
		 struct json_object *boards,
		 const struct kflash_board *board,
		 bool adding)
{
	const char *name = kflash_board_get_name(board);
	const char *serial = kflash_board_get_usb_serial(board);
	const char *path = kflash_board_get_serial_path(board);
	const char *owner;

	if (!kflash_board_get_mcu(board) && !kf_board_is_imported(board))
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "board %s has no MCU; set one, as CONFIG_MCU in its .config, "
				     "for example stm32f446xx",
				     name);
	if (adding && !path && !serial && !kflash_board_get_can_uuid(board))
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "board %s has no serial path, USB serial number or CAN UUID, "
				     "so it could never be found; set one of them",
				     name);
	if (kflash_board_get_method(board) == KFLASH_METHOD_SDCARD &&
	    !kflash_board_get_sdcard_board(board))
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
				     "board %s is to be flashed through its SD card, but has no SD "
				     "card board name, the board's name in Klipper's "
				     "scripts/spi_flash/board_defs.py (for example btt-skr-v1.3)",
				     name);
	if ((owner = owner_of(boards, "usb_serial", serial, name)))
		return kf_error(ctx, KFLASH_ERR_EXISTS,
				"board %s has USB serial number %s, which belongs to board %s "
				"already; one board is registered once",
				name, serial, owner);
	if ((owner = owner_of(boards, "serial_path", path, name)))
		return kf_error(ctx, KFLASH_ERR_EXISTS,
				"board %s has serial path %s, which belongs to board %s already; "
				"two boards cannot share one port",
				name, path, owner);
	if ((owner = can_owner(boards, board)))
		return kf_error(ctx, KFLASH_ERR_EXISTS,
				"board %s has CAN UUID %s, which belongs to board %s already", name,
				kflash_board_get_can_uuid(board), owner);
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
		return kf_error_hint(ctx, KFLASH_ERR_EXISTS, KFLASH_HINT_EDIT_BOARD, name,
				     "a board named %s is registered already; choose another name, "
				     "or change that board instead",
				     name);
	r = check_new_record(ctx, boards, board, true);
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
		return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_LIST_BOARDS, name,
				     "no board named %s is registered", name);
	r = check_new_record(ctx, boards, board, false);
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
		return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_LIST_BOARDS, name,
				     "no board named %s is registered", name);
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
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_LIST_BOARDS, NULL,
				     "'%s' is not a valid board name", name ? name : "");
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

/* ---- for a change of several boards at once (lib/import) ---- */

int
kf_registry_modify(struct kflash_context *ctx, kf_registry_change change, const void *data)
{
	return registry_modify(ctx, change, data);
}

int
kf_registry_add_record(struct kflash_context *ctx,
		       struct json_object *boards,
		       const struct kflash_board *board)
{
	return change_add(ctx, boards, board);
}

int
kf_registry_update_record(struct kflash_context *ctx,
			  struct json_object *boards,
			  const struct kflash_board *board)
{
	return change_update(ctx, boards, board);
}
