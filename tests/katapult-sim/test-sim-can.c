/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim on a CAN bus: the relay, the UUIDs, the admin commands of
 * Klipper and Katapult, several nodes on one bus, a whole flash over CAN,
 * and a bus that goes away and comes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "can-client.h"
#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The reference's test vectors: USB serial (the chip id) and CAN UUID. */
static const struct {
	const char *serial, *uuid;
} vectors[] = {
	{ "140028000951313339373836", "c1980e2023a1" },
	{ "4550357129118BE8", "fc7c3907fd17" },
	{ "39001B000C51313339373836", "44db3d634885" },
	{ "29001A001151313531383332", "95c25dd8fd1e" },
};

#define SERIAL_A "140028000951313339373836"
#define UUID_A "c1980e2023a1"
#define SERIAL_B "4550357129118BE8"
#define UUID_B "fc7c3907fd17"

static struct sim *
start_bus(const char *dir)
{
	struct sim *bus = sim_start("--mode", "bus", "--can-dir", dir);
	char *path = strf("%s/can0", dir);

	ck_assert_str_eq(bus->path, path);
	free(path);
	return bus;
}

/* A bus with one node in Katapult, node id 129 assigned, and a host on it. */
static struct sim *
katapult_node(
	const char *dir, struct sim **bus, int *fd, struct can_port *port, const char *const *extra)
{
	const char *argv[24] = { "--mode",   "can",    "--can-dir",   dir,
				 "--serial", SERIAL_A, "--can-start", "katapult" };
	size_t n = 8;
	struct sim *node;

	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	*bus = start_bus(dir);
	node = sim_add_v(argv);
	*fd = can_open((*bus)->path);
	admin_set_katapult(*fd, UUID_A, KATAPULT_NODE);
	assert_log(node, "can nodeid %d", KATAPULT_NODE);
	port_init(port, *fd, KATAPULT_NODE);
	return node;
}

/* The test's own fasthash64 agrees with the reference. */
START_TEST(test_fasthash_vectors)
{
	char uuid[13];

	for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
		test_uuid_hex(vectors[i].serial, uuid);
		ck_assert_str_eq(uuid, vectors[i].uuid);
	}
	/* and the plain hash, of nothing and of one byte */
	ck_assert(test_fasthash64(NULL, 0, 0) != test_fasthash64((const uint8_t *)"\0", 1, 0));
}
END_TEST

/* Four nodes on one bus answer a query with the UUIDs of their serials. */
START_TEST(test_node_uuids)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir), *nodes[5];
	char *got, *want;
	int fd;

	for (size_t i = 0; i < ARRAY_LEN(vectors); i++)
		nodes[i] =
			sim_add("--mode", "can", "--can-dir", dir, "--serial", vectors[i].serial);
	nodes[4] = sim_add("--mode", "can", "--can-dir", dir, "--can-uuid", "0123456789AB");
	for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
		ck_assert_str_eq(nodes[i]->path, bus->path);
		assert_log(nodes[i], "start can %s", bus->path);
		assert_log(nodes[i], "enumerate can-klipper can0 %s", vectors[i].uuid);
		assert_log(nodes[i], "can bus connect");
	}
	fd = can_open(bus->path);
	got = query_nodes(fd);
	want = strf("0123456789ab:01 44db3d634885:01 95c25dd8fd1e:01 c1980e2023a1:01 "
		    "fc7c3907fd17:01");
	ck_assert_str_eq(got, want);
	for (size_t i = 0; i < ARRAY_LEN(nodes); i++) {
		assert_log(nodes[i], "can rx admin QUERY_UNASSIGNED");
		sim_stop(nodes[i]);
	}
	assert_log_count(bus, 1, "bus connect 6");
	close(fd);
	free(got);
	free(want);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* The relay: to every other client, never back, wrong packets dropped. */
