/* SPDX-License-Identifier: MIT */
/**
 * @file import.h
 * @brief Register the boards that Klipper's config names.
 *
 * Klipper's config (printer.cfg and the files it includes) has one
 * `[mcu]` or `[mcu NAME]` section per board, with its `serial` path or its
 * `canbus_uuid`, and maybe `canbus_interface`, `baud` and
 * `restart_method`. An import reads the config the way Klipper does
 * (includes with patterns, comments, continuation lines, sections merged),
 * plans one change per section against the registry, and applies them all
 * in one locked, atomic write:
 *
 * - a section no board is linked to adds a board, named after the section
 *   (`mcu` is "mcu", `mcu toolhead` is "toolhead", made a valid board
 *   name), with its Klipper MCU name (kflash_board_set_klipper_mcu()) and,
 *   when it comes from an instance, that instance's unit as its service
 *   (kflash_board_set_service());
 * - the MCU comes from a Klipper or Katapult `/dev/serial/by-id` name, from
 *   the running Klipper (the `MCU` of its MCU's constants, asked over the
 *   instance's API socket when there is one and it runs this config), or
 *   is `linux` for Klipper's host MCU (serial `/tmp/klipper_host_mcu`).
 *   Otherwise it stays unset until the board's own config names it; a
 *   board without an MCU cannot be built or flashed;
 * - a board linked to the section (same Klipper MCU name and unit) or the
 *   same device (USB serial number, serial path or CAN UUID) is updated
 *   where the config changed; its name is kept.
 *
 * What an import set is recorded with the board (the config, the section
 * and the values), so that a second import of an unchanged config changes
 * nothing, and a board edited since its import is never overwritten
 * silently: where the config and the edit disagree about a field, the
 * change is a conflict, applied only with KFLASH_IMPORT_FORCE.
 */
