/* SPDX-License-Identifier: MIT */
/*
 * The udev backend, the only file that knows libudev: USB ttys with their
 * USB parent, the USB devices without a tty that matter, and the network
 * interface of a USB-to-CAN bridge.
 */
#include <errno.h>
#include <libudev.h>
#include <string.h>

#include "discovery-private.h"

static unsigned int
hex_attr(struct udev_device *usb, const char *name)
{
	return (unsigned int)kf_attr_number(udev_device_get_sysattr_value(usb, name), 16, 0xffff);
}

/* "1-1.2" -> "1.2": the port path after the bus number. */
static char *
usb_port(struct udev_device *usb)
{
	const char *name = udev_device_get_sysname(usb);
	const char *dash = name ? strchr(name, '-') : NULL;

	if (!dash || !dash[1] || strlen(dash + 1) > 32 ||
	    strspn(dash + 1, "0123456789.") != strlen(dash + 1))
		return NULL;
	return strdup(dash + 1);
}

static void
fill_usb(struct kflash_device *dev, struct udev_device *usb)
{
	dev->vid = hex_attr(usb, "idVendor");
	dev->pid = hex_attr(usb, "idProduct");
	dev->manufacturer = kf_clean_attr(udev_device_get_sysattr_value(usb, "manufacturer"));
	dev->product = kf_clean_attr(udev_device_get_sysattr_value(usb, "product"));
	dev->serial = kf_clean_attr(udev_device_get_sysattr_value(usb, "serial"));
	dev->usb_port = usb_port(usb);
}

static void
take_link(struct kflash_device *dev, const char *link, size_t len)
{
	if (!dev->by_id && memmem(link, len, "/serial/by-id/", 14))
		dev->by_id = strndup(link, len);
	else if (!dev->by_path && memmem(link, len, "/serial/by-path/", 16))
		dev->by_path = strndup(link, len);
}

/*
 * The by-id and by-path links: from the udev database, or from the
 * DEVLINKS property (space-separated) where the database has none.
 */
static void
fill_links(struct kflash_device *dev, struct udev_device *tty)
{
	struct udev_list_entry *e;
	const char *links, *end;

	udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(tty))
	{
		const char *link = udev_list_entry_get_name(e);

		take_link(dev, link, strlen(link));
	}
	links = udev_device_get_property_value(tty, "DEVLINKS");
	for (; links && *links; links = end) {
		links += strspn(links, " ");
		end = links + strcspn(links, " ");
		if (end > links && end - links < 4096)
			take_link(dev, links, (size_t)(end - links));
	}
	if (dev->by_path && !dev->usb_port)
		dev->usb_port = kf_usb_port_from_by_path(strrchr(dev->by_path, '/') + 1);
}

/* A tty without a USB parent that a board may use: a Pi UART. */
static bool
is_board_uart(struct udev_device *tty)
{
	const char *name = udev_device_get_sysname(tty);
	struct udev_list_entry *e;

	if (name && strncmp(name, "ttyAMA", 6) == 0)
		return true;
	udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(tty))
	{
		const char *link = udev_list_entry_get_name(e);
		const char *base = strrchr(link, '/');

		if (base && strncmp(base, "/serial", 7) == 0 && base[7] >= '0' && base[7] <= '9')
			return true;
	}
	return false;
}

typedef int (*visit_fn)(struct kf_device_list *list, struct udev_device *dev);

static int
each_device(struct udev *udev, const char *subsystem, visit_fn fn, struct kf_device_list *list)
{
	struct udev_enumerate *en = udev_enumerate_new(udev);
	struct udev_list_entry *e;
	int r = 0;

	if (!en)
		return -ENOMEM;
	if (udev_enumerate_add_match_subsystem(en, subsystem) < 0 ||
	    udev_enumerate_scan_devices(en) < 0) {
		udev_enumerate_unref(en);
		return -EIO;
	}
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		struct udev_device *dev =
			udev_device_new_from_syspath(udev, udev_list_entry_get_name(e));

		if (!dev)
			continue;
		r = fn(list, dev);
		udev_device_unref(dev);
		if (r < 0)
			break;
	}
	udev_enumerate_unref(en);
	return r;
}

static int
visit_tty(struct kf_device_list *list, struct udev_device *tty)
{
	struct udev_device *usb =
		udev_device_get_parent_with_subsystem_devtype(tty, "usb", "usb_device");
	const char *node = udev_device_get_devnode(tty);
	struct kflash_device *dev;

	if (!node || (!usb && !is_board_uart(tty)))
		return 0;
	dev = kf_device_new();
	if (!dev || !(dev->devnode = strdup(node))) {
		kflash_device_unref(dev);
		return -ENOMEM;
	}
	if (usb)
		fill_usb(dev, usb);
	fill_links(dev, tty);
	kf_device_classify(dev, true);
	return kf_device_list_add(list, dev);
}

static int
visit_usb(struct kf_device_list *list, struct udev_device *usb)
{
	const char *node = udev_device_get_devnode(usb);
	const char *type = udev_device_get_devtype(usb);
	struct kflash_device *dev;

	if (!node || !type || strcmp(type, "usb_device") != 0 ||
	    !kf_usb_id_is_ttyless(hex_attr(usb, "idVendor"), hex_attr(usb, "idProduct")))
		return 0;
	dev = kf_device_new();
	if (!dev || !(dev->devnode = strdup(node))) {
		kflash_device_unref(dev);
		return -ENOMEM;
	}
	fill_usb(dev, usb);
	kf_device_classify(dev, false);
	return kf_device_list_add(list, dev);
}

/* A bridge's network interface goes to the bridge's USB device. */
static int
visit_net(struct kf_device_list *list, struct udev_device *net)
{
	struct udev_device *usb =
		udev_device_get_parent_with_subsystem_devtype(net, "usb", "usb_device");
	const char *node = usb ? udev_device_get_devnode(usb) : NULL;

	for (size_t i = 0; node && i < list->count; i++) {
		struct kflash_device *dev = list->items[i];

		if (dev->mode == KFLASH_MODE_CAN_BRIDGE && !dev->net_interface &&
		    strcmp(dev->devnode, node) == 0) {
			dev->net_interface = kf_clean_attr(udev_device_get_sysname(net));
			break;
		}
	}
	return 0;
}

int
kf_discovery_scan_udev(struct kflash_context *ctx, struct kf_device_list *list)
{
	struct udev *udev = udev_new();
	int r;

	if (!udev)
		return kf_error_hint(ctx, KFLASH_ERR_IO, KFLASH_HINT_SET_DEV_DIR, NULL,
				     "cannot use udev to find boards; set a device dir to look for "
				     "links there instead");
	r = each_device(udev, "tty", visit_tty, list);
	if (r == 0)
		r = each_device(udev, "usb", visit_usb, list);
	if (r == 0)
		r = each_device(udev, "net", visit_net, list);
	udev_unref(udev);
	if (r == -ENOMEM)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r < 0)
		return kf_error_sys(ctx, -r, "cannot enumerate devices with udev");
	return 0;
}
