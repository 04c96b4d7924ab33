/* SPDX-License-Identifier: MIT */
/*
 * The scripted client of the simulator's tests: frame encoder, CRC and
 * parser written here from the protocol description, independently of
 * the simulator's own code, so that a mistake on one side cannot hide on
 * the other; and the host's side of the serial port.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_ARRAY_MAX 60
#define TIMEOUT_MS 5000 /* generous: it only catches hangs */
#define QUIET_MS 300    /* how long "no response" is watched */
#define APP 0x8008000u
#define BLOCK 64u
#define PAGE 16384u
#define MCU "stm32f446xx"
#define SERIAL "1A2B3C4D5E6F708192A3B4C5"

#define CONNECT 0x11
#define SEND_BLOCK 0x12
#define SEND_EOF 0x13
#define REQUEST_BLOCK 0x14
#define COMPLETE 0x15
#define GET_CANBUS_ID 0x16
#define ACK 0xa0
#define NACK 0xf1
#define ERROR 0xf2
#define BUSY 0xf3

struct frame {
	uint8_t raw[1200];
	size_t len;     /* the whole frame */
	size_t skipped; /* bytes before it that were not a frame */
	uint8_t type;
	const uint8_t *payload;
	size_t payload_len;
	bool crc_ok;
};

struct connect_info {
	uint32_t proto, start, block;
	char mcu[64];
	char version[64];
	bool has_version;
};

uint64_t
now_ms(void);

void
sleep_ms(unsigned ms);

uint16_t
client_crc(const uint8_t *p, size_t n);

void
put32(uint8_t *p, uint32_t v);

uint32_t
get32(const uint8_t *p);

size_t
encode(uint8_t *buf, uint8_t cmd, const void *payload, size_t len);

bool
bytes_eq_hex(const uint8_t *got, size_t n, const char *hex);

const char *
hex(const uint8_t *p, size_t n);

void
write_all(int fd, const void *data, size_t n);

bool
read_full(int fd, uint8_t *buf, size_t n, uint64_t deadline);

int
recv_frame(int fd, struct frame *f, int timeout_ms);

void
client_send(int fd, uint8_t cmd, const void *payload, size_t len);

void
transact(int fd, uint8_t cmd, const void *payload, size_t len, struct frame *f);

void
expect_ack(const struct frame *f, uint8_t cmd);

void
expect_type(const struct frame *f, uint8_t type);

void
expect_quiet(int fd);

void
send_block(int fd, uint32_t addr, const uint8_t *data, struct frame *f);

void
write_block(int fd, uint32_t addr, const uint8_t *data);

void
request_block(int fd, uint32_t addr, struct frame *f);

void
read_block(int fd, uint32_t addr, uint8_t *out);

uint32_t
send_eof(int fd);

void
send_complete(int fd);

void
parse_connect(const struct frame *f, struct connect_info *ci);

void
client_connect(int fd, struct connect_info *ci);

uint8_t *
make_image(size_t n, uint32_t seed);

uint8_t *
pad_image(const uint8_t *data, size_t n, size_t *padded);

void
flash_image(int fd, const uint8_t *padded, size_t len, uint32_t start);

void
verify_image(int fd, const uint8_t *padded, size_t len, uint32_t start);

int
port_open(const char *path);

int
port_open_baud(const char *path, unsigned baud);

void
touch_1200(const char *path);
