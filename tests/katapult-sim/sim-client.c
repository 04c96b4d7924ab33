/* SPDX-License-Identifier: MIT */
/* The scripted client: see sim-client.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "sim-client.h"
#include "sim-process.h"
#include "test-sim-tty.h"

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the client's frame code ---- */

/* CRC-16/MCRF4XX bit by bit: reflected polynomial 0x8408, init 0xffff. */
uint16_t
client_crc(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return crc;
}

void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Frame @cmd around @len payload bytes (a multiple of 4); the frame's length. */
size_t
encode(uint8_t *buf, uint8_t cmd, const void *payload, size_t len)
{
	uint16_t crc;

	buf[0] = 0x01;
	buf[1] = 0x88;
	buf[2] = cmd;
	buf[3] = (uint8_t)(len / 4);
	if (len)
		memcpy(buf + 4, payload, len);
	crc = client_crc(buf + 2, len + 2);
	buf[4 + len] = (uint8_t)(crc & 0xff);
	buf[5 + len] = (uint8_t)(crc >> 8);
	buf[6 + len] = 0x99;
	buf[7 + len] = 0x03;
	return len + 8;
}

bool
bytes_eq_hex(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[512];
	size_t len = 0;

	for (const char *p = hex; *p;) {
		unsigned v;

		if (*p == ' ' || *p == '|') {
			p++;
			continue;
		}
		ck_assert(sscanf(p, "%2x", &v) == 1);
		ck_assert(len < sizeof(want));
		want[len++] = (uint8_t)v;
		p += 2;
	}
	return len == n && memcmp(got, want, n) == 0;
}

const char *
hex(const uint8_t *p, size_t n)
{
	static char buf[4096];
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && at + 4 < sizeof(buf); i++)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%02x", i ? " " : "", p[i]);
	return buf;
}

void
write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			ck_assert_int_ge(poll(&pfd, 1, TIMEOUT_MS), 0);
			continue;
		}
		ck_assert_msg(k > 0, "write to the port: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* Exactly @n bytes before @deadline; false on a timeout or a hangup. */
bool
read_full(int fd, uint8_t *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t k;
		int r;

		if (now >= deadline)
			return false;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		k = read(fd, buf + got, n - got);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0 || (errno != EAGAIN && errno != EINTR))
			return false;
	}
	return true;
}

/*
 * The next frame within @timeout_ms, parsed by its length byte (0x99 0x03
 * may occur inside block data): 1 with a good CRC, 0 with a bad one, -1
 * when no frame came.
 */
int
recv_frame(int fd, struct frame *f, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	bool after_stx1 = false;
	uint8_t b;
	size_t n;

	memset(f, 0, sizeof(*f));
	for (;;) {
		if (!read_full(fd, &b, 1, deadline))
			return -1;
		if (after_stx1 && b == 0x88)
			break;
		if (after_stx1)
			f->skipped++; /* that 0x01 was not a frame's */
		after_stx1 = b == 0x01;
		if (!after_stx1)
			f->skipped++;
	}
	f->raw[0] = 0x01;
	f->raw[1] = 0x88;
	if (!read_full(fd, f->raw + 2, 2, deadline))
		return -1;
	n = (size_t)f->raw[3] * 4;
	if (!read_full(fd, f->raw + 4, n + 4, deadline))
		return -1;
	f->len = n + 8;
	f->type = f->raw[2];
	f->payload = f->raw + 4;
	f->payload_len = n;
	ck_assert_msg(f->raw[n + 6] == 0x99 && f->raw[n + 7] == 0x03, "bad trailer in %s",
		      hex(f->raw, f->len));
	f->crc_ok = client_crc(f->raw + 2, n + 2) == (f->raw[n + 4] | f->raw[n + 5] << 8);
	return f->crc_ok ? 1 : 0;
}

void
client_send(int fd, uint8_t cmd, const void *payload, size_t len)
{
	uint8_t buf[1200];

	write_all(fd, buf, encode(buf, cmd, payload, len));
}

/* A command whose well-formed response must come. */
void
transact(int fd, uint8_t cmd, const void *payload, size_t len, struct frame *f)
{
	client_send(fd, cmd, payload, len);
	ck_assert_msg(recv_frame(fd, f, TIMEOUT_MS) == 1, "no valid response to command 0x%02x",
		      cmd);
	ck_assert_msg(f->skipped == 0, "%zu stray bytes before a response", f->skipped);
}

void
expect_ack(const struct frame *f, uint8_t cmd)
{
	ck_assert_msg(f->type == ACK, "expected an ACK of 0x%02x, got %s", cmd,
		      hex(f->raw, f->len));
	ck_assert_uint_ge(f->payload_len, 4);
	ck_assert_uint_eq(get32(f->payload), cmd);
}

void
expect_type(const struct frame *f, uint8_t type)
{
	ck_assert_msg(f->type == type && f->payload_len == 0, "expected a bare 0x%02x, got %s",
		      type, hex(f->raw, f->len));
}

