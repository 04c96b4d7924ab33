/* SPDX-License-Identifier: MIT */
/*
 * Before a CAN interface carries a flash: it exists, is a CAN interface,
 * is up, runs at the board's bitrate, has room for the frames in its
 * transmit queue, and its controller is not BUS-OFF or error-passive.
 * The kernel says all of it in one RTM_NEWLINK message (rtnetlink).
 */
#include <errno.h>
#include <linux/can/netlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "can-link.h"
#include "can-private.h"

#define MIN_TXQUEUELEN 128
#define NETLINK_TIMEOUT_MS 2000

/* The attributes in @len bytes at @p: call @fn for each. */
static void
each_attr(const uint8_t *p,
	  size_t len,
	  void (*fn)(unsigned type, const uint8_t *data, size_t n, struct kf_can_link *l),
	  struct kf_can_link *l)
{
	while (len >= sizeof(struct rtattr)) {
		struct rtattr a;
		size_t step;

		memcpy(&a, p, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len)
			return; /* malformed: stop, keep what was read */
		fn(a.rta_type & ~NLA_F_NESTED, p + RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0), l);
		step = RTA_ALIGN(a.rta_len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
}

static uint32_t
u32_of(const uint8_t *data, size_t n)
{
	uint32_t v = 0;

	if (n >= sizeof(v))
		memcpy(&v, data, sizeof(v));
	return v;
}

static void
can_data_attr(unsigned type, const uint8_t *data, size_t n, struct kf_can_link *l)
{
	if (type == IFLA_CAN_BITTIMING && n >= sizeof(struct can_bittiming))
		l->bitrate = u32_of(data, n); /* bitrate is the first member */
	else if (type == IFLA_CAN_STATE && n >= 4)
		l->state = (int)u32_of(data, n);
}

static void
linkinfo_attr(unsigned type, const uint8_t *data, size_t n, struct kf_can_link *l)
{
	if (type == IFLA_INFO_KIND) {
		size_t k = strnlen((const char *)data, n);

		snprintf(l->kind, sizeof(l->kind), "%.*s", (int)k, (const char *)data);
	} else if (type == IFLA_INFO_DATA) {
		each_attr(data, n, can_data_attr, l);
	}
}

static void
link_attr(unsigned type, const uint8_t *data, size_t n, struct kf_can_link *l)
{
	if (type == IFLA_IFNAME) {
		size_t k = strnlen((const char *)data, n);

		snprintf(l->name, sizeof(l->name), "%.*s", (int)k, (const char *)data);
	} else if (type == IFLA_TXQLEN) {
		l->txqueuelen = u32_of(data, n);
	} else if (type == IFLA_LINKINFO) {
		each_attr(data, n, linkinfo_attr, l);
	}
}

int
kf_can_link_parse(const void *buf, size_t len, struct kf_can_link *l)
{
	const uint8_t *p = buf;
	struct nlmsghdr h;
	struct ifinfomsg ifi;

	memset(l, 0, sizeof(*l));
	l->state = -1;
	if (len < NLMSG_LENGTH(sizeof(ifi)))
		return -EINVAL;
	memcpy(&h, p, sizeof(h));
	if (h.nlmsg_type != RTM_NEWLINK || h.nlmsg_len < NLMSG_LENGTH(sizeof(ifi)))
		return -EINVAL;
	/* A message cut short: what is there is read, the rest is not known. */
	if (h.nlmsg_len < len)
		len = h.nlmsg_len;
	memcpy(&ifi, p + NLMSG_HDRLEN, sizeof(ifi));
	l->up = (ifi.ifi_flags & IFF_UP) != 0;
	each_attr(p + NLMSG_LENGTH(sizeof(ifi)), len - NLMSG_LENGTH(sizeof(ifi)), link_attr, l);
	return 0;
}

/* Ask the kernel for interface @name: 0 with *@l, or an error recorded. */
static int
query(struct kflash_context *ctx, const char *name, struct kf_can_link *l)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg ifi;
		char attrs[RTA_SPACE(IFNAMSIZ)];
	} req = { 0 };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = -1;
	struct rtattr *a;
	uint8_t buf[16384];
	ssize_t n;

	if (strlen(name) >= IFNAMSIZ)
		return kf_error(ctx, KFLASH_ERR_INVALID, "'%s' is not an interface name", name);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi)) + RTA_SPACE(strlen(name) + 1);
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.ifi.ifi_family = AF_UNSPEC;
	a = (struct rtattr *)req.attrs;
	a->rta_type = IFLA_IFNAME;
	a->rta_len = (unsigned short)RTA_LENGTH(strlen(name) + 1);
	memcpy(RTA_DATA(a), name, strlen(name) + 1);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return kf_error_sys(ctx, errno, "cannot ask the kernel about %s", name);
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return kf_error_sys(ctx, errno, "cannot ask the kernel about %s", name);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct nlmsghdr h;

		if (poll(&p, 1, NETLINK_TIMEOUT_MS) <= 0)
			return kf_error(ctx, KFLASH_ERR_TIMEOUT,
					"the kernel did not say what %s is", name);
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(h))
			return kf_error_sys(ctx, n < 0 ? errno : EIO, "cannot read what %s is",
					    name);
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr e;

			memcpy(&e, buf + NLMSG_HDRLEN,
			       sizeof(e) <= (size_t)n - NLMSG_HDRLEN ? sizeof(e)
								     : (size_t)n - NLMSG_HDRLEN);
			if (e.error == -ENODEV)
				return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
						"there is no network interface %s (is the CAN "
						"adapter plugged in, and the interface "
						"configured?)",
						name);
			return kf_error_errno(ctx, KFLASH_ERR_IO, -e.error,
					      "the kernel will not say what %s is", name);
		}
		if (h.nlmsg_type == RTM_NEWLINK)
			break;
	}
	if (kf_can_link_parse(buf, (size_t)n, l) < 0)
		return kf_error(ctx, KFLASH_ERR_PROTOCOL,
				"the kernel's answer about %s makes no sense", name);
	return 0;
}

