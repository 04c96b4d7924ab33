/* SPDX-License-Identifier: MIT */
/*
 * A CAN bus: a raw SocketCAN socket bound to the interface, or the UNIX
 * SOCK_SEQPACKET socket of the socket-dir contract. Both carry the same
 * frames; only the socket's creation and the byte order of a frame differ.
 */
#include <errno.h>
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "can-private.h"

static bool
interface_name_is_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] <= ' ' || name[i] == ':')
			return false;
	return true;
}

/* The kernel's CAN interface @name, as a raw socket that also gets error frames. */
static int
open_socketcan(struct kflash_context *ctx, const char *name, int *fd)
{
	struct sockaddr_can addr = { .can_family = AF_CAN };
	can_err_mask_t errors = KF_CAN_ERR_BUSOFF | KF_CAN_ERR_CRTL;
	int s = socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW), e;

	if (s < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
		return kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				"this kernel has no CAN sockets (AF_CAN), so %s cannot be used; "
				"load the can and can_raw modules",
				name);
	if (s < 0)
		return kf_error_sys(ctx, errno, "cannot create a CAN socket for %s", name);
	addr.can_ifindex = (int)if_nametoindex(name);
	if (addr.can_ifindex == 0) {
		close(s);
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"there is no network interface %s (is the board's CAN adapter "
				"plugged in, and the interface configured?)",
				name);
	}
	(void)setsockopt(s, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &errors, sizeof(errors));
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		close(s);
		return kf_error_sys(ctx, e, "cannot use the CAN interface %s", name);
	}
	*fd = s;
	return 0;
}

/* Interface @name of the socket dir @dir. */
static int
open_unix(struct kflash_context *ctx, const char *dir, const char *name, int *fd)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int s, e;

	if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, name) >=
	    sizeof(addr.sun_path))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"the CAN socket %s/%s is longer than a socket path can be", dir,
				name);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return kf_error_sys(ctx, errno, "cannot create a socket for %s", name);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		close(s);
		if (e == ENOENT || e == ECONNREFUSED)
			return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
					"there is no CAN interface %s: nothing listens on %s", name,
					addr.sun_path);
		return kf_error_sys(ctx, e, "cannot connect to the CAN socket %s", addr.sun_path);
	}
	*fd = s;
	return 0;
}

KFLASH_EXPORT int
kflash_can_bus_open(struct kflash_context *ctx, const char *interface, struct kflash_can_bus **ret)
{
	const char *dir = kflash_context_get_can_socket_dir(ctx);
	struct kflash_can_bus *bus;
	int fd = -1, r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the bus");
	*ret = NULL;
	if (!interface_name_is_valid(interface))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"'%s' is not a network interface name (for example can0)",
				interface ? interface : "");
	r = dir ? open_unix(ctx, dir, interface, &fd) : open_socketcan(ctx, interface, &fd);
	if (r < 0)
		return r;
	bus = calloc(1, sizeof(*bus));
	if (!bus || !(bus->interface = strdup(interface))) {
		free(bus);
		close(fd);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	bus->refcount = 1;
	bus->ctx = kflash_context_ref(ctx);
	bus->fd = fd;
	bus->unix_socket = dir != NULL;
	*ret = bus;
	return 0;
}

KFLASH_EXPORT struct kflash_can_bus *
kflash_can_bus_ref(struct kflash_can_bus *bus)
{
	if (bus)
		bus->refcount++;
	return bus;
}

KFLASH_EXPORT struct kflash_can_bus *
kflash_can_bus_unref(struct kflash_can_bus *bus)
{
	if (!bus || --bus->refcount > 0)
		return NULL;
	close(bus->fd);
	free(bus->interface);
	kflash_context_unref(bus->ctx);
	free(bus);
	return NULL;
}

KFLASH_EXPORT const char *
kflash_can_bus_get_interface(const struct kflash_can_bus *bus)
{
	return bus ? bus->interface : NULL;
}

/* ---- frames ---- */

void
kf_can_frame_encode(const struct kf_can_frame *f, uint8_t out[KF_CAN_WIRE_SIZE])
{
	memset(out, 0, KF_CAN_WIRE_SIZE);
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(f->id >> (8 * i));
	out[4] = f->len;
	memcpy(out + 8, f->data, f->len <= 8 ? f->len : 8);
}

