/* SPDX-License-Identifier: MIT */
/*
 * The path backend: devices from one device dir, without udev. Links under
 * serial/by-id and serial/by-path, serial0-style links and tty nodes at
 * its top, grouped by the node they resolve to; and usbfs descriptor files
 * under bus/usb for the USB devices that have no tty, described further by
 * the sys dir's bus/usb/devices where it has them (serial number, strings,
 * port, and a bridge's network interface).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "discovery-private.h"

/* The device of @list whose node resolves to @real, or NULL. */
static struct kflash_device *
find_node(struct kf_device_list *list, const char *real)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i]->realnode && strcmp(list->items[i]->realnode, real) == 0)
			return list->items[i];
	return NULL;
}

/*
 * The device behind @path, a link or a node, added when new. A path that
 * does not resolve to a character device is absent: *@ret is NULL.
 */
static int
add_tty(struct kf_device_list *list, const char *path, bool is_link, struct kflash_device **ret)
{
	char real[PATH_MAX];
	struct kflash_device *dev;
	struct stat st;

	*ret = NULL;
	if (!realpath(path, real) || stat(real, &st) < 0 || !S_ISCHR(st.st_mode))
		return 0;
	dev = find_node(list, real);
	if (!dev) {
		dev = kf_device_new();
		if (!dev || !(dev->realnode = strdup(real)) ||
		    !(dev->devnode = strdup(is_link ? real : path))) {
			kflash_device_unref(dev);
			return -ENOMEM;
		}
		if (kf_device_list_add(list, dev) < 0)
			return -ENOMEM;
	}
	*ret = dev;
	return 0;
}

static int
compare_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Call @fn for each entry of @dir in name order. */
static int
each_entry(const char *dir,
	   int (*fn)(struct kf_device_list *, const char *dir, const char *name),
	   struct kf_device_list *list)
{
	struct dirent **names;
	int n = scandir(dir, &names, not_hidden, compare_names), r = 0;

