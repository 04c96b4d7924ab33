/* SPDX-License-Identifier: MIT */
#ifndef KFLASH_KATAPULT_H
#define KFLASH_KATAPULT_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/can.h>
#include <kflash/context.h>
#include <kflash/discovery.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup katapult Katapult
 *
 * The host side of the Katapult bootloader's protocol, spoken natively:
 * no Python, no pyserial, progress as events. A session is opened on the
 * board's serial port while the board runs Katapult (see
 * kflash_katapult_enter_usb() and kflash_katapult_enter_uart() to get it
 * there), then:
 *
 *   kflash_katapult_connect() → kflash_katapult_write() →
 *   kflash_katapult_verify() → kflash_katapult_complete()
 *
 * COMPLETE starts the new firmware, so it is refused until a verify of the
 * whole image has passed: a failed transfer leaves the board in Katapult,
 * ready for another try.
 * @{
 */

/** A session with a board in Katapult (opaque, reference counted). */
struct kflash_katapult;

/**
 * Open the board's serial port: raw, exclusive.
 *
 * @param ctx The context.
 * @param path The tty of the board in Katapult mode.
 * @param baud The UART baud rate, or 0 for USB (which ignores it).
 * @param[out] ret The session, with a reference count of 1.
 * @return 0; KFLASH_ERR_BUSY when another process has the port open (the
 * message names it: pid and command); KFLASH_ERR_NOT_FOUND,
 * KFLASH_ERR_PERMISSION or KFLASH_ERR_IO when it cannot be opened.
 */
int
kflash_katapult_open(struct kflash_context *ctx,
		     const char *path,
		     uint32_t baud,
		     struct kflash_katapult **ret);

/**
 * Open a session with the CAN node @p uuid, which runs Katapult (see
 * kflash_can_bus_wait_katapult()): every Katapult node's id is cleared,
 * the node is given the id the session talks to, and the session's
 * kflash_katapult_connect() then checks with GET_CANBUS_ID that the node
 * answering is @p uuid, before anything is written.
 *
 * @param bus The node's bus; the session keeps a reference.
 * @param uuid The node's UUID.
 * @param[out] ret The session, with a reference count of 1.
 * @return 0, KFLASH_ERR_INVALID for a UUID that is not one, or a bus error.
 */
int
kflash_katapult_open_can(struct kflash_can_bus *bus,
			 const char *uuid,
			 struct kflash_katapult **ret);

/** @return @p katapult (NULL-safe). */
struct kflash_katapult *
kflash_katapult_ref(struct kflash_katapult *katapult);

/** Close the port when the last reference goes. @return NULL (NULL-safe). */
struct kflash_katapult *
kflash_katapult_unref(struct kflash_katapult *katapult);

/**
 * How often a command is tried, and how long each try waits for the
 * answer. The defaults are Katapult's own tool's: 5 tries of 2000 ms, and
 * 3 tries of 5000 ms for a block write. Call before
 * kflash_katapult_connect().
 *
 * @param katapult The session.
 * @param tries Tries of each command (at least 1).
 * @param timeout_ms The wait of each try (at least 10).
 * @param block_timeout_ms The wait of each try of a block write.
 * @return 0 or KFLASH_ERR_INVALID.
 */
int
kflash_katapult_set_retries(struct kflash_katapult *katapult,
			    unsigned int tries,
			    uint32_t timeout_ms,
			    uint32_t block_timeout_ms);

/**
 * Send the "prime" frame before CONNECT, and drop its answer: the USB
 * full-speed STM32 parts with double-buffered endpoints need it. See
 * kflash_katapult_mcu_needs_prime().
 *
 * @param katapult The session.
 * @param prime 1 to send it, 0 not to (the default).
 */
void
kflash_katapult_set_prime(struct kflash_katapult *katapult, int prime);

/**
 * @param mcu An MCU name as in CONFIG_MCU.
 * @return 1 when @p mcu is an STM32 whose USB needs the prime frame
 * (every stm32 but the f2, f4 and h7 families), else 0.
 */
int
kflash_katapult_mcu_needs_prime(const char *mcu);

/**
 * Connect: read the bootloader's MCU, version, application start and
 * block size. Protocol 1.0 (no version string) and 1.1 are understood.
 *
 * A session with a CAN node (kflash_katapult_open_can()) also asks the
 * node's UUID (GET_CANBUS_ID), which must be the one meant.
 *
 * @return 0; KFLASH_ERR_TIMEOUT when the board does not answer;
 * KFLASH_ERR_FLASH when a CAN node says another UUID;
 * KFLASH_ERR_PROTOCOL for an answer that makes no sense (a block size
 * that is not a multiple of 4 from 64 to 512 bytes, for example);
 * KFLASH_ERR_IO when the port goes away; KFLASH_ERR_CANCELLED.
 */
int
kflash_katapult_connect(struct kflash_katapult *katapult);

/** @return The MCU Katapult reports, or NULL before connecting. */
const char *
kflash_katapult_get_mcu(const struct kflash_katapult *katapult);

/** @return Katapult's version string, "" for protocol 1.0, NULL before connecting. */
const char *
kflash_katapult_get_version(const struct kflash_katapult *katapult);

/** @return The protocol version as 0x00MMmmpp (1.1.0 is 0x00010100), 0 before connecting. */
uint32_t
kflash_katapult_get_protocol_version(const struct kflash_katapult *katapult);

/** @return Where the application starts in flash, 0 before connecting. */
uint32_t
kflash_katapult_get_app_start(const struct kflash_katapult *katapult);

/** @return The block size in bytes, 0 before connecting. */
uint32_t
kflash_katapult_get_block_size(const struct kflash_katapult *katapult);

/**
 * Write an image at the application start, block by block (the last one
 * padded with 0xFF), then end the transfer (SEND_EOF). Progress events
 * report bytes written and the total. Every answer's echoed address is
 * checked; lost, corrupted or refused answers are retried.
 *
 * @param katapult A connected session.
 * @param image The firmware (klipper.bin); copied, for the verify.
 * @param size Its size in bytes.
 * A block size whose SEND_BLOCK frame is longer than the 128 bytes
 * Katapult's command parser takes (more than 116 bytes) is refused before
 * anything is sent: such a frame would stall the bootloader until a reset.
 *
 * @return 0; KFLASH_ERR_INVALID when not connected or the image is empty;
 * KFLASH_ERR_NOT_SUPPORTED for a block size the device cannot receive
 * (nothing was written); KFLASH_ERR_FLASH, KFLASH_ERR_TIMEOUT, KFLASH_ERR_PROTOCOL or
 * KFLASH_ERR_IO when the transfer fails (the message says the board stays
 * in Katapult); KFLASH_ERR_CANCELLED.
 */
int
kflash_katapult_write(struct kflash_katapult *katapult, const void *image, size_t size);

/**
 * Read every block of the written image back and compare it. Progress
 * events report the bytes verified.
 *
 * @return 0; KFLASH_ERR_INVALID before a write; KFLASH_ERR_FLASH when a
 * block differs (the message gives its address); or the errors of
 * kflash_katapult_write().
 */
int
kflash_katapult_verify(struct kflash_katapult *katapult);

/**
 * Leave Katapult and start the new firmware.
 *
 * @return 0; KFLASH_ERR_INVALID (nothing sent) unless a verify of the
 * whole image written in this session has passed; KFLASH_ERR_IO.
 */
int
kflash_katapult_complete(struct kflash_katapult *katapult);

/**
 * @return The commands sent and answered so far (for benchmarks).
 */
uint64_t
kflash_katapult_get_round_trips(const struct kflash_katapult *katapult);

/**
 * @name Getting a board into Katapult
 * @{
 */

/**
 * The USB 1200-baud "touch": open the port, set 1200 baud, close. Klipper
 * then reboots into its bootloader. DTR errors (a pty refuses them) are
 * ignored.
 *
 * @return 0, or the error of opening the port.
 */
int
kflash_katapult_enter_usb(struct kflash_context *ctx, const char *path);

/**
 * Send Klipper, at @p baud, the request string that makes it reboot into
 * Katapult on a UART. The path does not change; Katapult then talks at its
 * own configured baud.
 *
 * @return 0, KFLASH_ERR_BUSY (see kflash_katapult_open()), or an I/O error.
 */
int
kflash_katapult_enter_uart(struct kflash_context *ctx, const char *path, uint32_t baud);

/**
 * Wait until the board with USB serial number @p usb_serial is present in
 * Katapult mode (found by discovery, as after a touch the board comes back
 * with another by-id name).
 *
 * @param ctx The context.
 * @param usb_serial The board's USB serial number.
 * @param timeout_ms How long to wait.
 * @param[out] ret The device in Katapult mode, with a reference (unref it).
 * @return 0; KFLASH_ERR_NOT_SUPPORTED when, instead, a ROM bootloader
 * (STM32 DFU or RP2040 BOOTSEL) appeared: the board has no Katapult (the
 * message names what was seen); KFLASH_ERR_TIMEOUT when nothing came
 * back; KFLASH_ERR_CANCELLED.
 */
int
kflash_katapult_wait(struct kflash_context *ctx,
		     const char *usb_serial,
		     uint32_t timeout_ms,
		     struct kflash_device **ret);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_KATAPULT_H */
