/* SPDX-License-Identifier: MIT */
/* Getting a board from Klipper into Katapult, and waiting for it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "libkflash-private.h"
#include "transport.h"

/* Klipper reboots into its bootloader when it reads this on its UART. */
static const char uart_request[] = "~ \x1c Request Serial Bootloader!! ~";

KFLASH_EXPORT int
kflash_katapult_enter_usb(struct kflash_context *ctx, const char *path)
{
	struct termios tio;
	int dtr = TIOCM_DTR;
	int fd, r = 0;

	if (!path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no serial path to touch");
	/* A touch would reboot the board under whoever holds it: refuse, as a session does. */
	r = kf_tty_refuse_if_held(ctx, path);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return kf_error_sys(ctx, errno, "cannot open %s to reboot it into its bootloader",
				    path);
	kf_info(ctx, "asking the board on %s to enter its bootloader (1200-baud touch)", path);
	/* A pty refuses DTR (ENOTTY); a USB port takes it. Either is fine. */
	(void)ioctl(fd, TIOCMBIS, &dtr);
	if (tcgetattr(fd, &tio) == 0) {
		cfsetispeed(&tio, B1200);
		cfsetospeed(&tio, B1200);
		if (tcsetattr(fd, TCSANOW, &tio) < 0)
			r = kf_error_sys(ctx, errno, "cannot set %s to 1200 baud", path);
	}
	(void)ioctl(fd, TIOCMBIC, &dtr);
	close(fd);
	return r;
}

KFLASH_EXPORT int
kflash_katapult_enter_uart(struct kflash_context *ctx, const char *path, uint32_t baud)
{
	struct kf_transport *t;
	int r;

	r = kf_serial_open(ctx, path, baud, &t);
	if (r < 0)
		return r;
	kf_info(ctx, "asking the board on %s to enter Katapult (request string at %u baud)", path,
		baud);
	r = t->ops->write(t, uart_request, sizeof(uart_request) - 1);
	kf_transport_close(t);
	return r;
}

static bool
has_node(const struct kflash_discovery *d, const char *node)
{
	for (size_t i = 0; i < kflash_discovery_get_device_count(d); i++)
		if (kf_streq(kflash_device_get_devnode(kflash_discovery_get_device(d, i)), node))
			return true;
	return false;
}

const struct kflash_device *
kf_new_rom_bootloader(const struct kflash_discovery *now,
		      const struct kflash_discovery *before,
		      const char *usb_port)
{
	for (size_t i = 0; i < kflash_discovery_get_device_count(now); i++) {
		const struct kflash_device *dev = kflash_discovery_get_device(now, i);
		enum kflash_device_mode m = kflash_device_get_mode(dev);
		const char *port = kflash_device_get_usb_port(dev);

		if ((m != KFLASH_MODE_DFU && m != KFLASH_MODE_RP2_BOOT) ||
		    has_node(before, kflash_device_get_devnode(dev)))
			continue;
		/* Where both ports are known, another port is another board. */
		if (usb_port && port && strcmp(usb_port, port) != 0)
			continue;
		return dev;
	}
	return NULL;
}

const char *
kf_rom_bootloader_name(const struct kflash_device *rom)
{
	return kflash_device_get_mode(rom) == KFLASH_MODE_DFU ? "the STM32 ROM DFU bootloader"
							      : "the RP2040 BOOTSEL loader";
}

int
kf_katapult_wait_since(struct kflash_context *ctx,
		       const char *usb_serial,
		       const char *usb_port,
		       struct kflash_discovery *before,
		       uint32_t timeout_ms,
		       struct kflash_device **ret)
{
	uint64_t deadline = kf_now_ms() + timeout_ms;
	struct kflash_discovery *first = kflash_discovery_ref(before);
	int r;

	if (!ret || !usb_serial)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"waiting for Katapult needs a serial number");
	*ret = NULL;
	for (;;) {
		struct kflash_discovery *d;
		const struct kflash_device *rom;

		r = kflash_discovery_scan(ctx, &d);
		if (r < 0)
			break;
		for (size_t i = 0; i < kflash_discovery_get_device_count(d); i++) {
			struct kflash_device *dev = kflash_discovery_get_device(d, i);
			const char *serial = kflash_device_get_serial_number(dev);

			if (kflash_device_get_mode(dev) == KFLASH_MODE_KATAPULT && serial &&
			    strcasecmp(serial, usb_serial) == 0)
				*ret = kflash_device_ref(dev);
		}
		/* A ROM bootloader that was not there at the first look came instead. */
		rom = first ? kf_new_rom_bootloader(d, first, usb_port) : NULL;
		if (!*ret && rom) {
			r = kf_error(ctx, KFLASH_ERR_NOT_SUPPORTED,
				     "the board with serial number %s came back as %s (%04x:%04x) "
				     "at %s, not as Katapult: it has no Katapult installed",
				     usb_serial, kf_rom_bootloader_name(rom),
				     kflash_device_get_vid(rom), kflash_device_get_pid(rom),
				     kflash_device_get_path(rom));
			kflash_discovery_unref(d);
			break;
		}
		if (!first)
			first = d;
		else
			kflash_discovery_unref(d);
		if (*ret) {
			kf_info(ctx, "Katapult is up at %s", kflash_device_get_path(*ret));
			r = 0;
			break;
		}
		if (kf_now_ms() >= deadline) {
			r = kf_error(
				ctx, KFLASH_ERR_TIMEOUT,
				"the board with serial number %s did not come back in Katapult "
				"mode within %u ms",
				usb_serial, timeout_ms);
			break;
		}
		r = kf_sleep_ms(ctx, 50);
		if (r < 0)
			break;
	}
	kflash_discovery_unref(first);
	return r;
}

KFLASH_EXPORT int
kflash_katapult_wait(struct kflash_context *ctx,
		     const char *usb_serial,
		     uint32_t timeout_ms,
		     struct kflash_device **ret)
{
	return kf_katapult_wait_since(ctx, usb_serial, NULL, NULL, timeout_ms, ret);
}
