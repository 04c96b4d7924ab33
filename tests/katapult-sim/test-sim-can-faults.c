/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim's faults on a CAN node: the CAN ones (lost-frame, bus-off,
 * error-passive, no-katapult, no-return) and the bootloader's own, seen
 * through CAN frames.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "can-client.h"
#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"

#define SERIAL_A "140028000951313339373836"
#define UUID_A "c1980e2023a1"

struct bed {
	char *dir;
	struct sim *bus, *node;
	int fd;
	struct can_port port;
};

/* A bus, a node on it in Katapult with node id 129, and a host. */
static void
bed_start(struct bed *b, const char *const *faults)
{
	const char *argv[24] = { "--mode",   "can",    "--can-dir",   NULL,
				 "--serial", SERIAL_A, "--can-start", "katapult" };
	size_t n = 8;

	b->dir = kf_test_mkdtemp();
	argv[3] = b->dir;
	for (; faults && *faults; faults++) {
		argv[n++] = "--fault";
		argv[n++] = *faults;
	}
	argv[n] = NULL;
	b->bus = sim_start("--mode", "bus", "--can-dir", b->dir);
	b->node = sim_add_v(argv);
	b->fd = can_open(b->bus->path);
	admin_set_katapult(b->fd, UUID_A, KATAPULT_NODE);
	assert_log(b->node, "can nodeid %d", KATAPULT_NODE);
	port_init(&b->port, b->fd, KATAPULT_NODE);
}

#define bed_faults(b, ...) bed_start(b, (const char *const[]){ __VA_ARGS__, NULL })

static void
bed_stop(struct bed *b)
{
	close(b->fd);
	sim_stop(b->node);
	sim_stop(b->bus);
	kf_test_rmtree(b->dir);
	free(b->dir);
}

static void
send_block_payload(struct can_port *p, uint32_t addr, const uint8_t *data)
{
	uint8_t payload[4 + BLOCK];

	put32(payload, addr);
	memcpy(payload + 4, data, BLOCK);
	port_send(p, SEND_BLOCK, payload, sizeof(payload));
}

/* lost-frame: the last frame of the first SEND_BLOCK's ACK is lost. */
START_TEST(test_fault_lost_frame)
{
	static const char *const specs[] = { "lost-frame", "lost-frame=1" };
	struct bed b;
	uint8_t *a = make_image(BLOCK, 31);
	struct can_msg m;

	bed_faults(&b, specs[_i]);
	send_block_payload(&b.port, APP, a);
	/* the ACK is two frames (16 bytes): the other one comes, this one never */
	ck_assert(can_recv_id(b.fd, b.port.rx_id, &m, TIMEOUT_MS));
	ck_assert_uint_eq(m.len, 8);
	if (_i == 0)
		ck_assert(bytes_eq_hex(m.data, 8, "01 88 a0 02 12 00 00 00"));
	else
		ck_assert_uint_eq(get32(m.data), APP);
	can_expect_quiet(b.fd);
	ck_assert(sim_log_wait(b.node, "fault lost-frame SEND_BLOCK#1"));
	ck_assert(sim_log_wait(b.node, "tx ACK SEND_BLOCK 0x%x", APP));
	/* the host retries: a retransmission */
	port_write_block(&b.port, APP, a);
	ck_assert_int_eq(sim_log_count(b.node, "fault"), 1);
	free(a);
	bed_stop(&b);
}
END_TEST

