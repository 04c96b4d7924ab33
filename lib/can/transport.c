/* SPDX-License-Identifier: MIT */
/*
 * Katapult over CAN: the byte stream of a Katapult session cut into frames
 * of up to 8 bytes to the node's receive id, and put together again from
 * the frames of its transmit id. Everything else on the bus is ignored.
 */
#include <string.h>

#include "can-private.h"
#include "katapult/transport.h"

/* Katapult's tool waits as long between setting an id and talking; a node takes far less. */
#define ADMIN_SETTLE_MS 100

struct can_transport {
	struct kf_transport base;
	struct kflash_can_bus *bus;
	uint32_t rx_id, tx_id; /* the node's */
	uint8_t pending[8];    /* bytes of a frame that did not fit the last read */
	size_t n_pending;
};

static ssize_t
can_read(struct kf_transport *t, void *buf, size_t len, uint32_t timeout_ms)
{
	struct can_transport *c = (struct can_transport *)t;
	uint64_t deadline = kf_now_ms() + timeout_ms;
	struct kf_can_frame f;

	while (c->n_pending == 0) {
		uint64_t now = kf_now_ms();
		int r = kf_can_read(c->bus, &f, now >= deadline ? 0 : (uint32_t)(deadline - now));

		if (r <= 0)
			return r;
		if (f.id != c->tx_id || f.len == 0)
			continue;
		memcpy(c->pending, f.data, f.len);
		c->n_pending = f.len;
	}
	if (len > c->n_pending)
		len = c->n_pending;
	memcpy(buf, c->pending, len);
	memmove(c->pending, c->pending + len, c->n_pending - len);
	c->n_pending -= len;
	return (ssize_t)len;
}

static int
can_write(struct kf_transport *t, const void *buf, size_t len)
{
	struct can_transport *c = (struct can_transport *)t;
	const uint8_t *p = buf;

	while (len > 0) {
		struct kf_can_frame f = { .id = c->rx_id, .len = (uint8_t)(len < 8 ? len : 8) };
		int r;

		memcpy(f.data, p, f.len);
		r = kf_can_write(c->bus, &f);
		if (r < 0)
			return r;
		p += f.len;
		len -= f.len;
	}
	return 0;
}

static void
can_close(struct kf_transport *t)
{
	kflash_can_bus_unref(((struct can_transport *)t)->bus);
}

static const struct kf_transport_ops can_ops = {
	.read = can_read,
	.write = can_write,
	.close = can_close,
};

KFLASH_EXPORT int
kflash_katapult_open_can(struct kflash_can_bus *bus, const char *uuid, struct kflash_katapult **ret)
{
	struct can_transport *c;
	struct kflash_context *ctx;
	int r;

	if (!bus || !ret)
		return KFLASH_ERR_INVALID;
	ctx = bus->ctx;
	*ret = NULL;
	if (!kflash_can_uuid_is_valid(uuid))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a CAN UUID (12 hexadecimal digits)", uuid ? uuid : "");
	/* No other Katapult node may keep the id this session talks to. */
	r = kflash_can_bus_clear_node_ids(bus);
	if (r == 0)
		r = kf_sleep_ms(ctx, ADMIN_SETTLE_MS);
	if (r == 0)
		r = kflash_can_bus_set_node_id(bus, uuid, KF_CAN_FLASH_NODE_ID);
	if (r == 0)
		r = kf_sleep_ms(ctx, ADMIN_SETTLE_MS);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->base.name = kf_strdup_printf("node %s on %s", uuid, bus->interface))) {
		free(c);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	c->base.ops = &can_ops;
	c->base.ctx = kflash_context_ref(ctx);
	c->bus = kflash_can_bus_ref(bus);
	c->rx_id = KF_CAN_NODE_RX_ID(KF_CAN_FLASH_NODE_ID);
	c->tx_id = KF_CAN_NODE_TX_ID(KF_CAN_FLASH_NODE_ID);
	r = kf_katapult_new(ctx, &c->base, ret);
	if (r == 0)
		r = kf_katapult_expect_canbus_id(*ret, uuid);
	if (r < 0)
		*ret = kflash_katapult_unref(*ret);
	return r;
}
