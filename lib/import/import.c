/* SPDX-License-Identifier: MIT */
/*
 * Importing boards from Klipper's config. Each config added is a source:
 * its [mcu] sections, read once (printer-cfg.c) and checked. A plan turns
 * every section into a change against the registry's records: a new board,
 * or a three-way merge of the registered board (what it is now), what the
 * last import set ("imported" in its record) and what the config says now.
 * The same code runs on a copy of the records for a plan, and on the
 * locked file for an apply, which writes every change at once.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal/byid.h"
#include "klipper/printer-cfg.h"
#include "libkflash-private.h"
#include "registry/board-private.h"
#include "registry/registry-private.h"

/* The fields an import sets, in the order they are set. */
enum field {
	F_MCU,
	F_SERIAL_PATH,
	F_USB_SERIAL,
	F_BAUD,
	F_CAN_INTERFACE,
	F_CAN_UUID,
	F_KLIPPER_MCU,
	F_SERVICE,
	F_COUNT,
};

static const struct {
	const char *key, *label;
} fields[F_COUNT] = {
	[F_MCU] = { "mcu", "MCU" },
	[F_SERIAL_PATH] = { "serial_path", "serial path" },
	[F_USB_SERIAL] = { "usb_serial", "USB serial number" },
	[F_BAUD] = { "baud", "baud rate" },
	[F_CAN_INTERFACE] = { "can_interface", "CAN interface" },
	[F_CAN_UUID] = { "can_uuid", "CAN UUID" },
	[F_KLIPPER_MCU] = { "klipper_mcu", "Klipper MCU name" },
	[F_SERVICE] = { "service", "service" },
};

#define HOST_MCU_PREFIX "/tmp/klipper_host_"

/* What the config says about one [mcu] section. */
struct mcu_section {
	char *section;
	char *base;       /* the board name it gives */
	const char *file; /* owned by the source's config */
	unsigned int line;
	char *value[F_COUNT];  /* NULL: unset */
	bool opinion[F_COUNT]; /* false: the config says nothing about the field */
	int mcu_source;        /* of value[F_MCU] */
	char *restart_method;
};

struct source {
	char *unit, *name; /* the instance's, or NULL */
	char *socket;      /* Klipper's API socket to ask, or NULL */
	struct kf_printer_cfg *cfg;
	struct mcu_section *mcus;
	size_t n_mcus;
	bool asked; /* the running Klipper was asked for the MCU types */
};

struct diff {
	enum field field;
	char *old, *new;
	bool conflict;
};

struct kflash_import_change {
	int action;
	const struct source *src;
	const struct mcu_section *ms;
	struct kflash_board *board;
	int mcu_source;
	bool refresh; /* unchanged, but the "imported" record is new */
	char *message;
	struct diff *diffs;
	size_t n_diffs;
};

struct kflash_import {
	int refcount;
	struct kflash_context *ctx;
	struct source **sources;
	size_t n_sources;
	unsigned int flags;
	struct kflash_import_change *changes;
	size_t n_changes;
};

static const char *const action_names[] = {
	[KFLASH_IMPORT_ADD] = "add",
	[KFLASH_IMPORT_UPDATE] = "update",
	[KFLASH_IMPORT_UNCHANGED] = "unchanged",
	[KFLASH_IMPORT_CONFLICT] = "conflict",
};

KFLASH_EXPORT const char *
kflash_import_action_name(int action)
{
	return action >= 0 && (size_t)action < KF_ARRAY_SIZE(action_names) ? action_names[action]
									   : NULL;
}

static const char *const mcu_source_names[] = {
	[KFLASH_MCU_SOURCE_NONE] = "none",   [KFLASH_MCU_SOURCE_BOARD] = "board",
	[KFLASH_MCU_SOURCE_BY_ID] = "by-id", [KFLASH_MCU_SOURCE_KLIPPER] = "klipper",
	[KFLASH_MCU_SOURCE_HOST] = "host",
};

KFLASH_EXPORT const char *
kflash_mcu_source_name(int source)
{
	return source >= 0 && (size_t)source < KF_ARRAY_SIZE(mcu_source_names)
		       ? mcu_source_names[source]
		       : NULL;
}

/* ---- board fields as strings ---- */

static char *
field_value(const struct kflash_board *b, enum field f)
{
	uint32_t baud;

	switch (f) {
	case F_MCU:
		return kf_strdup(kflash_board_get_mcu(b));
	case F_SERIAL_PATH:
		return kf_strdup(kflash_board_get_serial_path(b));
	case F_USB_SERIAL:
		return kf_strdup(kflash_board_get_usb_serial(b));
	case F_BAUD:
		baud = kflash_board_get_baud(b);
		return baud ? kf_strdup_printf("%u", baud) : NULL;
	case F_CAN_INTERFACE:
		return kf_strdup(kflash_board_get_can_interface(b));
	case F_CAN_UUID:
		return kf_strdup(kflash_board_get_can_uuid(b));
	case F_KLIPPER_MCU:
		return kf_strdup(kflash_board_get_klipper_mcu(b));
	case F_SERVICE:
		return kf_strdup(kflash_board_get_service(b));
	case F_COUNT:
		break;
	}
	return NULL;
}

static int
put_field(struct kflash_board *b, enum field f, const char *value)
{
	switch (f) {
	case F_MCU:
		return kflash_board_set_mcu(b, value);
	case F_SERIAL_PATH:
		return kflash_board_set_serial_path(b, value);
	case F_USB_SERIAL:
		return kflash_board_set_usb_serial(b, value);
	case F_BAUD:
		return kflash_board_set_baud(b, value ? (uint32_t)strtoul(value, NULL, 10) : 0);
	case F_CAN_INTERFACE:
		return kflash_board_set_can_interface(b, value);
	case F_CAN_UUID:
		return kflash_board_set_can_uuid(b, value);
	case F_KLIPPER_MCU:
		return kflash_board_set_klipper_mcu(b, value);
	case F_SERVICE:
		return kflash_board_set_service(b, value);
	case F_COUNT:
		break;
	}
	return KFLASH_ERR_INVALID;
}

