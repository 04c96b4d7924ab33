/* SPDX-License-Identifier: MIT */
/* A Katapult session: connect, write, verify, complete. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "libkflash-private.h"
#include "transport.h"

#define DEFAULT_TRIES 5
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_BLOCK_TRIES 3
#define DEFAULT_BLOCK_TIMEOUT_MS 5000
#define ADDRESS_TRIES 3
#define BUSY_PAUSE_MS 1500

struct kflash_katapult {
	int refcount;
	struct kflash_context *ctx;
	struct kf_transport *t;
	uint8_t rx[2 * KF_KAT_RX_FRAME_MAX];
	size_t rx_len;

	unsigned int tries;
	uint32_t timeout_ms, block_timeout_ms;
	bool prime;

	bool connected;
	uint32_t protocol, app_start, block_size;
	char *mcu, *version;
	char *can_uuid; /* a CAN node's: GET_CANBUS_ID must say it after CONNECT */

	uint8_t *image; /* padded to whole blocks */
	size_t image_size, padded_size;
	bool written, verified;
	uint64_t round_trips;
};

static const char *
command_name(uint8_t cmd)
{
	switch (cmd) {
	case KF_KAT_CONNECT:
		return "CONNECT";
	case KF_KAT_SEND_BLOCK:
		return "SEND_BLOCK";
	case KF_KAT_SEND_EOF:
		return "SEND_EOF";
	case KF_KAT_REQUEST_BLOCK:
		return "REQUEST_BLOCK";
	case KF_KAT_COMPLETE:
		return "COMPLETE";
	case KF_KAT_GET_CANBUS_ID:
		return "GET_CANBUS_ID";
	default:
		return "a command";
	}
}

