/* SPDX-License-Identifier: MIT */
/*
 * Katapult's frames: 01 88 CMD N PAYLOAD[4N] CRC_lo CRC_hi 99 03, with
 * CRC-16/MCRF4XX over CMD, N and the payload. Received frames are parsed
 * by their length byte, never by looking for the trailer, which block
 * data may contain.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KF_KAT_FRAME_MIN 8
/*
 * The largest block a bootloader may announce in its CONNECT answer
 * (Katapult's host accepts 64 to 512 bytes). Every buffer of the host is
 * sized from this, never from the common 64.
 */
#define KF_KAT_BLOCK_MIN 64
#define KF_KAT_BLOCK_MAX 512
/* A frame the host builds: at most a block and its address. */
#define KF_KAT_TX_FRAME_MAX (8 + 4 + KF_KAT_BLOCK_MAX)
/* A frame from the device: at most a block after the echoed command and address. */
#define KF_KAT_RX_FRAME_MAX (8 + 4 * 2 + KF_KAT_BLOCK_MAX)
/*
 * What a device's command parser takes (Katapult's MESSAGE_MAX): a longer
 * frame is discarded with one NACK, after which the device's parser
 * answers nothing until it is reset. The host never sends one.
 */
#define KF_KAT_DEVICE_FRAME_MAX 128

enum kf_kat_command {
	KF_KAT_CONNECT = 0x11,
	KF_KAT_SEND_BLOCK = 0x12,
	KF_KAT_SEND_EOF = 0x13,
	KF_KAT_REQUEST_BLOCK = 0x14,
	KF_KAT_COMPLETE = 0x15,
	KF_KAT_GET_CANBUS_ID = 0x16,
	KF_KAT_PRIME = 0x90, /* unknown to the device: it answers 0xF2 */
};

enum kf_kat_response {
	KF_KAT_ACK = 0xa0,
	KF_KAT_NACK = 0xf1,
	KF_KAT_COMMAND_ERROR = 0xf2,
	KF_KAT_BUSY = 0xf3,
};

uint16_t
kf_kat_crc16(const uint8_t *data, size_t len);

/*
 * Encode a frame into @out, which holds @out_size bytes. Returns the
 * frame's length, or 0 (nothing written) when @payload_len is not a
 * multiple of 4, needs more than 255 words, or the frame does not fit.
 */
size_t
kf_kat_encode(uint8_t *out, size_t out_size, uint8_t cmd, const void *payload, size_t payload_len);

/* A frame found in a byte stream. */
struct kf_kat_frame {
	uint8_t type;
	uint8_t words;          /* payload length in 32-bit words */
	const uint8_t *payload; /* into the buffer given to kf_kat_decode() */
};

enum kf_kat_decode_result {
	KF_KAT_NEED_MORE = 0, /* no whole frame yet */
	KF_KAT_FRAME = 1,     /* a frame; *used bytes consumed */
	KF_KAT_GARBAGE = 2,   /* *used bytes were not a frame and are skipped */
};

/*
 * Look for a frame at the start of @buf. On KF_KAT_FRAME or
 * KF_KAT_GARBAGE, *@used says how many bytes to drop.
 */
enum kf_kat_decode_result
kf_kat_decode(const uint8_t *buf, size_t len, struct kf_kat_frame *frame, size_t *used);

static inline uint32_t
kf_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void
kf_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
