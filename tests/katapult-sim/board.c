/* SPDX-License-Identifier: MIT */
/*
 * What the simulated board publishes in the device directory: a pty and
 * its links (serial/by-id, serial/by-path, or the UART link), and a usbfs
 * node holding the USB device descriptor of each USB enumeration; with
 * --sys-dir, the USB device as sysfs shows it. A CAN node publishes
 * nothing but its state; a bridge publishes its bus socket (bus.c) and a
 * CAN network interface in sysfs.
 *
 * The simulator holds only the pty master. It never opens the slave: a
 * host refuses a port that another process holds open.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "sim.h"

/*
 * The USB identity of each enumeration (bcdUSB, class, EP0 size, ids, and
 * the strings sysfs shows; NULL product: the MCU name).
 */
struct usb_identity {
	uint16_t bcd_usb;
	uint8_t device_class;
	uint8_t max_packet0;
	uint16_t vid, pid;
	uint16_t bcd_device;
	const char *manufacturer;
	const char *product;
};

static const struct usb_identity id_klipper = {
	.bcd_usb = 0x0200,
	.device_class = 0x02,
	.max_packet0 = 16,
	.vid = 0x1d50,
	.pid = 0x614e,
	.bcd_device = 0x0100,
	.manufacturer = "Klipper",
};
static const struct usb_identity id_katapult = {
	.bcd_usb = 0x0200,
	.device_class = 0x02,
	.max_packet0 = 16,
	.vid = 0x1d50,
	.pid = 0x6177,
	.bcd_device = 0x0100,
	.manufacturer = "katapult",
};
/* Klipper's gs_usb device (USB-to-CAN bridge): no class, bcdDevice 0 */
static const struct usb_identity id_bridge = {
	.bcd_usb = 0x0200,
	.device_class = 0x00,
	.max_packet0 = 16,
	.vid = 0x1d50,
	.pid = 0x606f,
	.bcd_device = 0x0000,
	.manufacturer = "Klipper",
};
static const struct usb_identity id_dfu = {
	.bcd_usb = 0x0200,
	.device_class = 0x00,
	.max_packet0 = 64,
	.vid = 0x0483,
	.pid = 0xdf11,
	.bcd_device = 0x2200,
	.manufacturer = "STMicroelectronics",
	.product = "STM32  BOOTLOADER",
};
static const struct usb_identity id_bootsel = {
	.bcd_usb = 0x0110,
	.device_class = 0x00,
	.max_packet0 = 64,
	.vid = 0x2e8a,
	.pid = 0x0003,
	.bcd_device = 0x0100,
	.manufacturer = "Raspberry Pi",
	.product = "RP2 Boot",
};

const char *
board_state_name(enum board_state state)
{
	switch (state) {
	case BOARD_KLIPPER:
		return "klipper";
	case BOARD_KATAPULT:
		return "katapult";
	case BOARD_DFU:
		return "dfu";
	case BOARD_BOOTSEL:
		return "bootsel";
	case BOARD_ABSENT:
		break;
	}
	return "absent";
}

static char *
path_printf(const char *fmt, ...) SIM_PRINTF(1, 2);

static char *
path_printf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		sim_oom();
	return p;
}

/* Point @path at @target, replacing whatever is there in one step. */
static int
publish_link(const char *target, const char *path)
{
	char tmp[PATH_MAX];
	int r;

	r = sim_mkdir_parent(path);
	if (r < 0)
		return r;
	if (snprintf(tmp, sizeof(tmp), "%s.sim-%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}

/* Remove a link of ours; leave it alone if someone else replaced it. */
static void
unpublish_link(struct sim *s, char **path, const char *target)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (!*path)
		return;
	n = readlink(*path, buf, sizeof(buf) - 1);
	if (n >= 0) {
		buf[n] = '\0';
		if (strcmp(buf, target) == 0)
			unlink(*path);
	}
	sim_log(s, "remove %s", *path);
	free(*path);
	*path = NULL;
}

static int
open_pty(struct sim *s)
{
	int fd;

	fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, s->slave, sizeof(s->slave))) {
		int r = -errno;

		close(fd);
		return r;
	}
	s->master = fd;
	s->slave_closed = false;
	return 0;
}