/* Are two values of field @f the same (NULL is unset)? */
static bool
same_value(enum field f, const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	if (f == F_USB_SERIAL || f == F_CAN_UUID)
		return strcasecmp(a, b) == 0;
	if (f == F_MCU)
		return kflash_mcu_matches(a, b);
	return strcmp(a, b) == 0;
}

/* ---- sources: a config's [mcu] sections ---- */

static void
mcu_section_clear(struct mcu_section *ms)
{
	free(ms->section);
	free(ms->base);
	for (int f = 0; f < F_COUNT; f++)
		free(ms->value[f]);
	free(ms->restart_method);
}

static void
source_free(struct source *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->n_mcus; i++)
		mcu_section_clear(&src->mcus[i]);
	free(src->mcus);
	kf_printer_cfg_free(src->cfg);
	free(src->unit);
	free(src->name);
	free(src->socket);
	free(src);
}

/*
 * @s made a valid board name: lower case, other characters than letters,
 * digits, '-' and '_' become '-', at most 32; NULL when nothing is left.
 */
static char *
board_name_of(const char *s)
{
	char name[33];
	size_t n = 0;

	for (; *s && n < sizeof(name) - 1; s++) {
		char c = (char)tolower((unsigned char)*s);

		if (!isalnum((unsigned char)c) && c != '_')
			c = '-';
		if (n == 0 && !isalnum((unsigned char)c))
			continue;
		if (c == '-' && name[n - 1] == '-')
			continue;
		name[n++] = c;
	}
	while (n > 0 && name[n - 1] == '-')
		n--;
	name[n] = '\0';
	return n && kf_name_is_valid(name) ? strdup(name) : NULL;
}

/* An option of @s as one line, trimmed; NULL when unset. Errors for several lines. */
static int
option(struct kflash_context *ctx,
       const struct kf_printer_cfg *cfg,
       const struct kf_cfg_section *s,
       const char *key,
       char **ret,
       const struct kf_cfg_option **where)
{
	const struct kf_cfg_option *o = kf_printer_cfg_get(cfg, s, key);
	const char *v;
	size_t n;

	*ret = NULL;
	*where = o;
	if (!o)
		return 0;
	v = o->value + strspn(o->value, " \t\n");
	n = strlen(v);
	while (n > 0 && strchr(" \t\n", v[n - 1]))
		n--;
	if (memchr(v, '\n', n))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s:%u: %s of [%s] spans several lines; it is one value", o->file,
				o->line, key, s->name);
	if (n == 0)
		return 0;
	*ret = strndup(v, n);
	return *ret ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

/* Fail with "FILE:LINE: <key> 'value' of [section]: <what>" unless @problem is NULL. */
static int
bad_value(struct kflash_context *ctx,
	  const struct kf_cfg_option *o,
	  const struct kf_cfg_section *s,
	  const char *value,
	  const char *problem)
{
	return kf_error(ctx, KFLASH_ERR_INVALID,
			"%s:%u: %s '%s' of [%s] cannot be imported: use %s", o->file, o->line,
			o->key, value, s->name, problem);
}

/* The MCU and the USB serial number a Klipper or Katapult by-id name tells. */
static int
from_by_id(struct mcu_section *ms)
{
	const char *base = strrchr(ms->value[F_SERIAL_PATH], '/') + 1;
	struct kf_byid id = { 0 };

	if (kf_byid_parse(base, &id) < 0 || id.kind == KF_BYID_OTHER) {
		kf_byid_clear(&id);
		return 0;
	}
	if (id.serial && !kf_board_check_value("usb_serial", id.serial)) {
		ms->value[F_USB_SERIAL] = kf_steal(&id.serial);
		ms->opinion[F_USB_SERIAL] = true;
	}
	if (id.product && !kf_board_check_value("mcu", id.product)) {
		ms->value[F_MCU] = kf_steal(&id.product);
		ms->opinion[F_MCU] = true;
		ms->mcu_source = KFLASH_MCU_SOURCE_BY_ID;
	}
	kf_byid_clear(&id);
	return 0;
}

static const char *const restart_methods[] = { "arduino", "cheetah", "command", "rpi_usb" };

/* Read the [mcu] section @s into @ms, as Klipper reads it. */
static int
read_mcu_section(struct kflash_context *ctx,
		 const struct source *src,
		 const struct kf_cfg_section *s,
		 struct mcu_section *ms)
{
	_cleanup_free_ char *serial = NULL, *uuid = NULL, *iface = NULL, *baud = NULL;
	const struct kf_cfg_option *o_serial, *o_uuid, *o_iface, *o_baud, *o_restart;
	const char *problem;
	int r;

