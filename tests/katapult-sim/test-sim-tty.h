/* SPDX-License-Identifier: MIT */
/*
 * Line speeds through termios2 for the simulator's tests: the numeric
 * speed a host sets with BOTHER, and reads back. In a file of its own,
 * since <asm/termbits.h> clashes with <termios.h>.
 */
#pragma once

/* Set input and output speed to @speed with BOTHER; 0 or -errno. */
int
test_tty_set_speed(int fd, unsigned speed);

/* The output speed as a number; 0 or -errno. */
int
test_tty_get_speed(int fd, unsigned *speed);