START_TEST(test_relay)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	char *path = strdup(bus->path);
	int a = can_open(path), b = can_open(path), c = can_open(path);
	uint8_t bad[17] = { 0 };
	struct can_msg m;
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	assert_log(bus, "start bus %s", path);
	assert_log(bus, "bus listen %s", path);
	can_send(a, 0x123, "\x01\x02\x03", 3);
	ck_assert_int_eq(can_recv(b, &m, TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.id, 0x123);
	ck_assert_uint_eq(m.len, 3);
	ck_assert(bytes_eq_hex(m.data, 3, "01 02 03"));
	ck_assert_int_eq(can_recv(c, &m, TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.id, 0x123);
	/* an error frame travels like any other */
	can_send(c, CAN_ERR_FLAG | CAN_ERR_BUSOFF, "\0\0\0\0\0\0\0\0", 8);
	ck_assert_int_eq(can_recv(a, &m, TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.id, CAN_ERR_FLAG | CAN_ERR_BUSOFF);
	ck_assert_int_eq(can_recv(b, &m, TIMEOUT_MS), 1);

	/* protocol errors: 3, 17 and 0 bytes, and a length of 9 */
	can_send_raw(a, bad, 3);
	can_send_raw(a, bad, 17);
	can_send_raw(a, bad, 0);
	bad[4] = 9;
	can_send_raw(a, bad, 16);
	assert_log(bus, "bus drop 1 len=3");
	assert_log(bus, "bus drop 1 len=17");
	assert_log(bus, "bus drop 1 len=0");
	assert_log(bus, "bus drop 1 dlc=9");
	/* the sender heard nothing of its own frames, the others nothing of these */
	can_expect_quiet(a);
	can_expect_quiet(b);
	can_expect_quiet(c);
	/* and the bus still works, for a client that came later too */
	{
		int d = can_open(path);

		can_send(b, 0x7ff, NULL, 0);
		ck_assert_int_eq(can_recv(d, &m, TIMEOUT_MS), 1);
		ck_assert_uint_eq(m.id, 0x7ff);
		ck_assert_uint_eq(m.len, 0);
		close(d);
	}
	assert_log(bus, "bus disconnect 4");
	close(a);
	assert_log(bus, "bus disconnect 1");
	ck_assert_int_eq(sim_stop_with(bus, SIGTERM), 0);
	ck_assert(!exists(path));
	ck_assert(!exists(bus->ready));
	ck_assert(sim_log_wait(bus, "remove %s", path));
	can_expect_closed(b);
	close(b);
	close(c);
	sim_free(bus);
	free(path);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * A client that reads nothing: its frames wait in order, and beyond the
 * relay's queue further ones are lost (and logged).
 */
START_TEST(test_relay_overrun)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	int a = can_open(bus->path), b = can_open(bus->path);
	uint32_t total = 0, next = 0;
	struct can_msg m;

	/* how much a socket holds depends on the machine: send until it is full */
	while (sim_log_count(bus, "bus overrun 2") == 0) {
		ck_assert_uint_lt(total, 1000000);
		for (int i = 0; i < 1000; i++, total++) {
			uint8_t seq[4];

			put32(seq, total);
			can_send(a, 0x100, seq, 4);
		}
		sleep_ms(5);
	}
	while (can_recv(b, &m, QUIET_MS) == 1) {
		ck_assert_uint_eq(m.id, 0x100);
		ck_assert_uint_eq(get32(m.data), next);
		next++;
	}
	/* the whole queue and whatever the socket held, but not all */
	ck_assert_uint_gt(next, 4096);
	ck_assert_uint_lt(next, total);
	ck_assert_int_eq(sim_log_count(bus, "bus overrun"), 1);
	/* it reads again: frames flow again */
	can_send(a, 0x101, NULL, 0);
	ck_assert(can_recv_id(b, 0x101, &m, TIMEOUT_MS));
	close(a);
	close(b);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* A stale socket of a killed bus is replaced; a live one is not. */
START_TEST(test_relay_stale_socket)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	char *path = strdup(bus->path);
	struct sim *again;

	/* a second bus on a live socket gives up */
	{
		const char *argv[] = { sim_bin(), "--mode", "bus", "--can-dir", dir, NULL };
		int status;
		pid_t pid = spawn(argv, -1, open("/dev/null", O_WRONLY | O_CLOEXEC));

		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	}
	kill(bus->pid, SIGKILL);
	waitpid(bus->pid, NULL, 0);
	ck_assert(exists(path));
	again = sim_start("--mode", "bus", "--can-dir", dir);
	close(can_open(path));
	sim_stop(again);
	sim_free(bus);
	free(path);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* Klipper: query, SET_KLIPPER_NODEID, then REQUEST_BOOTLOADER into Katapult. */
START_TEST(test_klipper_admin)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	struct sim *node = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A);
	int fd = can_open(bus->path);
	struct can_msg m;
	char *q;

	admin_query(fd);
	ck_assert(can_recv_id(fd, CAN_ADMIN_RESP, &m, TIMEOUT_MS));
	ck_assert_uint_eq(m.len, 8);
	ck_assert(bytes_eq_hex(m.data, 8, "20 c1 98 0e 20 23 a1 01"));
	assert_log(node, "can tx admin NEED_NODEID %s klipper", UUID_A);

	/* Katapult's SET_NODEID means nothing to Klipper, another UUID neither */
	admin_set_katapult(fd, UUID_A, 7);
	admin_set_klipper(fd, UUID_B, 7);
	assert_log(node, "can rx admin SET_NODEID %s 7", UUID_A);
	assert_log(node, "can rx admin SET_KLIPPER_NODEID %s 7", UUID_B);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":01");
	free(q);

	admin_set_klipper(fd, UUID_A, 7);
	assert_log(node, "can nodeid 7");
	q = query_nodes(fd);
	ck_assert_str_eq(q, "");
	free(q);

	/* a short request or another UUID's is ignored */
	can_send(fd, CAN_ADMIN, "\x02\xc1\x98\x0e\x20\x23", 6);
	admin_request_bootloader(fd, UUID_B);
	assert_log(node, "can rx admin REQUEST_BOOTLOADER dlc=6");
	assert_log(node, "can rx admin REQUEST_BOOTLOADER %s", UUID_B);
	ck_assert_int_eq(sim_log_count(node, "request-bootloader"), 0);
	/* honoured with a node id assigned */
	admin_request_bootloader(fd, UUID_A);
	assert_log(node, "request-bootloader");
	assert_log(node, "enumerate can-katapult can0 %s", UUID_A);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11");
	free(q);
	assert_log(node, "can tx admin NEED_NODEID %s katapult", UUID_A);
	/* Katapult ignores a second request */
	admin_request_bootloader(fd, UUID_A);
	assert_log_count(node, 2, "can rx admin REQUEST_BOOTLOADER " UUID_A);
	ck_assert_int_eq(sim_log_count(node, "request-bootloader"), 1);
	ck_assert_int_eq(sim_log_count(node, "enumerate"), 2);

	close(fd);
	sim_stop(node);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* Katapult: SET_NODEID, no answer to a query with an id, CLEAR_NODEID. */
START_TEST(test_katapult_admin)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	struct sim *node = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A,
				   "--can-start", "katapult");
	int fd = can_open(bus->path);
	struct connect_info ci;
	struct can_port port;
	char *q;

	assert_log(node, "enumerate can-katapult can0 %s", UUID_A);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11");
	free(q);
	/* Klipper's SET_KLIPPER_NODEID means nothing to Katapult */
	admin_set_klipper(fd, UUID_A, 5);
	admin_set_katapult(fd, UUID_A, KATAPULT_NODE);
	assert_log(node, "can nodeid %d", KATAPULT_NODE);
	ck_assert_int_eq(sim_log_count(node, "can nodeid"), 1);
	q = query_nodes(fd);
	ck_assert_str_eq(q, "");
	free(q);
	/* the node id carries the byte stream: 0x202 in, 0x203 out */
	port_init(&port, fd, KATAPULT_NODE);
	port_connect(&port, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_uint_eq(port.frames, 7);
	assert_log(node, "rx CONNECT");
	assert_log(node, "tx ACK CONNECT");

	admin_clear(fd);
	assert_log(node, "can rx admin CLEAR_NODEID");
	assert_log(node, "can clear");
	port_send(&port, CONNECT, NULL, 0);
	can_expect_quiet(fd);
	ck_assert_int_eq(sim_log_count(node, "rx CONNECT"), 1);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11");
	free(q);
	/* an unknown admin command is logged and ignored */
	can_send(fd, CAN_ADMIN, "\x55", 1);
	assert_log(node, "can rx admin UNKNOWN 0x55");

	close(fd);
	sim_stop(node);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* Katapult's conflict rules: another node's SET for our id, a frame on our tx id. */
START_TEST(test_conflicts)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	struct sim *a = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A,
				"--can-start", "katapult");
	struct sim *b = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_B,
				"--can-start", "katapult");
	int fd = can_open(bus->path);
	char *q;

	admin_set_katapult(fd, UUID_A, 10);
	assert_log(a, "can nodeid 10");
	admin_set_katapult(fd, UUID_B, 10);
	assert_log(b, "can nodeid 10");
	assert_log(a, "can conflict 10");
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11");
	free(q);
	/* B hears a frame on its own transmit id 0x115 */
	can_send(fd, 0x115, "\x01", 1);
	assert_log(b, "can conflict 10");
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11 " UUID_B ":11");
	free(q);
	close(fd);
	sim_stop(a);
	sim_stop(b);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --can-node-id: a node Klipper owns answers no query, but takes the request. */
