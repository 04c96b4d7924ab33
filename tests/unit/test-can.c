/* SPDX-License-Identifier: MIT */
/*
 * CAN: UUIDs and frames against the reference's exact values, the admin
 * protocol and Katapult over CAN against kflash-sim's simulated bus (the
 * socket-dir contract), faults included.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "can/can-private.h"
#include "kf-test.h"
#include "script-transport.h"
#include "sim-run.h"

#define UUID_A "aabbccddeeff"
#define UUID_B "0102030405a6"
#define UUID_C "112233445566"
#define MCU "stm32g0b1xx"

static struct kflash_context *ctx;
static char *dir;
static char sockets[4200];

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(sockets, sizeof(sockets), "%s/can", dir);
	ck_assert_int_eq(mkdir(sockets, 0700), 0);
	ck_assert_int_eq(kflash_context_set_can_socket_dir(ctx, sockets), 0);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static struct kf_sim *
start_bus(void)
{
	return kf_sim_startl(NULL, "--mode", "bus", "--can-dir", sockets);
}

/* A node; @extra are more simulator options, NULL-terminated. */
static struct kf_sim *
start_node(const char *uuid, const char *const *extra)
{
	/* A G0: 2 KiB pages, Katapult's 8 KiB below the application. */
	const char *args[32] = { "--mode",           "can",  "--can-dir",   sockets,
				 "--can-uuid",       uuid,   "--mcu",       MCU,
				 "--page-size",      "2048", "--app-start", "0x8002000",
				 "--reenumerate-ms", "20" };
	size_t n = 14;

	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	return kf_sim_start(NULL, args);
}

static struct kflash_can_bus *
open_bus(void)
{
	struct kflash_can_bus *bus = NULL;

	ck_assert_msg(kflash_can_bus_open(ctx, "can0", &bus) == 0, "%s",
		      kflash_context_last_error(ctx));
	return bus;
}

static uint8_t *
make_image(size_t size)
{
	uint8_t *img = malloc(size);

	for (size_t i = 0; i < size; i++)
		img[i] = (uint8_t)(i * 11 + (i >> 6));
	return img;
}

/* ---- UUIDs and frames ---- */

START_TEST(uuid_from_serial_matches_the_reference)
{
	static const struct {
		const char *serial, *uuid;
	} vectors[] = {
		{ "140028000951313339373836", "c1980e2023a1" },
		{ "4550357129118BE8", "fc7c3907fd17" },
		{ "39001B000C51313339373836", "44db3d634885" },
		{ "29001A001151313531383332", "95c25dd8fd1e" },
	};
	char uuid[13];

	for (size_t i = 0; i < KF_ARRAY_SIZE(vectors); i++) {
		ck_assert_int_eq(kflash_can_uuid_from_serial(vectors[i].serial, uuid), 0);
		ck_assert_str_eq(uuid, vectors[i].uuid);
	}
	/* Not a chip id in hex: no UUID. */
	ck_assert_int_eq(kflash_can_uuid_from_serial("12345", uuid), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_can_uuid_from_serial("ZZ", uuid), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_can_uuid_from_serial("", uuid), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_can_uuid_from_serial(NULL, uuid), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_can_uuid_is_valid("C1980E2023A1"), 1);
	ck_assert_int_eq(kflash_can_uuid_is_valid("c1980e2023a"), 0);
	ck_assert_int_eq(kflash_can_uuid_is_valid("c1980e2023ag"), 0);
	ck_assert_int_eq(kflash_can_uuid_is_valid(NULL), 0);
}
END_TEST

START_TEST(frames_on_the_wire_and_admin_answers)
{
	static const uint8_t wire[16] = { 0xf1, 0x03, 0,    0,    8,    0,    0,    0,
					  0x20, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11 };
	struct kf_can_frame f = { 0 }, g;
	uint8_t out[16];
	char uuid[13];
	int app;

	ck_assert(kf_can_frame_decode(wire, 16, &f));
	ck_assert_uint_eq(f.id, 0x3f1);
	ck_assert_uint_eq(f.len, 8);
	kf_can_frame_encode(&f, out);
	ck_assert_int_eq(memcmp(out, wire, 16), 0);
	ck_assert(kf_can_parse_need_nodeid(&f, uuid, &app));
	ck_assert_str_eq(uuid, UUID_A);
	ck_assert_int_eq(app, KFLASH_CAN_APP_KATAPULT);
	f.data[7] = 0x01;
	ck_assert(kf_can_parse_need_nodeid(&f, uuid, &app));
	ck_assert_int_eq(app, KFLASH_CAN_APP_KLIPPER);
	ck_assert_str_eq(kflash_can_app_name(app), "klipper");
	/* Not answers: another id, too short, another opcode, an extended id. */
	g = f;
	g.id = 0x3f0;
	ck_assert(!kf_can_parse_need_nodeid(&g, uuid, &app));
	g = f;
	g.len = 7;
	ck_assert(!kf_can_parse_need_nodeid(&g, uuid, &app));
	g = f;
	g.data[0] = 0x21;
	ck_assert(!kf_can_parse_need_nodeid(&g, uuid, &app));
	g = f;
	g.id |= KF_CAN_EFF_FLAG;
	ck_assert(!kf_can_parse_need_nodeid(&g, uuid, &app));
	/* Not a frame: another length, a length byte over 8. */
	ck_assert(!kf_can_frame_decode(wire, 15, &g));
	memcpy(out, wire, 16);
	out[4] = 9;
	ck_assert(!kf_can_frame_decode(out, 16, &g));
}
END_TEST

