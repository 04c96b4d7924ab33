/* SPDX-License-Identifier: MIT */
/**
 * @file check.h
 * @brief Checks of what an update needs, each of which disturbs nothing.
 */
#ifndef KFLASH_CHECK_H
#define KFLASH_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/config.h>
#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup check Checks before an update
 *
 * What an update needs, checked one thing at a time, without building,
 * without stopping a service, without making a board enter its bootloader
 * and without a word on a CAN bus: the Klipper tree, the programs a build
 * runs, Katapult on a board, and the free space for the builds. A program
 * that shows whether a host is ready to flash combines these with
 * kflash_registry_load(), kflash_board_config_load(),
 * kflash_service_check_unit_sudo(), kflash_service_get_load_state(),
 * kflash_service_get_state(), kflash_klippy_check_idle(),
 * kflash_discovery_find_board() and kflash_can_check_interface().
 * @{
 */

/** What kflash_klipper_check_tree() found in the Klipper tree. */
enum kflash_tree_state {
	/** A git checkout without changes to its tracked files. */
	KFLASH_TREE_CLEAN = 1,
	/**
	 * A git checkout with changed tracked files: its builds report a
	 * `-dirty` version, and an updater that pulls (Moonraker's) refuses it.
	 */
	KFLASH_TREE_DIRTY = 2,
	/**
	 * Not a git checkout, or git is not on PATH: its version cannot be told,
	 * so last flashes cannot be compared with it.
	 */
	KFLASH_TREE_NO_GIT = 3,
};

/**
 * @param state A value of enum kflash_tree_state.
 * @return "clean", "dirty" or "no-git" (static); "unknown" for other values.
 */
const char *
kflash_tree_state_name(int state);

/**
 * Check the Klipper tree (kflash_context_get_klipper_dir()): it is there,
 * and what git says of it (`git describe --always --tags --long --dirty`,
 * as Klipper's build asks).
 *
 * @param ctx The context.
 * @param[out] state A value of enum kflash_tree_state; set on success.
 * @param[out] version Room for the version, for example
 * "v0.12.0-396-gabc1234-dirty", NUL-terminated and cut to @p size - 1
 * bytes; "" with KFLASH_TREE_NO_GIT. May be NULL.
 * @param size The size of @p version.
 * @return 0; KFLASH_ERR_NOT_FOUND when there is no Klipper tree there (no
 * Makefile; the hint is KFLASH_HINT_SET_KLIPPER_DIR); KFLASH_ERR_INVALID
 * when @p state is NULL; KFLASH_ERR_CANCELLED; KFLASH_ERR_NO_MEMORY.
 */
int
kflash_klipper_check_tree(struct kflash_context *ctx, int *state, char *version, size_t size);

/**
 * The programs Klipper's `make` runs to build @p config: first the C
 * compiler of its architecture (CONFIG_BOARD_DIRECTORY): `arm-none-eabi-gcc`
 * for stm32, rp2040, lpc176x, atsam, atsamd and hc32f460, `avr-gcc` for
 * avr, `pru-gcc` for pru, `or1k-elf-gcc` for ar100 and the host's `gcc` for
 * linux and simulator (and for an architecture this library does not know,
 * as Klipper's Makefile without a cross prefix); then `cpp` for the
 * architectures whose linker script is preprocessed (the ARM ones), `g++`
 * for an rp2040 build without a bootloader (its UF2 tool), and `make` and
 * `python3`, which every build runs.
 *
 * @param config A config.
 * @param index 0 for the compiler, then 1, 2, ...
 * @return The program's name (static), or NULL past the last one.
 */
const char *
kflash_config_get_build_program(const struct kflash_config *config, size_t index);

/**
 * Check that a program is on PATH and runs: it is found, and
 * `PROGRAM --version` is run (with the command timeout) for the first
 * line it prints.
 *
 * @param ctx The context.
 * @param program A program name, for example "arm-none-eabi-gcc".
 * @param[out] version Room for the first line of its `--version`, cut to
 * @p size - 1 bytes; "" when it printed none or failed. May be NULL.
 * @param size The size of @p version.
 * @return 0; KFLASH_ERR_NOT_FOUND when it is not on PATH or cannot be run
 * (the message names it and the PATH searched); KFLASH_ERR_INVALID for an
 * empty name; KFLASH_ERR_TIMEOUT; KFLASH_ERR_CANCELLED.
 */
int
kflash_check_program(struct kflash_context *ctx, const char *program, char *version, size_t size);

/** Whether a board has the Katapult bootloader, as far as can be told without asking it. */
enum kflash_katapult_presence {
	/** Cannot be told: it runs Klipper, and only its bootloader would say. */
	KFLASH_KATAPULT_UNKNOWN = 0,
	/** It runs Katapult now. */
	KFLASH_KATAPULT_PRESENT = 1,
	/**
	 * It cannot have Katapult: Katapult has no port for its architecture
	 * (only stm32, rp2040 and lpc176x), or its config puts Klipper at the
	 * boot address, where a bootloader would be.
	 */
	KFLASH_KATAPULT_ABSENT = 2,
};

/**
 * @param presence A value of enum kflash_katapult_presence.
 * @return "unknown", "present" or "absent" (static); "unknown" for other
 * values.
 */
const char *
kflash_katapult_presence_name(int presence);

/**
 * Whether a board has Katapult, from what is known without disturbing it:
 * the mode it is found in now and its config.
 *
 * @param config The board's config, or NULL when it has none.
 * @param mode The mode the board is in now, a value of enum
 * kflash_device_mode (KFLASH_MODE_KATAPULT for a CAN node that answered a
 * query as Katapult); KFLASH_MODE_UNKNOWN when it is not known.
 * @return A value of enum kflash_katapult_presence.
 */
int
kflash_katapult_presence(const struct kflash_config *config, int mode);

/** Whether the cache dir has room for the builds (kflash_check_cache_space()). */
enum kflash_space {
	/** Room for every build, with a margin. */
	KFLASH_SPACE_ENOUGH = 1,
	/** Room for every build, but the file system is nearly full. */
	KFLASH_SPACE_LOW = 2,
	/** Less than the builds need: a build would fail for want of space. */
	KFLASH_SPACE_TOO_LOW = 3,
};

/**
 * @param space A value of enum kflash_space.
 * @return "enough", "low" or "too-low" (static); "unknown" for other values.
 */
const char *
kflash_space_name(int space);

/**
 * One board's build directory, as budgeted by kflash_check_cache_space():
 * 32 MiB. A Linux host MCU build measured 12.4 MiB (152 files: Klipper
 * builds with -ggdb3 and keeps every object file); the ARM builds compile
 * more sources (USB and CAN stacks, the vendor libraries), so the budget
 * is 2.5 times that.
 */
#define KFLASH_SPACE_PER_BUILD (32ULL * 1024 * 1024)

/**
 * The margin kflash_check_cache_space() wants beyond the builds: 256 MiB.
 * The cache is on the host's file system, usually the root one of a
 * Raspberry Pi's SD card, where Klipper's and Moonraker's logs and the
 * uploaded G-code files live too; below this, those start failing as well.
 */
#define KFLASH_SPACE_MARGIN (256ULL * 1024 * 1024)

/**
 * How much room the cache dir (kflash_context_get_cache_dir(), or its
 * nearest existing parent when it does not exist yet) has for @p boards
 * builds, from statvfs(): the space an unprivileged user may fill.
 * KFLASH_SPACE_TOO_LOW below @p boards times KFLASH_SPACE_PER_BUILD (one
 * build at least), KFLASH_SPACE_LOW below that plus KFLASH_SPACE_MARGIN,
 * else KFLASH_SPACE_ENOUGH.
 *
 * @param ctx The context.
 * @param boards The number of boards to build.
 * @param[out] space A value of enum kflash_space; set on success.
 * @param[out] available The bytes available; may be NULL.
 * @return 0; KFLASH_ERR_INVALID when @p space is NULL; KFLASH_ERR_NOT_FOUND
 * (a parent that is not a directory), KFLASH_ERR_PERMISSION or
 * KFLASH_ERR_IO when the file system cannot be asked (the message names
 * the directory).
 */
int
kflash_check_cache_space(struct kflash_context *ctx,
			 size_t boards,
			 int *space,
			 uint64_t *available);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_CHECK_H */
