/* SPDX-License-Identifier: MIT */
/* A scan's devices, and which of them is a registered board. */
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "discovery-private.h"

struct kflash_discovery {
	int refcount;
	struct kflash_context *ctx;
	bool udev;
	struct kflash_device **devices;
	size_t count;
};

static int
compare_devices(const void *a, const void *b)
{
	return strcmp(kflash_device_get_path(*(struct kflash_device *const *)a),
		      kflash_device_get_path(*(struct kflash_device *const *)b));
}

static bool
uses_udev(struct kflash_context *ctx)
{
	return strcmp(kflash_context_get_dev_dir(ctx), "/dev") == 0;
}

KFLASH_EXPORT int
kflash_discovery_scan(struct kflash_context *ctx, struct kflash_discovery **ret)
{
	struct kf_device_list list = { 0 };
	struct kflash_discovery *d;
	bool udev = uses_udev(ctx);
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the devices");
	*ret = NULL;
	r = udev ? kf_discovery_scan_udev(ctx, &list) : kf_discovery_scan_path(ctx, &list);
	if (r == 0 && !(d = calloc(1, sizeof(*d))))
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r < 0) {
		for (size_t i = 0; i < list.count; i++)
			kflash_device_unref(list.items[i]);
		free(list.items);
		return r;
	}
	if (list.count > 1)
		qsort(list.items, list.count, sizeof(*list.items), compare_devices);
	d->refcount = 1;
	d->ctx = kflash_context_ref(ctx);
	d->udev = udev;
	d->devices = list.items;
	d->count = list.count;
	for (size_t i = 0; i < d->count; i++)
		kf_debug(ctx, "found %s device %s (%04x:%04x, serial %s)",
			 kflash_device_mode_name(d->devices[i]->mode),
			 kflash_device_get_path(d->devices[i]), d->devices[i]->vid,
			 d->devices[i]->pid,
			 d->devices[i]->serial ? d->devices[i]->serial : "none");
	*ret = d;
	return 0;
}

KFLASH_EXPORT struct kflash_discovery *
kflash_discovery_ref(struct kflash_discovery *discovery)
{
	if (discovery)
		discovery->refcount++;
	return discovery;
}