START_TEST(bus_open_errors)
{
	struct kflash_can_bus *bus = NULL;
	struct kflash_context *plain;

	setup();
	kf_assert_error(ctx, kflash_can_bus_open(ctx, "can0", &bus), KFLASH_ERR_NOT_FOUND,
			"there is no CAN interface can0: nothing listens on");
	ck_assert_ptr_null(bus);
	kf_assert_error(ctx, kflash_can_bus_open(ctx, "../x", &bus), KFLASH_ERR_INVALID,
			"'../x' is not a network interface name");
	kf_assert_error(ctx, kflash_can_bus_open(ctx, "", &bus), KFLASH_ERR_INVALID,
			"is not a network interface name");
	/* The kernel's CAN: this machine has no AF_CAN, a real host no such interface. */
	plain = kf_test_context(dir);
	ck_assert_ptr_null(kflash_context_get_can_socket_dir(plain));
	{
		int r = kflash_can_bus_open(plain, "kfnotthere0", &bus);

		ck_assert_msg(r == KFLASH_ERR_NOT_SUPPORTED || r == KFLASH_ERR_NOT_FOUND, "%s",
			      kflash_context_last_error(plain));
		ck_assert(strstr(kflash_context_last_error(plain), "kfnotthere0") != NULL);
	}
	kf_test_context_unref(plain);
	teardown();
}
END_TEST

/* ---- the admin protocol on the simulated bus ---- */