int
kf_katapult_new(struct kflash_context *ctx, struct kf_transport *t, struct kflash_katapult **ret)
{
	struct kflash_katapult *k = calloc(1, sizeof(*k));

	*ret = NULL;
	if (!k) {
		kf_transport_close(t);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	k->refcount = 1;
	k->ctx = kflash_context_ref(ctx);
	k->t = t;
	k->tries = DEFAULT_TRIES;
	k->timeout_ms = DEFAULT_TIMEOUT_MS;
	k->block_timeout_ms = DEFAULT_BLOCK_TIMEOUT_MS;
	*ret = k;
	return 0;
}

KFLASH_EXPORT int
kflash_katapult_open(struct kflash_context *ctx,
		     const char *path,
		     uint32_t baud,
		     struct kflash_katapult **ret)
{
	struct kf_transport *t;
	int r;

	if (!ret || !path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "kflash_katapult_open needs a path");
	*ret = NULL;
	r = kf_serial_open(ctx, path, baud, &t);
	return r < 0 ? r : kf_katapult_new(ctx, t, ret);
}

int
kf_katapult_expect_canbus_id(struct kflash_katapult *k, const char *uuid)
{
	free(k->can_uuid);
	k->can_uuid = kf_strdup(uuid);
	return k->can_uuid ? 0 : kf_error(k->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

KFLASH_EXPORT struct kflash_katapult *
kflash_katapult_ref(struct kflash_katapult *katapult)
{
	if (katapult)
		katapult->refcount++;
	return katapult;
}

KFLASH_EXPORT struct kflash_katapult *
kflash_katapult_unref(struct kflash_katapult *katapult)
{
	if (!katapult || --katapult->refcount > 0)
		return NULL;
	kf_transport_close(katapult->t);
	free(katapult->mcu);
	free(katapult->version);
	free(katapult->can_uuid);
	free(katapult->image);
	kflash_context_unref(katapult->ctx);
	free(katapult);
	return NULL;
}

KFLASH_EXPORT int
kflash_katapult_set_retries(struct kflash_katapult *k,
			    unsigned int tries,
			    uint32_t timeout_ms,
			    uint32_t block_timeout_ms)
{
	if (!k)
		return KFLASH_ERR_INVALID;
	if (tries < 1 || timeout_ms < 10 || block_timeout_ms < 10)
		return kf_error(k->ctx, KFLASH_ERR_INVALID,
				"Katapult needs at least 1 try and 10 ms per try (got %u tries, "
				"%u ms, %u ms)",
				tries, timeout_ms, block_timeout_ms);
	k->tries = tries;
	k->timeout_ms = timeout_ms;
	k->block_timeout_ms = block_timeout_ms;
	return 0;
}

KFLASH_EXPORT void
kflash_katapult_set_prime(struct kflash_katapult *k, int prime)
{
	if (k)
		k->prime = prime != 0;
}

KFLASH_EXPORT int
kflash_katapult_mcu_needs_prime(const char *mcu)
{
	char family[3];

	if (!mcu || strncasecmp(mcu, "stm32", 5) != 0 || strlen(mcu) < 7)
		return 0;
	family[0] = (char)tolower((unsigned char)mcu[5]);
	family[1] = (char)tolower((unsigned char)mcu[6]);
	family[2] = '\0';
	return strcmp(family, "f2") && strcmp(family, "f4") && strcmp(family, "h7");
}

/* ---- frames on the wire ---- */

/*
 * The next whole frame from the port, within @timeout_ms. 1 with @frame
 * (valid until the next call), 0 on timeout, < 0 on error.
 */
static int
next_frame(struct kflash_katapult *k, struct kf_kat_frame *frame, uint64_t deadline, uint8_t *copy)
{
	for (;;) {
		size_t used = 0;
		enum kf_kat_decode_result d = kf_kat_decode(k->rx, k->rx_len, frame, &used);
		uint64_t now;
		ssize_t n;

		if (d == KF_KAT_FRAME || d == KF_KAT_GARBAGE) {
			if (d == KF_KAT_FRAME) {
				/* Keep the frame's payload past the buffer's shift. */
				memcpy(copy, frame->payload, (size_t)frame->words * 4);
				frame->payload = copy;
			}
			memmove(k->rx, k->rx + used, k->rx_len - used);
			k->rx_len -= used;
			if (d == KF_KAT_FRAME)
				return 1;
			continue;
		}
		now = kf_now_ms();
		if (now >= deadline)
			return 0;
		if (k->rx_len == sizeof(k->rx))
			k->rx_len = 0; /* cannot happen with whole frames; stay safe */
		n = k->t->ops->read(k->t, k->rx + k->rx_len, sizeof(k->rx) - k->rx_len,
				    (uint32_t)(deadline - now));
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		k->rx_len += (size_t)n;
	}
}

/* After a failed try: drop what is still coming, then pause. */
static int
drain(struct kflash_katapult *k, uint32_t timeout_ms)
{
	uint8_t junk[256];
	uint32_t pause = timeout_ms / 4 < 500 ? timeout_ms / 4 : 500;
	ssize_t n;

	k->rx_len = 0;
	do {
		n = k->t->ops->read(k->t, junk, sizeof(junk), pause / 2 ? pause / 2 : 1);
	} while (n > 0);
	if (n < 0)
		return (int)n;
	return kf_sleep_ms(k->ctx, pause / 2);
}

/*
 * Send @cmd and wait for its ACK, with retries. The ACK's payload (the
 * echoed command first) goes to @ack, its word count to *@words.
 */
static int
exchange(struct kflash_katapult *k,
	 uint8_t cmd,
	 const void *payload,
	 size_t len,
	 unsigned int tries,
	 uint32_t timeout_ms,
	 uint8_t *ack,
	 uint8_t *words)
{
	uint8_t out[KF_KAT_TX_FRAME_MAX];
	size_t out_len = kf_kat_encode(out, sizeof(out), cmd, payload, len);
	const char *why = "no answer";

	/* The callers size their payloads from the protocol's limits. */
	if (out_len == 0)
		return kf_error(k->ctx, KFLASH_ERR_INVALID,
				"%s with %zu payload bytes does not fit in a Katapult frame",
				command_name(cmd), len);

	for (unsigned int attempt = 1; attempt <= tries; attempt++) {
		uint64_t deadline;
		int r = kf_check_cancel(k->ctx);

		if (r == 0)
			r = k->t->ops->write(k->t, out, out_len);
		if (r < 0)
			return r;
		deadline = kf_now_ms() + timeout_ms;
		for (;;) {
			struct kf_kat_frame frame;

			r = next_frame(k, &frame, deadline, ack);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			if (frame.type == KF_KAT_ACK && frame.words >= 1 &&
			    kf_le32(frame.payload) == cmd) {
				k->round_trips++;
				*words = frame.words;
				return 0;
			}
			if (frame.type == KF_KAT_COMMAND_ERROR)
				return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
						"Katapult on %s refused %s (command error 0xF2)",
						k->t->name, command_name(cmd));
			if (frame.type == KF_KAT_NACK) {
				why = "a NACK (the device saw a damaged frame)";
				break;
			}
			if (frame.type == KF_KAT_BUSY) {
				why = "BUSY";
				r = kf_sleep_ms(k->ctx, BUSY_PAUSE_MS);
				if (r < 0)
					return r;
				break;
			}
			/* An ACK of another command (a late answer): keep reading. */
		}
		kf_debug(k->ctx, "%s: try %u of %u got %s", command_name(cmd), attempt, tries, why);
		r = drain(k, timeout_ms);
		if (r < 0)
			return r;
	}
	return kf_error(k->ctx, KFLASH_ERR_TIMEOUT,
			"Katapult on %s did not answer %s after %u tries (last: %s)", k->t->name,
			command_name(cmd), tries, why);
}

/* ---- connect ---- */

static int
prime(struct kflash_katapult *k)
{
	uint8_t out[KF_KAT_FRAME_MIN], copy[KF_KAT_RX_FRAME_MAX];
	size_t len = kf_kat_encode(out, sizeof(out), KF_KAT_PRIME, NULL, 0);
	struct kf_kat_frame frame;
	int r = k->t->ops->write(k->t, out, len);

	if (r < 0)
		return r;
	/* Whatever comes first (a command error) is dropped. */
	r = next_frame(k, &frame, kf_now_ms() + k->timeout_ms, copy);
	return r < 0 ? r : 0;
}

static char *
copy_text(const uint8_t *p, size_t len)
{
	char *s = strndup((const char *)p, len);

	for (char *c = s; c && *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	return s;
}

/* A CAN node must be the one meant: another could answer on the same id. */
static int
check_canbus_id(struct kflash_katapult *k)
{
	uint8_t ack[KF_KAT_RX_FRAME_MAX], words;
	char got[13];
	int r = exchange(k, KF_KAT_GET_CANBUS_ID, NULL, 0, k->tries, k->timeout_ms, ack, &words);

	if (r < 0)
		return r;
	if (words < 3)
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Katapult on %s sent a GET_CANBUS_ID answer of %u words, too short",
				k->t->name, words);
	for (int i = 0; i < 6; i++)
		snprintf(got + 2 * i, 3, "%02x", ack[4 + i]);
	if (strcasecmp(got, k->can_uuid) != 0)
		return kf_error(k->ctx, KFLASH_ERR_FLASH,
				"the node that answered as %s says its UUID is %s, not %s: another "
				"node has its id; nothing was written",
				k->t->name, got, k->can_uuid);
	return 0;
}

KFLASH_EXPORT int
kflash_katapult_connect(struct kflash_katapult *k)
{
	uint8_t ack[KF_KAT_RX_FRAME_MAX];
	const uint8_t *rest;
	size_t rest_len, mcu_len;
	uint8_t words;
	int r;

	if (!k)
		return KFLASH_ERR_INVALID;
	if (k->prime && (r = prime(k)) < 0)
		return r;
	r = exchange(k, KF_KAT_CONNECT, NULL, 0, k->tries, k->timeout_ms, ack, &words);
	if (r < 0)
		return r;
	if (words < 4)
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Katapult on %s sent a CONNECT answer of %u words, too short",
				k->t->name, words);
	k->protocol = kf_le32(ack + 4) & 0xffffff;
	k->app_start = kf_le32(ack + 8);
	k->block_size = kf_le32(ack + 12);
	if (k->block_size < KF_KAT_BLOCK_MIN || k->block_size > KF_KAT_BLOCK_MAX ||
	    k->block_size % 4)
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Katapult on %s reports a block size of %u bytes; a block is a "
				"multiple of 4 bytes from %d to %d",
				k->t->name, k->block_size, KF_KAT_BLOCK_MIN, KF_KAT_BLOCK_MAX);

	/* The MCU, then (1.1.0 and later) NULs and the version string. */
	rest = ack + 16;
	rest_len = (size_t)(words - 4) * 4;
	while (rest_len > 0 && rest[rest_len - 1] == '\0')
		rest_len--;
	mcu_len = strnlen((const char *)rest, rest_len);
	free(k->mcu);
	free(k->version);
	k->mcu = copy_text(rest, mcu_len);
	k->version = NULL;
	if (k->protocol >= 0x010100) {
		size_t v = mcu_len;

		while (v < rest_len && rest[v] == '\0')
			v++;
		k->version = copy_text(rest + v, rest_len - v);
	} else {
		k->version = strdup("");
	}
	if (!k->mcu || !k->version)
		return kf_error(k->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (!*k->mcu)
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Katapult on %s did not say which MCU it runs on", k->t->name);
	if (k->can_uuid && (r = check_canbus_id(k)) < 0)
		return r;
	k->connected = true;
	kf_info(k->ctx,
		"Katapult %s (protocol %u.%u.%u) on %s: %s, application at 0x%08x, %u-byte blocks",
		*k->version ? k->version : "(no version)", k->protocol >> 16,
		(k->protocol >> 8) & 0xff, k->protocol & 0xff, k->t->name, k->mcu, k->app_start,
		k->block_size);
	return 0;
}

KFLASH_EXPORT const char *
kflash_katapult_get_mcu(const struct kflash_katapult *k)
{
	return k && k->connected ? k->mcu : NULL;
}

KFLASH_EXPORT const char *
kflash_katapult_get_version(const struct kflash_katapult *k)
{
	return k && k->connected ? k->version : NULL;
}

KFLASH_EXPORT uint32_t
kflash_katapult_get_protocol_version(const struct kflash_katapult *k)
{
	return k && k->connected ? k->protocol : 0;
}

KFLASH_EXPORT uint32_t
kflash_katapult_get_app_start(const struct kflash_katapult *k)
{
	return k && k->connected ? k->app_start : 0;
}

KFLASH_EXPORT uint32_t
kflash_katapult_get_block_size(const struct kflash_katapult *k)
{
	return k && k->connected ? k->block_size : 0;
}

KFLASH_EXPORT uint64_t
kflash_katapult_get_round_trips(const struct kflash_katapult *k)
{
	return k ? k->round_trips : 0;
}

/* ---- write, verify, complete ---- */

/* Say, after a failed transfer, where the board is. */
static int
stays_in_katapult(struct kflash_katapult *k, int r)
{
	_cleanup_free_ char *detail = NULL;

	if (r == KFLASH_ERR_CANCELLED)
		return r;
	detail = kf_strdup(kflash_context_last_error(k->ctx));
	return kf_error(k->ctx, r, "%s; the board stays in Katapult, ready for another try",
			detail ? detail : kflash_strerror(r));
}

static void
progress(struct kflash_katapult *k, const char *what, size_t done, size_t total, int *last)
{
	int percent = (int)(done * 100 / total);

	if (percent != *last || done == total) {
		*last = percent;
		kf_progress(k->ctx, done, total, "%s", what);
	}
}

/* The length of a SEND_BLOCK frame: header, address, block, trailer. */
static size_t
block_frame_size(const struct kflash_katapult *k)
{
	return KF_KAT_FRAME_MIN + 4 + k->block_size;
}

/* One block, with the echoed address checked. */
static int
send_block(struct kflash_katapult *k, uint32_t addr, const uint8_t *data)
{
	uint8_t payload[4 + KF_KAT_BLOCK_MAX], ack[KF_KAT_RX_FRAME_MAX];
	uint32_t echoed = 0;
	uint8_t words;

	kf_put_le32(payload, addr);
	memcpy(payload + 4, data, k->block_size);
	for (int attempt = 0; attempt < ADDRESS_TRIES; attempt++) {
		int r = exchange(k, KF_KAT_SEND_BLOCK, payload, 4 + k->block_size,
				 DEFAULT_BLOCK_TRIES < k->tries ? DEFAULT_BLOCK_TRIES : k->tries,
				 k->block_timeout_ms, ack, &words);

		if (r < 0)
			return r;
		echoed = words >= 2 ? kf_le32(ack + 4) : 0;
		if (words >= 2 && echoed == addr)
			return 0;
		kf_debug(k->ctx, "SEND_BLOCK 0x%08x: Katapult echoed 0x%08x", addr, echoed);
		r = kf_sleep_ms(k->ctx, 100);
		if (r < 0)
			return r;
	}
	return kf_error(k->ctx, KFLASH_ERR_FLASH,
			"Katapult on %s confirmed the block at 0x%08x as 0x%08x, %d times",
			k->t->name, addr, echoed, ADDRESS_TRIES);
}

KFLASH_EXPORT int
kflash_katapult_write(struct kflash_katapult *k, const void *image, size_t size)
{
	uint8_t ack[KF_KAT_RX_FRAME_MAX];
	uint8_t words;
	size_t blocks;
	int last = -1, r;

	if (!k)
		return KFLASH_ERR_INVALID;
	if (!k->connected)
		return kf_error(k->ctx, KFLASH_ERR_INVALID,
				"connect to Katapult before writing an image");
	if (!image || size == 0)
		return kf_error(k->ctx, KFLASH_ERR_INVALID, "the firmware image is empty");
	/* Before the first block: a frame the device cannot take would stall it. */
	if (block_frame_size(k) > KF_KAT_DEVICE_FRAME_MAX)
		return kf_error(k->ctx, KFLASH_ERR_NOT_SUPPORTED,
				"Katapult on %s announces %u-byte blocks, but a frame carrying "
				"one is %zu bytes and Katapult's command parser takes at most "
				"%d; sending it would stall the bootloader until a reset. "
				"Nothing was written and the board stays in Katapult; build "
				"Katapult with its default 64-byte blocks",
				k->t->name, k->block_size, block_frame_size(k),
				KF_KAT_DEVICE_FRAME_MAX);
	blocks = (size + k->block_size - 1) / k->block_size;
	if (blocks > (UINT32_MAX - k->app_start) / k->block_size)
		return kf_error(k->ctx, KFLASH_ERR_INVALID,
				"the image (%zu bytes) does not fit above 0x%08x", size,
				k->app_start);

	free(k->image);
	k->written = k->verified = false;
	k->padded_size = blocks * k->block_size;
	k->image = malloc(k->padded_size);
	if (!k->image)
		return kf_error(k->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	memcpy(k->image, image, size);
	memset(k->image + size, 0xff, k->padded_size - size);
	k->image_size = size;

	for (size_t i = 0; i < blocks; i++) {
		r = send_block(k, k->app_start + (uint32_t)(i * k->block_size),
			       k->image + i * k->block_size);
		if (r < 0)
			return stays_in_katapult(k, r);
		progress(k, "writing",
			 (i + 1) * k->block_size < size ? (i + 1) * k->block_size : size, size,
			 &last);
	}
	r = exchange(k, KF_KAT_SEND_EOF, NULL, 0, k->tries, k->timeout_ms, ack, &words);
	if (r < 0)
		return stays_in_katapult(k, r);
	{
		uint32_t pages = words >= 2 ? kf_le32(ack + 4) : 0;

		kf_info(k->ctx, "wrote %zu bytes (%" PRIu32 " flash page%s)", size, pages,
			pages == 1 ? "" : "s");
	}
	k->written = true;
	return 0;
}

static int
request_block(struct kflash_katapult *k, uint32_t addr, uint8_t *ack)
{
	uint8_t payload[4], words;
	uint32_t echoed = 0;

	kf_put_le32(payload, addr);
	for (int attempt = 0; attempt < ADDRESS_TRIES; attempt++) {
		int r = exchange(k, KF_KAT_REQUEST_BLOCK, payload, 4, k->tries, k->timeout_ms, ack,
				 &words);

		if (r < 0)
			return r;
		if ((size_t)words * 4 < 8 + k->block_size)
			return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
					"Katapult on %s sent %u bytes for the block at 0x%08x, "
					"not %u",
					k->t->name, words * 4u - 8, addr, k->block_size);
		echoed = kf_le32(ack + 4);
		if (echoed == addr)
			return 0;
	}
	return kf_error(k->ctx, KFLASH_ERR_FLASH,
			"Katapult on %s answered a read of 0x%08x with 0x%08x, %d times",
			k->t->name, addr, echoed, ADDRESS_TRIES);
}

KFLASH_EXPORT int
kflash_katapult_verify(struct kflash_katapult *k)
{
	uint8_t ack[KF_KAT_RX_FRAME_MAX];
	size_t blocks;
	int last = -1;

	if (!k)
		return KFLASH_ERR_INVALID;
	if (!k->written)
		return kf_error(k->ctx, KFLASH_ERR_INVALID, "write an image before verifying it");
	blocks = k->padded_size / k->block_size;
	for (size_t i = 0; i < blocks; i++) {
		uint32_t addr = k->app_start + (uint32_t)(i * k->block_size);
		int r = request_block(k, addr, ack);

		if (r < 0)
			return stays_in_katapult(k, r);
		if (memcmp(ack + 8, k->image + i * k->block_size, k->block_size) != 0) {
			kf_error(k->ctx, KFLASH_ERR_FLASH,
				 "verify failed: the flash at 0x%08x differs from the image", addr);
			return stays_in_katapult(k, KFLASH_ERR_FLASH);
		}
		progress(k, "verifying",
			 (i + 1) * k->block_size < k->image_size ? (i + 1) * k->block_size
								 : k->image_size,
			 k->image_size, &last);
	}
	k->verified = true;
	kf_info(k->ctx, "verified %zu bytes", k->image_size);
	return 0;
}

KFLASH_EXPORT int
kflash_katapult_complete(struct kflash_katapult *k)
{
	uint8_t ack[KF_KAT_RX_FRAME_MAX], words;
	int r;

	if (!k)
		return KFLASH_ERR_INVALID;
	if (!k->verified)
		return kf_error(k->ctx, KFLASH_ERR_INVALID,
				"refusing to start the firmware: the image was not verified; the "
				"board stays in Katapult");
	/* The board acknowledges, then resets into the new firmware. */
	r = exchange(k, KF_KAT_COMPLETE, NULL, 0, 1, k->timeout_ms, ack, &words);
	if (r == KFLASH_ERR_TIMEOUT || r == KFLASH_ERR_IO) {
		kf_debug(k->ctx, "no answer to COMPLETE; the board may have reset already");
		r = 0;
	}
	if (r == 0)
		kf_info(k->ctx, "started the new firmware");
	return r;
}
