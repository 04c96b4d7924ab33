/* SPDX-License-Identifier: MIT */
/*
 * The Katapult method on a CAN node: the interface checked, the node asked
 * into its bootloader by its UUID, found there, given an id, then the same
 * transfer as on a serial port.
 */
#include "flash-private.h"

/* Klipper's default, when printer.cfg names no canbus_interface. */
#define DEFAULT_INTERFACE "can0"

bool
kf_flash_is_can_board(const struct kflash_board *board)
{
	return kflash_board_get_link(board) == KFLASH_LINK_CAN;
}

static const char *
interface_of(const struct kflash_board *board)
{
	const char *iface = kflash_board_get_can_interface(board);

	return iface ? iface : DEFAULT_INTERFACE;
}

int
kf_flash_can(struct kf_flash_job *job)
{
	struct kflash_context *ctx = job->ctx;
	const char *uuid = kflash_board_get_can_uuid(job->board);
	const char *iface = interface_of(job->board);
	uint32_t bitrate = job->config ? kflash_config_get_canbus_frequency(job->config) : 0;
	struct kflash_can_bus *bus = NULL;
	struct kflash_katapult *k = NULL;
	int r;

	r = kflash_can_check_interface(ctx, iface, bitrate);
	if (r == 0)
		r = kflash_can_bus_open(ctx, iface, &bus);
	if (r == 0) {
		/* A node in Katapult already ignores the request. */
		kf_info(ctx, "asking node %s on %s to enter Katapult", uuid, iface);
		r = kflash_can_bus_request_bootloader(bus, uuid);
	}
	if (r == 0)
		r = kflash_can_bus_wait_katapult(
			bus, uuid, kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BOOTLOADER));
	if (r == 0)
		r = kflash_katapult_open_can(bus, uuid, &k);
	if (r == 0)
		r = kf_flash_katapult_transfer(job, k);
	kflash_katapult_unref(k);
	kflash_can_bus_unref(bus);
	return r;
}

/* After COMPLETE the node runs Klipper without an id: it answers a query as Klipper. */
bool
kf_flash_can_came_back(struct kf_flash_job *job)
{
	const char *uuid = kflash_board_get_can_uuid(job->board);
	uint64_t deadline =
		kf_now_ms() + kflash_context_get_timeout(job->ctx, KFLASH_TIMEOUT_RETURN);
	struct kflash_can_bus *bus = NULL;
	bool back = false;

	if (kflash_can_bus_open(job->ctx, interface_of(job->board), &bus) < 0)
		return false;
	do {
		struct kflash_can_query *q = NULL;

		if (kflash_can_bus_query(bus, 200, &q) < 0)
			break;
		back = kflash_can_query_find(q, uuid) == KFLASH_CAN_APP_KLIPPER;
		kflash_can_query_unref(q);
	} while (!back && kf_now_ms() < deadline && kf_sleep_ms(job->ctx, 50) == 0);
	kflash_can_bus_unref(bus);
	return back;
}