START_TEST(query_sees_unassigned_nodes_only)
{
	struct kf_sim *bus_sim, *a, *b, *c;
	struct kflash_can_query *q = NULL;
	struct kflash_can_bus *bus;

	setup();
	bus_sim = start_bus();
	a = start_node(UUID_A, NULL);
	b = start_node(UUID_B, (const char *const[]){ "--can-start", "katapult", NULL });
	/* Klipper runs it: it has an id and does not answer. */
	c = start_node(UUID_C, (const char *const[]){ "--can-node-id", "5", NULL });
	bus = open_bus();
	ck_assert_str_eq(kflash_can_bus_get_interface(bus), "can0");
	ck_assert_int_eq(kflash_can_bus_query(bus, 300, &q), 0);
	ck_assert_uint_eq(kflash_can_query_get_count(q), 2);
	ck_assert_int_eq(kflash_can_query_find(q, UUID_A), KFLASH_CAN_APP_KLIPPER);
	ck_assert_int_eq(kflash_can_query_find(q, "0102030405A6"), KFLASH_CAN_APP_KATAPULT);
	ck_assert_int_eq(kflash_can_query_find(q, UUID_C), KFLASH_CAN_APP_UNKNOWN);
	ck_assert_ptr_null(kflash_can_query_get_uuid(q, 2));
	kflash_can_query_unref(q);

	/* The bootloader request works on the node Klipper has given an id. */
	ck_assert_int_eq(kflash_can_bus_request_bootloader(bus, UUID_C), 0);
	ck_assert_msg(kflash_can_bus_wait_katapult(bus, UUID_C, 3000) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert(kf_sim_log_wait(c, "enumerate can-katapult"));
	kf_assert_error(ctx, kflash_can_bus_request_bootloader(bus, "nope"), KFLASH_ERR_INVALID,
			"'nope' is not a CAN UUID");
	kflash_can_bus_unref(bus);
	kf_sim_stop(a);
	kf_sim_stop(b);
	kf_sim_stop(c);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

/* Request, wait, flash, verify, complete: the node runs the new image and Klipper again. */
static void
flash_node(struct kf_sim *node, const char *uuid, size_t size, uint32_t tries_ms)
{
	struct kflash_katapult *k = NULL;
	struct kflash_can_query *q = NULL;
	struct kflash_can_bus *bus = open_bus();
	uint8_t *img = make_image(size);

	ck_assert_int_eq(kflash_can_bus_request_bootloader(bus, uuid), 0);
	ck_assert_msg(kflash_can_bus_wait_katapult(bus, uuid, 5000) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_katapult_open_can(bus, uuid, &k), 0);
	ck_assert_int_eq(kflash_katapult_set_retries(k, 3, tries_ms, tries_ms), 0);
	ck_assert_msg(kflash_katapult_connect(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_str_eq(kflash_katapult_get_mcu(k), MCU);
	ck_assert_uint_eq(kflash_katapult_get_app_start(k), 0x8002000);
	ck_assert_msg(kflash_katapult_write(k, img, size) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_msg(kflash_katapult_verify(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_int_eq(kflash_katapult_complete(k), 0);
	kflash_katapult_unref(k);
	ck_assert(kf_sim_log_wait(node, "boot klipper"));
	ck_assert_int_eq(kf_sim_log_count(node, "tx ACK GET_CANBUS_ID"), 1);
	/* Back in Klipper, without an id: it answers a query as Klipper. */
	ck_assert_int_eq(kflash_can_bus_query(bus, 300, &q), 0);
	ck_assert_int_eq(kflash_can_query_find(q, uuid), KFLASH_CAN_APP_KLIPPER);
	kflash_can_query_unref(q);
	kflash_can_bus_unref(bus);
	kf_sim_end(node);
	{
		char *got = kf_test_read_file(node->image);

		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(memcmp(got, img, size), 0);
		free(got);
	}
	free(img);
}

START_TEST(flash_a_node_over_can)
{
	struct kf_sim *bus_sim, *node, *other;

	setup();
	bus_sim = start_bus();
	node = start_node(UUID_A, NULL);
	other = start_node(UUID_B, NULL);
	flash_node(node, UUID_A, 5000, 500);
	ck_assert(kf_test_events_contain(ctx, "writing"));
	/* The other node heard it all and did nothing. */
	ck_assert_int_eq(kf_sim_log_count(other, "enumerate can-katapult"), 0);
	kf_sim_stop(node);
	kf_sim_stop(other);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

/* Faults a retry heals: the flash still succeeds. */
static const char *const recoverable[] = {
	"lost-frame",    "lost-frame=1:REQUEST_BLOCK#3", "drop", "crc", "busy", "wrong-address",
	"error-passive",
};

START_TEST(flash_over_can_recovers_from_faults)
{
	struct kf_sim *bus_sim, *node;

	setup();
	bus_sim = start_bus();
	node = start_node(UUID_A, (const char *const[]){ "--fault", recoverable[_i], NULL });
	flash_node(node, UUID_A, 900, 300);
	ck_assert_int_ge(kf_sim_log_count(node, "fault "), 1);
	if (strncmp(recoverable[_i], "error-passive", 13) == 0)
		ck_assert(kf_test_events_contain(ctx, "can0 is error-passive"));
	kf_sim_stop(node);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

START_TEST(bus_off_ends_the_transfer_clearly)
{
	struct kf_sim *bus_sim, *node;
	struct kflash_katapult *k = NULL;
	struct kflash_can_bus *bus;
	uint8_t *img = make_image(500);

	setup();
	bus_sim = start_bus();
	node = start_node(UUID_A, (const char *const[]){ "--fault", "bus-off", NULL });
	bus = open_bus();
	ck_assert_int_eq(kflash_can_bus_request_bootloader(bus, UUID_A), 0);
	ck_assert_int_eq(kflash_can_bus_wait_katapult(bus, UUID_A, 5000), 0);
	ck_assert_int_eq(kflash_katapult_open_can(bus, UUID_A, &k), 0);
	ck_assert_int_eq(kflash_katapult_set_retries(k, 2, 300, 300), 0);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	kf_assert_error(ctx, kflash_katapult_write(k, img, 500), KFLASH_ERR_IO,
			"can0 went BUS-OFF");
	ck_assert(strstr(kflash_context_last_error(ctx), "the board stays in Katapult") != NULL);
	kf_assert_error(ctx, kflash_katapult_complete(k), KFLASH_ERR_INVALID, "not verified");
	kflash_katapult_unref(k);
	kflash_can_bus_unref(bus);
	ck_assert_int_eq(kf_sim_log_count(node, "rx COMPLETE"), 0);
	free(img);
	kf_sim_stop(node);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

START_TEST(node_without_katapult_never_comes_back)
{
	struct kf_sim *bus_sim, *node;
	struct kflash_can_bus *bus;

	setup();
	bus_sim = start_bus();
	node = start_node(UUID_A, (const char *const[]){ "--fault", "no-katapult", NULL });
	bus = open_bus();
	ck_assert_int_eq(kflash_can_bus_request_bootloader(bus, UUID_A), 0);
	kf_assert_error(ctx, kflash_can_bus_wait_katapult(bus, UUID_A, 600), KFLASH_ERR_TIMEOUT,
			"node aabbccddeeff did not answer on can0 in Katapult within 600 ms");
	ck_assert(strstr(kflash_context_last_error(ctx), "has Katapult") != NULL);
	kflash_can_bus_unref(bus);
	kf_sim_stop(node);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

START_TEST(connect_reports_what_the_node_says)
{
	struct kf_sim *bus_sim, *node;
	struct kflash_katapult *k = NULL;
	struct kflash_can_bus *bus;

	setup();
	bus_sim = start_bus();
	node = start_node(UUID_A, (const char *const[]){ "--can-start", "katapult", "--fault",
							 "wrong-mcu=stm32f103xe", "--fault",
							 "wrong-start=0x8008000", NULL });
	bus = open_bus();
	ck_assert_int_eq(kflash_can_bus_wait_katapult(bus, UUID_A, 3000), 0);
	ck_assert_int_eq(kflash_katapult_open_can(bus, UUID_A, &k), 0);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	ck_assert_str_eq(kflash_katapult_get_mcu(k), "stm32f103xe");
	ck_assert_uint_eq(kflash_katapult_get_app_start(k), 0x8008000);
	kflash_katapult_unref(k);
	kflash_can_bus_unref(bus);
	kf_sim_stop(node);
	kf_sim_stop(bus_sim);
	teardown();
}
END_TEST

/* ---- GET_CANBUS_ID, against a scripted node ---- */

/* Answer CONNECT, and GET_CANBUS_ID with the UUID in @data. */
static void
answer_as(struct kf_script *s, const uint8_t *w, size_t len, void *data)
{
	static const uint8_t connect[] = { 0x11, 0, 0, 0, 0,   0,   1,   0,   0,   0x20, 0, 0x08,
					   0x40, 0, 0, 0, 's', 't', 'm', '3', '2', 0,    0, 0 };
	uint8_t id[12] = { 0x16 };

	if (len < 4 || w[0] != 0x01 || w[1] != 0x88)
		return;
	if (w[2] == 0x11)
		kf_script_queue_frame(s, 0xa0, connect, sizeof(connect));
	if (w[2] == 0x16) {
		ck_assert(kf_can_uuid_parse(data, id + 4));
		kf_script_queue_frame(s, 0xa0, id, sizeof(id));
	}
}

START_TEST(another_node_answering_is_refused)
{
	struct kflash_katapult *k = NULL;
	struct kf_script *s;

	setup();
	s = kf_script_new(answer_as, (void *)UUID_B);
	ck_assert_int_eq(kf_katapult_new(ctx, kf_script_transport(ctx, s, "node " UUID_A), &k), 0);
	ck_assert_int_eq(kf_katapult_expect_canbus_id(k, UUID_A), 0);
	kf_assert_error(ctx, kflash_katapult_connect(k), KFLASH_ERR_FLASH,
			"says its UUID is 0102030405a6, not aabbccddeeff");
	ck_assert_ptr_null(kflash_katapult_get_mcu(k));
	kflash_katapult_unref(k);
	kf_script_free(s);

	/* The one meant: connected. */
	s = kf_script_new(answer_as, (void *)UUID_A);
	ck_assert_int_eq(kf_katapult_new(ctx, kf_script_transport(ctx, s, "node " UUID_A), &k), 0);
	ck_assert_int_eq(kf_katapult_expect_canbus_id(k, UUID_A), 0);
	ck_assert_int_eq(kflash_katapult_connect(k), 0);
	kflash_katapult_unref(k);
	kf_script_free(s);
	teardown();
}
END_TEST

KF_TEST_SUITE(can)
{
	kf_test_add(uuid_from_serial_matches_the_reference);
	kf_test_add(frames_on_the_wire_and_admin_answers);
	kf_test_add(bus_open_errors);
	kf_test_add_timeout(query_sees_unassigned_nodes_only, 60);
	kf_test_add_timeout(flash_a_node_over_can, 60);
	kf_test_add_loop(flash_over_can_recovers_from_faults, (int)KF_ARRAY_SIZE(recoverable));
	kf_test_add_timeout(bus_off_ends_the_transfer_clearly, 60);
	kf_test_add_timeout(node_without_katapult_never_comes_back, 60);
	kf_test_add_timeout(connect_reports_what_the_node_says, 60);
	kf_test_add(another_node_answering_is_refused);
}
