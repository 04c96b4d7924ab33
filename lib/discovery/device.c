/* SPDX-License-Identifier: MIT */
/* A found device: what it is, from its USB identity and its by-id name. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "discovery-private.h"
#include "internal/byid.h"

static const char *const mode_names[] = {
	[KFLASH_MODE_UNKNOWN] = "unknown",
	[KFLASH_MODE_KLIPPER] = "klipper",
	[KFLASH_MODE_KATAPULT] = "katapult",
	[KFLASH_MODE_DFU] = "dfu",
	[KFLASH_MODE_RP2_BOOT] = "rp2-boot",
	[KFLASH_MODE_CAN_BRIDGE] = "can-bridge",
	[KFLASH_MODE_SERIAL_ADAPTER] = "serial-adapter",
};

/* USB ids that tell the mode by themselves. */
static const struct {
	unsigned int vid, pid;
	enum kflash_device_mode mode;
	const char *mcu; /* what the id alone tells of the MCU */
	bool ttyless;
} usb_ids[] = {
	{ 0x1d50, 0x614e, KFLASH_MODE_KLIPPER, NULL, false },
	{ 0x1d50, 0x6177, KFLASH_MODE_KATAPULT, NULL, false },
	{ 0x1d50, 0x606f, KFLASH_MODE_CAN_BRIDGE, NULL, true },
	{ 0x0483, 0xdf11, KFLASH_MODE_DFU, NULL, true },
	{ 0x2e8a, 0x0003, KFLASH_MODE_RP2_BOOT, "rp2040", true },
	{ 0x2e8a, 0x000f, KFLASH_MODE_RP2_BOOT, "rp2350", true },
};

KFLASH_EXPORT const char *
kflash_device_mode_name(enum kflash_device_mode mode)
{
	if ((unsigned)mode >= KF_ARRAY_SIZE(mode_names))
		return "unknown";
	return mode_names[mode];
}

bool
kf_usb_id_is_ttyless(unsigned int vid, unsigned int pid)
{
	for (size_t i = 0; i < KF_ARRAY_SIZE(usb_ids); i++)
		if (usb_ids[i].vid == vid && usb_ids[i].pid == pid)
			return usb_ids[i].ttyless;
	return false;
}