	ms->file = s->file;
	ms->line = s->line;
	ms->section = strdup(s->name);
	if (!ms->section)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (kf_board_check_value("klipper_mcu", s->name))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s:%u: [%s] cannot be imported: a board can be linked to an MCU "
				"named with letters, digits, '_' and '-' only (at most 60)",
				s->file, s->line, s->name);
	ms->base = board_name_of(strcmp(s->name, "mcu") == 0 ? "mcu" : s->name + 4);
	if (!ms->base)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s:%u: [%s] gives no board name: a name needs a letter or digit",
				s->file, s->line, s->name);
	ms->value[F_KLIPPER_MCU] = strdup(s->name);
	ms->opinion[F_KLIPPER_MCU] = true;
	if (src->unit) {
		ms->value[F_SERVICE] = strdup(src->unit);
		ms->opinion[F_SERVICE] = true;
	}
	if (!ms->value[F_KLIPPER_MCU] || (src->unit && !ms->value[F_SERVICE]))
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* Either way, the config decides these: unset is "none". */
	ms->opinion[F_SERIAL_PATH] = ms->opinion[F_BAUD] = true;
	ms->opinion[F_CAN_INTERFACE] = ms->opinion[F_CAN_UUID] = true;

	r = option(ctx, src->cfg, s, "canbus_uuid", &uuid, &o_uuid);
	if (r == 0)
		r = option(ctx, src->cfg, s, "serial", &serial, &o_serial);
	if (r < 0)
		return r;

	/* A CAN node: its UUID on its interface (can0 unless set); serial is not read. */
	if (uuid) {
		char lower[13];

		if ((problem = kf_board_check_value("can_uuid", uuid)))
			return bad_value(ctx, o_uuid, s, uuid, problem);
		r = option(ctx, src->cfg, s, "canbus_interface", &iface, &o_iface);
		if (r < 0)
			return r;
		if (iface && (problem = kf_board_check_value("can_interface", iface)))
			return bad_value(ctx, o_iface, s, iface, problem);
		for (int i = 0; i < 13; i++)
			lower[i] = (char)tolower((unsigned char)uuid[i]);
		ms->value[F_CAN_UUID] = strdup(lower);
		ms->value[F_CAN_INTERFACE] = strdup(iface ? iface : "can0");
		if (!ms->value[F_CAN_UUID] || !ms->value[F_CAN_INTERFACE])
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		return 0;
	}

	if (!serial)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s:%u: [%s] has neither serial nor canbus_uuid, so its board "
				"cannot be found; Klipper needs one of them too",
				s->file, s->line, s->name);
	if ((problem = kf_board_check_value("serial_path", serial)))
		return bad_value(ctx, o_serial, s, serial, problem);
	ms->value[F_SERIAL_PATH] = kf_steal(&serial);

	/* Klipper's host MCU answers on a pty; it and rpmsg ports have no baud rate. */
	if (kf_startswith(ms->value[F_SERIAL_PATH], HOST_MCU_PREFIX)) {
		ms->value[F_MCU] = strdup("linux");
		ms->opinion[F_MCU] = true;
		ms->mcu_source = KFLASH_MCU_SOURCE_HOST;
		return ms->value[F_MCU] ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	r = from_by_id(ms);
	if (r < 0 || kf_startswith(ms->value[F_SERIAL_PATH], "/dev/rpmsg_"))
		return r;

	r = option(ctx, src->cfg, s, "baud", &baud, &o_baud);
	if (r < 0)
		return r;
	if (baud) {
		char *end;
		unsigned long v = strtoul(baud, &end, 10);

		if (!isdigit((unsigned char)baud[0]) || *end || v < 1200 || v > 12000000)
			return bad_value(ctx, o_baud, s, baud,
					 "a number from 1200 to 12000000, usually 250000");
		ms->value[F_BAUD] = kf_strdup_printf("%lu", v);
		if (!ms->value[F_BAUD])
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	r = option(ctx, src->cfg, s, "restart_method", &ms->restart_method, &o_restart);
	if (r < 0 || !ms->restart_method)
		return r;
	for (size_t i = 0; i < KF_ARRAY_SIZE(restart_methods); i++)
		if (strcmp(ms->restart_method, restart_methods[i]) == 0)
			return 0;
	return bad_value(ctx, o_restart, s, ms->restart_method,
			 "arduino, cheetah, command or rpi_usb");
}

static int
read_mcu_sections(struct kflash_context *ctx, struct source *src)
{
	const struct kf_printer_cfg *cfg = src->cfg;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < cfg->n_sections; i++)
		n += strcmp(cfg->sections[i].name, "mcu") == 0 ||
		     kf_startswith(cfg->sections[i].name, "mcu ");
	if (!kf_printer_cfg_find(cfg, "mcu"))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s has no [mcu] section, which every Klipper config has: is it "
				"printer.cfg?",
				cfg->path);
	src->mcus = calloc(n, sizeof(*src->mcus));
	if (!src->mcus)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t i = 0; i < cfg->n_sections; i++) {
		const struct kf_cfg_section *s = &cfg->sections[i];

		if (strcmp(s->name, "mcu") != 0 && !kf_startswith(s->name, "mcu "))
			continue;
		r = read_mcu_section(ctx, src, s, &src->mcus[src->n_mcus++]);
		if (r < 0)
			return r;
		for (size_t j = 0; j + 1 < src->n_mcus; j++) {
			const struct mcu_section *a = &src->mcus[j],
						 *b = &src->mcus[src->n_mcus - 1];

			if (strcmp(a->base, b->base) == 0)
				return kf_error(ctx, KFLASH_ERR_INVALID,
						"[%s] (%s:%u) and [%s] (%s:%u) both give the board "
						"name %s; rename one of them in the config",
						a->section, a->file, a->line, b->section, b->file,
						b->line, a->base);
		}
	}
	return 0;
}

static int
add_source(struct kflash_import *imp, const char *path, const char *unit, const char *socket)
{
	struct kflash_context *ctx = imp->ctx;
	struct source *src;
	int r;

	if (!path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no Klipper config to import");
	if (unit && kf_board_check_value("service", unit))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a systemd unit a board can have: use %s", unit,
				kf_board_check_value("service", unit));
	src = calloc(1, sizeof(*src));
	if (!src)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	src->unit = kf_strdup(unit);
	src->name = kf_strdup(unit && kf_startswith(unit, "klipper-") ? unit + 8 : unit);
	src->socket = kf_strdup(socket);
	if ((unit && (!src->unit || !src->name)) || (socket && !src->socket)) {
		source_free(src);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	r = kf_printer_cfg_read(ctx, path, &src->cfg);
	for (size_t i = 0; r == 0 && i < imp->n_sources; i++) {
		const struct source *other = imp->sources[i];

		if (strcmp(other->cfg->path, src->cfg->path) == 0)
			r = kf_error(ctx, KFLASH_ERR_INVALID, "%s is in this import already",
				     src->cfg->path);
		else if (unit && kf_streq(other->unit, unit))
			r = kf_error(ctx, KFLASH_ERR_INVALID,
				     "the unit %s has a config in this import already (%s)", unit,
				     other->cfg->path);
	}
	if (r == 0)
		r = read_mcu_sections(ctx, src);
	if (r == 0 && !KF_GROW(imp->sources, imp->n_sources + 1))
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r < 0) {
		source_free(src);
		return r;
	}
	imp->sources[imp->n_sources++] = src;
	kf_debug(ctx, "%s: %zu MCU section%s", src->cfg->path, src->n_mcus,
		 src->n_mcus == 1 ? "" : "s");
	return 0;
}