/* No byte at all arrives for a while. */
void
expect_quiet(int fd)
{
	uint8_t b;
	bool got = read_full(fd, &b, 1, now_ms() + QUIET_MS);

	ck_assert_msg(!got, "unexpected byte 0x%02x from the simulator", b);
}

void
send_block(int fd, uint32_t addr, const uint8_t *data, struct frame *f)
{
	uint8_t payload[4 + BLOCK];

	put32(payload, addr);
	memcpy(payload + 4, data, BLOCK);
	transact(fd, SEND_BLOCK, payload, sizeof(payload), f);
}

void
write_block(int fd, uint32_t addr, const uint8_t *data)
{
	struct frame f;

	send_block(fd, addr, data, &f);
	expect_ack(&f, SEND_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
}

void
request_block(int fd, uint32_t addr, struct frame *f)
{
	uint8_t payload[4];

	put32(payload, addr);
	transact(fd, REQUEST_BLOCK, payload, sizeof(payload), f);
}

/* The block at @addr, read back. */
void
read_block(int fd, uint32_t addr, uint8_t *out)
{
	struct frame f;

	request_block(fd, addr, &f);
	expect_ack(&f, REQUEST_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8 + BLOCK);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
	memcpy(out, f.payload + 8, BLOCK);
}

uint32_t
send_eof(int fd)
{
	struct frame f;

	transact(fd, SEND_EOF, NULL, 0, &f);
	expect_ack(&f, SEND_EOF);
	ck_assert_uint_eq(f.payload_len, 8);
	return get32(f.payload + 4);
}

void
send_complete(int fd)
{
	struct frame f;

	transact(fd, COMPLETE, NULL, 0, &f);
	expect_ack(&f, COMPLETE);
	ck_assert_uint_eq(f.payload_len, 4);
}

void
parse_connect(const struct frame *f, struct connect_info *ci)
{
	const uint8_t *p = f->payload + 16, *end = f->payload + f->payload_len;
	size_t n;

	memset(ci, 0, sizeof(*ci));
	expect_ack(f, CONNECT);
	ck_assert_uint_ge(f->payload_len, 20);
	ci->proto = get32(f->payload + 4);
	ci->start = get32(f->payload + 8);
	ci->block = get32(f->payload + 12);
	while (end > p && end[-1] == 0)
		end--;
	n = strnlen((const char *)p, (size_t)(end - p));
	ck_assert_uint_lt(n, sizeof(ci->mcu));
	memcpy(ci->mcu, p, n);
	p += n;
	if (ci->proto >= 0x00010100) {
		while (p < end && *p == 0)
			p++;
		ck_assert_uint_lt((size_t)(end - p), sizeof(ci->version));
		memcpy(ci->version, p, (size_t)(end - p));
		ci->has_version = true;
	} else {
		ck_assert_msg(p == end, "bytes after the MCU in a protocol 1.0 CONNECT");
	}
}

void
client_connect(int fd, struct connect_info *ci)
{
	struct frame f;

	transact(fd, CONNECT, NULL, 0, &f);
	parse_connect(&f, ci);
}

/* Deterministic image bytes. */
uint8_t *
make_image(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	ck_assert(p != NULL);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

/* @data as the host sends it: whole blocks, the last padded with 0xff. */
uint8_t *
pad_image(const uint8_t *data, size_t n, size_t *padded)
{
	size_t len = (n + BLOCK - 1) / BLOCK * BLOCK;
	uint8_t *p = malloc(len ? len : 1);

	ck_assert(p != NULL);
	memset(p, 0xff, len);
	memcpy(p, data, n);
	*padded = len;
	return p;
}

void
flash_image(int fd, const uint8_t *padded, size_t len, uint32_t start)
{
	for (size_t off = 0; off < len; off += BLOCK)
		write_block(fd, start + (uint32_t)off, padded + off);
}

void
verify_image(int fd, const uint8_t *padded, size_t len, uint32_t start)
{
	uint8_t got[BLOCK];

	for (size_t off = 0; off < len; off += BLOCK) {
		read_block(fd, start + (uint32_t)off, got);
		ck_assert_msg(memcmp(got, padded + off, BLOCK) == 0, "block 0x%x differs",
			      start + (unsigned)off);
	}
}

/* ---- ports ---- */

int
port_open(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(tcgetattr(fd, &t), 0);
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	ck_assert_int_eq(tcsetattr(fd, TCSANOW, &t), 0);
	tcflush(fd, TCIOFLUSH);
	return fd;
}

int
port_open_baud(const char *path, unsigned baud)
{
	int fd = port_open(path);

	ck_assert_int_eq(test_tty_set_speed(fd, baud), 0);
	return fd;
}

/* The 1200-baud touch, with the classic speed code. */
void
touch_1200(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(tcgetattr(fd, &t), 0);
	cfsetospeed(&t, B1200);
	cfsetispeed(&t, B1200);
	ck_assert_int_eq(tcsetattr(fd, TCSANOW, &t), 0);
	close(fd);
}
