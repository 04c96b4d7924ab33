/* SPDX-License-Identifier: MIT */
/* The scripted CAN host: see can-client.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "can-client.h"
#include "kf-test.h"
#include "sim-process.h"

/* ---- fasthash64, from its description: words, then the tail, then a mix ---- */

static uint64_t
mix(uint64_t h)
{
	h ^= h >> 23;
	h *= 0x2127599bf4325c37ull;
	return h ^ (h >> 47);
}

uint64_t
test_fasthash64(const uint8_t *data, size_t len, uint64_t seed)
{
	const uint64_t m = 0x880355f21e6d1965ull;
	uint64_t h = seed ^ (len * m), v;
	size_t words = len / 8, rest = len % 8;

	for (size_t w = 0; w < words; w++) {
		memcpy(&v, data + 8 * w, 8); /* this test runs on little-endian hosts */
		h = (h ^ mix(v)) * m;
	}
	if (rest) {
		v = 0;
		memcpy(&v, data + 8 * words, rest);
		h = (h ^ mix(v)) * m;
	}
	return mix(h);
}

void
test_uuid_hex(const char *serial, char *out)
{
	uint8_t chip[32];
	size_t n = strlen(serial) / 2;
	uint64_t h;

	ck_assert_uint_le(n, sizeof(chip));
	for (size_t i = 0; i < n; i++) {
		unsigned b;

		ck_assert(sscanf(serial + 2 * i, "%2x", &b) == 1);
		chip[i] = (uint8_t)b;
	}
	h = test_fasthash64(chip, n, 0xA16231A7);
	/* the low six bytes, printed in memory (little-endian) order */
	for (int i = 0; i < 6; i++)
		sprintf(out + 2 * i, "%02x", (unsigned)(h >> (8 * i)) & 0xff);
}

void
uuid_from_hex(const char *hex, uint8_t *uuid)
{
	ck_assert_uint_eq(strlen(hex), 12);
	for (int i = 0; i < 6; i++) {
		unsigned b;

		ck_assert(sscanf(hex + 2 * i, "%2x", &b) == 1);
		uuid[i] = (uint8_t)b;
	}
}

/* ---- the socket ---- */

int
can_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", path,
		      strerror(errno));
	return fd;
}

void
can_send_raw(int fd, const void *data, size_t len)
{
	ck_assert_msg(send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len, "send: %s",
		      strerror(errno));
}

/* struct can_frame: u32 can_id LE, u8 len, 3 pad bytes, 8 data bytes */
void
can_send(int fd, uint32_t id, const void *data, size_t len)
{
	uint8_t pkt[16] = { 0 };

	ck_assert_uint_le(len, 8);
	put32(pkt, id);
	pkt[4] = (uint8_t)len;
	if (len)
		memcpy(pkt + 8, data, len);
	can_send_raw(fd, pkt, sizeof(pkt));
}

int
can_recv(int fd, struct can_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t pkt[64];
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	ck_assert_int_ge(r, 0);
	if (r == 0)
		return 0;
	n = recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return -1;
	ck_assert_msg(n == 16, "a packet of %zd bytes from the bus", n);
	ck_assert_msg(pkt[5] == 0 && pkt[6] == 0 && pkt[7] == 0, "pad bytes set");
	m->id = get32(pkt);
	m->len = pkt[4];
	ck_assert_uint_le(m->len, 8);
	memcpy(m->data, pkt + 8, 8);
	return 1;
}

bool
can_recv_id(int fd, uint32_t id, struct can_msg *m, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = now_ms();

		if (now >= deadline || can_recv(fd, m, (int)(deadline - now)) != 1)
			return false;
		if (m->id == id)
			return true;
	}
}

void
can_expect_quiet(int fd)
{
	struct can_msg m;
	int r = can_recv(fd, &m, QUIET_MS);

	ck_assert_msg(r == 0, "unexpected frame 0x%x [%s] (or the bus closed: %d)", m.id,
		      hex(m.data, m.len), r);
}

void
can_expect_closed(int fd)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	struct can_msg m;
	int r;

	while ((r = can_recv(fd, &m, TIMEOUT_MS)) == 1 && now_ms() < deadline)
		;
	ck_assert_msg(r == -1, "the bus did not close the connection");
}

/* ---- admin ---- */

void
admin_query(int fd)
{
	can_send(fd, CAN_ADMIN, "\x00", 1);
}

static void
admin_set(int fd, uint8_t op, const char *uuid, uint8_t nodeid)
{
	uint8_t d[8] = { op };

	uuid_from_hex(uuid, d + 1);
	d[7] = nodeid;
	can_send(fd, CAN_ADMIN, d, 8);
}

void
admin_set_klipper(int fd, const char *uuid, uint8_t nodeid)
{
	admin_set(fd, 0x01, uuid, nodeid);
}

void
admin_set_katapult(int fd, const char *uuid, uint8_t nodeid)
{
	admin_set(fd, 0x11, uuid, nodeid);
}

