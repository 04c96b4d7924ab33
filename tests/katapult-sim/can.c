/* SPDX-License-Identifier: MIT */
/*
 * A CAN node: the board of --mode can, and a bridge's own node. Written
 * from the description of Klipper's and Katapult's CAN support:
 *
 * - The UUID is fasthash64 of the chip id (the USB serial in hex), seed
 *   0xA16231A7, its low six bytes in little-endian order.
 * - Admin commands arrive on 0x3f0 and answers leave on 0x3f1. A node with
 *   node id n receives its byte stream on 0x100 + 2n and sends on
 *   0x101 + 2n, in frames of up to 8 bytes.
 * - Klipper knows QUERY_UNASSIGNED, SET_KLIPPER_NODEID and
 *   REQUEST_BOOTLOADER; Katapult QUERY_UNASSIGNED, SET_NODEID and
 *   CLEAR_NODEID. Both drop their id when another node claims it.
 *
 * In Katapult the byte stream goes to the bootloader (katapult.c) through
 * can_link; in Klipper only the admin commands mean anything.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim.h"

#define RETRY_NS 20000000u /* how often a node looks for its bus */
#define READ_BURST 256     /* frames read from the bus in one round */

/* ---- the UUID ---- */

static uint64_t
fasthash_mix(uint64_t h)
{
	h ^= h >> 23;
	h *= 0x2127599bf4325c37u;
	h ^= h >> 47;
	return h;
}

/* fasthash64 (Zilong Tan's, MIT): 8-byte little-endian words, then the tail. */
uint64_t
can_fasthash64(const uint8_t *data, size_t len, uint64_t seed)
{
	const uint64_t m = 0x880355f21e6d1965u;
	uint64_t h = seed ^ ((uint64_t)len * m);
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = 0;

		for (unsigned b = 0; b < 8; b++)
			v |= (uint64_t)data[i + b] << (8 * b);
		h ^= fasthash_mix(v);
		h *= m;
	}
	if (i < len) {
		uint64_t v = 0;

		for (unsigned b = 0; i + b < len; b++)
			v |= (uint64_t)data[i + b] << (8 * b);
		h ^= fasthash_mix(v);
		h *= m;
	}
	return fasthash_mix(h);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The serial is the chip id in hex; -EINVAL when it is not hex. */
int
can_uuid_from_serial(const char *serial, uint8_t uuid[6])
{
	uint8_t chip[64];
	size_t n = strlen(serial);
	uint64_t h;

	if (n == 0 || n % 2 || n / 2 > sizeof(chip))
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(serial[2 * i]), lo = hex_digit(serial[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		chip[i] = (uint8_t)(hi << 4 | lo);
	}
	h = can_fasthash64(chip, n / 2, 0xa16231a7u);
	for (unsigned i = 0; i < 6; i++)
		uuid[i] = (uint8_t)(h >> (8 * i));
	return 0;
}

/* ---- frames ---- */

void
can_pkt_encode(const struct can_pkt *f, uint8_t *raw)
{
	memset(raw, 0, CAN_PACKET_SIZE);
	for (unsigned i = 0; i < 4; i++)
		raw[i] = (uint8_t)(f->id >> (8 * i));
	raw[4] = f->len;
	memcpy(raw + 8, f->data, 8);
}

void
can_pkt_decode(const uint8_t *raw, struct can_pkt *f)
{
	f->id = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 |
		(uint32_t)raw[3] << 24;
	f->len = raw[4];
	memcpy(f->data, raw + 8, 8);
}

static unsigned
node_id_of(uint32_t assigned_id)
{
	return (assigned_id - 0x100) >> 1;
}

/* ---- the connection to the bus (--mode can) ---- */

static void
connection_lost(struct sim *s)
{
	close(s->can.fd);
	s->can.fd = -1;
	pkt_queue_clear(&s->can.out);
	s->can.retry_at = sim_now() + RETRY_NS;
	sim_log(s, "can bus gone");
}

static void
try_connect(struct sim *s, uint64_t now)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	s->can.retry_at = now + RETRY_NS;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->can.path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* not there yet, nobody listening, or its backlog is full */
		close(fd);
		return;
	}
	s->can.fd = fd;
	s->can.retry_at = 0;
	if (s->can.ever_connected) {
		sim_log(s, "can bus back");
		return;
	}
	s->can.ever_connected = true;
	sim_log(s, "can bus connect");
	board_write_ready(s, s->can.path);
}

