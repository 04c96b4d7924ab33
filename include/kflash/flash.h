/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_FLASH_H
#define KFLASH_FLASH_H

#include <stdint.h>

#include <kflash/context.h>
#include <kflash/firmware.h>
#include <kflash/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup flash Flashing one board
 *
 * Write a firmware to one board, by the board's method: `auto` (native
 * Katapult, with Klipper's `make flash` as the fallback), `katapult`,
 * `make`, or `sdcard` (Klipper's `scripts/flash-sdcard.sh`). The klipper
 * service must be stopped already (see the service guard, or use the
 * update, which does everything in order).
 *
 * Before the first block, every check names both sides: the board is found
 * again (its path and mode right now); the MCU Katapult reports must be the
 * board's and the firmware's; Katapult's application start must equal the
 * board config's CONFIG_FLASH_APPLICATION_ADDRESS, or the board could not
 * boot; and the image must fit in the flash.
 * @{
 */

/** The outcome of flashing one board (opaque, reference counted). */
struct kflash_flash;

/**
 * Flash @p firmware to @p board. Events go to KFLASH_PHASE_FLASH with the
 * board's name, with progress for the write and the verify.
 *
 * @param ctx The context.
 * @param board The board.
 * @param firmware The firmware, usually kflash_build_get_firmware().
 * @param[out] ret The outcome (also on failure, when not NULL: it says
 * which method was tried), with a reference count of 1.
 * @return 0; KFLASH_ERR_NOT_FOUND (the board is not connected);
 * KFLASH_ERR_MCU_MISMATCH; KFLASH_ERR_FLASH (a transfer or `make flash`
 * failed, or Katapult's application start is not the config's: the
 * message says which and where the board is left);
 * KFLASH_ERR_NOT_SUPPORTED (method `katapult`, but the board came back as
 * a ROM bootloader); KFLASH_ERR_BUSY (another process holds the port);
 * KFLASH_ERR_TIMEOUT; KFLASH_ERR_CANCELLED.
 */
int
kflash_flash_board(struct kflash_context *ctx,
		   const struct kflash_board *board,
		   struct kflash_firmware *firmware,
		   struct kflash_flash **ret);

/** @return @p flash (NULL-safe). */
struct kflash_flash *
kflash_flash_ref(struct kflash_flash *flash);

/** @return NULL (NULL-safe). */
struct kflash_flash *
kflash_flash_unref(struct kflash_flash *flash);

/**
 * @param flash An outcome.
 * @return The method that ran last (KFLASH_METHOD_KATAPULT,
 * KFLASH_METHOD_MAKE or KFLASH_METHOD_SDCARD: Katapult, then `make flash`
 * when the board turned out to have no Katapult), or KFLASH_METHOD_NONE.
 */
int
kflash_flash_get_method(const struct kflash_flash *flash);

/** @return How long the flash took, in milliseconds. */
uint64_t
kflash_flash_get_duration_ms(const struct kflash_flash *flash);

/**
 * @return 1 when the board was seen running Klipper again after the flash
 * (USB boards), 0 when not, or not known (UART boards).
 */
int
kflash_flash_get_came_back(const struct kflash_flash *flash);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_FLASH_H */