bool
kf_can_frame_decode(const uint8_t *in, size_t len, struct kf_can_frame *f)
{
	if (len != KF_CAN_WIRE_SIZE || in[4] > 8)
		return false;
	f->id = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
		(uint32_t)in[3] << 24;
	f->len = in[4];
	memset(f->data, 0, sizeof(f->data));
	memcpy(f->data, in + 8, f->len);
	return true;
}

int
kf_can_write(struct kflash_can_bus *bus, const struct kf_can_frame *f)
{
	uint8_t wire[KF_CAN_WIRE_SIZE];
	struct can_frame cf = { .can_id = f->id, .can_dlc = f->len };
	const void *buf = wire;
	ssize_t n;

	if (bus->unix_socket) {
		kf_can_frame_encode(f, wire);
	} else {
		memcpy(cf.data, f->data, f->len);
		buf = &cf;
	}
	do {
		n = send(bus->fd, buf, KF_CAN_WIRE_SIZE, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n == KF_CAN_WIRE_SIZE)
		return 0;
	/* SocketCAN says ENOBUFS when its queue is full: the bus is not taking frames. */
	if (n < 0 && errno == ENOBUFS)
		return kf_error(bus->ctx, KFLASH_ERR_IO,
				"%s does not take frames (its transmit queue is full): is the bus "
				"wired and terminated, and its bitrate every node's?",
				bus->interface);
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENETDOWN))
		return kf_error(bus->ctx, KFLASH_ERR_IO, "%s went away", bus->interface);
	return kf_error_sys(bus->ctx, n < 0 ? errno : EIO, "cannot send on %s", bus->interface);
}

/* An error frame: BUS-OFF ends the read; error-passive is said once. */
static int
error_frame(struct kflash_can_bus *bus, const struct kf_can_frame *f)
{
	if (f->id & KF_CAN_ERR_BUSOFF)
		return kf_error(bus->ctx, KFLASH_ERR_IO,
				"%s went BUS-OFF: the bus has failed (a node at another bitrate, "
				"a missing or doubled 120-ohm termination, a loose wire); fix it, "
				"then restart the interface (sudo ip link set %s down, then up)",
				bus->interface, bus->interface);
	if ((f->id & KF_CAN_ERR_CRTL) &&
	    (f->data[1] & (KF_CAN_ERR_CRTL_RX_PASSIVE | KF_CAN_ERR_CRTL_TX_PASSIVE)) &&
	    !bus->passive_said) {
		bus->passive_said = true;
		kf_warn(bus->ctx,
			"%s is error-passive: frames fail on the bus; check its bitrate, wiring "
			"and termination",
			bus->interface);
	}
	return 0;
}

int
kf_can_read(struct kflash_can_bus *bus, struct kf_can_frame *f, uint32_t timeout_ms)
{
	uint64_t deadline = kf_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = bus->fd, .events = POLLIN },
			{ .fd = kf_cancel_fd(bus->ctx), .events = POLLIN },
		};
		uint8_t wire[KF_CAN_WIRE_SIZE + 1];
		uint64_t now = kf_now_ms();
		struct can_frame cf;
		ssize_t n;
		int r;

		r = poll(p, 2, now >= deadline ? 0 : (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kf_error_sys(bus->ctx, errno, "cannot wait for %s", bus->interface);
		if (p[1].revents)
			return kf_check_cancel(bus->ctx);
		if (r == 0)
			return 0;
		if (bus->unix_socket) {
			n = recv(bus->fd, wire, sizeof(wire), 0);
		} else {
			n = recv(bus->fd, &cf, sizeof(cf), 0);
			if (n == (ssize_t)sizeof(cf)) {
				*f = (struct kf_can_frame){ .id = cf.can_id,
							    .len = cf.can_dlc <= 8 ? cf.can_dlc
										   : 8 };
				memcpy(f->data, cf.data, f->len);
			}
		}
		if (n == 0)
			return kf_error(bus->ctx, KFLASH_ERR_IO, "%s went away", bus->interface);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return kf_error_sys(bus->ctx, errno, "cannot read from %s", bus->interface);
		if (bus->unix_socket && !kf_can_frame_decode(wire, (size_t)n, f)) {
			kf_debug(bus->ctx, "%s: a %zd-byte packet that is no CAN frame, dropped",
				 bus->interface, n);
			continue;
		}
		if (!bus->unix_socket && n != (ssize_t)sizeof(cf))
			continue;
		if (f->id & KF_CAN_ERR_FLAG) {
			r = error_frame(bus, f);
			if (r < 0)
				return r;
			continue;
		}
		return 1;
	}
}
