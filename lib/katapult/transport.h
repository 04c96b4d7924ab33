/* SPDX-License-Identifier: MIT */
/*
 * A byte stream to a bootloader, and the seam a Katapult session sits on:
 * the serial port (serial.c) is one implementation, anything with the same
 * ops (CAN, a test's scripted device) is another.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kflash_context;
struct kf_transport;

struct kf_transport_ops {
	/*
	 * Read what is there, waiting up to @timeout_ms for the first byte.
	 * Returns the count, 0 on timeout, or a negative enum kflash_error
	 * (recorded on the context): the device went away, or cancellation.
	 */
	ssize_t (*read)(struct kf_transport *t, void *buf, size_t len, uint32_t timeout_ms);
	/* Write all of @buf; 0 or a negative enum kflash_error. */
	int (*write)(struct kf_transport *t, const void *buf, size_t len);
	void (*close)(struct kf_transport *t);
};

struct kf_transport {
	const struct kf_transport_ops *ops;
	struct kflash_context *ctx;
	char *name; /* for messages: the path */
};

/*
 * Open a serial port for Katapult: raw, exclusive, at @baud (0 leaves the
 * speed alone, as USB CDC ignores it). A port another process holds is
 * refused with KFLASH_ERR_BUSY naming it (pid and command).
 */
int
kf_serial_open(struct kflash_context *ctx,
	       const char *path,
	       uint32_t baud,
	       struct kf_transport **ret);

void
kf_transport_close(struct kf_transport *t);

/*
 * A Katapult session on any transport; it takes @t (closed on failure
 * too). kflash_katapult_open() is this on a serial port.
 */
struct kflash_katapult;
int
kf_katapult_new(struct kflash_context *ctx, struct kf_transport *t, struct kflash_katapult **ret);

/*
 * The session is with the CAN node @uuid: CONNECT then asks GET_CANBUS_ID,
 * and a node that says another UUID is refused before anything is written.
 */
int
kf_katapult_expect_canbus_id(struct kflash_katapult *k, const char *uuid);

/* termios2.c: set any baud rate (BOTHER), which glibc's termios cannot. */
int
kf_tty_set_baud(int fd, uint32_t baud);

/*
 * busy.c: the first other process with @path's device open, found by
 * scanning /proc/<pid>/fd (TIOCEXCL does not stop root). 1 and *pid and
 * *comm (malloc'ed) when there is one, 0 when none.
 */
int
kf_tty_find_holder(const char *path, pid_t *pid, char **comm);

/* busy.c: 0, or KFLASH_ERR_BUSY naming the process that holds @path. */
int
kf_tty_refuse_if_held(struct kflash_context *ctx, const char *path);