KFLASH_EXPORT int
kflash_import_add_file(struct kflash_import *import,
		       const char *config_path,
		       const char *unit,
		       const char *klippy_socket)
{
	if (!import)
		return KFLASH_ERR_INVALID;
	if (!klippy_socket)
		klippy_socket = kflash_context_get_klippy_socket(import->ctx);
	return add_source(import, config_path, unit, klippy_socket);
}

KFLASH_EXPORT int
kflash_import_add_instance(struct kflash_import *import, const struct kflash_instance *instance)
{
	if (!import)
		return KFLASH_ERR_INVALID;
	if (!instance)
		return kf_error(import->ctx, KFLASH_ERR_INVALID, "no Klipper instance to import");
	return add_source(import, kflash_instance_get_config_path(instance),
			  kflash_instance_get_unit(instance),
			  kflash_instance_get_klippy_socket(instance));
}

/* ---- the running Klipper's MCU types ---- */

static bool
same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (realpath(a, ra) && realpath(b, rb))
		return strcmp(ra, rb) == 0;
	return strcmp(a, b) == 0;
}

/* Ask the source's Klipper, once, for the types of the MCUs nothing else told. */
static void
ask_klipper(struct kflash_import *imp, struct source *src)
{
	struct kflash_context *ctx = imp->ctx;
	struct kflash_klippy *k = NULL;
	const char *runs;
	bool needed = false;

	for (size_t i = 0; i < src->n_mcus; i++)
		needed = needed || !src->mcus[i].value[F_MCU];
	if (src->asked || !needed || !src->socket || (imp->flags & KFLASH_IMPORT_NO_KLIPPY))
		return;
	src->asked = true;
	if (kflash_klippy_connect_socket(ctx, src->socket, &k) < 0 ||
	    kflash_klippy_query_info(k) < 0) {
		kf_debug(ctx, "the MCU types of %s are not asked from Klipper: %s", src->cfg->path,
			 kflash_context_last_error(ctx));
		goto out;
	}
	runs = kflash_klippy_get_config_file(k);
	if (runs && !same_file(runs, src->cfg->path)) {
		kf_debug(ctx,
			 "the Klipper on %s runs %s, not %s: its MCU types are not this "
			 "config's",
			 src->socket, runs, src->cfg->path);
		goto out;
	}
	if (kflash_klippy_query_status(k) < 0) {
		kf_debug(ctx, "the MCU types of %s are not known: %s", src->cfg->path,
			 kflash_context_last_error(ctx));
		goto out;
	}
	for (size_t m = 0; m < kflash_klippy_get_mcu_count(k); m++) {
		const char *name = kflash_klippy_get_mcu_name(k, m);
		const char *type = kflash_klippy_get_mcu_type(k, m);

		for (size_t i = 0; name && type && i < src->n_mcus; i++) {
			struct mcu_section *ms = &src->mcus[i];

			if (strcmp(ms->section, name) != 0 || ms->value[F_MCU] ||
			    kf_board_check_value("mcu", type))
				continue;
			ms->value[F_MCU] = strdup(type);
			ms->opinion[F_MCU] = ms->value[F_MCU] != NULL;
			ms->mcu_source = KFLASH_MCU_SOURCE_KLIPPER;
			kf_debug(ctx, "[%s]: MCU %s, as the running Klipper reports it",
				 ms->section, type);
		}
	}
out:
	kflash_klippy_unref(k);
}

/* ---- planning ---- */

/* One record of the registry, seen as a board. */
struct record {
	struct kflash_board *board; /* shares the record's JSON */
	const struct mcu_section *claimed_by;
};

static void
change_clear(struct kflash_import_change *c)
{
	kflash_board_unref(c->board);
	free(c->message);
	for (size_t i = 0; i < c->n_diffs; i++) {
		free(c->diffs[i].old);
		free(c->diffs[i].new);
	}
	free(c->diffs);
	*c = (struct kflash_import_change){ 0 };
}

static void
changes_free(struct kflash_import_change *changes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		change_clear(&changes[i]);
	free(changes);
}

static bool
add_diff(struct kflash_import_change *c,
	 enum field f,
	 const char *old,
	 const char *new,
	 bool conflict)
{
	struct diff *d;

	if (!KF_GROW(c->diffs, c->n_diffs + 1))
		return false;
	d = &c->diffs[c->n_diffs++];
	*d = (struct diff){ .field = f, .conflict = conflict };
	d->old = kf_strdup(old);
	d->new = kf_strdup(new);
	return (!old || d->old) && (!new || d->new);
}

/* The unit of a board, or of a source: its own, else the context's. */
static const char *
unit_of(struct kflash_context *ctx, const char *unit)
{
	return unit ? unit : kflash_context_get_service(ctx);
}

static bool
same_device(const struct kflash_board *b, const struct mcu_section *ms)
{
	const char *v;

	if ((v = kflash_board_get_usb_serial(b)) && ms->value[F_USB_SERIAL] &&
	    strcasecmp(v, ms->value[F_USB_SERIAL]) == 0)
		return true;
	if ((v = kflash_board_get_serial_path(b)) && ms->value[F_SERIAL_PATH] &&
	    strcmp(v, ms->value[F_SERIAL_PATH]) == 0)
		return true;
	if ((v = kflash_board_get_can_uuid(b)) && ms->value[F_CAN_UUID] &&
	    strcasecmp(v, ms->value[F_CAN_UUID]) == 0) {
		const char *iface = kflash_board_get_can_interface(b);

		return !iface || strcmp(iface, ms->value[F_CAN_INTERFACE]) == 0;
	}
	return false;
}