char *
kf_clean_attr(const char *value)
{
	char *copy;

	if (!value || !*value)
		return NULL;
	copy = strndup(value, 256);
	for (char *c = copy; c && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return copy;
}

unsigned long
kf_attr_number(const char *value, int base, unsigned long max)
{
	char *end;
	unsigned long n;

	if (!value)
		return 0;
	errno = 0;
	n = strtoul(value, &end, base);
	return errno || end == value || (*end && strcmp(end, "\n") != 0) || n > max ? 0 : n;
}

struct kflash_device *
kf_device_new(void)
{
	struct kflash_device *dev = calloc(1, sizeof(*dev));

	if (dev)
		dev->refcount = 1;
	return dev;
}

int
kf_device_list_add(struct kf_device_list *list, struct kflash_device *dev)
{
	struct kflash_device **grown;

	grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
	if (!grown) {
		kflash_device_unref(dev);
		return -ENOMEM;
	}
	list->items = grown;
	list->items[list->count++] = dev;
	return 0;
}

/* An MCU name as Klipper writes it: letters, digits, '_' and '-', at most 64. */
static bool
looks_like_mcu(const char *s)
{
	size_t n = 0;
	bool alnum = false;

	for (; s[n]; n++) {
		if (isalnum((unsigned char)s[n]))
			alnum = true;
		else if (s[n] != '_' && s[n] != '-')
			return false;
	}
	return alnum && n <= 64;
}

void
kf_device_classify(struct kflash_device *dev, bool has_tty)
{
	struct kf_byid id = { 0 };
	const char *base = dev->by_id ? strrchr(dev->by_id, '/') : NULL;
	bool parsed = base && kf_byid_parse(base + 1, &id) == 0;

	dev->mode = KFLASH_MODE_UNKNOWN;
	for (size_t i = 0; i < KF_ARRAY_SIZE(usb_ids); i++) {
		if (usb_ids[i].vid != dev->vid || usb_ids[i].pid != dev->pid)
			continue;
		dev->mode = usb_ids[i].mode;
		if (!dev->mcu && usb_ids[i].mcu)
			dev->mcu = strdup(usb_ids[i].mcu);
	}
	if (parsed && id.kind == KF_BYID_KLIPPER)
		dev->mode = KFLASH_MODE_KLIPPER;
	else if (parsed && id.kind == KF_BYID_KATAPULT)
		dev->mode = KFLASH_MODE_KATAPULT;
	else if (dev->mode == KFLASH_MODE_UNKNOWN && has_tty && (parsed || dev->vid))
		dev->mode = KFLASH_MODE_SERIAL_ADAPTER;

	if (parsed && id.kind != KF_BYID_OTHER && !dev->mcu && id.product &&
	    looks_like_mcu(id.product))
		dev->mcu = strdup(id.product);
	/* Klipper and Katapult put the MCU in the USB product string. */
	if (!dev->mcu && dev->product &&
	    (dev->mode == KFLASH_MODE_KLIPPER || dev->mode == KFLASH_MODE_KATAPULT ||
	     dev->mode == KFLASH_MODE_CAN_BRIDGE) &&
	    looks_like_mcu(dev->product))
		dev->mcu = strdup(dev->product);
	if (!dev->serial && parsed && id.serial)
		dev->serial = strdup(id.serial);
	/* A bridge is a CAN node of its own bus: its UUID follows from its chip id. */
	dev->can_uuid[0] = '\0';
	if (dev->mode == KFLASH_MODE_CAN_BRIDGE && dev->serial &&
	    kflash_can_uuid_from_serial(dev->serial, dev->can_uuid) < 0)
		dev->can_uuid[0] = '\0';
	kf_byid_clear(&id);
}

char *
kf_usb_port_from_by_path(const char *name)
{
	const char *p = strstr(name, "-usb-");
	const char *colon, *end;

	/* "-usb-<bus index>:<port path>:<config>.<interface>" */
	if (!p || !(colon = strchr(p + 5, ':')) || !(end = strchr(colon + 1, ':')) ||
	    end == colon + 1 || end - colon > 32)
		return NULL;
	for (const char *c = colon + 1; c < end; c++)
		if (!isdigit((unsigned char)*c) && *c != '.')
			return NULL;
	return strndup(colon + 1, (size_t)(end - colon - 1));
}

KFLASH_EXPORT struct kflash_device *
kflash_device_ref(struct kflash_device *device)
{
	if (device)
		device->refcount++;
	return device;
}

KFLASH_EXPORT struct kflash_device *
kflash_device_unref(struct kflash_device *device)
{
	if (!device || --device->refcount > 0)
		return NULL;
	free(device->devnode);
	free(device->realnode);
	free(device->by_id);
	free(device->by_path);
	free(device->mcu);
	free(device->serial);
	free(device->usb_port);
	free(device->product);
	free(device->manufacturer);
	free(device->net_interface);
	free(device);
	return NULL;
}

KFLASH_EXPORT enum kflash_device_mode
kflash_device_get_mode(const struct kflash_device *device)
{
	return device ? device->mode : KFLASH_MODE_UNKNOWN;
}

KFLASH_EXPORT const char *
kflash_device_get_path(const struct kflash_device *device)
{
	if (!device)
		return NULL;
	return device->by_id ? device->by_id : device->devnode;
}

#define DEVICE_STRING_GETTER(field)                                                                \
	KFLASH_EXPORT const char *kflash_device_get_##field(const struct kflash_device *device)    \
	{                                                                                          \
		return device ? device->field : NULL;                                              \
	}

DEVICE_STRING_GETTER(devnode)
DEVICE_STRING_GETTER(by_id)
DEVICE_STRING_GETTER(by_path)
DEVICE_STRING_GETTER(mcu)
DEVICE_STRING_GETTER(usb_port)
DEVICE_STRING_GETTER(product)
DEVICE_STRING_GETTER(manufacturer)
DEVICE_STRING_GETTER(net_interface)

KFLASH_EXPORT const char *
kflash_device_get_serial_number(const struct kflash_device *device)
{
	return device ? device->serial : NULL;
}

KFLASH_EXPORT const char *
kflash_device_get_can_uuid(const struct kflash_device *device)
{
	return device && device->can_uuid[0] ? device->can_uuid : NULL;
}

KFLASH_EXPORT unsigned int
kflash_device_get_vid(const struct kflash_device *device)
{
	return device ? device->vid : 0;
}

KFLASH_EXPORT unsigned int
kflash_device_get_pid(const struct kflash_device *device)
{
	return device ? device->pid : 0;
}
