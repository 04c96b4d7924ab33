/* SPDX-License-Identifier: MIT */
/*
 * Discovery's insides: the device record both backends fill in, and the
 * backends themselves (udev.c, path.c).
 */
#pragma once

#include <kflash/discovery.h>

#include "libkflash-private.h"

struct kflash_device {
	int refcount;
	enum kflash_device_mode mode;
	char *devnode;  /* the tty, or the usbfs node of a device without one */
	char *realnode; /* devnode with links resolved (the path backend), or NULL */
	char *by_id;
	char *by_path;
	char *mcu;
	char *serial;
	char *usb_port;
	char *product;
	char *manufacturer;
	char *net_interface;
	char can_uuid[13]; /* a bridge's, from its serial number; "" when none */
	unsigned int vid, pid;
};

/* A list the backends append to. */
struct kf_device_list {
	struct kflash_device **items;
	size_t count;
};

struct kflash_device *
kf_device_new(void);

/* Append @dev (the list takes the reference). */
int
kf_device_list_add(struct kf_device_list *list, struct kflash_device *dev);

/*
 * Fill in the mode and, where they are missing, the MCU and serial number,
 * from the vid/pid and the by-id name; a bridge's CAN UUID from its serial
 * number. @has_tty tells a tty from a usbfs node.
 */
void
kf_device_classify(struct kflash_device *dev, bool has_tty);

/* The USB port ("1.2") in a by-path name ("...-usb-0:1.2:1.0"), or NULL. */
char *
kf_usb_port_from_by_path(const char *name);

/* A sysfs attribute or udev property: at most 256 bytes, control bytes as '?'; NULL for none. */
char *
kf_clean_attr(const char *value);

/* A number attribute in @base up to @max (a newline may end it); 0 when absent or not one. */
unsigned long
kf_attr_number(const char *value, int base, unsigned long max);

/* The USB modes that have no tty, and so are found by vid:pid alone. */
bool
kf_usb_id_is_ttyless(unsigned int vid, unsigned int pid);

int
kf_discovery_scan_udev(struct kflash_context *ctx, struct kf_device_list *list);

int
kf_discovery_scan_path(struct kflash_context *ctx, struct kf_device_list *list);