/* The record the section belongs to, or -1: linked to it, else the same device. */
static int
find_record(struct kflash_context *ctx,
	    const struct source *src,
	    const struct mcu_section *ms,
	    struct record *recs,
	    size_t n,
	    ssize_t *found)
{
	const char *unit = unit_of(ctx, src->unit);

	*found = -1;
	for (int pass = 0; pass < 2 && *found < 0; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct kflash_board *b = recs[i].board;
			bool match =
				pass == 0
					? kf_streq(kflash_board_get_klipper_mcu(b), ms->section) &&
						  kf_streq(
							  unit_of(ctx, kflash_board_get_service(b)),
							  unit)
					: same_device(b, ms);

			if (!match)
				continue;
			if (*found >= 0)
				return kf_error(
					ctx, KFLASH_ERR_AMBIGUOUS,
					"[%s] (%s:%u) could be board %s or board %s; unlink one "
					"of them (its Klipper MCU name, service or device)",
					ms->section, ms->file, ms->line,
					kflash_board_get_name(recs[*found].board),
					kflash_board_get_name(b));
			*found = (ssize_t)i;
		}
	}
	if (*found >= 0 && recs[*found].claimed_by) {
		const struct mcu_section *other = recs[*found].claimed_by;

		return kf_error(ctx, KFLASH_ERR_INVALID,
				"[%s] (%s:%u) and [%s] (%s:%u) are both board %s (the same "
				"device, or linked to both); correct one of the sections",
				other->section, other->file, other->line, ms->section, ms->file,
				ms->line, kflash_board_get_name(recs[*found].board));
	}
	return 0;
}

static bool
name_taken(const char *name, const struct record *recs, size_t n, char *const *new_names)
{
	for (size_t i = 0; i < n; i++)
		if (kf_streq(kflash_board_get_name(recs[i].board), name))
			return true;
	for (size_t i = 0; new_names && new_names[i]; i++)
		if (strcmp(new_names[i], name) == 0)
			return true;
	return false;
}

