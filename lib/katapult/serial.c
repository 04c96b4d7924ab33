/* SPDX-License-Identifier: MIT */
/* The serial transport: a raw, exclusive tty. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "libkflash-private.h"
#include "transport.h"

struct kf_serial {
	struct kf_transport base;
	int fd;
};

/*
 * The exclusive mode outlives the descriptor on a pty: release it, or the
 * next open of the port by anyone but root fails with EBUSY.
 */
static void
close_port(int fd)
{
	(void)ioctl(fd, TIOCNXCL, NULL);
	close(fd);
}

static ssize_t
serial_read(struct kf_transport *t, void *buf, size_t len, uint32_t timeout_ms)
{
	struct kf_serial *s = (struct kf_serial *)t;
	struct pollfd p[2] = {
		{ .fd = s->fd, .events = POLLIN },
		{ .fd = kf_cancel_fd(t->ctx), .events = POLLIN },
	};
	uint64_t deadline = kf_now_ms() + timeout_ms;

	for (;;) {
		uint64_t now = kf_now_ms();
		int n = poll(p, 2, now >= deadline ? 0 : (int)(deadline - now));
		ssize_t got;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kf_error_sys(t->ctx, errno, "cannot wait for %s", t->name);
		if (p[1].revents)
			return kf_check_cancel(t->ctx);
		if (n == 0)
			return 0;
		if (p[0].revents & POLLNVAL)
			return kf_error(t->ctx, KFLASH_ERR_IO, "%s is closed", t->name);
		got = read(s->fd, buf, len);
		if (got > 0)
			return got;
		if (got == 0 || (p[0].revents & POLLHUP) || errno == EIO)
			return kf_error(t->ctx, KFLASH_ERR_IO,
					"%s went away (the board disconnected or reset)", t->name);
		if (errno != EAGAIN && errno != EINTR)
			return kf_error_sys(t->ctx, errno, "cannot read from %s", t->name);
	}
}

static int
serial_write(struct kf_transport *t, const void *buf, size_t len)
{
	struct kf_serial *s = (struct kf_serial *)t;
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(s->fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };

			if (poll(&pfd, 1, 1000) == 0)
				return kf_error(t->ctx, KFLASH_ERR_TIMEOUT,
						"%s does not take data (write timed out)", t->name);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return kf_error_sys(t->ctx, errno, "cannot write to %s", t->name);
	}
	return 0;
}

static void
serial_close(struct kf_transport *t)
{
	struct kf_serial *s = (struct kf_serial *)t;

	if (s->fd >= 0)
		close_port(s->fd);
}

static const struct kf_transport_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
	.close = serial_close,
};

void
kf_transport_close(struct kf_transport *t)
{
	if (!t)
		return;
	t->ops->close(t);
	kflash_context_unref(t->ctx);
	free(t->name);
	free(t);
}

int
kf_serial_open(struct kflash_context *ctx,
	       const char *path,
	       uint32_t baud,
	       struct kf_transport **ret)
{
	struct kf_serial *s;
	struct termios tio;
	int fd, r;

	*ret = NULL;
	r = kf_tty_refuse_if_held(ctx, path);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return kf_error_sys(ctx, errno, "cannot open %s", path);
	/* Keep other non-root processes out while we talk to the bootloader. */
	(void)ioctl(fd, TIOCEXCL, NULL);
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tio.c_cflag |= CLOCAL | CREAD;
		tio.c_cc[VMIN] = 0;
		tio.c_cc[VTIME] = 0;
		if (tcsetattr(fd, TCSANOW, &tio) < 0) {
			r = kf_error_sys(ctx, errno, "cannot configure %s", path);
			close_port(fd);
			return r;
		}
	}
	if (baud && (r = kf_tty_set_baud(fd, baud)) < 0) {
		r = kf_error_errno(ctx, KFLASH_ERR_IO, -r, "cannot set %s to %u baud", path, baud);
		close_port(fd);
		return r;
	}
	tcflush(fd, TCIOFLUSH);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->base.name = strdup(path))) {
		free(s);
		close_port(fd);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	s->base.ops = &serial_ops;
	s->base.ctx = kflash_context_ref(ctx);
	s->fd = fd;
	*ret = &s->base;
	return 0;
}