START_TEST(test_assigned_node_id)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	struct sim *a = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A,
				"--can-node-id", "3");
	struct sim *b = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_B);
	int fd = can_open(bus->path);
	char *q;

	assert_log(a, "can nodeid 3");
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_B ":01");
	free(q);
	admin_request_bootloader(fd, UUID_A);
	assert_log(a, "enumerate can-katapult can0 %s", UUID_A);
	/* Katapult starts without a node id */
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":11 " UUID_B ":01");
	free(q);
	ck_assert_int_eq(sim_log_count(b, "request-bootloader"), 0);
	close(fd);
	sim_stop(a);
	sim_stop(b);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

static void
check_image(struct sim *s, const uint8_t *padded, size_t len)
{
	struct stat st;
	char *image = kf_test_read_file(s->image);

	ck_assert(image != NULL);
	ck_assert_int_eq(stat(s->image, &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, len);
	ck_assert(memcmp(image, padded, len) == 0);
	free(image);
}

/* The whole flash as flashtool does it, over CAN; Klipper again after COMPLETE. */
START_TEST(test_can_flash)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus = start_bus(dir);
	struct sim *node = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A);
	struct sim *other = sim_add("--mode", "can", "--can-dir", dir, "--serial", SERIAL_B,
				    "--can-start", "katapult");
	int fd = can_open(bus->path);
	uint8_t *data = make_image(PAGE + 3000, 21), got[BLOCK];
	size_t len;
	uint8_t *padded = pad_image(data, PAGE + 3000, &len);
	struct connect_info ci;
	struct can_port port;
	struct frame f;
	char *q;

	admin_request_bootloader(fd, UUID_A);
	assert_log(node, "enumerate can-katapult can0 %s", UUID_A);
	/* flashtool's sequence: every Katapult node drops its id, one gets 129 */
	admin_clear(fd);
	assert_log(node, "can clear");
	assert_log(other, "can clear");
	admin_set_katapult(fd, UUID_A, KATAPULT_NODE);
	assert_log(node, "can nodeid %d", KATAPULT_NODE);
	port_init(&port, fd, KATAPULT_NODE);
	port_connect(&port, &ci);
	ck_assert_uint_eq(ci.start, APP);
	ck_assert_uint_eq(ci.block, BLOCK);
	/* GET_CANBUS_ID: the UUID and two zero bytes */
	port_transact(&port, GET_CANBUS_ID, NULL, 0, &f);
	expect_ack(&f, GET_CANBUS_ID);
	ck_assert_msg(bytes_eq_hex(f.payload + 4, f.payload_len - 4, "c1 98 0e 20 23 a1 00 00"),
		      "GET_CANBUS_ID answered %s", hex(f.raw, f.len));
	assert_log(node, "tx ACK GET_CANBUS_ID %s", UUID_A);

	for (size_t off = 0; off < len; off += BLOCK)
		port_write_block(&port, APP + (uint32_t)off, padded + off);
	port_transact(&port, SEND_EOF, NULL, 0, &f);
	expect_ack(&f, SEND_EOF);
	ck_assert_uint_eq(get32(f.payload + 4), 2);
	for (size_t off = 0; off < len; off += BLOCK) {
		port_read_block(&port, APP + (uint32_t)off, got);
		ck_assert(memcmp(got, padded + off, BLOCK) == 0);
	}
	port_transact(&port, COMPLETE, NULL, 0, &f);
	expect_ack(&f, COMPLETE);
	assert_log(node, "complete");
	assert_log(node, "enumerate can-klipper can0 %s", UUID_A);
	assert_log(node, "boot klipper");
	check_image(node, padded, len);
	/* the other node heard nothing of it */
	ck_assert_int_eq(sim_log_count(other, "rx "), 0);
	ck_assert_int_eq(sim_log_count(other, "can nodeid"), 0);
	/* Klipper again, with no node id */
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":01 " UUID_B ":11");
	free(q);

	close(fd);
	free(data);
	free(padded);
	sim_stop(node);
	sim_stop(other);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* The parser over CAN: one NACK per burst of garbage; 128 bytes at most. */
