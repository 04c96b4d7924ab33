/* SPDX-License-Identifier: MIT */
/*
 * The scripted CAN host of the simulator's tests: it connects to a bus
 * socket and builds and parses the 16-byte frames, the admin commands,
 * the fasthash64 UUID and the Katapult byte stream in CAN frames itself,
 * independently of the simulator's code (the Katapult frames come from
 * sim-client.c, the tests' own encoder).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-client.h"

#define CAN_ADMIN 0x3f0
#define CAN_ADMIN_RESP 0x3f1
#define CAN_ERR_FLAG 0x20000000u
#define CAN_ERR_BUSOFF 0x00000040u
#define CAN_ERR_CRTL 0x00000004u
#define KATAPULT_NODE 129 /* the node id flashtool assigns: ids 0x202/0x203 */

struct can_msg {
	uint32_t id;
	uint8_t len;
	uint8_t data[8];
};

/* A Katapult node seen from the host: its ids, and bytes not yet parsed. */
struct can_port {
	int fd;
	uint32_t tx_id; /* host -> node: 0x100 + 2n */
	uint32_t rx_id; /* node -> host: 0x101 + 2n */
	uint8_t buf[2048];
	size_t len;
	unsigned frames; /* data frames received on rx_id */
};

uint64_t
test_fasthash64(const uint8_t *data, size_t len, uint64_t seed);

/* The UUID of a chip id given in hex (a USB serial), as 12 hex digits. */
void
test_uuid_hex(const char *serial, char *out);

void
uuid_from_hex(const char *hex, uint8_t *uuid);

/* Connect to the bus socket @path; fails the test if that cannot be done. */
int
can_open(const char *path);

void
can_send(int fd, uint32_t id, const void *data, size_t len);

/* Send a raw packet of any length (for the relay's protocol errors). */
void
can_send_raw(int fd, const void *data, size_t len);

/* The next frame within @timeout_ms: 1, 0 on a timeout, -1 when the bus closed. */
int
can_recv(int fd, struct can_msg *m, int timeout_ms);

/* The next frame on @id within @timeout_ms, skipping others: true if one came. */
bool
can_recv_id(int fd, uint32_t id, struct can_msg *m, int timeout_ms);

/* No frame at all for QUIET_MS. */
void
can_expect_quiet(int fd);

/* The bus closes this connection within TIMEOUT_MS. */
void
can_expect_closed(int fd);

void
admin_query(int fd);

void
admin_set_klipper(int fd, const char *uuid, uint8_t nodeid);

void
admin_set_katapult(int fd, const char *uuid, uint8_t nodeid);

void
admin_clear(int fd);

void
admin_request_bootloader(int fd, const char *uuid);

/*
 * QUERY_UNASSIGNED, then the answers for QUIET_MS: "uuid:app" (app 01 or
 * 11) of each, sorted, separated by spaces.
 */
char *
query_nodes(int fd);

void
port_init(struct can_port *p, int fd, uint8_t nodeid);

/* A Katapult frame to the node in CAN frames of 8 bytes. */
void
port_send(struct can_port *p, uint8_t cmd, const void *payload, size_t len);

/* The next Katapult frame from the node: 1, 0 with a bad CRC, -1 if none came. */
int
port_recv(struct can_port *p, struct frame *f, int timeout_ms);

void
port_transact(struct can_port *p, uint8_t cmd, const void *payload, size_t len, struct frame *f);

void
port_connect(struct can_port *p, struct connect_info *ci);

void
port_write_block(struct can_port *p, uint32_t addr, const uint8_t *data);

void
port_read_block(struct can_port *p, uint32_t addr, uint8_t *out);