/* bus-off: an error frame, then nothing reaches or leaves the node. */
START_TEST(test_fault_bus_off)
{
	struct bed b;
	uint8_t *a = make_image(BLOCK, 32);
	struct connect_info ci;
	struct can_msg m;
	char *q;

	bed_faults(&b, "bus-off");
	port_connect(&b.port, &ci);
	send_block_payload(&b.port, APP, a);
	ck_assert_int_eq(can_recv(b.fd, &m, TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.id, CAN_ERR_FLAG | CAN_ERR_BUSOFF);
	ck_assert_uint_eq(m.len, 8);
	ck_assert(bytes_eq_hex(m.data, 8, "00 00 00 00 00 00 00 00"));
	assert_log(b.node, "fault bus-off SEND_BLOCK#1");
	assert_log(b.node, "can bus-off");
	can_expect_quiet(b.fd);
	port_send(&b.port, CONNECT, NULL, 0);
	can_expect_quiet(b.fd);
	admin_clear(b.fd);
	q = query_nodes(b.fd);
	ck_assert_str_eq(q, "");
	free(q);
	ck_assert_int_eq(sim_log_count(b.node, "rx CONNECT"), 1);
	ck_assert_int_eq(sim_log_count(b.node, "can rx admin"), 1);
	free(a);
	bed_stop(&b);
}
END_TEST

/* error-passive: a warning frame, and the node goes on working. */
START_TEST(test_fault_error_passive)
{
	static const char *const specs[] = { "error-passive", "error-passive=rx:CONNECT#2" };
	static const uint8_t bits[] = { 0x20, 0x10 };
	static const char *const lines[] = { "can error-passive tx", "can error-passive rx" };
	struct bed b;
	uint8_t *a = make_image(BLOCK, 33);
	struct connect_info ci;
	struct can_msg m;
	struct frame f;

	bed_faults(&b, specs[_i]);
	port_connect(&b.port, &ci);
	if (_i == 0)
		send_block_payload(&b.port, APP, a);
	else
		port_send(&b.port, CONNECT, NULL, 0);
	ck_assert_int_eq(can_recv(b.fd, &m, TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.id, CAN_ERR_FLAG | CAN_ERR_CRTL);
	ck_assert_uint_eq(m.len, 8);
	ck_assert_uint_eq(m.data[1], bits[_i]);
	assert_log(b.node, "%s", lines[_i]);
	ck_assert_int_eq(port_recv(&b.port, &f, TIMEOUT_MS), 1);
	expect_ack(&f, _i == 0 ? SEND_BLOCK : CONNECT);
	port_connect(&b.port, &ci);
	ck_assert_int_eq(sim_log_count(b.node, "can error-passive"), 1);
	free(a);
	bed_stop(&b);
}
END_TEST

/* no-katapult: REQUEST_BOOTLOADER, and the node is gone for good. */
START_TEST(test_fault_no_katapult)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = sim_start("--mode", "bus", "--can-dir", dir);
	struct sim *node = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A,
				   "--fault", "no-katapult");
	int fd = can_open(bus->path);
	char *q = query_nodes(fd);

	ck_assert_str_eq(q, UUID_A ":01");
	free(q);
	admin_request_bootloader(fd, UUID_A);
	assert_log(node, "request-bootloader");
	assert_log(node, "fault no-katapult REQUEST_BOOTLOADER#1");
	assert_log(node, "hangup");
	q = query_nodes(fd);
	ck_assert_str_eq(q, "");
	free(q);
	sleep_ms(100);
	ck_assert_int_eq(sim_log_count(node, "enumerate"), 1);
	close(fd);
	sim_stop(node);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* no-return: after COMPLETE the node never comes back. */
START_TEST(test_fault_no_return)
{
	struct bed b;
	uint8_t *a = make_image(BLOCK, 34);
	struct frame f;
	char *q;

	bed_faults(&b, "no-return");
	port_write_block(&b.port, APP, a);
	port_transact(&b.port, COMPLETE, NULL, 0, &f);
	expect_ack(&f, COMPLETE);
	assert_log(b.node, "fault no-return COMPLETE#1");
	assert_log(b.node, "complete");
	q = query_nodes(b.fd);
	ck_assert_str_eq(q, "");
	free(q);
	ck_assert_int_eq(sim_log_count(b.node, "boot klipper"), 0);
	ck_assert_int_eq(sim_log_count(b.node, "enumerate"), 1);
	free(a);
	bed_stop(&b);
}
END_TEST

/* hangup on a CAN node: it goes silent mid-transfer. */
START_TEST(test_fault_can_hangup)
{
	struct bed b;
	uint8_t *a = make_image(2 * BLOCK, 35);

	bed_faults(&b, "hangup:SEND_BLOCK#2");
	port_write_block(&b.port, APP, a);
	send_block_payload(&b.port, APP + BLOCK, a + BLOCK);
	can_expect_quiet(b.fd);
	assert_log(b.node, "fault hangup SEND_BLOCK#2");
	assert_log(b.node, "hangup");
	free(query_nodes(b.fd));
	ck_assert_int_eq(sim_log_count(b.node, "can tx admin"), 0);
	free(a);
	bed_stop(&b);
}
END_TEST

/* The bootloader's faults act over CAN as on serial. */
START_TEST(test_fault_katapult_over_can)
{
	struct bed b;
	uint8_t *a = make_image(BLOCK, 36), got[BLOCK];
	struct connect_info ci;
	struct frame f;

	bed_faults(&b, "drop:CONNECT#1", "crc:CONNECT#2", "busy:CONNECT#3", "wrong-mcu",
		   "wrong-address:REQUEST_BLOCK#1", "bad-cell");
	port_send(&b.port, CONNECT, NULL, 0);
	ck_assert_int_eq(port_recv(&b.port, &f, QUIET_MS), -1);
	port_send(&b.port, CONNECT, NULL, 0);
	ck_assert_int_eq(port_recv(&b.port, &f, TIMEOUT_MS), 0);
	port_transact(&b.port, CONNECT, NULL, 0, &f);
	expect_type(&f, BUSY);
	port_connect(&b.port, &ci);
	ck_assert_str_eq(ci.mcu, "stm32f103xe");
	port_write_block(&b.port, APP, a);
	{
		uint8_t payload[4];

		put32(payload, APP);
		port_transact(&b.port, REQUEST_BLOCK, payload, 4, &f);
		expect_ack(&f, REQUEST_BLOCK);
		ck_assert_uint_eq(get32(f.payload + 4), APP + BLOCK);
	}
	port_read_block(&b.port, APP, got);
	ck_assert(memcmp(got, a, BLOCK) != 0);
	assert_log(b.node, "fault drop CONNECT#1");
	assert_log(b.node, "fault crc CONNECT#2");
	assert_log(b.node, "fault busy CONNECT#3");
	assert_log(b.node, "fault wrong-mcu CONNECT#4");
	assert_log(b.node, "fault bad-cell SEND_BLOCK#1");
	assert_log(b.node, "fault wrong-address REQUEST_BLOCK#1");
	free(a);
	bed_stop(&b);
}
END_TEST

KF_TEST_SUITE(sim_can_faults)
{
	kf_test_add_loop(test_fault_lost_frame, 2);
	kf_test_add(test_fault_bus_off);
	kf_test_add_loop(test_fault_error_passive, 2);
	kf_test_add(test_fault_no_katapult);
	kf_test_add(test_fault_no_return);
	kf_test_add(test_fault_can_hangup);
	kf_test_add(test_fault_katapult_over_can);
}
