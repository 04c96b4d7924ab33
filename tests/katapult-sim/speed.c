/* SPDX-License-Identifier: MIT */
/*
 * The line speed a host set on the pty slave, read through the master.
 *
 * termios2 carries the speed as a number (c_ospeed), which is the only way
 * to see rates without a B* constant (250000 on glibc 2.36). This file
 * includes <asm/termbits.h> and must not include <termios.h>.
 */
#include <asm/termbits.h>
#include <errno.h>
#include <sys/ioctl.h>

#include "sim.h"

int
tty_get_ospeed(int fd, unsigned *speed)
{
	struct termios2 t;

	if (ioctl(fd, TCGETS2, &t) < 0)
		return -errno;
	*speed = t.c_ospeed;
	return 0;
}