/* A usbfs node: a regular file holding the 18-byte device descriptor. */
static int
publish_usbfs(struct sim *s, const struct usb_identity *id)
{
	uint8_t d[18] = {
		18,
		1, /* DEVICE */
		(uint8_t)(id->bcd_usb & 0xff),
		(uint8_t)(id->bcd_usb >> 8),
		id->device_class,
		0,
		0,
		id->max_packet0,
		(uint8_t)(id->vid & 0xff),
		(uint8_t)(id->vid >> 8),
		(uint8_t)(id->pid & 0xff),
		(uint8_t)(id->pid >> 8),
		(uint8_t)(id->bcd_device & 0xff),
		(uint8_t)(id->bcd_device >> 8),
		1, /* iManufacturer */
		2, /* iProduct */
		3, /* iSerialNumber */
		1, /* bNumConfigurations */
	};
	char *dir = path_printf("%s/bus/usb/001", s->opt.dev_dir);
	char *tmp = path_printf("%s/.sim-%d", dir, (int)getpid());
	int fd, r = 0;

	r = sim_mkdir_parent(tmp);
	if (r < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (write(fd, d, sizeof(d)) != (ssize_t)sizeof(d)) {
		r = -EIO;
		close(fd);
		goto out_unlink;
	}
	close(fd);
	/* The next free device number, as a bus numbers its devices. */
	for (unsigned tries = 0; tries < 126; tries++) {
		unsigned devnum = s->next_devnum;
		char *path = path_printf("%s/%03u", dir, devnum);

		s->next_devnum = devnum >= 127 ? 2 : devnum + 1;
		if (link(tmp, path) == 0) {
			s->usbfs = path;
			s->devnum = devnum;
			r = 0;
			goto out_unlink;
		}
		r = -errno;
		free(path);
		if (r != -EEXIST)
			goto out_unlink;
	}
	r = -ENOSPC;
out_unlink:
	unlink(tmp);
out:
	free(tmp);
	free(dir);
	return r;
}

static void
remove_usbfs(struct sim *s)
{
	if (!s->usbfs)
		return;
	unlink(s->usbfs);
	sim_log(s, "remove %s", s->usbfs);
	free(s->usbfs);
	s->usbfs = NULL;
}

/* The ready file names @path, once: the first thing that appeared. */
int
board_write_ready(struct sim *s, const char *path)
{
	char *content;
	int r;

	if (s->ready_written || !s->opt.ready_file)
		return 0;
	content = path_printf("%s\n", path);
	r = sim_write_file_atomic(s->opt.ready_file, content, strlen(content));
	free(content);
	if (r < 0) {
		fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s->opt.ready_file,
			strerror(-r));
		return r;
	}
	s->ready_written = true;
	return 0;
}

static int
fail(const char *what, const char *path, int r)
{
	fprintf(stderr, "kflash-sim: cannot %s %s: %s\n", what, path, strerror(-r));
	return r;
}

/* ---- sysfs (--sys-dir) ---- */

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
write_text(const char *dir, const char *name, const char *fmt, ...) SIM_PRINTF(3, 4);

/* One sysfs attribute: its text and a newline. */
static int
write_text(const char *dir, const char *name, const char *fmt, ...)
{
	char *path = path_printf("%s/%s", dir, name), *text;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		sim_oom();
	r = sim_write_file_atomic(path, text, strlen(text));
	free(text);
	free(path);
	return r;
}

static int
mkdir_p(const char *dir)
{
	char *probe = path_printf("%s/x", dir);
	int r = sim_mkdir_parent(probe);

	free(probe);
	return r;
}

/*
 * The USB device as sysfs shows it: SYS/bus/usb/devices/1-<port> with its
 * attributes, and for a bridge the CAN interface under its first
 * interface plus the class/net link to it. The directory is filled under
 * a temporary name and renamed into place, so a host never sees half of
 * it.
 */
static int
publish_sysfs(struct sim *s, const struct usb_identity *id, bool net)
{
	const char *sys = s->opt.sys_dir, *port = s->opt.usb_port;
	char *tmp = path_printf("%s/.sim-%d", sys, (int)getpid());
	char *dev = path_printf("%s/bus/usb/devices/1-%s", sys, port);
	int r;

	rm_tree(tmp);
	r = mkdir_p(tmp);
	if (r == 0)
		r = write_text(tmp, "idVendor", "%04x\n", id->vid);
	if (r == 0)
		r = write_text(tmp, "idProduct", "%04x\n", id->pid);
	if (r == 0)
		r = write_text(tmp, "bcdDevice", "%04x\n", id->bcd_device);
	if (r == 0)
		r = write_text(tmp, "bDeviceClass", "%02x\n", id->device_class);
	if (r == 0)
		r = write_text(tmp, "manufacturer", "%s\n", id->manufacturer);
	if (r == 0)
		r = write_text(tmp, "product", "%s\n", id->product ? id->product : s->opt.mcu);
	if (r == 0)
		r = write_text(tmp, "serial", "%s\n", s->opt.serial);
	if (r == 0)
		r = write_text(tmp, "busnum", "1\n");
	if (r == 0)
		r = write_text(tmp, "devnum", "%u\n", s->devnum);
	if (r == 0 && net) {
		char *netdir = path_printf("%s/1-%s:1.0/net/%s", tmp, port, s->opt.can_interface);

		r = mkdir_p(netdir);
		free(netdir);
	}
	if (r == 0)
		r = sim_mkdir_parent(dev);
	if (r == 0) {
		rm_tree(dev); /* a stale one of a simulator that was killed */
		if (rename(tmp, dev) < 0)
			r = -errno;
	}
	if (r < 0) {
		rm_tree(tmp);
		free(tmp);
		free(dev);
		return fail("publish the sysfs device in", sys, r);
	}
	free(tmp);
	s->sysfs_dev = dev;
	if (net) {
		char *link = path_printf("%s/class/net/%s", sys, s->opt.can_interface);
		char *target = path_printf("../../bus/usb/devices/1-%s/1-%s:1.0/net/%s", port, port,
					   s->opt.can_interface);

		r = publish_link(target, link);
		free(target);
		if (r < 0) {
			fail("create the link", link, r);
			free(link);
			return r;
		}
		s->sysfs_net = link;
	}
	return 0;
}

