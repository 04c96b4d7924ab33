/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "libkflash-private.h"
#include "script-transport.h"

struct kf_script {
	kf_script_responder respond;
	void *data;
	uint8_t *rx; /* queued for the host */
	size_t rx_len;
	uint8_t *tx; /* written by the host */
	size_t tx_len;
	size_t writes;
	bool closed;
};

struct script_transport {
	struct kf_transport base;
	struct kf_script *script;
};

static void
append(uint8_t **buf, size_t *len, const void *bytes, size_t n)
{
	uint8_t *grown = realloc(*buf, *len + n + 1);

	ck_assert_ptr_nonnull(grown);
	memcpy(grown + *len, bytes, n);
	*buf = grown;
	*len += n;
}

static ssize_t
script_read(struct kf_transport *t, void *buf, size_t len, uint32_t timeout_ms)
{
	struct kf_script *s = ((struct script_transport *)t)->script;
	size_t n = s->rx_len < len ? s->rx_len : len;
	int r = kf_check_cancel(t->ctx);

	if (r < 0)
		return r;
	/* Nothing queued: the device is silent, and time passes at once. */
	if (n == 0)
		return 0;
	memcpy(buf, s->rx, n);
	memmove(s->rx, s->rx + n, s->rx_len - n);
	s->rx_len -= n;
	(void)timeout_ms;
	return (ssize_t)n;
}

static int
script_write(struct kf_transport *t, const void *buf, size_t len)
{
	struct kf_script *s = ((struct script_transport *)t)->script;

	append(&s->tx, &s->tx_len, buf, len);
	s->writes++;
	if (s->respond)
		s->respond(s, buf, len, s->data);
	return 0;
}

static void
script_close(struct kf_transport *t)
{
	((struct script_transport *)t)->script->closed = true;
}

static const struct kf_transport_ops script_ops = {
	.read = script_read,
	.write = script_write,
	.close = script_close,
};

struct kf_script *
kf_script_new(kf_script_responder respond, void *data)
{
	struct kf_script *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->respond = respond;
	s->data = data;
	return s;
}

void
kf_script_free(struct kf_script *s)
{
	if (!s)
		return;
	free(s->rx);
	free(s->tx);
	free(s);
}

struct kf_transport *
kf_script_transport(struct kflash_context *ctx, struct kf_script *s, const char *name)
{
	struct script_transport *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	t->base.ops = &script_ops;
	t->base.ctx = kflash_context_ref(ctx);
	t->base.name = strdup(name);
	t->script = s;
	return &t->base;
}

void
kf_script_queue(struct kf_script *s, const void *bytes, size_t len)
{
	append(&s->rx, &s->rx_len, bytes, len);
}

/* CRC-16/MCRF4XX, bit by bit (the library computes it byte-wise). */
static uint16_t
crc16(const uint8_t *p, size_t len)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return crc;
}

void
kf_script_queue_frame(struct kf_script *s, uint8_t type, const void *payload, size_t len)
{
	uint8_t *f = malloc(len + 8);
	uint16_t crc;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(len % 4, 0);
	ck_assert_uint_le(len / 4, 255);
	f[0] = 0x01;
	f[1] = 0x88;
	f[2] = type;
	f[3] = (uint8_t)(len / 4);
	if (len)
		memcpy(f + 4, payload, len);
	crc = crc16(f + 2, len + 2);
	f[len + 4] = (uint8_t)crc;
	f[len + 5] = (uint8_t)(crc >> 8);
	f[len + 6] = 0x99;
	f[len + 7] = 0x03;
	kf_script_queue(s, f, len + 8);
	free(f);
}

const uint8_t *
kf_script_written(const struct kf_script *s, size_t *len)
{
	*len = s->tx_len;
	return s->tx;
}

size_t
kf_script_write_count(const struct kf_script *s)
{
	return s->writes;
}

bool
kf_script_closed(const struct kf_script *s)
{
	return s->closed;
}