START_TEST(test_can_garbage)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus;
	struct can_port port;
	struct frame f;
	int fd;
	struct sim *node = katapult_node(dir, &bus, &fd, &port, NULL);
	uint8_t payload[124];

	for (int i = 0; i < 3; i++)
		can_send(fd, port.tx_id, "garbage!", 8);
	ck_assert_int_eq(port_recv(&port, &f, TIMEOUT_MS), 1);
	ck_assert(bytes_eq_hex(f.raw, f.len, "01 88 f1 00 68 95 99 03"));
	can_expect_quiet(fd);
	port_transact(&port, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	ck_assert_uint_eq(sim_log_garbage(node), 24);
	ck_assert_int_eq(sim_log_count(node, "tx NACK"), 1);
	/* 132 bytes are too long, on CAN as on serial */
	memset(payload, 0x55, sizeof(payload));
	port_send(&port, CONNECT, payload, 124);
	ck_assert_int_eq(port_recv(&port, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	port_transact(&port, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	ck_assert_int_eq(sim_log_count(node, "rx CONNECT"), 2);
	close(fd);
	sim_stop(node);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* A node started before its bus waits for it, and is ready once on it. */
START_TEST(test_node_waits_for_bus)
{
	char *dir = kf_test_mkdtemp();
	char *path = strf("%s/can0", dir);
	struct sim *node = sim_add_nowait("--mode", "can", "--can-dir", dir, "--serial", SERIAL_A);
	struct sim *bus;
	char *q;
	int fd;

	sleep_ms(100);
	ck_assert(!exists(node->ready));
	ck_assert(sim_log_wait(node, "enumerate can-klipper can0 %s", UUID_A));
	bus = sim_add("--mode", "bus", "--can-dir", dir);
	sim_wait_ready(node);
	ck_assert_str_eq(node->path, path);
	assert_log(node, "can bus connect");
	fd = can_open(path);
	q = query_nodes(fd);
	ck_assert_str_eq(q, UUID_A ":01");
	free(q);
	close(fd);
	sim_stop(node);
	sim_stop(bus);
	free(path);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* The bus goes and comes back: the node reconnects and keeps its state. */
START_TEST(test_bus_gone_and_back)
{
	char *dir = kf_test_mkdtemp();
	struct sim *bus;
	struct can_port port;
	struct connect_info ci;
	int fd;
	struct sim *node = katapult_node(dir, &bus, &fd, &port, NULL);

	port_connect(&port, &ci);
	ck_assert_int_eq(sim_stop_with(bus, SIGTERM), 0);
	sim_free(bus);
	close(fd);
	assert_log(node, "can bus gone");
	sleep_ms(60); /* it keeps looking */
	bus = sim_add("--mode", "bus", "--can-dir", dir);
	assert_log(node, "can bus back");
	fd = can_open(bus->path);
	port_init(&port, fd, KATAPULT_NODE);
	/* still in Katapult, still node 129 */
	port_connect(&port, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_int_eq(sim_log_count(node, "rx CONNECT"), 2);
	ck_assert_int_eq(sim_log_count(node, "enumerate"), 1);
	close(fd);
	sim_stop(node);
	sim_stop(bus);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

KF_TEST_SUITE(sim_can)
{
	kf_test_add(test_fasthash_vectors);
	kf_test_add(test_node_uuids);
	kf_test_add(test_relay);
	kf_test_add(test_relay_overrun);
	kf_test_add(test_relay_stale_socket);
	kf_test_add(test_klipper_admin);
	kf_test_add(test_katapult_admin);
	kf_test_add(test_conflicts);
	kf_test_add(test_assigned_node_id);
	kf_test_add_timeout(test_can_flash, 60);
	kf_test_add(test_can_garbage);
	kf_test_add(test_node_waits_for_bus);
	kf_test_add(test_bus_gone_and_back);
}