#ifndef KFLASH_IMPORT_H
#define KFLASH_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/context.h>
#include <kflash/instance.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup import Importing boards from Klipper's config
 * @{
 */

/** An import: its configs, and the changes planned from them. Refcounted. */
struct kflash_import;

/** One planned change: one `[mcu]` section and its board. Owned by its import. */
struct kflash_import_change;

/** What a planned change does to the registry. */
enum kflash_import_action {
	/** A new board. */
	KFLASH_IMPORT_ADD = 0,
	/** A registered board gets what the config now says. */
	KFLASH_IMPORT_UPDATE = 1,
	/** The board is registered as the config says. */
	KFLASH_IMPORT_UNCHANGED = 2,
	/**
	 * The board was edited since it was imported, and the config changed
	 * a field that the edit changed too: it is left as it is, unless the
	 * import is forced.
	 */
	KFLASH_IMPORT_CONFLICT = 3,
};

/**
 * @param action A value of enum kflash_import_action.
 * @return "add", "update", "unchanged" or "conflict" (static); NULL for
 * other values.
 */
const char *
kflash_import_action_name(int action);

/** Where a board's MCU came from. */
enum kflash_mcu_source {
	/** Nowhere yet: the board's config will name it. */
	KFLASH_MCU_SOURCE_NONE = 0,
	/** The registered board had it already. */
	KFLASH_MCU_SOURCE_BOARD = 1,
	/** The Klipper or Katapult `/dev/serial/by-id` name of its serial path. */
	KFLASH_MCU_SOURCE_BY_ID = 2,
	/** The running Klipper (its MCU's constants). */
	KFLASH_MCU_SOURCE_KLIPPER = 3,
	/** Klipper's host MCU: "linux". */
	KFLASH_MCU_SOURCE_HOST = 4,
};

/**
 * @param source A value of enum kflash_mcu_source.
 * @return "none", "board", "by-id", "klipper" or "host" (static); NULL
 * for other values.
 */
const char *
kflash_mcu_source_name(int source);

/** Flags of kflash_import_plan(). */
enum kflash_import_flags {
	/** Take the config's values over a conflicting edit (no conflicts). */
	KFLASH_IMPORT_FORCE = 1 << 0,
	/** Do not ask the running Klipper for the MCUs' types. */
	KFLASH_IMPORT_NO_KLIPPY = 1 << 1,
};

/**
 * @param ctx The context.
 * @param[out] ret A new import without configs, with a reference count of 1.
 * @return 0, KFLASH_ERR_INVALID or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_import_new(struct kflash_context *ctx, struct kflash_import **ret);

/**
 * @param import An import, or NULL.
 * @return @p import.
 */
struct kflash_import *
kflash_import_ref(struct kflash_import *import);

/**
 * @param import An import, or NULL.
 * @return NULL.
 */
struct kflash_import *
kflash_import_unref(struct kflash_import *import);

/**
 * Read a Klipper config and its includes now, and take its MCU sections
 * into the import.
 *
 * @param import An import.
 * @param config_path The main config file (printer.cfg).
 * @param unit The systemd unit of the Klipper that runs this config
 * ("klipper-2"), which becomes the service of its boards; NULL when
 * unknown (the boards keep theirs, new ones follow the context's).
 * @param klippy_socket That Klipper's API socket, asked for the MCUs'
 * types; NULL for the context's (kflash_context_get_klippy_socket()). It
 * is used only when the Klipper there reports this config as its own.
 * @return 0; KFLASH_ERR_NOT_FOUND (the config, or an include that is not a
 * pattern, is missing); KFLASH_ERR_CORRUPT (a line that is no section,
 * option or continuation, a line or file that is too long); KFLASH_ERR_INVALID
 * (an include loop, too deep or too many includes, sections or options; no
 * `[mcu]` section; a value that no board can hold, such as a relative
 * serial path or a bad canbus_uuid; two sections that give one board name;
 * a config or unit already in the import); KFLASH_ERR_NO_MEMORY; or the
 * error of reading a file. Every message names the file and line.
 */
int
kflash_import_add_file(struct kflash_import *import,
		       const char *config_path,
		       const char *unit,
		       const char *klippy_socket);

/**
 * As kflash_import_add_file() with the instance's config, unit and API
 * socket. The boards of an import of several instances that would get the
 * same name (each instance has its `[mcu]`) are named
 * `<instance name>-<name>` ("2-mcu"), except those of the context's unit.
 *
 * @param import An import.
 * @param instance An instance (kflash_instances_find()).
 * @return As kflash_import_add_file().
 */
int
kflash_import_add_instance(struct kflash_import *import, const struct kflash_instance *instance);

/**
 * Plan the changes against the registry as it is now; nothing is written.
 * Every check that kflash_import_apply() makes is made here too, so a plan
 * that succeeds shows what an apply would do (unless the registry changes
 * in between).
 *
 * @param import An import with at least one config.
 * @param flags A bitwise or of enum kflash_import_flags.
 * @return 0; KFLASH_ERR_INVALID (no config; a board name that cannot be
 * made; two sections that are one board); KFLASH_ERR_EXISTS (a new board's
 * name, serial path, USB serial number or CAN UUID is another board's);
 * KFLASH_ERR_AMBIGUOUS (two boards claim one section); or an error of
 * reading the registry (kflash_registry_load()).
 */
int
kflash_import_plan(struct kflash_import *import, unsigned int flags);

/**
 * Apply the import: plan again under the registry's lock (with the flags
 * of the last kflash_import_plan(), 0 when there was none), then write
 * every addition and update at once, atomically. Nothing is written when
 * nothing changes. The changes the getters return are then those applied.
 *
 * @param import An import with at least one config.
 * @return 0; KFLASH_ERR_EXISTS with KFLASH_HINT_FORCE when conflicts were
 * left as they are (the other changes are written; the message names the
 * boards); or an error of kflash_import_plan(), or of writing the
 * registry, in which case nothing is written.
 */
int
kflash_import_apply(struct kflash_import *import);

/**
 * @param import An import.
 * @return The number of planned changes (one per `[mcu]` section), 0
 * before a plan.
 */
size_t
kflash_import_get_change_count(const struct kflash_import *import);

/**
 * @param import An import.
 * @param index 0 to kflash_import_get_change_count() - 1, in the order of
 * the configs and, in each, of the sections.
 * @return The change, owned by the import and valid until its next plan or
 * apply, or NULL when @p index is out of range.
 */
const struct kflash_import_change *
kflash_import_get_change(const struct kflash_import *import, size_t index);

/**
 * Every string getter below returns a string owned by the change, valid
 * as long as the change is.
 */

/** @return What the change does, a value of enum kflash_import_action. */
int
kflash_import_change_get_action(const struct kflash_import_change *change);

/** @return The board's name. Never NULL. */
const char *
kflash_import_change_get_name(const struct kflash_import_change *change);

/**
 * @return The board as it is after the change (as it is now for a
 * conflict), owned by the change.
 */
const struct kflash_board *
kflash_import_change_get_board(const struct kflash_import_change *change);

/** @return The section, "mcu" or "mcu toolhead". Never NULL. */
const char *
kflash_import_change_get_section(const struct kflash_import_change *change);

/** @return The file the section begins in (maybe an included one). Never NULL. */
const char *
kflash_import_change_get_file(const struct kflash_import_change *change);

/** @return The line the section begins on. */
uint32_t
kflash_import_change_get_line(const struct kflash_import_change *change);

/** @return The main config file of the section. Never NULL. */
const char *
kflash_import_change_get_config(const struct kflash_import_change *change);

/** @return The unit of the config's Klipper, or NULL when it is not known. */
const char *
kflash_import_change_get_unit(const struct kflash_import_change *change);

/**
 * @return The section's restart_method (arduino, cheetah, command,
 * rpi_usb), or NULL when it has none. It is recorded, not used.
 */
const char *
kflash_import_change_get_restart_method(const struct kflash_import_change *change);

/** @return Where the board's MCU came from, a value of enum kflash_mcu_source. */
int
kflash_import_change_get_mcu_source(const struct kflash_import_change *change);

/** @return What the change does, in a sentence that names the section. Never NULL. */
const char *
kflash_import_change_get_message(const struct kflash_import_change *change);

/**
 * @return The number of fields the change sets (every field of a new
 * board; for an update, those that change; for a conflict, those in
 * conflict and those that would change).
 */
size_t
kflash_import_change_get_field_count(const struct kflash_import_change *change);

/**
 * @param change A change.
 * @param index 0 to kflash_import_change_get_field_count() - 1.
 * @return The field's key in the registry ("serial_path", "usb_serial",
 * "mcu", "baud", "can_interface", "can_uuid", "klipper_mcu", "service"),
 * or NULL when @p index is out of range.
 */
const char *
kflash_import_change_get_field(const struct kflash_import_change *change, size_t index);

/** @return The field's value before the change (baud in decimal), or NULL when unset. */
const char *
kflash_import_change_get_field_old(const struct kflash_import_change *change, size_t index);

/** @return The field's value from the config, or NULL when it unsets the field. */
const char *
kflash_import_change_get_field_new(const struct kflash_import_change *change, size_t index);

/**
 * @return 1 when the field was edited since the import to another value
 * than the config's (a conflict; with KFLASH_IMPORT_FORCE, overwritten),
 * else 0.
 */
int
kflash_import_change_get_field_conflict(const struct kflash_import_change *change, size_t index);

/**
 * @param board A board.
 * @return The main config file the board was imported from, or NULL when
 * it was not imported. Owned by the board, valid as long as it is.
 */
const char *
kflash_board_get_import_config(const struct kflash_board *board);

/**
 * @param board A board.
 * @return The section the board was imported from ("mcu toolhead"), or
 * NULL. Owned by the board, valid as long as it is.
 */
const char *
kflash_board_get_import_section(const struct kflash_board *board);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_IMPORT_H */
