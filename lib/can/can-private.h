/* SPDX-License-Identifier: MIT */
/*
 * The CAN module's insides: frames, the two backends of a bus (SocketCAN
 * and the socket-dir contract), UUIDs, the admin protocol and the link
 * checks. The rest of the library uses include/kflash/can.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libkflash-private.h"

/* Linux's can_id bits (linux/can.h), and the error frame classes we act on. */
#define KF_CAN_EFF_FLAG 0x80000000u
#define KF_CAN_RTR_FLAG 0x40000000u
#define KF_CAN_ERR_FLAG 0x20000000u
#define KF_CAN_SFF_MASK 0x000007ffu
#define KF_CAN_ERR_CRTL 0x00000004u
#define KF_CAN_ERR_BUSOFF 0x00000040u
#define KF_CAN_ERR_CRTL_RX_PASSIVE 0x10
#define KF_CAN_ERR_CRTL_TX_PASSIVE 0x20

/* One frame of the socket-dir contract: exactly a Linux struct can_frame. */
#define KF_CAN_WIRE_SIZE 16

/* Klipper's and Katapult's admin ids, and the node id a flash uses (as Katapult's tool). */
#define KF_CAN_ADMIN_ID 0x3f0
#define KF_CAN_ADMIN_REPLY_ID 0x3f1
#define KF_CAN_FLASH_NODE_ID 129

/* The ids of node @n: it receives on the first, sends on the second. */
#define KF_CAN_NODE_RX_ID(n) (0x100u + 2u * (n))
#define KF_CAN_NODE_TX_ID(n) (0x101u + 2u * (n))

struct kf_can_frame {
	uint32_t id; /* with the flags above */
	uint8_t len; /* 0 to 8 */
	uint8_t data[8];
};

struct kflash_can_bus {
	int refcount;
	struct kflash_context *ctx;
	char *interface;
	int fd;
	bool unix_socket; /* the socket-dir contract, not SocketCAN */
	bool passive_said;
};

/* The 16 bytes of @f on the wire (u32 id little-endian, len, 3 pad, 8 data). */
void
kf_can_frame_encode(const struct kf_can_frame *f, uint8_t out[KF_CAN_WIRE_SIZE]);

/* A frame from @len bytes of the wire; false when they are not one. */
bool
kf_can_frame_decode(const uint8_t *in, size_t len, struct kf_can_frame *f);

/* Send one frame. */
int
kf_can_write(struct kflash_can_bus *bus, const struct kf_can_frame *f);

/*
 * The next data frame within @timeout_ms: 1 with *@f, 0 on timeout, or a
 * negative enum kflash_error: the bus went BUS-OFF or away, or the context
 * was cancelled. Error-passive is said once, as a warning.
 */
int
kf_can_read(struct kflash_can_bus *bus, struct kf_can_frame *f, uint32_t timeout_ms);

/* ---- UUIDs (uuid.c) ---- */

uint64_t
kf_fasthash64(const void *buf, size_t len, uint64_t seed);

/* 12 hex digits into 6 bytes; false when @text is not a UUID. */
bool
kf_can_uuid_parse(const char *text, uint8_t uuid[6]);

void
kf_can_uuid_format(const uint8_t uuid[6], char text[13]);

/* ---- the admin protocol (admin.c) ---- */

/*
 * A node's answer to a query (opcode 0x20 on the reply id): true with its
 * UUID and application (enum kflash_can_app), false for any other frame.
 */
bool
kf_can_parse_need_nodeid(const struct kf_can_frame *f, char uuid[13], int *app);