static const char *
state_name(int state)
{
	switch (state) {
	case CAN_STATE_ERROR_ACTIVE:
		return "ERROR-ACTIVE";
	case CAN_STATE_ERROR_WARNING:
		return "ERROR-WARNING";
	case CAN_STATE_ERROR_PASSIVE:
		return "ERROR-PASSIVE";
	case CAN_STATE_BUS_OFF:
		return "BUS-OFF";
	case CAN_STATE_STOPPED:
		return "STOPPED";
	case CAN_STATE_SLEEPING:
		return "SLEEPING";
	default:
		return "in an unknown state";
	}
}

int
kf_can_link_check(struct kflash_context *ctx, const struct kf_can_link *l, uint32_t bitrate)
{
	const char *name = l->name;
	uint32_t want = bitrate ? bitrate : l->bitrate;

	if (strcmp(l->kind, "can") != 0)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%s is not a CAN interface (its kind is '%s'); name the board's "
				"CAN interface, for example can0",
				name, *l->kind ? l->kind : "none");
	if (!l->up)
		return kf_error(ctx, KFLASH_ERR_IO,
				"%s is down; bring it up with: sudo ip link set %s up type can "
				"bitrate %u (and make it come up at boot, in "
				"/etc/network/interfaces.d/%s)",
				name, name, want ? want : 1000000, name);
	if (bitrate && l->bitrate != bitrate)
		return kf_error(ctx, KFLASH_ERR_IO,
				"%s runs at %u bit/s, but the board's config says %u "
				"(CONFIG_CANBUS_FREQUENCY); the host and every node must agree: "
				"sudo ip link set %s down && sudo ip link set %s up type can "
				"bitrate %u",
				name, l->bitrate, bitrate, name, name, bitrate);
	if (l->txqueuelen < MIN_TXQUEUELEN)
		return kf_error(ctx, KFLASH_ERR_IO,
				"%s queues %u frames for sending, too few for a flash (%d at "
				"least): sudo ip link set %s txqueuelen %d",
				name, l->txqueuelen, MIN_TXQUEUELEN, name, MIN_TXQUEUELEN);
	if (l->state == CAN_STATE_BUS_OFF || l->state == CAN_STATE_ERROR_PASSIVE ||
	    l->state == CAN_STATE_STOPPED)
		return kf_error(ctx, KFLASH_ERR_IO,
				"%s is %s: frames fail on the bus (a node at another bitrate, a "
				"missing or doubled 120-ohm termination, a loose wire); fix it, "
				"then restart the interface: sudo ip link set %s down && sudo ip "
				"link set %s up type can bitrate %u",
				name, state_name(l->state), name, name, want);
	return 0;
}

KFLASH_EXPORT int
kflash_can_check_interface(struct kflash_context *ctx, const char *interface, uint32_t bitrate)
{
	struct kflash_can_bus *bus = NULL;
	struct kf_can_link l;
	int r;

	if (!interface)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no CAN interface given");
	/* A socket dir has no kernel interface to look at: it is there, or not. */
	if (kflash_context_get_can_socket_dir(ctx)) {
		r = kflash_can_bus_open(ctx, interface, &bus);
		kflash_can_bus_unref(bus);
		return r;
	}
	r = query(ctx, interface, &l);
	return r < 0 ? r : kf_can_link_check(ctx, &l, bitrate);
}