KFLASH_EXPORT struct kflash_discovery *
kflash_discovery_unref(struct kflash_discovery *discovery)
{
	if (!discovery || --discovery->refcount > 0)
		return NULL;
	for (size_t i = 0; i < discovery->count; i++)
		kflash_device_unref(discovery->devices[i]);
	free(discovery->devices);
	kflash_context_unref(discovery->ctx);
	free(discovery);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_discovery_get_device_count(const struct kflash_discovery *discovery)
{
	return discovery ? discovery->count : 0;
}

KFLASH_EXPORT struct kflash_device *
kflash_discovery_get_device(const struct kflash_discovery *discovery, size_t index)
{
	if (!discovery || index >= discovery->count)
		return NULL;
	return discovery->devices[index];
}

/* Where the scan looked, for messages. */
static char *
where(const struct kflash_discovery *d)
{
	if (d->udev)
		return kf_strdup("the USB and serial devices udev knows");
	return kf_strdup_printf("%s (serial/by-id, serial/by-path, its ttys and bus/usb)",
				kflash_context_get_dev_dir(d->ctx));
}

static int
find_by_serial(struct kflash_discovery *d,
	       const char *name,
	       const char *serial,
	       struct kflash_device **ret)
{
	struct kflash_device *found = NULL;

	for (size_t i = 0; i < d->count; i++) {
		struct kflash_device *dev = d->devices[i];

		if (!dev->serial || strcasecmp(dev->serial, serial) != 0)
			continue;
		if (found)
			return kf_error(d->ctx, KFLASH_ERR_AMBIGUOUS,
					"board %s: two devices have USB serial number %s: %s (%s) "
					"and %s (%s); unplug the one that is not this board",
					name, serial, kflash_device_get_path(found),
					kflash_device_mode_name(found->mode),
					kflash_device_get_path(dev),
					kflash_device_mode_name(dev->mode));
		found = dev;
	}
	if (!found) {
		_cleanup_free_ char *w = where(d);

		return kf_error(d->ctx, KFLASH_ERR_NOT_FOUND,
				"board %s is not connected: no device with USB serial number %s "
				"in %s; check its cable and power",
				name, serial, w ? w : "the device dir");
	}
	*ret = kflash_device_ref(found);
	return 0;
}

static bool
same_path(const struct kflash_device *dev, const char *path, const char *real)
{
	if (kf_streq(dev->devnode, path) || kf_streq(dev->by_id, path) ||
	    kf_streq(dev->by_path, path))
		return true;
	return real && (kf_streq(dev->realnode, real) || kf_streq(dev->devnode, real));
}

/* Why @path is not a present tty, for messages. */
static const char *
absent_reason(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return "does not exist";
	if (S_ISLNK(st.st_mode) && stat(path, &st) < 0)
		return "is a link to nothing: the board is unplugged, or in another mode";
	return "is not a serial device";
}

static int
find_by_path(struct kflash_discovery *d,
	     const char *name,
	     const char *path,
	     struct kflash_device **ret)
{
	char real[PATH_MAX];
	struct kflash_device *dev;
	struct stat st;

	for (size_t i = 0; i < d->count; i++) {
		if (same_path(d->devices[i], path, NULL)) {
			*ret = kflash_device_ref(d->devices[i]);
			return 0;
		}
	}
	/* Present: the path resolves to a character device. */
	if (!realpath(path, real) || stat(real, &st) < 0 || !S_ISCHR(st.st_mode))
		return kf_error(d->ctx, KFLASH_ERR_NOT_FOUND,
				"board %s is not connected: its serial path %s %s", name, path,
				absent_reason(path));
	for (size_t i = 0; i < d->count; i++) {
		if (same_path(d->devices[i], path, real)) {
			*ret = kflash_device_ref(d->devices[i]);
			return 0;
		}
	}
	/* A tty the scan does not list (a UART under /dev): a device of its own. */
	dev = kf_device_new();
	if (!dev || !(dev->devnode = strdup(real)) || !(dev->realnode = strdup(real))) {
		kflash_device_unref(dev);
		return kf_error(d->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	*ret = dev;
	return 0;
}

/*
 * The USB-to-CAN bridge that is the CAN node @uuid: registered by its UUID
 * alone (as printer.cfg names it), it is still the USB device whose serial
 * number gives that UUID, as a bridge or in Katapult. A new reference, or
 * NULL.
 */
static struct kflash_device *
find_bridge(struct kflash_discovery *d, const char *uuid)
{
	for (size_t i = 0; uuid && i < d->count; i++) {
		struct kflash_device *dev = d->devices[i];
		char derived[13];

		if (dev->mode == KFLASH_MODE_CAN_BRIDGE && dev->can_uuid[0] &&
		    strcasecmp(dev->can_uuid, uuid) == 0)
			return kflash_device_ref(dev);
		if (dev->mode == KFLASH_MODE_KATAPULT && dev->serial &&
		    kflash_can_uuid_from_serial(dev->serial, derived) == 0 &&
		    strcasecmp(derived, uuid) == 0)
			return kflash_device_ref(dev);
	}
	return NULL;
}

KFLASH_EXPORT int
kflash_discovery_find_board(struct kflash_discovery *discovery,
			    const struct kflash_board *board,
			    struct kflash_device **ret)
{
	const char *name, *serial, *path;

	if (!discovery || !board || !ret)
		return KFLASH_ERR_INVALID;
	*ret = NULL;
	name = kflash_board_get_name(board);
	serial = kflash_board_get_usb_serial(board);
	path = kflash_board_get_serial_path(board);
	if (serial)
		return find_by_serial(discovery, name, serial, ret);
	if (path)
		return find_by_path(discovery, name, path, ret);
	if (kflash_board_get_link(board) == KFLASH_LINK_CAN &&
	    (*ret = find_bridge(discovery, kflash_board_get_can_uuid(board))))
		return 0;
	if (kflash_board_get_link(board) == KFLASH_LINK_CAN)
		return kf_error(discovery->ctx, KFLASH_ERR_NOT_SUPPORTED,
				"board %s is a CAN node: it is found on its bus, not among the "
				"devices",
				name);
	return kf_error_hint(discovery->ctx, KFLASH_ERR_INVALID, KFLASH_HINT_EDIT_BOARD, name,
			     "board %s has neither a USB serial number nor a serial path, so it "
			     "cannot be found; set its serial path",
			     name);
}

KFLASH_EXPORT struct kflash_board *
kflash_discovery_find_device_board(struct kflash_discovery *discovery,
				   const struct kflash_registry *registry,
				   const struct kflash_device *device)
{
	for (size_t i = 0; device && i < kflash_registry_get_board_count(registry); i++) {
		struct kflash_board *b = kflash_registry_get_board(registry, i);
		struct kflash_device *found = NULL;
		bool same;

		/* Quietly: a board that is not plugged in is no error here. */
		if (kflash_discovery_find_board(discovery, b, &found) < 0)
			continue;
		same = found == device ||
		       kf_streq(kflash_device_get_path(found), kflash_device_get_path(device));
		kflash_device_unref(found);
		if (same)
			return b;
	}
	return NULL;
}

KFLASH_EXPORT int
kflash_discovery_locate(struct kflash_context *ctx,
			const struct kflash_board *board,
			struct kflash_device **ret)
{
	struct kflash_discovery *d;
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the device");
	*ret = NULL;
	r = kflash_discovery_scan(ctx, &d);
	if (r < 0)
		return r;
	r = kflash_discovery_find_board(d, board, ret);
	kflash_discovery_unref(d);
	return r;
}
