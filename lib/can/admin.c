/* SPDX-License-Identifier: MIT */
/*
 * The admin protocol Klipper and Katapult share on 0x3F0/0x3F1: the query
 * of unassigned nodes, the bootloader request, node ids.
 */
#include <string.h>
#include <strings.h>

#include "can-private.h"

#define ADMIN_QUERY_UNASSIGNED 0x00
#define ADMIN_REQUEST_BOOTLOADER 0x02
#define ADMIN_KATAPULT_SET_NODEID 0x11
#define ADMIN_KATAPULT_CLEAR_NODEID 0x12
#define ADMIN_NEED_NODEID 0x20
#define APP_KLIPPER 0x01
#define APP_KATAPULT 0x11

/* How long each try of a wait for Katapult listens, and the pause between tries. */
#define WAIT_WINDOW_MS 150
#define WAIT_PAUSE_MS 50

struct node {
	char uuid[13];
	int app;
};

struct kflash_can_query {
	int refcount;
	struct node *nodes;
	size_t count;
};

static const char *const app_names[] = {
	[KFLASH_CAN_APP_UNKNOWN] = "unknown",
	[KFLASH_CAN_APP_KLIPPER] = "klipper",
	[KFLASH_CAN_APP_KATAPULT] = "katapult",
};

KFLASH_EXPORT const char *
kflash_can_app_name(int app)
{
	return app >= 0 && (size_t)app < KF_ARRAY_SIZE(app_names) ? app_names[app] : "unknown";
}

bool
kf_can_parse_need_nodeid(const struct kf_can_frame *f, char uuid[13], int *app)
{
	if ((f->id & ~KF_CAN_SFF_MASK) || f->id != KF_CAN_ADMIN_REPLY_ID || f->len < 8 ||
	    f->data[0] != ADMIN_NEED_NODEID)
		return false;
	kf_can_uuid_format(f->data + 1, uuid);
	*app = f->data[7] == APP_KLIPPER    ? KFLASH_CAN_APP_KLIPPER
	       : f->data[7] == APP_KATAPULT ? KFLASH_CAN_APP_KATAPULT
					    : KFLASH_CAN_APP_UNKNOWN;
	return true;
}

/* An admin frame: @op, then the UUID (when @uuid), then @extra bytes. */
static int
send_admin(struct kflash_can_bus *bus,
	   uint8_t op,
	   const char *uuid,
	   const uint8_t *extra,
	   size_t n_extra)
{
	struct kf_can_frame f = { .id = KF_CAN_ADMIN_ID, .len = 1 };

	f.data[0] = op;
	if (uuid) {
		if (!kf_can_uuid_parse(uuid, f.data + 1))
			return kf_error(bus->ctx, KFLASH_ERR_INVALID,
					"'%s' is not a CAN UUID (12 hexadecimal digits)", uuid);
		f.len = 7;
	}
	if (n_extra)
		memcpy(f.data + f.len, extra, n_extra);
	f.len = (uint8_t)(f.len + n_extra);
	return kf_can_write(bus, &f);
}

KFLASH_EXPORT int
kflash_can_bus_request_bootloader(struct kflash_can_bus *bus, const char *uuid)
{
	if (!bus)
		return KFLASH_ERR_INVALID;
	kf_debug(bus->ctx, "%s: asking node %s to enter its bootloader", bus->interface,
		 uuid ? uuid : "");
	return send_admin(bus, ADMIN_REQUEST_BOOTLOADER, uuid, NULL, 0);
}

KFLASH_EXPORT int
kflash_can_bus_clear_node_ids(struct kflash_can_bus *bus)
{
	return bus ? send_admin(bus, ADMIN_KATAPULT_CLEAR_NODEID, NULL, NULL, 0)
		   : KFLASH_ERR_INVALID;
}

KFLASH_EXPORT int
kflash_can_bus_set_node_id(struct kflash_can_bus *bus, const char *uuid, uint8_t node_id)
{
	return bus ? send_admin(bus, ADMIN_KATAPULT_SET_NODEID, uuid, &node_id, 1)
		   : KFLASH_ERR_INVALID;
}

static int
add_node(struct kflash_can_query *q, const char *uuid, int app)
{
	for (size_t i = 0; i < q->count; i++)
		if (strcmp(q->nodes[i].uuid, uuid) == 0)
			return 0; /* nodes repeat their answer until it is sent */
	if (!KF_GROW(q->nodes, q->count + 1))
		return KFLASH_ERR_NO_MEMORY;
	memcpy(q->nodes[q->count].uuid, uuid, 13);
	q->nodes[q->count++].app = app;
	return 0;
}

