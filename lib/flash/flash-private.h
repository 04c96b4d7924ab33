/* SPDX-License-Identifier: MIT */
/* Flashing one board: the methods behind kflash_flash_board(). */
#pragma once

#include "libkflash-private.h"

struct kflash_flash {
	int refcount;
	enum kflash_method method; /* the one that ran last, or KFLASH_METHOD_NONE */
	uint64_t duration_ms;
	bool came_back;
};

/*
 * What a method needs: the board, its firmware, its config (may be NULL
 * when the board has none) and the device found for it.
 */
struct kf_flash_job {
	struct kflash_context *ctx;
	const struct kflash_board *board;
	struct kflash_firmware *firmware;
	struct kflash_config *config;
	struct kflash_device *device;
	/*
	 * Set by the Katapult method once Katapult answered: from then on a
	 * failure is Katapult's (a refused check, a transfer), and no fallback
	 * to make flash would help.
	 */
	bool connected;
	/* The board is a USB-to-CAN bridge (job->device is it, in some mode). */
	bool bridge;
};

/* katapult.c: the board into Katapult on its serial port, then the transfer. */
int
kf_flash_katapult(struct kf_flash_job *job);

/*
 * A session the board answers on: connect, the checks before the first
 * block, write, verify, COMPLETE. job->connected is set once Katapult
 * answered.
 */
int
kf_flash_katapult_transfer(struct kf_flash_job *job, struct kflash_katapult *k);

/* can.c: a CAN node into Katapult on its bus, then the transfer. */
int
kf_flash_can(struct kf_flash_job *job);

/* A CAN board: found by its UUID on its interface, not as a device. */
bool
kf_flash_is_can_board(const struct kflash_board *board);

/* After a CAN flash: does the node answer as Klipper again? */
bool
kf_flash_can_came_back(struct kf_flash_job *job);

/*
 * bridge.c: a USB-to-CAN bridge into Katapult on its own bus, flashed on
 * USB, and back as the bridge with its interface (an error when it is not).
 */
int
kf_flash_bridge(struct kf_flash_job *job);

/* make.c: Klipper's `make flash`, and scripts/flash-sdcard.sh. */
int
kf_flash_make(struct kf_flash_job *job);

int
kf_flash_sdcard(struct kf_flash_job *job);

/* After a flash: wait for the board to run Klipper again (USB boards). */
bool
kf_flash_wait_klipper(struct kf_flash_job *job);
