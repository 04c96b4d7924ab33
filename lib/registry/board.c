/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "board-private.h"
#include "internal/byid.h"

static const char *const method_names[] = {
	[KFLASH_METHOD_AUTO] = "auto",
	[KFLASH_METHOD_KATAPULT] = "katapult",
	[KFLASH_METHOD_MAKE] = "make",
	[KFLASH_METHOD_SDCARD] = "sdcard",
};

KFLASH_EXPORT const char *
kflash_method_name(enum kflash_method method)
{
	if (method == KFLASH_METHOD_NONE)
		return "none";
	if ((unsigned)method >= KF_ARRAY_SIZE(method_names))
		return NULL;
	return method_names[method];
}

KFLASH_EXPORT int
kflash_method_from_name(const char *name, enum kflash_method *method)
{
	for (size_t i = 0; name && i < KF_ARRAY_SIZE(method_names); i++) {
		if (strcmp(name, method_names[i]) == 0) {
			*method = (enum kflash_method)i;
			return 0;
		}
	}
	return KFLASH_ERR_INVALID;
}

KFLASH_EXPORT int
kflash_board_is_host_mcu(const struct kflash_board *board)
{
	return kf_streq(kflash_board_get_mcu(board), "linux") ? 1 : 0;
}

static const char *const link_names[] = {
	[KFLASH_LINK_SERIAL] = "serial",
	[KFLASH_LINK_CAN] = "can",
	[KFLASH_LINK_CAN_BRIDGE] = "can-bridge",
	[KFLASH_LINK_HOST] = "host",
};

KFLASH_EXPORT const char *
kflash_link_name(int link)
{
	return link >= 0 && (size_t)link < KF_ARRAY_SIZE(link_names) ? link_names[link] : "serial";
}

KFLASH_EXPORT int
kflash_board_get_link(const struct kflash_board *board)
{
	if (kflash_board_is_host_mcu(board))
		return KFLASH_LINK_HOST;
	if (!kflash_board_get_can_uuid(board))
		return KFLASH_LINK_SERIAL;
	return kflash_board_get_usb_serial(board) ? KFLASH_LINK_CAN_BRIDGE : KFLASH_LINK_CAN;
}

KFLASH_EXPORT int
kflash_board_name_is_valid(const char *name)
{
	return kf_name_is_valid(name) ? 1 : 0;
}

struct kflash_board *
kf_board_from_json(struct kflash_context *ctx, struct json_object *obj)
{
	struct kflash_board *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->refcount = 1;
	b->ctx = kflash_context_ref(ctx);
	b->obj = json_object_get(obj);
	return b;
}

struct json_object *
kf_board_json(const struct kflash_board *board)
{
	return board->obj;
}

bool
kf_board_is_imported(const struct kflash_board *board)
{
	struct json_object *v;

	return board && json_object_object_get_ex(board->obj, "imported", &v) &&
	       json_object_is_type(v, json_type_object);
}

KFLASH_EXPORT int
kflash_board_new(struct kflash_context *ctx, const char *name, struct kflash_board **ret)
{
	struct json_object *obj;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the board");
	*ret = NULL;
	if (!kf_name_is_valid(name))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a valid board name: use 1 to 32 lower-case letters, "
				"digits, '-' or '_', starting with a letter or digit",
				name ? name : "");
	obj = json_object_new_object();
	if (!obj || json_object_object_add(obj, "name", json_object_new_string(name)) < 0)
		goto oom;
	*ret = kf_board_from_json(ctx, obj);
	json_object_put(obj);
	if (!*ret)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	return 0;
oom:
	json_object_put(obj);
	return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

KFLASH_EXPORT struct kflash_board *
kflash_board_ref(struct kflash_board *board)
{
	if (board)
		board->refcount++;
	return board;
}

KFLASH_EXPORT struct kflash_board *
kflash_board_unref(struct kflash_board *board)
{
	if (!board || --board->refcount > 0)
		return NULL;
	json_object_put(board->obj);
	kflash_context_unref(board->ctx);
	free(board);
	return NULL;
}

/* ---- field access ---- */