KFLASH_EXPORT int
kflash_can_bus_query(struct kflash_can_bus *bus, uint32_t window_ms, struct kflash_can_query **ret)
{
	struct kflash_can_query *q;
	uint64_t deadline;
	int r;

	if (!bus || !ret)
		return bus ? kf_error(bus->ctx, KFLASH_ERR_INVALID, "no place to return the nodes")
			   : KFLASH_ERR_INVALID;
	*ret = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return kf_error(bus->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	q->refcount = 1;
	r = send_admin(bus, ADMIN_QUERY_UNASSIGNED, NULL, NULL, 0);
	deadline = kf_now_ms() + window_ms;
	while (r == 0) {
		struct kf_can_frame f;
		uint64_t now = kf_now_ms();
		char uuid[13];
		int app;

		if (now >= deadline)
			break;
		r = kf_can_read(bus, &f, (uint32_t)(deadline - now));
		if (r <= 0)
			break;
		r = kf_can_parse_need_nodeid(&f, uuid, &app) ? add_node(q, uuid, app) : 0;
		if (r < 0)
			r = kf_error(bus->ctx, r, "out of memory");
	}
	if (r < 0) {
		kflash_can_query_unref(q);
		return r;
	}
	*ret = q;
	return 0;
}

KFLASH_EXPORT struct kflash_can_query *
kflash_can_query_ref(struct kflash_can_query *q)
{
	if (q)
		q->refcount++;
	return q;
}

KFLASH_EXPORT struct kflash_can_query *
kflash_can_query_unref(struct kflash_can_query *q)
{
	if (!q || --q->refcount > 0)
		return NULL;
	free(q->nodes);
	free(q);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_can_query_get_count(const struct kflash_can_query *q)
{
	return q ? q->count : 0;
}

KFLASH_EXPORT const char *
kflash_can_query_get_uuid(const struct kflash_can_query *q, size_t index)
{
	return q && index < q->count ? q->nodes[index].uuid : NULL;
}

KFLASH_EXPORT int
kflash_can_query_get_app(const struct kflash_can_query *q, size_t index)
{
	return q && index < q->count ? q->nodes[index].app : KFLASH_CAN_APP_UNKNOWN;
}

KFLASH_EXPORT int
kflash_can_query_find(const struct kflash_can_query *q, const char *uuid)
{
	for (size_t i = 0; q && uuid && i < q->count; i++)
		if (strcasecmp(q->nodes[i].uuid, uuid) == 0)
			return q->nodes[i].app;
	return KFLASH_CAN_APP_UNKNOWN;
}

KFLASH_EXPORT int
kflash_can_bus_wait_katapult(struct kflash_can_bus *bus, const char *uuid, uint32_t timeout_ms)
{
	uint64_t deadline;
	int r, app = KFLASH_CAN_APP_UNKNOWN;

	if (!bus || !kflash_can_uuid_is_valid(uuid))
		return bus ? kf_error(bus->ctx, KFLASH_ERR_INVALID,
				      "'%s' is not a CAN UUID (12 hexadecimal digits)",
				      uuid ? uuid : "")
			   : KFLASH_ERR_INVALID;
	deadline = kf_now_ms() + timeout_ms;
	for (;;) {
		struct kflash_can_query *q = NULL;

		/* A node in Katapult with an id (from an earlier try) answers no query. */
		r = kflash_can_bus_clear_node_ids(bus);
		if (r == 0)
			r = kflash_can_bus_query(bus, WAIT_WINDOW_MS, &q);
		app = kflash_can_query_find(q, uuid);
		kflash_can_query_unref(q);
		if (r < 0)
			return r;
		if (app == KFLASH_CAN_APP_KATAPULT)
			return 0;
		/* Still Klipper: the request may have been lost on the bus. */
		if (app == KFLASH_CAN_APP_KLIPPER &&
		    (r = kflash_can_bus_request_bootloader(bus, uuid)) < 0)
			return r;
		if (kf_now_ms() >= deadline)
			break;
		r = kf_sleep_ms(bus->ctx, WAIT_PAUSE_MS);
		if (r < 0)
			return r;
	}
	if (app == KFLASH_CAN_APP_KLIPPER)
		return kf_error(bus->ctx, KFLASH_ERR_TIMEOUT,
				"node %s on %s still runs Klipper after %u ms of bootloader "
				"requests; it may have no Katapult, which a CAN node needs to be "
				"flashed over CAN",
				uuid, bus->interface, timeout_ms);
	return kf_error(bus->ctx, KFLASH_ERR_TIMEOUT,
			"node %s did not answer on %s in Katapult within %u ms; a node without "
			"Katapult cannot be flashed over CAN (it may have gone to another "
			"bootloader, or be off the bus): check its power and wiring, and that it "
			"has Katapult",
			uuid, bus->interface, timeout_ms);
}
