/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_CONFIG_H
#define KFLASH_CONFIG_H

#include <stdint.h>

#include <kflash/context.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup config Board configs
 *
 * Each board has its own Klipper `.config`, cached at
 * `<config dir>/configs/<board>.config`, so building one board never
 * destroys another's configuration, and the user's Klipper tree is never
 * touched. Klipper's own tools edit it (`make menuconfig`,
 * `make olddefconfig`) through `KCONFIG_CONFIG=`.
 * @{
 */

/** A parsed Klipper `.config` (opaque, reference counted). */
struct kflash_config;

/** How a board talks to the host, as its config chooses. */
enum kflash_comm {
	KFLASH_COMM_UNKNOWN = 0,
	/** USB serial (CONFIG_USBSERIAL). */
	KFLASH_COMM_USB,
	/** A UART (CONFIG_SERIAL), at CONFIG_SERIAL_BAUD. */
	KFLASH_COMM_UART,
	/** CAN bus (CONFIG_CANSERIAL). */
	KFLASH_COMM_CAN,
	/** USB to CAN bus bridge (CONFIG_USBCANBUS). */
	KFLASH_COMM_USB_CAN_BRIDGE,
	/** The Linux host process: no serial line (CONFIG_MACH_LINUX). */
	KFLASH_COMM_LINUX,
};

/** @return "usb", "uart", "can", "usb-can-bridge", "linux" or "unknown" (static). */
const char *
kflash_comm_name(enum kflash_comm comm);

/**
 * Read and parse a `.config` file (at most 1 MiB).
 *
 * @return 0; KFLASH_ERR_NOT_FOUND; KFLASH_ERR_CORRUPT when it is not a
 * Klipper config (no CONFIG_BOARD_DIRECTORY), naming the file.
 */
int
kflash_config_load(struct kflash_context *ctx, const char *path, struct kflash_config **ret);

/** @return @p config (NULL-safe). */
struct kflash_config *
kflash_config_ref(struct kflash_config *config);

/** @return NULL (NULL-safe). */
struct kflash_config *
kflash_config_unref(struct kflash_config *config);

/** @return The file it was read from. */
const char *
kflash_config_get_path(const struct kflash_config *config);

/**
 * @return CONFIG_MCU, or "linux" for the Linux host process (whose config
 * has no CONFIG_MCU), or NULL.
 */
const char *
kflash_config_get_mcu(const struct kflash_config *config);

/** @return CONFIG_BOARD_DIRECTORY ("stm32", "rp2040", "linux", ...). */
const char *
kflash_config_get_board_directory(const struct kflash_config *config);

/** @return CONFIG_FLASH_APPLICATION_ADDRESS, or 0 when the config has none. */
uint32_t
kflash_config_get_application_address(const struct kflash_config *config);

/** @return The communication the config chooses. */
enum kflash_comm
kflash_config_get_comm(const struct kflash_config *config);

/** @return CONFIG_SERIAL_BAUD, or 0. */
uint32_t
kflash_config_get_serial_baud(const struct kflash_config *config);

/** @return CONFIG_CANBUS_FREQUENCY, or 0. */
uint32_t
kflash_config_get_canbus_frequency(const struct kflash_config *config);

/**
 * @param config The config.
 * @param key A symbol with its prefix, for example "CONFIG_MCU".
 * @return Its value without quotes ("y" for a bool that is set), or NULL
 * when it is not set.
 */
const char *
kflash_config_get_value(const struct kflash_config *config, const char *key);

/**
 * Whether two MCU names are the same MCU: case-insensitive, and a prefix
 * in either direction counts (`stm32h723` matches `stm32h723xx`).
 *
 * @return 1 or 0.
 */
int
kflash_mcu_matches(const char *a, const char *b);

/**
 * Check an MCU name against the ones Klipper knows: the values
 * `CONFIG_MCU` can take, read from the Klipper tree's `src/<arch>/Kconfig`
 * files (kflash_context_get_klipper_dir()), and "linux" for the host MCU.
 * Case does not matter.
 *
 * @param ctx The context.
 * @param mcu An MCU name, for example "stm32f446xx".
 * @return 0 when Klipper knows it; KFLASH_ERR_INVALID when not (the
 * message names the closest known name, "stm32f446xx" for "stm32f446");
 * KFLASH_ERR_NOT_FOUND when the Klipper tree cannot be read (the names
 * cannot be checked; the hint is KFLASH_HINT_SET_KLIPPER_DIR).
 */
int
kflash_klipper_check_mcu(struct kflash_context *ctx, const char *mcu);

/**
 * @name A board's cached config
 * @{
 */

/**
 * Load a board's cached config and check it against the board.
 *
 * @return 0; KFLASH_ERR_NOT_FOUND when the board has no config yet (the
 * message says to run `kflash config NAME`); KFLASH_ERR_MCU_MISMATCH when
 * the config is for another MCU than the board's (both named, and the
 * file); or a load error.
 */
int
kflash_board_config_load(struct kflash_context *ctx,
			 const struct kflash_board *board,
			 struct kflash_config **ret);

/**
 * Seed a board's config from a file. The file is checked first: a config
 * for another MCU is refused and nothing is written. The previous config
 * is kept as `.old`.
 *
 * @return 0, KFLASH_ERR_MCU_MISMATCH, or a load or write error.
 */
int
kflash_board_config_seed(struct kflash_context *ctx,
			 const struct kflash_board *board,
			 const char *from);

/**
 * Run `make menuconfig` on the board's config, with the terminal passed
 * straight through. The previous config is kept as `.old`.
 *
 * @return 0; KFLASH_ERR_NOT_TTY without a terminal; KFLASH_ERR_BUILD when
 * menuconfig fails; KFLASH_ERR_MCU_MISMATCH when the result is for
 * another MCU than the board's.
 */
int
kflash_board_config_menuconfig(struct kflash_context *ctx, const struct kflash_board *board);

/**
 * Run `make olddefconfig` on the board's config: the refresh after a
 * Klipper update, with no questions.
 *
 * @return 0, KFLASH_ERR_NOT_FOUND (no config yet), KFLASH_ERR_BUILD, or
 * KFLASH_ERR_MCU_MISMATCH.
 */
int
kflash_board_config_refresh(struct kflash_context *ctx, const struct kflash_board *board);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_CONFIG_H */
