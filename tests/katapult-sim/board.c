/* SPDX-License-Identifier: MIT */
/*
 * What the simulated board publishes in the device directory: a pty and
 * its links (serial/by-id, serial/by-path, or the UART link), and a usbfs
 * node holding the USB device descriptor of each USB enumeration.
 *
 * The simulator holds only the pty master. It never opens the slave: a
 * host refuses a port that another process holds open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "sim.h"

/* The USB identity of each enumeration (bcdUSB, class, EP0 size, ids). */
struct usb_identity {
	uint16_t bcd_usb;
	uint8_t device_class;
	uint8_t max_packet0;
	uint16_t vid, pid;
	uint16_t bcd_device;
};

static const struct usb_identity id_klipper = { 0x0200, 0x02, 16, 0x1d50, 0x614e, 0x0100 };
static const struct usb_identity id_katapult = { 0x0200, 0x02, 16, 0x1d50, 0x6177, 0x0100 };
static const struct usb_identity id_dfu = { 0x0200, 0x00, 64, 0x0483, 0xdf11, 0x2200 };
static const struct usb_identity id_bootsel = { 0x0110, 0x00, 64, 0x2e8a, 0x0003, 0x0100 };

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

static int
write_ready_file(struct sim *s, const char *path)
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

/* The board appears in the given state: a UART board switches in place. */
int
board_enumerate(struct sim *s, enum board_state as)
{
	const struct usb_identity *id = NULL;
	const char *name = NULL;
	int r;

	s->enumerate_at = 0;
	if (s->opt.mode == SIM_MODE_UART) {
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
		return write_ready_file(s, s->link_path);
	}

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
	return write_ready_file(s, s->link_path);
}

/* The board disconnects: every link and node goes, and the pty closes. */
void
board_remove(struct sim *s)
{
	unpublish_link(s, &s->link_path, s->slave);
	unpublish_link(s, &s->bypath, s->slave);
	remove_usbfs(s);
	if (s->master >= 0) {
		close(s->master);
		s->master = -1;
	}
	s->slave[0] = '\0';
	sim_discard_output(s);
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

static bool
has_fault(struct sim *s, enum fault_kind kind)
{
	for (unsigned i = 0; i < s->opt.nfaults; i++)
		if (s->opt.faults[i].kind == kind)
			return true;
	return false;
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
	if (has_fault(s, FAULT_DFU))
		board_schedule(s, BOARD_DFU, false);
	else if (has_fault(s, FAULT_BOOTSEL))
		board_schedule(s, BOARD_BOOTSEL, false);
	else
		board_schedule(s, BOARD_KATAPULT, false);
	return 1;
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