/* The name of a new board: the section's, or "<instance>-<section's>" when taken. */
static int
choose_name(struct kflash_import *imp,
	    const struct source *src,
	    const struct mcu_section *ms,
	    const struct record *recs,
	    size_t n,
	    char *const *new_names,
	    char **ret)
{
	_cleanup_free_ char *qualified = NULL, *joined = NULL;
	const char *candidates[2];
	size_t units = 0;
	bool prefer_qualified;

	*ret = NULL;
	if (src->name) {
		joined = kf_strdup_printf("%s-%s", src->name, ms->base);
		if (!joined)
			return kf_error(imp->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		qualified = board_name_of(joined);
	}
	/* Several instances at once: only the context's own keeps the plain names. */
	for (size_t i = 0; i < imp->n_sources; i++)
		units += imp->sources[i]->unit != NULL;
	prefer_qualified = qualified && units > 1 &&
			   !kf_streq(src->unit, kflash_context_get_service(imp->ctx));
	candidates[0] = prefer_qualified ? qualified : ms->base;
	candidates[1] = prefer_qualified ? ms->base : qualified;
	for (size_t i = 0; i < 2; i++) {
		if (candidates[i] && !name_taken(candidates[i], recs, n, new_names)) {
			*ret = strdup(candidates[i]);
			return *ret ? 0 : kf_error(imp->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
	}
	return kf_error_hint(imp->ctx, KFLASH_ERR_EXISTS, KFLASH_HINT_EDIT_BOARD, ms->base,
			     "[%s] (%s:%u) would be board %s%s%s, but another registered board "
			     "has that name; if that board is this MCU, set its Klipper MCU "
			     "name to \"%s\"%s%s so that the import finds it, else remove it",
			     ms->section, ms->file, ms->line, candidates[0],
			     candidates[1] ? " or " : "", candidates[1] ? candidates[1] : "",
			     ms->section, src->unit ? " and its service to " : "",
			     src->unit ? src->unit : "");
}

/* The "imported" record: what this import sets, to tell later edits from config changes. */
static struct json_object *
imported_record(const struct source *src, const struct mcu_section *ms, char *const *values)
{
	struct json_object *rec = json_object_new_object(), *vals = json_object_new_object();
	bool ok = rec && vals;

	ok = ok &&
	     json_object_object_add(rec, "config", json_object_new_string(src->cfg->path)) == 0;
	ok = ok && json_object_object_add(rec, "section", json_object_new_string(ms->section)) == 0;
	if (ok && src->unit)
		ok = json_object_object_add(rec, "unit", json_object_new_string(src->unit)) == 0;
	if (ok && ms->restart_method)
		ok = json_object_object_add(rec, "restart_method",
					    json_object_new_string(ms->restart_method)) == 0;
	for (int f = 0; ok && f < F_COUNT; f++) {
		if (!values[f])
			continue;
		ok = json_object_object_add(vals, fields[f].key,
					    f == F_BAUD ? json_object_new_int64(atoll(values[f]))
							: json_object_new_string(values[f])) == 0;
	}
	if (ok && json_object_object_add(rec, "values", vals) == 0)
		return rec;
	json_object_put(vals);
	json_object_put(rec);
	return NULL;
}

/* The values object of a record's "imported", or NULL. */
static struct json_object *
imported_values(const struct kflash_board *b)
{
	struct json_object *imp, *vals;

	if (!json_object_object_get_ex(kf_board_json(b), "imported", &imp) ||
	    !json_object_is_type(imp, json_type_object) ||
	    !json_object_object_get_ex(imp, "values", &vals) ||
	    !json_object_is_type(vals, json_type_object))
		return NULL;
	return vals;
}

static char *
imported_value(struct json_object *vals, enum field f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(vals, fields[f].key, &v))
		return NULL;
	if (json_object_is_type(v, json_type_int))
		return kf_strdup_printf("%lld", (long long)json_object_get_int64(v));
	if (json_object_is_type(v, json_type_string))
		return strdup(json_object_get_string(v));
	return NULL;
}

static int
set_imported(struct kflash_board *b, struct json_object *rec)
{
	if (!rec || json_object_object_add(kf_board_json(b), "imported", rec) < 0) {
		json_object_put(rec);
		return KFLASH_ERR_NO_MEMORY;
	}
	return 0;
}

/* "serial path /a -> /b, baud rate 250000 -> unset" */
static char *
describe_diffs(const struct kflash_import_change *c, bool conflicts_only)
{
	char *text = strdup(""), *longer;

	for (size_t i = 0; text && i < c->n_diffs; i++) {
		const struct diff *d = &c->diffs[i];

		if (conflicts_only && !d->conflict)
			continue;
		longer = kf_strdup_printf("%s%s%s %s -> %s%s", text, *text ? ", " : "",
					  fields[d->field].label, d->old ? d->old : "unset",
					  d->new ? d->new : "unset",
					  d->conflict && !conflicts_only ? " (over an edit)" : "");
		free(text);
		text = longer;
	}
	return text;
}

static int
describe(struct kflash_import_change *c)
{
	const struct mcu_section *ms = c->ms;
	_cleanup_free_ char *where =
		kf_strdup_printf("[%s] (%s:%u)", ms->section, ms->file, ms->line);
	_cleanup_free_ char *diffs = NULL;
	const char *mcu = kflash_board_get_mcu(c->board);

	if (!where)
		return KFLASH_ERR_NO_MEMORY;
	switch (c->action) {
	case KFLASH_IMPORT_ADD:
		c->message = kf_strdup_printf(
			"a new board from %s, %s%s%s", where, mcu ? "MCU " : "",
			mcu ? mcu : "MCU unknown until the board's config names it",
			c->mcu_source == KFLASH_MCU_SOURCE_BY_ID     ? " (from its by-id name)"
			: c->mcu_source == KFLASH_MCU_SOURCE_KLIPPER ? " (as the running Klipper "
								       "reports it)"
			: c->mcu_source == KFLASH_MCU_SOURCE_HOST    ? " (Klipper's host MCU)"
								     : "");
		break;
	case KFLASH_IMPORT_UPDATE:
		diffs = describe_diffs(c, false);
		c->message = diffs ? kf_strdup_printf("%s changed: %s", where, diffs) : NULL;
		break;
	case KFLASH_IMPORT_UNCHANGED:
		c->message = kf_strdup_printf("registered as %s says", where);
		break;
	case KFLASH_IMPORT_CONFLICT:
		diffs = describe_diffs(c, true);
		c->message = diffs ? kf_strdup_printf("edited since its import, and %s changed "
						      "too: %s; left as it is unless the import "
						      "is forced",
						      where, diffs)
				   : NULL;
		break;
	}
	return c->message ? 0 : KFLASH_ERR_NO_MEMORY;
}

/* A new board from @ms. */
static int
plan_add(struct kflash_import *imp,
	 const struct source *src,
	 const struct mcu_section *ms,
	 const struct record *recs,
	 size_t n,
	 char ***new_names,
	 struct kflash_import_change *c)
{
	_cleanup_free_ char *name = NULL;
	int r = choose_name(imp, src, ms, recs, n, *new_names, &name);

	if (r < 0)
		return r;
	r = kflash_board_new(imp->ctx, name, &c->board);
	for (int f = 0; r == 0 && f < F_COUNT; f++) {
		if (!ms->value[f])
			continue;
		r = put_field(c->board, (enum field)f, ms->value[f]);
		if (r == 0 && !add_diff(c, (enum field)f, NULL, ms->value[f], false))
			r = KFLASH_ERR_NO_MEMORY;
	}
	if (r == 0)
		r = set_imported(c->board, imported_record(src, ms, ms->value));
	if (r == 0 && !kf_strv_push(new_names, name))
		r = KFLASH_ERR_NO_MEMORY;
	c->action = KFLASH_IMPORT_ADD;
	c->mcu_source = ms->value[F_MCU] ? ms->mcu_source : KFLASH_MCU_SOURCE_NONE;
	return r == KFLASH_ERR_NO_MEMORY ? kf_error(imp->ctx, r, "out of memory") : r;
}

/*
 * The registered board @b and @ms, merged field by field: a field the
 * config changed since the last import (or, for a board never imported,
 * one the board lacks) takes the config's value, unless the board was
 * edited to a third value: a conflict. Fields the config did not change
 * keep what the board has.
 */
static int
plan_merge(struct kflash_import *imp,
	   const struct source *src,
	   const struct mcu_section *ms,
	   const struct kflash_board *b,
	   struct kflash_import_change *c)
{
	struct json_object *vals = imported_values(b), *copy = NULL, *old_rec = NULL, *new_rec;
	bool force = imp->flags & KFLASH_IMPORT_FORCE, conflict = false;
	char *take[F_COUNT] = { 0 }, *record[F_COUNT] = { 0 };
	bool taking[F_COUNT] = { 0 };
	const char *final_mcu;
	int r = 0;

	for (int i = 0; r == 0 && i < F_COUNT; i++) {
		enum field f = (enum field)i;
		_cleanup_free_ char *cur = field_value(b, f), *base = NULL;
		const char *want = ms->value[f];
		bool opinion = ms->opinion[f], clash = false;

		if (vals)
			base = imported_value(vals, f);
		/* A USB serial number the import set goes with the by-id path it came from. */
		if (f == F_USB_SERIAL && !opinion && base)
			opinion = true;
		if (!opinion) {
			record[f] = kf_steal(&base);
			continue;
		}
		record[f] = kf_strdup(want);
		if (same_value(f, cur, want))
			continue;
		if (!vals) {
			/* Never imported: fill what the board lacks; a different value clashes. */
			if (!want)
				continue;
			clash = cur != NULL;
		} else {
			if (same_value(f, want, base))
				continue; /* the config did not change: an edit stays */
			clash = !same_value(f, cur, base);
		}
		if (!add_diff(c, f, cur, want, clash))
			r = KFLASH_ERR_NO_MEMORY;
		conflict = conflict || clash;
		taking[f] = true;
		take[f] = (char *)want;
	}

	if (r == 0 && json_object_deep_copy(kf_board_json(b), &copy, NULL) < 0)
		r = KFLASH_ERR_NO_MEMORY;
	if (r == 0) {
		c->board = kf_board_from_json(imp->ctx, copy);
		if (!c->board)
			r = KFLASH_ERR_NO_MEMORY;
	}
	json_object_put(copy);
	if (r == 0 && conflict && !force) {
		c->action = KFLASH_IMPORT_CONFLICT;
	} else if (r == 0) {
		/* The serial path's setter fills the USB serial number: set that one after it. */
		for (int f = 0; r == 0 && f < F_COUNT; f++)
			if (taking[f] || (f == F_USB_SERIAL && taking[F_SERIAL_PATH]))
				r = put_field(c->board, (enum field)f,
					      taking[f] ? take[f] : kflash_board_get_usb_serial(b));
		json_object_object_get_ex(kf_board_json(b), "imported", &old_rec);
		new_rec = r == 0 ? imported_record(src, ms, record) : NULL;
		if (r == 0 && !new_rec)
			r = KFLASH_ERR_NO_MEMORY;
		if (r == 0) {
			c->refresh = !old_rec || !json_object_equal(old_rec, new_rec);
			r = set_imported(c->board, new_rec);
		}
		c->action = c->n_diffs ? KFLASH_IMPORT_UPDATE : KFLASH_IMPORT_UNCHANGED;
	}
	for (int f = 0; f < F_COUNT; f++)
		free(record[f]);
	if (r < 0)
		return r == KFLASH_ERR_NO_MEMORY ? kf_error(imp->ctx, r, "out of memory") : r;

	final_mcu = kflash_board_get_mcu(c->board);
	if (!final_mcu)
		c->mcu_source = KFLASH_MCU_SOURCE_NONE;
	else if (ms->value[F_MCU] && same_value(F_MCU, final_mcu, ms->value[F_MCU]))
		c->mcu_source = ms->mcu_source;
	else
		c->mcu_source = KFLASH_MCU_SOURCE_BOARD;
	return 0;
}

/*
 * Plan every section of every source against @boards (the registry's
 * records), and make the changes in @boards: updates first (a board may
 * free a path that a new one takes), then additions. Returns 0 when
 * @boards changed, 1 when not, or an error; the plan replaces the
 * import's changes only on success.
 */
static int
compute(struct kflash_import *imp, struct json_object *boards)
{
	struct kflash_context *ctx = imp->ctx;
	size_t n = json_object_array_length(boards), total = 0, k = 0;
	struct kflash_import_change *changes = NULL;
	_cleanup_strv_ char **new_names = NULL;
	struct record *recs;
	bool changed = false;
	int r = 0;

	for (size_t s = 0; s < imp->n_sources; s++)
		total += imp->sources[s]->n_mcus;
	recs = calloc(n ? n : 1, sizeof(*recs));
	changes = calloc(total ? total : 1, sizeof(*changes));
	if (!recs || !changes) {
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		recs[i].board = kf_board_from_json(ctx, json_object_array_get_idx(boards, i));
		if (!recs[i].board) {
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
			goto out;
		}
	}
	for (size_t s = 0; r == 0 && s < imp->n_sources; s++) {
		const struct source *src = imp->sources[s];

		for (size_t m = 0; r == 0 && m < src->n_mcus; m++) {
			const struct mcu_section *ms = &src->mcus[m];
			struct kflash_import_change *c = &changes[k++];
			ssize_t found;

			c->src = src;
			c->ms = ms;
			r = find_record(ctx, src, ms, recs, n, &found);
			if (r == 0 && found < 0)
				r = plan_add(imp, src, ms, recs, n, &new_names, c);
			else if (r == 0) {
				recs[found].claimed_by = ms;
				r = plan_merge(imp, src, ms, recs[found].board, c);
			}
			if (r == 0 && describe(c) < 0)
				r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
	}
	for (int pass = 0; r == 0 && pass < 2; pass++) {
		for (size_t i = 0; r == 0 && i < k; i++) {
			const struct kflash_import_change *c = &changes[i];

			if (pass == 0 && (c->action == KFLASH_IMPORT_UPDATE ||
					  (c->action == KFLASH_IMPORT_UNCHANGED && c->refresh))) {
				r = kf_registry_update_record(ctx, boards, c->board);
				changed = true;
			} else if (pass == 1 && c->action == KFLASH_IMPORT_ADD) {
				r = kf_registry_add_record(ctx, boards, c->board);
				changed = true;
			}
		}
	}
out:
	for (size_t i = 0; recs && i < n; i++)
		kflash_board_unref(recs[i].board);
	free(recs);
	if (r < 0) {
		changes_free(changes, k);
		return r;
	}
	changes_free(imp->changes, imp->n_changes);
	imp->changes = changes;
	imp->n_changes = k;
	return changed ? 0 : 1;
}

static int
need_sources(struct kflash_import *imp)
{
	if (imp->n_sources == 0)
		return kf_error(imp->ctx, KFLASH_ERR_INVALID,
				"nothing to import: add a Klipper config or instance first");
	return 0;
}

KFLASH_EXPORT int
kflash_import_plan(struct kflash_import *import, unsigned int flags)
{
	struct kflash_registry *reg = NULL;
	struct json_object *boards;
	int r;

	if (!import)
		return KFLASH_ERR_INVALID;
	r = need_sources(import);
	if (r < 0)
		return r;
	import->flags = flags;
	for (size_t s = 0; s < import->n_sources; s++)
		ask_klipper(import, import->sources[s]);
	r = kflash_registry_load(import->ctx, &reg);
	if (r < 0)
		return r;
	/* A copy of the records: the plan makes its changes there, and checks them. */
	boards = json_object_new_array();
	for (size_t i = 0; boards && i < kflash_registry_get_board_count(reg); i++) {
		struct json_object *copy = NULL;

		if (json_object_deep_copy(kf_board_json(kflash_registry_get_board(reg, i)), &copy,
					  NULL) < 0 ||
		    json_object_array_add(boards, copy) < 0) {
			json_object_put(copy);
			json_object_put(boards);
			boards = NULL;
		}
	}
	kflash_registry_unref(reg);
	if (!boards)
		return kf_error(import->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = compute(import, boards);
	json_object_put(boards);
	return r < 0 ? r : 0;
}

static int
apply_change(struct kflash_context *ctx, struct json_object *boards, const void *data)
{
	struct kflash_import *imp = (struct kflash_import *)data;

	(void)ctx;
	return compute(imp, boards);
}

KFLASH_EXPORT int
kflash_import_apply(struct kflash_import *import)
{
	_cleanup_free_ char *names = NULL;
	size_t conflicts = 0;
	int r;

	if (!import)
		return KFLASH_ERR_INVALID;
	r = need_sources(import);
	if (r < 0)
		return r;
	for (size_t s = 0; s < import->n_sources; s++)
		ask_klipper(import, import->sources[s]);
	r = kf_registry_modify(import->ctx, apply_change, import);
	if (r < 0)
		return r;
	for (size_t i = 0; i < import->n_changes; i++) {
		char *longer;

		if (import->changes[i].action != KFLASH_IMPORT_CONFLICT)
			continue;
		longer = kf_strdup_printf("%s%s%s", names ? names : "", names ? ", " : "",
					  kflash_board_get_name(import->changes[i].board));
		free(names);
		names = longer;
		if (!names)
			return kf_error(import->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		conflicts++;
	}
	if (conflicts == 1)
		return kf_error_hint(import->ctx, KFLASH_ERR_EXISTS, KFLASH_HINT_FORCE, NULL,
				     "board %s was edited since its import, and the config changed "
				     "it too; it is left as it is (the other changes are written): "
				     "force the import to take the config's values",
				     names);
	if (conflicts)
		return kf_error_hint(import->ctx, KFLASH_ERR_EXISTS, KFLASH_HINT_FORCE, NULL,
				     "boards %s were edited since their import, and the config "
				     "changed them too; they are left as they are (the other "
				     "changes are written): force the import to take the config's "
				     "values",
				     names);
	return 0;
}

/* ---- the import object ---- */

KFLASH_EXPORT int
kflash_import_new(struct kflash_context *ctx, struct kflash_import **ret)
{
	struct kflash_import *imp;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the import");
	*ret = NULL;
	imp = calloc(1, sizeof(*imp));
	if (!imp)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	imp->refcount = 1;
	imp->ctx = kflash_context_ref(ctx);
	*ret = imp;
	return 0;
}

KFLASH_EXPORT struct kflash_import *
kflash_import_ref(struct kflash_import *import)
{
	if (import)
		import->refcount++;
	return import;
}

KFLASH_EXPORT struct kflash_import *
kflash_import_unref(struct kflash_import *import)
{
	if (!import || --import->refcount > 0)
		return NULL;
	changes_free(import->changes, import->n_changes);
	for (size_t i = 0; i < import->n_sources; i++)
		source_free(import->sources[i]);
	free(import->sources);
	kflash_context_unref(import->ctx);
	free(import);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_import_get_change_count(const struct kflash_import *import)
{
	return import ? import->n_changes : 0;
}

KFLASH_EXPORT const struct kflash_import_change *
kflash_import_get_change(const struct kflash_import *import, size_t index)
{
	return import && index < import->n_changes ? &import->changes[index] : NULL;
}

KFLASH_EXPORT int
kflash_import_change_get_action(const struct kflash_import_change *change)
{
	return change ? change->action : KFLASH_IMPORT_UNCHANGED;
}

KFLASH_EXPORT const char *
kflash_import_change_get_name(const struct kflash_import_change *change)
{
	return change ? kflash_board_get_name(change->board) : NULL;
}

KFLASH_EXPORT const struct kflash_board *
kflash_import_change_get_board(const struct kflash_import_change *change)
{
	return change ? change->board : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_section(const struct kflash_import_change *change)
{
	return change ? change->ms->section : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_file(const struct kflash_import_change *change)
{
	return change ? change->ms->file : NULL;
}

KFLASH_EXPORT uint32_t
kflash_import_change_get_line(const struct kflash_import_change *change)
{
	return change ? change->ms->line : 0;
}

KFLASH_EXPORT const char *
kflash_import_change_get_config(const struct kflash_import_change *change)
{
	return change ? change->src->cfg->path : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_unit(const struct kflash_import_change *change)
{
	return change ? change->src->unit : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_restart_method(const struct kflash_import_change *change)
{
	return change ? change->ms->restart_method : NULL;
}

KFLASH_EXPORT int
kflash_import_change_get_mcu_source(const struct kflash_import_change *change)
{
	return change ? change->mcu_source : KFLASH_MCU_SOURCE_NONE;
}

KFLASH_EXPORT const char *
kflash_import_change_get_message(const struct kflash_import_change *change)
{
	return change ? change->message : NULL;
}

KFLASH_EXPORT size_t
kflash_import_change_get_field_count(const struct kflash_import_change *change)
{
	return change ? change->n_diffs : 0;
}

KFLASH_EXPORT const char *
kflash_import_change_get_field(const struct kflash_import_change *change, size_t index)
{
	return change && index < change->n_diffs ? fields[change->diffs[index].field].key : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_field_old(const struct kflash_import_change *change, size_t index)
{
	return change && index < change->n_diffs ? change->diffs[index].old : NULL;
}

KFLASH_EXPORT const char *
kflash_import_change_get_field_new(const struct kflash_import_change *change, size_t index)
{
	return change && index < change->n_diffs ? change->diffs[index].new : NULL;
}

KFLASH_EXPORT int
kflash_import_change_get_field_conflict(const struct kflash_import_change *change, size_t index)
{
	return change && index < change->n_diffs && change->diffs[index].conflict ? 1 : 0;
}

/* A string member of the board's "imported" record. */
static const char *
import_string(const struct kflash_board *board, const char *key)
{
	struct json_object *imp, *v;

	if (!board || !json_object_object_get_ex(kf_board_json(board), "imported", &imp) ||
	    !json_object_is_type(imp, json_type_object) ||
	    !json_object_object_get_ex(imp, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

KFLASH_EXPORT const char *
kflash_board_get_import_config(const struct kflash_board *board)
{
	return import_string(board, "config");
}

KFLASH_EXPORT const char *
kflash_board_get_import_section(const struct kflash_board *board)
{
	return import_string(board, "section");
}