static void
flush_out(struct sim *s)
{
	while (s->can.fd >= 0 && s->can.out.len) {
		ssize_t n = send(s->can.fd, pkt_queue_front(&s->can.out), CAN_PACKET_SIZE,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == CAN_PACKET_SIZE) {
			pkt_queue_pop(&s->can.out);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		connection_lost(s);
	}
}

/* Whether the peer closed: a read of 0 bytes is also an empty packet. */
static bool
peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

void
can_prepare(struct sim *s, uint64_t now, struct poll_set *ps, uint64_t *deadline)
{
	s->can.poll = -1;
	if (s->opt.mode != SIM_MODE_CAN)
		return;
	if (s->can.fd < 0 && now >= s->can.retry_at)
		try_connect(s, now);
	if (s->can.fd < 0) {
		*deadline = earliest(*deadline, s->can.retry_at);
		return;
	}
	s->can.poll = poll_add(ps, s->can.fd, (short)(POLLIN | (s->can.out.len ? POLLOUT : 0)));
}

void
can_handle(struct sim *s, const struct poll_set *ps)
{
	short revents;

	if (s->can.poll < 0 || s->can.fd < 0)
		return;
	revents = ps->p[s->can.poll].revents;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		for (int i = 0; i < READ_BURST && s->can.fd >= 0; i++) {
			uint8_t buf[64];
			ssize_t n = recv(s->can.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0 || (n == 0 && peer_gone(s->can.fd))) {
				connection_lost(s);
				return;
			}
			if (n != CAN_PACKET_SIZE) {
				sim_log(s, "can drop len=%zd", n);
				continue;
			}
			can_receive(s, buf);
		}
	}
	flush_out(s);
}

/* ---- sending ---- */

static void
node_send(struct sim *s, const struct can_pkt *f)
{
	uint8_t raw[CAN_PACKET_SIZE];

	if (s->can.bus_off)
		return;
	can_pkt_encode(f, raw);
	if (s->opt.mode == SIM_MODE_BRIDGE) {
		/* a bridge's node talks to the host's side only */
		bus_broadcast(s, raw);
		return;
	}
	if (s->can.fd < 0)
		return; /* no bus: nobody hears it */
	if (!pkt_queue_push(&s->can.out, raw))
		return; /* the socket has not taken anything for a long time */
	flush_out(s);
}

/* The bootloader's response in frames of up to 8 bytes on the node's tx id. */
static void
can_send_stream(struct sim *s, const uint8_t *data, size_t len, unsigned lose_frame)
{
	size_t frames = (len + 7) / 8;
	struct can_pkt f;
	unsigned k = 1;

	if (!s->can.assigned_id)
		return; /* without a node id nothing leaves */
	if (lose_frame > frames)
		lose_frame = (unsigned)frames;
	for (size_t off = 0; off < len; off += 8, k++) {
		size_t n = len - off < 8 ? len - off : 8;

		if (k == lose_frame)
			continue;
		memset(&f, 0, sizeof(f));
		f.id = s->can.assigned_id + 1;
		f.len = (uint8_t)n;
		memcpy(f.data, data + off, n);
		node_send(s, &f);
	}
}

static bool
can_busy(const struct sim *s)
{
	return s->can.out.len > 0;
}

const struct sim_link can_link = {
	.rx_buffer = RX_BUFFER_CAN,
	.host_waits = false,
	.send = can_send_stream,
	.busy = can_busy,
};

/* ---- errors (faults) ---- */