void
admin_clear(int fd)
{
	can_send(fd, CAN_ADMIN, "\x12", 1);
}

void
admin_request_bootloader(int fd, const char *uuid)
{
	uint8_t d[7] = { 0x02 };

	uuid_from_hex(uuid, d + 1);
	can_send(fd, CAN_ADMIN, d, 7);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
query_nodes(int fd)
{
	char *found[16], *out;
	size_t n = 0, len = 1;
	struct can_msg m;

	admin_query(fd);
	while (can_recv(fd, &m, QUIET_MS) == 1) {
		if (m.id != CAN_ADMIN_RESP)
			continue;
		ck_assert_uint_eq(m.len, 8);
		ck_assert_uint_eq(m.data[0], 0x20);
		ck_assert_uint_lt(n, 16);
		found[n] = strf("%02x%02x%02x%02x%02x%02x:%02x", m.data[1], m.data[2], m.data[3],
				m.data[4], m.data[5], m.data[6], m.data[7]);
		len += strlen(found[n]) + 1;
		n++;
	}
	qsort(found, n, sizeof(found[0]), cmp_str);
	out = calloc(1, len);
	ck_assert(out != NULL);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, found[i]);
		free(found[i]);
	}
	return out;
}

/* ---- Katapult over CAN ---- */

void
port_init(struct can_port *p, int fd, uint8_t nodeid)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->tx_id = 0x100 + 2u * nodeid;
	p->rx_id = p->tx_id + 1;
}

void
port_send(struct can_port *p, uint8_t cmd, const void *payload, size_t len)
{
	uint8_t buf[1200];
	size_t n = encode(buf, cmd, payload, len);

	for (size_t off = 0; off < n; off += 8)
		can_send(p->fd, p->tx_id, buf + off, n - off < 8 ? n - off : 8);
}

/* More bytes from the node into the buffer; false on a timeout. */
static bool
port_fill(struct can_port *p, uint64_t deadline)
{
	struct can_msg m;

	for (;;) {
		uint64_t now = now_ms();

		if (now >= deadline || can_recv(p->fd, &m, (int)(deadline - now)) != 1)
			return false;
		if (m.id != p->rx_id)
			continue;
		ck_assert_uint_le(p->len + m.len, sizeof(p->buf));
		memcpy(p->buf + p->len, m.data, m.len);
		p->len += m.len;
		p->frames++;
		return true;
	}
}

/* Parsed by the length byte, as on serial (sim-client.c). */
int
port_recv(struct can_port *p, struct frame *f, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	size_t need;

	memset(f, 0, sizeof(*f));
	for (;;) {
		/* drop what cannot start a frame */
		while (p->len >= 2 && !(p->buf[0] == 0x01 && p->buf[1] == 0x88)) {
			memmove(p->buf, p->buf + 1, --p->len);
			f->skipped++;
		}
		if (p->len >= 4) {
			need = (size_t)p->buf[3] * 4 + 8;
			if (p->len >= need)
				break;
		}
		if (!port_fill(p, deadline))
			return -1;
	}
	memcpy(f->raw, p->buf, need);
	memmove(p->buf, p->buf + need, p->len - need);
	p->len -= need;
	f->len = need;
	f->type = f->raw[2];
	f->payload = f->raw + 4;
	f->payload_len = need - 8;
	ck_assert_msg(f->raw[need - 2] == 0x99 && f->raw[need - 1] == 0x03, "bad trailer in %s",
		      hex(f->raw, f->len));
	f->crc_ok = client_crc(f->raw + 2, need - 6) == (f->raw[need - 4] | f->raw[need - 3] << 8);
	return f->crc_ok ? 1 : 0;
}

void
port_transact(struct can_port *p, uint8_t cmd, const void *payload, size_t len, struct frame *f)
{
	port_send(p, cmd, payload, len);
	ck_assert_msg(port_recv(p, f, TIMEOUT_MS) == 1, "no valid response to command 0x%02x", cmd);
	ck_assert_msg(f->skipped == 0, "%zu stray bytes before a response", f->skipped);
}

void
port_connect(struct can_port *p, struct connect_info *ci)
{
	struct frame f;

	port_transact(p, CONNECT, NULL, 0, &f);
	parse_connect(&f, ci);
}

void
port_write_block(struct can_port *p, uint32_t addr, const uint8_t *data)
{
	uint8_t payload[4 + BLOCK];
	struct frame f;

	put32(payload, addr);
	memcpy(payload + 4, data, BLOCK);
	port_transact(p, SEND_BLOCK, payload, sizeof(payload), &f);
	expect_ack(&f, SEND_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
}

void
port_read_block(struct can_port *p, uint32_t addr, uint8_t *out)
{
	uint8_t payload[4];
	struct frame f;

	put32(payload, addr);
	port_transact(p, REQUEST_BLOCK, payload, 4, &f);
	expect_ack(&f, REQUEST_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8 + BLOCK);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
	memcpy(out, f.payload + 8, BLOCK);
}
