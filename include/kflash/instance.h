/* SPDX-License-Identifier: MIT */
/**
 * @file instance.h
 * @brief The Klipper instances of this host, found from their systemd units.
 *
 * A host may run several printers, each its own Klipper process with its
 * own config, API socket and service unit: `klipper.service` on most hosts,
 * `klipper-1.service`, `klipper-2.service` (or `klipper-<name>.service`)
 * where KIAUH installed several. The unit files in the units directory
 * (kflash_context_get_units_dir(), by default `/etc/systemd/system`) say
 * where each instance's files are: the unit's `ExecStart=` runs
 * `klippy.py CONFIG [-a API_SOCKET] [-l LOG] ...`, either directly or
 * through a variable (`$KLIPPER_ARGS`) set by `Environment=` or by the
 * file named by `EnvironmentFile=` (KIAUH's `<data>/systemd/klipper.env`).
 *
 * `klipper-mcu.service` (Klipper's host MCU) is never an instance, nor is
 * a unit that does not run `klippy.py`, a masked one (a link to
 * /dev/null), or one whose variables cannot be read (that one is reported
 * with a warning event). Drop-in files (the `UNIT.d` directories) and
 * systemd's `%` specifiers are not read.
 */
#ifndef KFLASH_INSTANCE_H
#define KFLASH_INSTANCE_H

#include <stddef.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup instance Klipper instances
 * @{
 */

/** One Klipper instance. Owned by its list. */
struct kflash_instance;

/** The instances found on the host. Refcounted. */
struct kflash_instances;

/**
 * Find the Klipper instances from the unit files of the units directory.
 * A missing directory is a host without instances (an empty list).
 *
 * @param ctx The context.
 * @param[out] ret The list, with a reference count of 1: `klipper` first,
 * then the others in natural order (`klipper-2` before `klipper-10`).
 * @return 0, KFLASH_ERR_PERMISSION or KFLASH_ERR_IO when the directory
 * cannot be read, or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_instances_find(struct kflash_context *ctx, struct kflash_instances **ret);

/**
 * @param instances A list, or NULL.
 * @return @p instances.
 */
struct kflash_instances *
kflash_instances_ref(struct kflash_instances *instances);

/**
 * @param instances A list, or NULL.
 * @return NULL.
 */
struct kflash_instances *
kflash_instances_unref(struct kflash_instances *instances);

/**
 * @param instances A list.
 * @return The number of instances.
 */
size_t
kflash_instances_get_count(const struct kflash_instances *instances);

/**
 * @param instances A list.
 * @param index 0 to kflash_instances_get_count() - 1.
 * @return The instance, owned by the list (valid as long as it is), or
 * NULL when @p index is out of range.
 */
const struct kflash_instance *
kflash_instances_get(const struct kflash_instances *instances, size_t index);

/**
 * The instance with this name or unit.
 *
 * @param instances A list.
 * @param name An instance's name ("2"), its unit ("klipper-2") or its
 * unit file's name ("klipper-2.service").
 * @return The instance, owned by the list, or NULL when none matches.
 */
const struct kflash_instance *
kflash_instances_find_name(const struct kflash_instances *instances, const char *name);

/**
 * The instance a board belongs to: the one whose unit is @p unit. With
 * kflash_board_get_service() (or kflash_context_get_service() for a board
 * without one), this finds the API socket of a board's Klipper.
 *
 * @param instances A list.
 * @param unit A unit, "klipper-2" or "klipper-2.service".
 * @return The instance, owned by the list, or NULL when none has that unit.
 */
const struct kflash_instance *
kflash_instances_find_unit(const struct kflash_instances *instances, const char *unit);

/**
 * Every string getter below returns a string owned by the list the
 * instance belongs to, valid as long as the list is.
 */

/**
 * @return The instance's name: what follows `klipper-` in its unit ("2"
 * for klipper-2), or "klipper" for the unit klipper. Never NULL.
 */
const char *
kflash_instance_get_name(const struct kflash_instance *instance);

/**
 * @return The instance's systemd unit without ".service" ("klipper",
 * "klipper-2"), as kflash_board_set_service() and the service functions
 * take it. Never NULL.
 */
const char *
kflash_instance_get_unit(const struct kflash_instance *instance);

/** @return The unit file the instance was found in. Never NULL. */
const char *
kflash_instance_get_unit_file(const struct kflash_instance *instance);

/** @return The environment file that held Klipper's arguments, or NULL. */
const char *
kflash_instance_get_environment_file(const struct kflash_instance *instance);

/** @return The instance's Klipper config (printer.cfg), absolute. Never NULL. */
const char *
kflash_instance_get_config_path(const struct kflash_instance *instance);

/** @return The instance's API socket (klippy.py -a), or NULL when it has none. */
const char *
kflash_instance_get_klippy_socket(const struct kflash_instance *instance);

/** @return The instance's log file (klippy.py -l), or NULL when it has none. */
const char *
kflash_instance_get_log_path(const struct kflash_instance *instance);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_INSTANCE_H */
