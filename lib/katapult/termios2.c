/* SPDX-License-Identifier: MIT */
/*
 * Baud rates through termios2 and BOTHER: glibc has no B250000. This file
 * includes <asm/termbits.h>, which clashes with <termios.h>, and nothing
 * else of the serial code.
 */
#include <asm/termbits.h>
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>

int
kf_tty_set_baud(int fd, uint32_t baud);

int
kf_tty_set_baud(int fd, uint32_t baud)
{
	struct termios2 tio;

	if (ioctl(fd, TCGETS2, &tio) < 0)
		return -errno;
	tio.c_cflag &= ~(tcflag_t)CBAUD;
	tio.c_cflag |= BOTHER;
	tio.c_ispeed = baud;
	tio.c_ospeed = baud;
	if (ioctl(fd, TCSETS2, &tio) < 0)
		return -errno;
	return 0;
}