	if (n < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (r == 0)
			r = fn(list, dir, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return r;
}

static char *
join(const char *dir, const char *name)
{
	return kf_strdup_printf("%s/%s", dir, name);
}

/* Which field of a device a link fills in: by_id or by_path. */
enum link_kind { LINK_BY_ID, LINK_BY_PATH };

static int
add_link(struct kf_device_list *list, const char *dir, const char *name, enum link_kind kind)
{
	_cleanup_free_ char *path = join(dir, name);
	struct kflash_device *dev;
	int r;

	if (!path)
		return -ENOMEM;
	r = add_tty(list, path, true, &dev);
	if (r < 0 || !dev)
		return r;
	/* The first link of a kind wins; names are visited sorted. */
	if (kind == LINK_BY_ID && !dev->by_id) {
		dev->by_id = kf_steal(&path);
	} else if (kind == LINK_BY_PATH && !dev->by_path) {
		dev->usb_port = kf_usb_port_from_by_path(name);
		dev->by_path = kf_steal(&path);
	}
	return 0;
}

static int
add_by_id(struct kf_device_list *list, const char *dir, const char *name)
{
	return add_link(list, dir, name, LINK_BY_ID);
}

static int
add_by_path(struct kf_device_list *list, const char *dir, const char *name)
{
	return add_link(list, dir, name, LINK_BY_PATH);
}

/* Top-level ttys that boards use: Pi UARTs and their serialN links, USB ACM and adapters. */
static int
add_top_tty(struct kf_device_list *list, const char *dir, const char *name)
{
	static const char *const prefixes[] = { "serial", "ttyAMA", "ttyACM", "ttyUSB", "ttyS" };
	_cleanup_free_ char *path = NULL;

	for (size_t i = 0; i < KF_ARRAY_SIZE(prefixes); i++) {
		size_t n = strlen(prefixes[i]);

		if (strncmp(name, prefixes[i], n) == 0 && name[n] >= '0' && name[n] <= '9') {
			struct kflash_device *dev;

			/* Known by its name here (ttyAMA0, serial0), not by its pty or node. */
			path = join(dir, name);
			return path ? add_tty(list, path, false, &dev) : -ENOMEM;
		}
	}
	return 0;
}

/* A usbfs node: its first 18 bytes are the USB device descriptor. */
static int
add_usbfs_node(struct kf_device_list *list, const char *dir, const char *name)
{
	_cleanup_free_ char *path = join(dir, name);
	_cleanup_close_ int fd = -1;
	unsigned char desc[18];
	struct kflash_device *dev;
	unsigned int vid, pid;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || read(fd, desc, sizeof(desc)) != (ssize_t)sizeof(desc) || desc[0] != 18 ||
	    desc[1] != 1)
		return 0;
	vid = (unsigned int)desc[8] | (unsigned int)desc[9] << 8;
	pid = (unsigned int)desc[10] | (unsigned int)desc[11] << 8;
	/* Devices with a tty were found through it. */
	if (!kf_usb_id_is_ttyless(vid, pid))
		return 0;
	dev = kf_device_new();
	if (!dev || !(dev->devnode = kf_steal(&path))) {
		kflash_device_unref(dev);
		return -ENOMEM;
	}
	dev->vid = vid;
	dev->pid = pid;
	return kf_device_list_add(list, dev);
}

static int
add_usb_bus(struct kf_device_list *list, const char *dir, const char *name)
{
	_cleanup_free_ char *path = join(dir, name);

	return path ? each_entry(path, add_usbfs_node, list) : -ENOMEM;
}

/* A sysfs attribute of @dir: its first line, cleaned; NULL when absent or empty. */
static char *
read_attr(const char *dir, const char *name)
{
	_cleanup_free_ char *path = join(dir, name);
	_cleanup_close_ int fd = -1;
	char buf[257];
	ssize_t n;

	if (!path)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return kf_clean_attr(buf);
}

/* A number attribute of @dir in @base up to @max, or 0 when absent or not one. */
static unsigned long
number_attr(const char *dir, const char *name, int base, unsigned long max)
{
	_cleanup_free_ char *v = read_attr(dir, name);

	return kf_attr_number(v, base, max);
}

/* The first network interface of USB device @name in its dir @usbdir ("1-1.4:1.0/net/can0"). */
static char *
usb_net_interface(const char *usbdir, const char *name)
{
	DIR *dir = opendir(usbdir);
	struct dirent *e;
	char *found = NULL;
	size_t len = strlen(name);

	while (dir && !found && (e = readdir(dir))) {
		_cleanup_free_ char *net = NULL;
		DIR *nd;
		struct dirent *ne;

		if (strncmp(e->d_name, name, len) != 0 || e->d_name[len] != ':')
			continue;
		net = kf_strdup_printf("%s/%s/net", usbdir, e->d_name);
		nd = net ? opendir(net) : NULL;
		while (nd && !found && (ne = readdir(nd)))
			if (ne->d_name[0] != '.')
				found = kf_clean_attr(ne->d_name);
		if (nd)
			closedir(nd);
	}
	if (dir)
		closedir(dir);
	return found;
}

/*
 * What sysfs says of the USB device @name ("1-1.4") of @devices: matched
 * to the usbfs node it names (busnum, devnum) when that node is one of the
 * list's and has the same ids.
 */
static int
describe_usb(struct kf_device_list *list,
	     const char *dev_dir,
	     const char *devices,
	     const char *name)
{
	_cleanup_free_ char *dir = join(devices, name);
	_cleanup_free_ char *node = NULL;
	const char *dash = strchr(name, '-');
	struct kflash_device *dev = NULL;
	unsigned long bus, devnum;

	if (!dir)
		return -ENOMEM;
	/* Devices only: "usb1" is a root hub, "1-1.4:1.0" an interface. */
	if (!dash || strchr(name, ':') || strspn(dash + 1, "0123456789.") != strlen(dash + 1))
		return 0;
	bus = number_attr(dir, "busnum", 10, 999);
	devnum = number_attr(dir, "devnum", 10, 999);
	if (!bus || !devnum)
		return 0;
	node = kf_strdup_printf("%s/bus/usb/%03lu/%03lu", dev_dir, bus, devnum);
	if (!node)
		return -ENOMEM;
	for (size_t i = 0; !dev && i < list->count; i++)
		if (kf_streq(list->items[i]->devnode, node))
			dev = list->items[i];
	if (!dev || dev->vid != number_attr(dir, "idVendor", 16, 0xffff) ||
	    dev->pid != number_attr(dir, "idProduct", 16, 0xffff))
		return 0;
	if (!dev->serial)
		dev->serial = read_attr(dir, "serial");
	if (!dev->manufacturer)
		dev->manufacturer = read_attr(dir, "manufacturer");
	if (!dev->product)
		dev->product = read_attr(dir, "product");
	if (!dev->usb_port && dash[1] && strlen(dash + 1) <= 32)
		dev->usb_port = strdup(dash + 1);
	if (!dev->net_interface)
		dev->net_interface = usb_net_interface(dir, name);
	return 0;
}

static int
describe_from_sysfs(struct kflash_context *ctx, struct kf_device_list *list)
{
	_cleanup_free_ char *devices = join(kflash_context_get_sys_dir(ctx), "bus/usb/devices");
	struct dirent **names;
	int n, r = 0;

	if (!devices)
		return -ENOMEM;
	n = scandir(devices, &names, not_hidden, compare_names);
	if (n < 0)
		return 0; /* no sysfs to ask: the descriptors are all there is */
	for (int i = 0; i < n; i++) {
		if (r == 0)
			r = describe_usb(list, kflash_context_get_dev_dir(ctx), devices,
					 names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return r;
}

int
kf_discovery_scan_path(struct kflash_context *ctx, struct kf_device_list *list)
{
	const char *dev_dir = kflash_context_get_dev_dir(ctx);
	_cleanup_free_ char *by_id = join(dev_dir, "serial/by-id");
	_cleanup_free_ char *by_path = join(dev_dir, "serial/by-path");
	_cleanup_free_ char *usb = join(dev_dir, "bus/usb");
	int r;

	if (!by_id || !by_path || !usb)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = each_entry(by_id, add_by_id, list);
	if (r == 0)
		r = each_entry(by_path, add_by_path, list);
	if (r == 0)
		r = each_entry(dev_dir, add_top_tty, list);
	if (r == 0)
		r = each_entry(usb, add_usb_bus, list);
	if (r == 0)
		r = describe_from_sysfs(ctx, list);
	if (r < 0)
		return kf_error_sys(ctx, -r, "cannot read the devices under %s", dev_dir);
	for (size_t i = 0; i < list->count; i++)
		kf_device_classify(list->items[i], list->items[i]->realnode != NULL);
	return 0;
}
