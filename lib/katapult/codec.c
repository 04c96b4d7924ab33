/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "codec.h"

#define STX1 0x01
#define STX2 0x88
#define SYNC2 0x99
#define SYNC 0x03

uint16_t
kf_kat_crc16(const uint8_t *data, size_t len)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < len; i++) {
		uint8_t d = data[i] ^ (uint8_t)(crc & 0xff);

		d ^= (uint8_t)(d << 4);
		crc = (uint16_t)(((uint16_t)d << 8 | crc >> 8) ^ (d >> 4) ^ ((uint16_t)d << 3));
	}
	return crc;
}

size_t
kf_kat_encode(uint8_t *out, size_t out_size, uint8_t cmd, const void *payload, size_t payload_len)
{
	size_t n = payload_len / 4;
	uint16_t crc;

	if (payload_len % 4 || n > UINT8_MAX || out_size < 8 || payload_len > out_size - 8)
		return 0;

	out[0] = STX1;
	out[1] = STX2;
	out[2] = cmd;
	out[3] = (uint8_t)n;
	if (payload_len)
		memcpy(out + 4, payload, payload_len);
	crc = kf_kat_crc16(out + 2, 2 + payload_len);
	out[4 + payload_len] = (uint8_t)(crc & 0xff);
	out[5 + payload_len] = (uint8_t)(crc >> 8);
	out[6 + payload_len] = SYNC2;
	out[7 + payload_len] = SYNC;
	return payload_len + 8;
}

/* Where the next possible frame starts after @from, or @len. */
static size_t
next_start(const uint8_t *buf, size_t len, size_t from)
{
	const uint8_t *p = memchr(buf + from, STX1, len - from);

	return p ? (size_t)(p - buf) : len;
}

enum kf_kat_decode_result
kf_kat_decode(const uint8_t *buf, size_t len, struct kf_kat_frame *frame, size_t *used)
{
	size_t total;
	uint16_t crc;

	if (len == 0)
		return KF_KAT_NEED_MORE;
	if (buf[0] != STX1 || (len >= 2 && buf[1] != STX2)) {
		*used = next_start(buf, len, 1);
		return KF_KAT_GARBAGE;
	}
	if (len < 4)
		return KF_KAT_NEED_MORE;
	total = (size_t)buf[3] * 4 + 8;
	if (total > KF_KAT_RX_FRAME_MAX) {
		*used = next_start(buf, len, 1);
		return KF_KAT_GARBAGE;
	}
	if (len < total)
		return KF_KAT_NEED_MORE;
	crc = kf_kat_crc16(buf + 2, total - 6);
	if (buf[total - 4] != (crc & 0xff) || buf[total - 3] != (crc >> 8) ||
	    buf[total - 2] != SYNC2 || buf[total - 1] != SYNC) {
		*used = next_start(buf, len, 1);
		return KF_KAT_GARBAGE;
	}
	frame->type = buf[2];
	frame->words = buf[3];
	frame->payload = buf + 4;
	*used = total;
	return KF_KAT_FRAME;
}
