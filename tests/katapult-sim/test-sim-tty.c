/* SPDX-License-Identifier: MIT */
#include <asm/termbits.h>
#include <errno.h>
#include <sys/ioctl.h>

#include "test-sim-tty.h"

int
test_tty_set_speed(int fd, unsigned speed)
{
	struct termios2 t;

	if (ioctl(fd, TCGETS2, &t) < 0)
		return -errno;
	t.c_cflag &= ~(tcflag_t)(CBAUD | (CBAUD << IBSHIFT));
	t.c_cflag |= BOTHER | (BOTHER << IBSHIFT);
	t.c_ispeed = speed;
	t.c_ospeed = speed;
	if (ioctl(fd, TCSETS2, &t) < 0)
		return -errno;
	return 0;
}

int
test_tty_get_speed(int fd, unsigned *speed)
{
	struct termios2 t;

	if (ioctl(fd, TCGETS2, &t) < 0)
		return -errno;
	*speed = t.c_ospeed;
	return 0;
}
