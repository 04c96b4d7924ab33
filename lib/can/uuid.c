/* SPDX-License-Identifier: MIT */
/*
 * CAN UUIDs: 6 bytes, written as 12 hex digits, and the one Klipper and
 * Katapult derive from a chip id with fasthash64 (Zilong Tan's hash, MIT:
 * each 8-byte little-endian word, then the tail, is mixed into the state).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "can-private.h"

#define FASTHASH_M 0x880355f21e6d1965ull
#define UUID_SEED 0xa16231a7ull
#define CHIP_ID_MAX 32

static uint64_t
mix(uint64_t h)
{
	h ^= h >> 23;
	h *= 0x2127599bf4325c37ull;
	h ^= h >> 47;
	return h;
}

uint64_t
kf_fasthash64(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;
	uint64_t h = seed ^ (len * FASTHASH_M), v;
	size_t words = len / 8, tail = len % 8;

	for (size_t w = 0; w < words; w++) {
		v = 0;
		for (int i = 7; i >= 0; i--)
			v = v << 8 | p[w * 8 + (size_t)i];
		h ^= mix(v);
		h *= FASTHASH_M;
	}
	if (tail) {
		v = 0;
		for (size_t i = tail; i-- > 0;)
			v = v << 8 | p[words * 8 + i];
		h ^= mix(v);
		h *= FASTHASH_M;
	}
	return mix(h);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool
kf_can_uuid_parse(const char *text, uint8_t uuid[6])
{
	if (!text || strlen(text) != 12)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		uuid[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void
kf_can_uuid_format(const uint8_t uuid[6], char text[13])
{
	for (int i = 0; i < 6; i++)
		snprintf(text + 2 * i, 3, "%02x", uuid[i]);
}

KFLASH_EXPORT int
kflash_can_uuid_is_valid(const char *uuid)
{
	uint8_t bytes[6];

	return kf_can_uuid_parse(uuid, bytes) ? 1 : 0;
}

KFLASH_EXPORT int
kflash_can_uuid_from_serial(const char *usb_serial, char *uuid)
{
	uint8_t chip[CHIP_ID_MAX], bytes[6];
	size_t n = usb_serial ? strlen(usb_serial) : 0;
	uint64_t h;

	if (!uuid)
		return KFLASH_ERR_INVALID;
	if (n == 0 || n % 2 || n > 2 * CHIP_ID_MAX)
		return KFLASH_ERR_INVALID;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(usb_serial[2 * i]), lo = hex_digit(usb_serial[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return KFLASH_ERR_INVALID;
		chip[i] = (uint8_t)(hi << 4 | lo);
	}
	h = kf_fasthash64(chip, n / 2, UUID_SEED);
	/* The hash's low 6 bytes, little-endian first, are the UUID as printed. */
	for (int i = 0; i < 6; i++)
		bytes[i] = (uint8_t)(h >> (8 * i));
	kf_can_uuid_format(bytes, uuid);
	return 0;
}