void
can_bus_off(struct sim *s)
{
	struct can_pkt f = { .id = CANID_ERR | CANERR_BUSOFF, .len = 8 };

	pkt_queue_clear(&s->can.out);
	node_send(s, &f);
	s->can.bus_off = true;
	sim_log(s, "can bus-off");
}

void
can_error_passive(struct sim *s, bool rx)
{
	struct can_pkt f = { .id = CANID_ERR | CANERR_CRTL, .len = 8 };

	f.data[1] = rx ? CANERR_CRTL_RX_PASSIVE : CANERR_CRTL_TX_PASSIVE;
	node_send(s, &f);
	sim_log(s, "can error-passive %s", rx ? "rx" : "tx");
}

/* ---- admin commands ---- */

static const char *
admin_name(uint8_t op)
{
	switch (op) {
	case ADMIN_QUERY_UNASSIGNED:
		return "QUERY_UNASSIGNED";
	case ADMIN_SET_KLIPPER_NODEID:
		return "SET_KLIPPER_NODEID";
	case ADMIN_REQUEST_BOOTLOADER:
		return "REQUEST_BOOTLOADER";
	case ADMIN_SET_NODEID:
		return "SET_NODEID";
	case ADMIN_CLEAR_NODEID:
		return "CLEAR_NODEID";
	case ADMIN_RESP_NEED_NODEID:
		return "NEED_NODEID";
	}
	return NULL;
}

static void
uuid_hex(const uint8_t *uuid, char *out)
{
	for (unsigned i = 0; i < 6; i++)
		snprintf(out + 2 * i, 3, "%02x", uuid[i]);
}

static bool
uuid_matches(const struct sim *s, const struct can_pkt *f)
{
	return f->len >= 7 && memcmp(f->data + 1, s->can.uuid, 6) == 0;
}

/* The admin frame as the log shows it: its name and what it carries. */
static void
log_admin(struct sim *s, const struct can_pkt *f)
{
	const char *name = admin_name(f->data[0]);
	char uuid[13];

	if (!name) {
		sim_log(s, "can rx admin UNKNOWN 0x%02x", f->data[0]);
		return;
	}
	switch (f->data[0]) {
	case ADMIN_SET_KLIPPER_NODEID:
	case ADMIN_SET_NODEID:
		if (f->len < 8)
			break;
		uuid_hex(f->data + 1, uuid);
		sim_log(s, "can rx admin %s %s %u", name, uuid, f->data[7]);
		return;
	case ADMIN_REQUEST_BOOTLOADER:
	case ADMIN_RESP_NEED_NODEID:
		if (f->len < 7)
			break;
		uuid_hex(f->data + 1, uuid);
		sim_log(s, "can rx admin %s %s", name, uuid);
		return;
	default:
		sim_log(s, "can rx admin %s", name);
		return;
	}
	sim_log(s, "can rx admin %s dlc=%u", name, f->len);
}

static void
id_conflict(struct sim *s)
{
	sim_log(s, "can conflict %u", node_id_of(s->can.assigned_id));
	s->can.assigned_id = 0;
}

static void
query_unassigned(struct sim *s)
{
	struct can_pkt f = { .id = CANBUS_ID_ADMIN_RESP, .len = 8 };
	bool katapult = s->state == BOARD_KATAPULT;

	if (s->can.assigned_id)
		return;
	f.data[0] = ADMIN_RESP_NEED_NODEID;
	memcpy(f.data + 1, s->can.uuid, 6);
	f.data[7] = katapult ? ADMIN_APP_KATAPULT : ADMIN_APP_KLIPPER;
	sim_log(s, "can tx admin NEED_NODEID %s %s", s->can.uuid_hex,
		katapult ? "katapult" : "klipper");
	node_send(s, &f);
}