static void
remove_sysfs(struct sim *s)
{
	if (s->sysfs_net) {
		unlink(s->sysfs_net);
		sim_log(s, "remove %s", s->sysfs_net);
		free(s->sysfs_net);
		s->sysfs_net = NULL;
	}
	if (s->sysfs_dev) {
		/* out of sight in one step, then away */
		char *tmp = path_printf("%s/.sim-%d", s->opt.sys_dir, (int)getpid());

		rm_tree(tmp);
		if (rename(s->sysfs_dev, tmp) == 0)
			rm_tree(tmp);
		else
			rm_tree(s->sysfs_dev);
		free(tmp);
		sim_log(s, "remove %s", s->sysfs_dev);
		free(s->sysfs_dev);
		s->sysfs_dev = NULL;
	}
}

/* ---- enumeration ---- */

/* A UART board switches in place, on the same pty and link. */
static int
enumerate_uart(struct sim *s, enum board_state as)
{
	int r;

	if (s->master < 0) {
		r = open_pty(s);
		if (r < 0)
			return fail("open", "/dev/ptmx", r);
		s->link_path = path_printf("%s/%s", s->opt.dev_dir, s->opt.uart_link);
		r = publish_link(s->slave, s->link_path);
		if (r < 0)
			return fail("create the link", s->link_path, r);
	}
	s->state = as;
	sim_log(s, "enumerate %s %s", board_state_name(as), s->link_path);
	if (as == BOARD_KATAPULT)
		katapult_reset(s);
	return board_write_ready(s, s->link_path);
}

/* A CAN node boots: nothing appears but the node on its bus. */
static int
enumerate_can(struct sim *s, enum board_state as)
{
	s->state = as;
	if (as == BOARD_KATAPULT)
		katapult_reset(s);
	can_node_boot(s, as);
	return 0;
}

/* A bridge running Klipper: its USB device, its CAN interface and the bus. */
static int
enumerate_bridge(struct sim *s)
{
	int r;

	r = publish_usbfs(s, &id_bridge);
	if (r < 0)
		return fail("create a usbfs node in", s->opt.dev_dir, r);
	r = publish_sysfs(s, &id_bridge, true);
	if (r < 0)
		return r;
	r = bus_open(s);
	if (r < 0)
		return r;
	s->state = BOARD_KLIPPER;
	sim_log(s, "enumerate bridge %s", s->bus.path);
	can_node_boot(s, BOARD_KLIPPER);
	return board_write_ready(s, s->bus.path);
}

/* The board appears in the given state. */
int
board_enumerate(struct sim *s, enum board_state as)
{
	const struct usb_identity *id = NULL;
	const char *name = NULL;
	int r;

	s->enumerate_at = 0;
	if (s->opt.mode == SIM_MODE_UART)
		return enumerate_uart(s, as);
	if (s->opt.mode == SIM_MODE_CAN)
		return enumerate_can(s, as);
	if (s->opt.mode == SIM_MODE_BRIDGE && as == BOARD_KLIPPER)
		return enumerate_bridge(s);

	switch (as) {
	case BOARD_KLIPPER:
		id = &id_klipper;
		name = "Klipper";
		break;
	case BOARD_KATAPULT:
		id = &id_katapult;
		name = "katapult";
		break;
	case BOARD_DFU:
		id = &id_dfu;
		break;
	case BOARD_BOOTSEL:
		id = &id_bootsel;
		break;
	case BOARD_ABSENT:
		return -EINVAL;
	}

	r = publish_usbfs(s, id);
	if (r < 0)
		return fail("create a usbfs node in", s->opt.dev_dir, r);
	if (s->opt.sys_dir) {
		r = publish_sysfs(s, id, false);
		if (r < 0)
			return r;
	}
	s->state = as;
	if (as == BOARD_DFU || as == BOARD_BOOTSEL) {
		sim_log(s, "enumerate %s %s", board_state_name(as), s->usbfs);
		return 0;
	}

	r = open_pty(s);
	if (r < 0)
		return fail("open", "/dev/ptmx", r);
	s->link_path = path_printf("%s/serial/by-id/usb-%s_%s_%s-if00", s->opt.dev_dir, name,
				   s->opt.mcu, s->opt.serial);
	s->bypath = path_printf("%s/serial/by-path/platform-sim-usb-0:%s:1.0", s->opt.dev_dir,
				s->opt.usb_port);
	r = publish_link(s->slave, s->link_path);
	if (r < 0)
		return fail("create the link", s->link_path, r);
	r = publish_link(s->slave, s->bypath);
	if (r < 0)
		return fail("create the link", s->bypath, r);
	sim_log(s, "enumerate %s %s", board_state_name(as), s->link_path);
	if (as == BOARD_KATAPULT)
		katapult_reset(s);
	return board_write_ready(s, s->link_path);
}