static const char *
get_string(const struct kflash_board *b, const char *key)
{
	struct json_object *v;

	if (!b || !json_object_object_get_ex(b->obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
set_string(struct kflash_board *b, const char *key, const char *value)
{
	struct json_object *v;

	if (!value || !*value) {
		json_object_object_del(b->obj, key);
		return 0;
	}
	v = json_object_new_string(value);
	if (!v || json_object_object_add(b->obj, key, v) < 0) {
		json_object_put(v);
		return kf_error(b->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

static bool
all_chars(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool
has_control_chars(const char *s, bool newlines_ok)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && !(newlines_ok && (*s == '\n' || *s == '\t')))
			return true;
	return false;
}

/* The checks of each field: NULL when @value is fine, else what is allowed. */
static const char *
check_mcu(const char *value)
{
	return strlen(value) <= 64 && all_chars(value, "_-")
		       ? NULL
		       : "an MCU name as Klipper writes it (CONFIG_MCU), for example stm32f446xx";
}

static const char *
check_path(const char *value)
{
	return value[0] == '/' && strlen(value) < 4096 && !has_control_chars(value, false)
		       ? NULL
		       : "an absolute path, for example /dev/serial/by-id/usb-Klipper_...";
}

static const char *
check_usb_serial(const char *value)
{
	return strlen(value) <= 128 && all_chars(value, "")
		       ? NULL
		       : "letters and digits only, as in the by-id name";
}

static const char *
check_word(const char *value)
{
	return strlen(value) <= 128 && all_chars(value, "._-@:")
		       ? NULL
		       : "letters, digits and . _ - @ : only";
}

static const char *
check_can_uuid(const char *value)
{
	return strlen(value) == 12 && strspn(value, "0123456789abcdefABCDEF") == 12
		       ? NULL
		       : "12 hexadecimal digits, as canbus_uuid in printer.cfg";
}

static const char *
check_klipper_mcu(const char *value)
{
	if (strcmp(value, "mcu") == 0)
		return NULL;
	if (kf_startswith(value, "mcu ") && value[4] && strlen(value) <= 64 &&
	    all_chars(value + 4, "_-"))
		return NULL;
	return "\"mcu\" or \"mcu <name>\", as the section in printer.cfg";
}

static const char *
check_notes(const char *value)
{
	return strlen(value) <= 4096 && !has_control_chars(value, true)
		       ? NULL
		       : "printable text of at most 4096 bytes";
}

static int
set_checked(struct kflash_board *b,
	    const char *key,
	    const char *label,
	    const char *value,
	    const char *(*check)(const char *))
{
	const char *problem;

	if (!b)
		return KFLASH_ERR_INVALID;
	if (value && *value && (problem = check(value)))
		return kf_error(b->ctx, KFLASH_ERR_INVALID, "board %s: invalid %s '%s': use %s",
				kflash_board_get_name(b), label, value, problem);
	return set_string(b, key, value);
}

KFLASH_EXPORT const char *
kflash_board_get_name(const struct kflash_board *board)
{
	return get_string(board, "name");
}

KFLASH_EXPORT int
kflash_board_set_mcu(struct kflash_board *board, const char *mcu)
{
	int r = set_checked(board, "mcu", "MCU", mcu, check_mcu);

	/* Klipper's host MCU always answers on the pty its klipper-mcu service makes. */
	if (r == 0 && kflash_board_is_host_mcu(board) && !kflash_board_get_serial_path(board))
		r = set_string(board, "serial_path", KFLASH_HOST_MCU_SERIAL_PATH);
	return r;
}

KFLASH_EXPORT const char *
kflash_board_get_mcu(const struct kflash_board *board)
{
	return get_string(board, "mcu");
}

KFLASH_EXPORT int
kflash_board_set_serial_path(struct kflash_board *board, const char *path)
{
	const char *base;
	struct kf_byid id = { 0 };
	int r;

	r = set_checked(board, "serial_path", "serial path", path, check_path);
	if (r < 0 || !path || !*path)
		return r;

	/* A Klipper or Katapult by-id name carries the MCU and the chip id. */
	base = strrchr(path, '/') + 1;
	if (kf_byid_parse(base, &id) < 0 || id.kind == KF_BYID_OTHER) {
		kf_byid_clear(&id);
		return 0;
	}
	if (id.serial && !kflash_board_get_usb_serial(board) && !check_usb_serial(id.serial))
		r = set_string(board, "usb_serial", id.serial);
	if (r == 0 && id.product && !kflash_board_get_mcu(board) && !check_mcu(id.product))
		r = set_string(board, "mcu", id.product);
	kf_byid_clear(&id);
	return r;
}

KFLASH_EXPORT const char *
kflash_board_get_serial_path(const struct kflash_board *board)
{
	return get_string(board, "serial_path");
}

KFLASH_EXPORT int
kflash_board_set_usb_serial(struct kflash_board *board, const char *serial)
{
	return set_checked(board, "usb_serial", "USB serial number", serial, check_usb_serial);
}

KFLASH_EXPORT const char *
kflash_board_get_usb_serial(const struct kflash_board *board)
{
	return get_string(board, "usb_serial");
}

KFLASH_EXPORT int
kflash_board_set_method(struct kflash_board *board, enum kflash_method method)
{
	const char *name = kflash_method_name(method);

	if (!board)
		return KFLASH_ERR_INVALID;
	if (!name || method == KFLASH_METHOD_NONE)
		return kf_error(
			board->ctx, KFLASH_ERR_INVALID,
			"board %s: unknown flash method %d; use auto, katapult, make or sdcard",
			kflash_board_get_name(board), (int)method);
	return set_string(board, "method", name);
}

KFLASH_EXPORT enum kflash_method
kflash_board_get_method(const struct kflash_board *board)
{
	enum kflash_method m = KFLASH_METHOD_AUTO;

	kflash_method_from_name(get_string(board, "method"), &m);
	return m;
}

KFLASH_EXPORT int
kflash_board_set_sdcard_board(struct kflash_board *board, const char *sdcard_board)
{
	return set_checked(board, "sdcard_board", "SD card board", sdcard_board, check_word);
}

KFLASH_EXPORT const char *
kflash_board_get_sdcard_board(const struct kflash_board *board)
{
	return get_string(board, "sdcard_board");
}

KFLASH_EXPORT int
kflash_board_set_baud(struct kflash_board *board, uint32_t baud)
{
	struct json_object *v;

	if (!board)
		return KFLASH_ERR_INVALID;
	if (baud == 0) {
		json_object_object_del(board->obj, "baud");
		return 0;
	}
	if (baud < 1200 || baud > 12000000)
		return kf_error(board->ctx, KFLASH_ERR_INVALID,
				"board %s: invalid baud rate %u: use 1200 to 12000000, "
				"usually 250000 (CONFIG_SERIAL_BAUD)",
				kflash_board_get_name(board), baud);
	v = json_object_new_int64(baud);
	if (!v || json_object_object_add(board->obj, "baud", v) < 0) {
		json_object_put(v);
		return kf_error(board->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

KFLASH_EXPORT uint32_t
kflash_board_get_baud(const struct kflash_board *board)
{
	struct json_object *v;
	int64_t baud;

	if (!board || !json_object_object_get_ex(board->obj, "baud", &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	baud = json_object_get_int64(v);
	return baud > 0 && baud <= 12000000 ? (uint32_t)baud : 0;
}

KFLASH_EXPORT int
kflash_board_set_can_interface(struct kflash_board *board, const char *interface)
{
	return set_checked(board, "can_interface", "CAN interface", interface, check_word);
}

KFLASH_EXPORT const char *
kflash_board_get_can_interface(const struct kflash_board *board)
{
	return get_string(board, "can_interface");
}

KFLASH_EXPORT int
kflash_board_set_can_uuid(struct kflash_board *board, const char *uuid)
{
	char lower[13];

	if (!board)
		return KFLASH_ERR_INVALID;
	if (!uuid || !*uuid || check_can_uuid(uuid))
		return set_checked(board, "can_uuid", "CAN UUID", uuid, check_can_uuid);
	for (int i = 0; i < 13; i++)
		lower[i] = (char)tolower((unsigned char)uuid[i]);
	return set_string(board, "can_uuid", lower);
}

KFLASH_EXPORT const char *
kflash_board_get_can_uuid(const struct kflash_board *board)
{
	return get_string(board, "can_uuid");
}

KFLASH_EXPORT int
kflash_board_set_klipper_mcu(struct kflash_board *board, const char *klipper_mcu)
{
	return set_checked(board, "klipper_mcu", "Klipper MCU name", klipper_mcu,
			   check_klipper_mcu);
}

KFLASH_EXPORT const char *
kflash_board_get_klipper_mcu(const struct kflash_board *board)
{
	return get_string(board, "klipper_mcu");
}

KFLASH_EXPORT int
kflash_board_set_service(struct kflash_board *board, const char *unit)
{
	return set_checked(board, "service", "service unit", unit, check_word);
}

KFLASH_EXPORT const char *
kflash_board_get_service(const struct kflash_board *board)
{
	return get_string(board, "service");
}

KFLASH_EXPORT int
kflash_board_set_notes(struct kflash_board *board, const char *notes)
{
	return set_checked(board, "notes", "notes", notes, check_notes);
}

KFLASH_EXPORT const char *
kflash_board_get_notes(const struct kflash_board *board)
{
	return get_string(board, "notes");
}

/* ---- the last flash: {"klipper_version", "time", "firmware_hash", "result"} ---- */

static struct json_object *
last_flash(const struct kflash_board *b)
{
	struct json_object *v;

	if (!b || !json_object_object_get_ex(b->obj, "last_flash", &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static const char *
last_flash_string(const struct kflash_board *b, const char *key)
{
	struct json_object *lf = last_flash(b), *v;

	if (!lf || !json_object_object_get_ex(lf, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

KFLASH_EXPORT int
kflash_board_has_last_flash(const struct kflash_board *board)
{
	return last_flash(board) ? 1 : 0;
}

KFLASH_EXPORT const char *
kflash_board_get_last_flash_version(const struct kflash_board *board)
{
	return last_flash_string(board, "klipper_version");
}

KFLASH_EXPORT int64_t
kflash_board_get_last_flash_time(const struct kflash_board *board)
{
	const char *s = last_flash_string(board, "time");
	struct tm tm = { 0 };
	const char *end;

	if (!s)
		return 0;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return 0;
	return (int64_t)timegm(&tm);
}

KFLASH_EXPORT const char *
kflash_board_get_last_flash_hash(const struct kflash_board *board)
{
	return last_flash_string(board, "firmware_hash");
}

KFLASH_EXPORT int
kflash_board_get_last_flash_ok(const struct kflash_board *board)
{
	const char *r = last_flash_string(board, "result");

	return r && strcmp(r, "success") == 0 ? 1 : 0;
}

/* ---- validation of records read from a file ---- */

static const struct {
	const char *key;
	const char *(*check)(const char *);
} string_fields[] = {
	{ "mcu", check_mcu },
	{ "serial_path", check_path },
	{ "usb_serial", check_usb_serial },
	{ "sdcard_board", check_word },
	{ "can_interface", check_word },
	{ "can_uuid", check_can_uuid },
	{ "klipper_mcu", check_klipper_mcu },
	{ "service", check_word },
	{ "notes", check_notes },
};

const char *
kf_board_check_value(const char *key, const char *value)
{
	for (size_t i = 0; i < KF_ARRAY_SIZE(string_fields); i++)
		if (strcmp(string_fields[i].key, key) == 0)
			return value && *value ? string_fields[i].check(value) : NULL;
	return NULL;
}

const char *
kf_board_check_json(struct json_object *obj, const char **field)
{
	struct json_object *v;
	enum kflash_method m;

	*field = NULL;
	if (!json_object_is_type(obj, json_type_object))
		return "a JSON object";
	*field = "name";
	if (!json_object_object_get_ex(obj, "name", &v) ||
	    !json_object_is_type(v, json_type_string))
		return "a string";
	if (!kf_name_is_valid(json_object_get_string(v)))
		return "1 to 32 lower-case letters, digits, '-' or '_'";
	for (size_t i = 0; i < KF_ARRAY_SIZE(string_fields); i++) {
		*field = string_fields[i].key;
		if (!json_object_object_get_ex(obj, *field, &v))
			continue;
		if (!json_object_is_type(v, json_type_string))
			return "a string";
		if (string_fields[i].check(json_object_get_string(v)))
			return string_fields[i].check(json_object_get_string(v));
	}
	*field = "method";
	if (json_object_object_get_ex(obj, "method", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     kflash_method_from_name(json_object_get_string(v), &m) < 0))
		return "\"auto\", \"katapult\", \"make\" or \"sdcard\"";
	*field = "baud";
	if (json_object_object_get_ex(obj, "baud", &v) &&
	    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	     json_object_get_int64(v) > 12000000))
		return "a number from 0 to 12000000";
	*field = "last_flash";
	if (json_object_object_get_ex(obj, "last_flash", &v) &&
	    !json_object_is_type(v, json_type_object) && !json_object_is_type(v, json_type_null))
		return "an object or null";
	*field = NULL;
	return NULL;
}