/* SET_KLIPPER_NODEID and SET_NODEID: ours assigns, another's for our id conflicts. */
static void
set_nodeid(struct sim *s, const struct can_pkt *f)
{
	uint32_t id;

	if (f->len < 8)
		return;
	id = 0x100 + 2u * f->data[7];
	if (uuid_matches(s, f)) {
		if (id != s->can.assigned_id) {
			s->can.assigned_id = id;
			sim_log(s, "can nodeid %u", f->data[7]);
		}
	} else if (id == s->can.assigned_id) {
		id_conflict(s);
	}
}

static void
admin(struct sim *s, const struct can_pkt *f)
{
	bool klipper = s->state == BOARD_KLIPPER;

	if (!f->len)
		return;
	log_admin(s, f);
	switch (f->data[0]) {
	case ADMIN_QUERY_UNASSIGNED:
		query_unassigned(s);
		break;
	case ADMIN_SET_KLIPPER_NODEID:
		if (klipper)
			set_nodeid(s, f);
		break;
	case ADMIN_SET_NODEID:
		if (!klipper)
			set_nodeid(s, f);
		break;
	case ADMIN_CLEAR_NODEID:
		if (!klipper) {
			s->can.assigned_id = 0;
			sim_log(s, "can clear");
		}
		break;
	case ADMIN_REQUEST_BOOTLOADER:
		if (klipper && uuid_matches(s, f)) {
			s->can.requests++;
			board_request_bootloader(s);
		}
		break;
	}
}

/* ---- receiving ---- */

static void
data(struct sim *s, const struct can_pkt *f)
{
	if (s->state != BOARD_KATAPULT)
		return; /* Klipper's own protocol is not simulated */
	if (f->len > katapult_rx_room(s)) {
		/* canserial drops a frame that does not fit */
		sim_log(s, "can rx overflow %u", f->len);
		return;
	}
	s->last_rx_at = sim_now();
	katapult_input(s, f->data, f->len);
}

void
can_receive(struct sim *s, const uint8_t *raw)
{
	struct can_pkt f;
	uint32_t id;

	if (s->can.bus_off)
		return;
	if (s->state != BOARD_KLIPPER && s->state != BOARD_KATAPULT)
		return; /* rebooting, or gone */
	can_pkt_decode(raw, &f);
	if (f.id & (CANID_EFF | CANID_RTR | CANID_ERR) || f.id > 0x7ff || f.len > 8)
		return; /* not a classic data frame: the controller filters it out */
	id = f.id;
	if (s->can.assigned_id && id == s->can.assigned_id)
		data(s, &f);
	else if (id == CANBUS_ID_ADMIN)
		admin(s, &f);
	else if (s->can.assigned_id && id == s->can.assigned_id + 1)
		id_conflict(s); /* someone else sends with our id */
}

/* ---- life cycle ---- */

void
can_init(struct sim *s)
{
	if (s->opt.has_uuid)
		memcpy(s->can.uuid, s->opt.uuid, 6);
	else
		can_uuid_from_serial(s->opt.serial, s->can.uuid); /* checked by the options */
	uuid_hex(s->can.uuid, s->can.uuid_hex);
	if (s->opt.can_node_id >= 0)
		s->can.assigned_id = 0x100 + 2u * (unsigned)s->opt.can_node_id;
	if (s->opt.mode == SIM_MODE_CAN) {
		s->can.path = bus_socket_path(&s->opt);
		s->can.retry_at = 1;
	}
}

void
can_node_boot(struct sim *s, enum board_state as)
{
	sim_log(s, "enumerate can-%s %s %s", board_state_name(as), s->opt.can_interface,
		s->can.uuid_hex);
	if (s->can.assigned_id)
		sim_log(s, "can nodeid %u", node_id_of(s->can.assigned_id));
}

/* The node resets: its node id and whatever it had still to send are gone. */
void
can_node_reset(struct sim *s)
{
	s->can.assigned_id = 0;
	pkt_queue_clear(&s->can.out);
}

void
can_free(struct sim *s)
{
	if (s->can.fd >= 0)
		close(s->can.fd);
	s->can.fd = -1;
	pkt_queue_free(&s->can.out);
	free(s->can.path);
	s->can.path = NULL;
}