/*
 * The board disconnects: every link, node and sysfs entry goes, the pty
 * closes, a bridge's bus goes with its clients, a CAN node forgets its
 * node id.
 */
void
board_remove(struct sim *s)
{
	if (s->opt.mode == SIM_MODE_BRIDGE)
		bus_close(s);
	unpublish_link(s, &s->link_path, s->slave);
	unpublish_link(s, &s->bypath, s->slave);
	remove_sysfs(s);
	remove_usbfs(s);
	if (s->master >= 0) {
		close(s->master);
		s->master = -1;
	}
	s->slave[0] = '\0';
	sim_discard_output(s);
	if (s->opt.mode == SIM_MODE_CAN || s->opt.mode == SIM_MODE_BRIDGE)
		can_node_reset(s);
	s->in_len = 0;
	s->state = BOARD_ABSENT;
}

void
board_schedule(struct sim *s, enum board_state as, bool is_boot)
{
	s->enumerate_at = sim_now() + (uint64_t)s->opt.reenumerate_ms * 1000000u;
	if (s->enumerate_at == 0)
		s->enumerate_at = 1;
	s->enumerate_as = as;
	s->enumerate_is_boot = is_boot;
}

bool
board_has_fault(const struct sim *s, enum fault_kind kind)
{
	for (unsigned i = 0; i < s->opt.nfaults; i++)
		if (s->opt.faults[i].kind == kind)
			return true;
	return false;
}

/* What the board comes back as when it leaves Klipper for its bootloader. */
static enum board_state
bootloader_state(const struct sim *s)
{
	if (board_has_fault(s, FAULT_DFU))
		return BOARD_DFU;
	if (board_has_fault(s, FAULT_BOOTSEL))
		return BOARD_BOOTSEL;
	return BOARD_KATAPULT;
}

/*
 * Klipper over USB reboots into its bootloader when the host sets the line
 * to 1200 baud. A pty master sees the slave's termios, so poll its speed:
 * the classic speed code and termios2's number (a host may set either).
 */
int
board_check_touch(struct sim *s)
{
	struct termios t;
	unsigned ospeed = 0;
	bool touched = false;

	if (s->master < 0 || s->state != BOARD_KLIPPER || s->opt.mode == SIM_MODE_UART)
		return 0;
	if (tcgetattr(s->master, &t) == 0 && cfgetospeed(&t) == B1200)
		touched = true;
	if (tty_get_ospeed(s->master, &ospeed) == 0 && ospeed == 1200)
		touched = true;
	if (!touched)
		return 0;

	sim_log(s, "touch 1200");
	board_remove(s);
	board_schedule(s, bootloader_state(s), false);
	return 1;
}

/*
 * Klipper's REQUEST_BOOTLOADER for this node over CAN: the board resets
 * into Katapult after --reenumerate-ms (a bridge: Katapult over USB, or a
 * ROM bootloader). A node without Katapult (no-katapult) never comes back.
 */
void
board_request_bootloader(struct sim *s)
{
	sim_log(s, "request-bootloader");
	if (s->opt.mode == SIM_MODE_CAN && board_has_fault(s, FAULT_NO_KATAPULT)) {
		sim_log(s, "fault no-katapult REQUEST_BOOTLOADER#%u", s->can.requests);
		board_hangup(s);
		return;
	}
	board_remove(s);
	board_schedule(s, s->opt.mode == SIM_MODE_BRIDGE ? bootloader_state(s) : BOARD_KATAPULT,
		       false);
}

/* The board resets mid-transfer and does not come back. */
void
board_hangup(struct sim *s)
{
	board_remove(s);
	s->enumerate_at = 0;
	s->complete_at = 0;
	sim_log(s, "hangup");
}
