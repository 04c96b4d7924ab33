/* SPDX-License-Identifier: MIT */
/**
 * @file can.h
 * @brief CAN buses: finding Klipper and Katapult nodes, and getting one
 * into Katapult to flash it.
 */
#ifndef KFLASH_CAN_H
#define KFLASH_CAN_H

#include <stddef.h>
#include <stdint.h>

#include <kflash/context.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup can CAN buses
 *
 * A CAN board (a toolhead such as an EBB36 or an SB2209) has no serial
 * port: it is a node on a CAN bus, known by its 48-bit UUID. Klipper and
 * Katapult share an admin protocol on CAN ids 0x3F0 (host to nodes) and
 * 0x3F1 (nodes to host): a query that every node without an assigned id
 * answers with its UUID and its application, a request that makes a node
 * running Klipper reboot into its bootloader, and the assignment of a node
 * id, after which the node speaks Katapult's byte stream on ids
 * 0x100 + 2 id (to the node) and 0x101 + 2 id (from it).
 *
 * A bus is the kernel's CAN interface (SocketCAN, `can0`), or, when the
 * context has a CAN socket dir (kflash_context_set_can_socket_dir()), the
 * UNIX socket of that name there; both carry the same frames.
 * @{
 */

/** An open CAN interface (opaque, reference counted). */
struct kflash_can_bus;

/** The application a CAN node runs. */
enum kflash_can_app {
	/** Not known. */
	KFLASH_CAN_APP_UNKNOWN = 0,
	/** Klipper (its query answer says 0x01). */
	KFLASH_CAN_APP_KLIPPER = 1,
	/** Katapult, the bootloader (0x11). */
	KFLASH_CAN_APP_KATAPULT = 2,
};

/**
 * @param app A value of enum kflash_can_app.
 * @return "unknown", "klipper" or "katapult" (static); "unknown" for other
 * values.
 */
const char *
kflash_can_app_name(int app);

/**
 * @param uuid A candidate CAN UUID.
 * @return 1 when @p uuid is 12 hexadecimal digits, else 0.
 */
int
kflash_can_uuid_is_valid(const char *uuid);

/**
 * The CAN UUID Klipper and Katapult derive from a chip id: fasthash64 of
 * the id's bytes, its low 6 bytes. A board's USB serial number is its chip
 * id in hexadecimal, so the UUID of a USB-to-CAN bridge follows from its
 * serial number. Kalico and other builds can use other UUIDs: a UUID that
 * is known is never replaced by one derived.
 *
 * @param usb_serial The USB serial number (hexadecimal digits, an even
 * number of them, at most 64).
 * @param[out] uuid 13 bytes: the UUID in lower case and a NUL.
 * @return 0, or KFLASH_ERR_INVALID for a serial number that is not a chip
 * id in hexadecimal.
 */
int
kflash_can_uuid_from_serial(const char *usb_serial, char *uuid);

/**
 * Open a CAN interface.
 *
 * @param ctx The context.
 * @param interface The interface, for example "can0".
 * @param[out] ret The bus, with a reference count of 1.
 * @return 0; KFLASH_ERR_INVALID for a name that is not an interface's;
 * KFLASH_ERR_NOT_FOUND when there is no such interface (or socket);
 * KFLASH_ERR_NOT_SUPPORTED when the kernel has no CAN sockets (the message
 * says so); KFLASH_ERR_PERMISSION; KFLASH_ERR_IO.
 */
int
kflash_can_bus_open(struct kflash_context *ctx, const char *interface, struct kflash_can_bus **ret);

/**
 * @param bus A bus, or NULL.
 * @return @p bus.
 */
struct kflash_can_bus *
kflash_can_bus_ref(struct kflash_can_bus *bus);

/**
 * Close the interface when the last reference goes.
 *
 * @param bus A bus, or NULL.
 * @return NULL.
 */
struct kflash_can_bus *
kflash_can_bus_unref(struct kflash_can_bus *bus);

/**
 * @param bus A bus.
 * @return Its interface's name, owned by @p bus.
 */
const char *
kflash_can_bus_get_interface(const struct kflash_can_bus *bus);

/** The nodes that answered one query (opaque, reference counted). */
struct kflash_can_query;

/**
 * Ask every node without an assigned id to say its UUID, and collect the
 * answers for @p window_ms. A node that Klipper runs and has given an id
 * does not answer: stop Klipper (or reset the board) to see it. Several
 * unassigned nodes answering at once can push a marginal bus into
 * BUS-OFF, so this is not done casually.
 *
 * @param bus The bus.
 * @param window_ms How long to collect answers (Klipper's own tool waits
 * 2000 ms).
 * @param[out] ret The nodes, each once, in the order they answered.
 * @return 0; KFLASH_ERR_IO when the bus fails (BUS-OFF: the message says
 * so); KFLASH_ERR_CANCELLED.
 */
int
kflash_can_bus_query(struct kflash_can_bus *bus, uint32_t window_ms, struct kflash_can_query **ret);

/**
 * @param query A query, or NULL.
 * @return @p query.
 */
struct kflash_can_query *
kflash_can_query_ref(struct kflash_can_query *query);

/**
 * @param query A query, or NULL.
 * @return NULL.
 */
struct kflash_can_query *
kflash_can_query_unref(struct kflash_can_query *query);

/**
 * @param query A query.
 * @return The number of nodes that answered.
 */
size_t
kflash_can_query_get_count(const struct kflash_can_query *query);

/**
 * @param query A query.
 * @param index 0 to kflash_can_query_get_count() - 1.
 * @return The node's UUID (12 lower-case hex digits), owned by @p query;
 * NULL when @p index is out of range.
 */
const char *
kflash_can_query_get_uuid(const struct kflash_can_query *query, size_t index);

/**
 * @param query A query.
 * @param index 0 to kflash_can_query_get_count() - 1.
 * @return What the node runs, a value of enum kflash_can_app.
 */
int
kflash_can_query_get_app(const struct kflash_can_query *query, size_t index);

/**
 * @param query A query.
 * @param uuid A UUID.
 * @return What the node @p uuid runs, when it answered; KFLASH_CAN_APP_UNKNOWN
 * when it did not.
 */
int
kflash_can_query_find(const struct kflash_can_query *query, const char *uuid);

/**
 * Ask the node @p uuid, running Klipper, to reboot into its bootloader
 * (Klipper's REQUEST_BOOTLOADER; honoured also when Klipper has given the
 * node an id). A node in Katapult ignores it.
 *
 * @return 0, KFLASH_ERR_INVALID for a UUID that is not one, or a bus error.
 */
int
kflash_can_bus_request_bootloader(struct kflash_can_bus *bus, const char *uuid);

/**
 * Make every node in Katapult drop its node id (Katapult's CLEAR_NODEID).
 *
 * @return 0, or a bus error.
 */
int
kflash_can_bus_clear_node_ids(struct kflash_can_bus *bus);

/**
 * Give the node @p uuid, in Katapult, the node id @p node_id (Katapult's
 * SET_NODEID): it then receives on 0x100 + 2 id and sends on 0x101 + 2 id.
 *
 * @return 0, KFLASH_ERR_INVALID for a UUID that is not one, or a bus error.
 */
int
kflash_can_bus_set_node_id(struct kflash_can_bus *bus, const char *uuid, uint8_t node_id);

/**
 * Wait until the node @p uuid answers a query from Katapult (each try
 * clears the node ids first, since a node with an id does not answer).
 *
 * @param bus The bus.
 * @param uuid The node.
 * @param timeout_ms How long to wait.
 * @return 0; KFLASH_ERR_TIMEOUT when it did not (a node without Katapult
 * never does: the message says so); a bus error; KFLASH_ERR_CANCELLED.
 */
int
kflash_can_bus_wait_katapult(struct kflash_can_bus *bus, const char *uuid, uint32_t timeout_ms);

/** The CAN interfaces of the host (opaque, reference counted). */
struct kflash_can_interfaces;

/**
 * Find the host's CAN interfaces that are up: the network interfaces of
 * type CAN under the sys dir's `class/net` (kflash_context_get_sys_dir()),
 * or, with a CAN socket dir, the sockets in it.
 *
 * @param ctx The context.
 * @param[out] ret The interfaces, sorted by name, with a reference count of 1.
 * @return 0 (also when there are none), or KFLASH_ERR_NO_MEMORY.
 */
int
kflash_can_find_interfaces(struct kflash_context *ctx, struct kflash_can_interfaces **ret);

/**
 * @param list A list, or NULL.
 * @return @p list.
 */
struct kflash_can_interfaces *
kflash_can_interfaces_ref(struct kflash_can_interfaces *list);

/**
 * @param list A list, or NULL.
 * @return NULL.
 */
struct kflash_can_interfaces *
kflash_can_interfaces_unref(struct kflash_can_interfaces *list);

/**
 * @param list A list.
 * @return The number of interfaces.
 */
size_t
kflash_can_interfaces_get_count(const struct kflash_can_interfaces *list);

/**
 * @param list A list.
 * @param index 0 to kflash_can_interfaces_get_count() - 1.
 * @return The interface's name, owned by @p list; NULL out of range.
 */
const char *
kflash_can_interfaces_get_name(const struct kflash_can_interfaces *list, size_t index);

/**
 * Check a CAN interface before a flash: it exists and is a CAN interface,
 * it is up, it runs at @p bitrate, its transmit queue holds 128 frames or
 * more, and its controller is not BUS-OFF or error-passive (asked from the
 * kernel over rtnetlink). With a CAN socket dir there is no kernel
 * interface: only that its socket answers is checked.
 *
 * @param ctx The context.
 * @param interface The interface, for example "can0".
 * @param bitrate The bitrate the board's config uses
 * (CONFIG_CANBUS_FREQUENCY), or 0 to take any.
 * @return 0; KFLASH_ERR_NOT_FOUND (no such interface);
 * KFLASH_ERR_INVALID (not a CAN interface); KFLASH_ERR_IO (down, another
 * bitrate, a short queue, a failing bus: the message has the `ip link`
 * line that fixes it); KFLASH_ERR_TIMEOUT.
 */
int
kflash_can_check_interface(struct kflash_context *ctx, const char *interface, uint32_t bitrate);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_CAN_H */
