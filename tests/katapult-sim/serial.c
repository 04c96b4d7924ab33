/* SPDX-License-Identifier: MIT */
/*
 * The pty link of a serial board: the bytes between the host and the
 * board on the pty master, the --rate limit, the 1200-baud touch and the
 * UART request string. The bootloader sees only the byte stream (struct
 * sim_link), so the same bootloader runs on a CAN node (can.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sim.h"

/* What a UART board's Klipper looks for: 32 bytes from the space on. */
static const char request_string[] = " \x1c Request Serial Bootloader!! ~";

void
sim_send(struct sim *s, const uint8_t *data, size_t len)
{
	if (s->out_len + len > s->out_cap) {
		size_t cap = (s->out_len + len) * 2;
		uint8_t *p = realloc(s->out, cap);

		if (!p)
			sim_oom();
		s->out = p;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

void
sim_discard_output(struct sim *s)
{
	s->out_len = 0;
}

static void
serial_send(struct sim *s, const uint8_t *data, size_t len, unsigned lose_frame)
{
	(void)lose_frame; /* a CAN fault: a pty has no frames to lose */
	sim_send(s, data, len);
}

static bool
serial_busy(const struct sim *s)
{
	return s->out_len > 0;
}

const struct sim_link serial_link_usb = {
	.rx_buffer = RX_BUFFER_USB,
	.host_waits = true,
	.send = serial_send,
	.busy = serial_busy,
};

const struct sim_link serial_link_uart = {
	.rx_buffer = RX_BUFFER_UART,
	.host_waits = false,
	.send = serial_send,
	.busy = serial_busy,
};

/* ---- --rate: a line that carries N bytes per second each way ---- */

/*
 * Like a UART, a direction carries bytes only while it has some to carry:
 * an idle direction saves nothing up, so a frame takes its time on the
 * line. A busy one moves at most 2 ms worth of bytes at a time (at least
 * one byte).
 */
static double
rate_cap(const struct sim *s)
{
	return s->opt.rate / 500.0 < 1.0 ? 1.0 : s->opt.rate / 500.0;
}

static void
rate_refill(struct sim *s, uint64_t now)
{
	double cap = rate_cap(s), add;

	if (!s->opt.rate)
		return;
	add = (double)(now - s->rate_at) * s->opt.rate / 1e9;
	s->rate_at = now;
	s->rx_tokens = s->rx_idle ? 0 : s->rx_tokens + add > cap ? cap : s->rx_tokens + add;
	s->tx_tokens = !s->out_len ? 0 : s->tx_tokens + add > cap ? cap : s->tx_tokens + add;
}

/* The bytes the host wrote that are still to be read. */
static size_t
rx_pending(const struct sim *s)
{
	int n = 0;

	if (ioctl(s->master, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* The tokens that let @pending bytes move: all of them, or a busy line's worth. */
static double
rate_need(const struct sim *s, size_t pending)
{
	double cap = rate_cap(s);

	if (pending < 1)
		return 1.0;
	return (double)pending < cap ? (double)pending : cap;
}

/* How many bytes may move now: any number without --rate. */
static size_t
rate_allow(const struct sim *s, double tokens, size_t pending)
{
	if (!s->opt.rate)
		return SIZE_MAX;
	return tokens >= rate_need(s, pending) ? (size_t)tokens : 0;
}

/* When they may move. */
static uint64_t
rate_ready_at(const struct sim *s, uint64_t now, double tokens, size_t pending)
{
	double wait = (rate_need(s, pending) - tokens) / s->opt.rate;

	return now + (wait > 0 ? (uint64_t)(wait * 1e9) : 0) + 1;
}

/* ---- link I/O ---- */

static void
check_baud(struct sim *s)
{
	unsigned speed;

	if (tty_get_ospeed(s->master, &speed) < 0)
		return;
	if (speed == s->opt.baud) {
		s->baud_logged = 0;
		return;
	}
	if (speed != s->baud_logged) {
		sim_log(s, "baud-mismatch %u", speed);
		s->baud_logged = speed;
	}
}

/* Klipper on a UART: only the bootloader request means anything. */
static void
uart_klipper_input(struct sim *s, const uint8_t *data, size_t len)
{
	const size_t n = sizeof(request_string) - 1;

	for (size_t i = 0; i < len; i++) {
		if (s->request_len == n) {
			memmove(s->request, s->request + 1, n - 1);
			s->request_len--;
		}
		s->request[s->request_len++] = data[i];
		if (s->request_len == n && memcmp(s->request, request_string, n) == 0) {
			/* The board resets: whatever follows is lost. */
			s->request_len = 0;
			sim_log(s, "request-string");
			board_enumerate(s, BOARD_KATAPULT);
			return;
		}
	}
}

static void
handle_input(struct sim *s, const uint8_t *data, size_t len)
{
	if (s->opt.mode == SIM_MODE_UART)
		check_baud(s);
	switch (s->state) {
	case BOARD_KATAPULT:
		katapult_input(s, data, len);
		break;
	case BOARD_KLIPPER:
		if (s->opt.mode == SIM_MODE_UART)
			uart_klipper_input(s, data, len);
		/* Klipper's own protocol is not simulated: bytes are dropped. */
		break;
	default:
		break;
	}
}

static void
do_read(struct sim *s, uint64_t now)
{
	uint8_t buf[4096];
	size_t want = SIZE_MAX;
	ssize_t n;

	if (s->master < 0)
		return;
	if (s->opt.rate) {
		size_t pending;

		if (s->rx_idle)
			return;
		pending = rx_pending(s);
		if (!pending) {
			s->rx_idle = true;
			return;
		}
		want = rate_allow(s, s->rx_tokens, pending);
		if (!want)
			return;
	}
	if (s->state == BOARD_KATAPULT && s->link->host_waits && want > katapult_rx_room(s))
		want = katapult_rx_room(s);
	if (want == 0)
		return; /* USB flow control: the host waits until there is room */
	if (want > sizeof(buf))
		want = sizeof(buf);
	n = read(s->master, buf, want);
	if (n <= 0) {
		/* EIO: nobody holds the slave; that means no data yet */
		if (n < 0 && errno == EIO)
			s->slave_closed = true;
		else if (n < 0 && errno == EAGAIN)
			s->slave_closed = false;
		s->rx_idle = true;
		return;
	}
	s->slave_closed = false;
	s->last_rx_at = now;
	if (s->opt.rate)
		s->rx_tokens -= (double)n;
	handle_input(s, buf, (size_t)n);
}

static void
do_write(struct sim *s)
{
	size_t want = rate_allow(s, s->tx_tokens, s->out_len);
	ssize_t n;

	if (s->master < 0 || s->out_len == 0 || want == 0)
		return;
	if (want > s->out_len)
		want = s->out_len;
	n = write(s->master, s->out, want);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			sim_discard_output(s); /* the line is gone */
		return;
	}
	if (s->opt.rate)
		s->tx_tokens -= (double)n;
	memmove(s->out, s->out + n, s->out_len - (size_t)n);
	s->out_len -= (size_t)n;
}

/* What the pty waits for in this round of the event loop. */
void
serial_prepare(struct sim *s, uint64_t now, struct poll_set *ps, uint64_t *deadline)
{
	bool rx = true, tx;
	short events;

	s->serial_poll = -1;
	rate_refill(s, now);
	if (s->master < 0)
		return;
	if (s->slave_closed) {
		/* a master reports POLLHUP for as long as nobody holds the slave */
		struct pollfd q = { .fd = s->master, .events = POLLIN };

		if (poll(&q, 1, 0) >= 0 && !(q.revents & POLLHUP)) {
			s->slave_closed = false;
		} else {
			/*
			 * A host may open, write and close between two looks:
			 * what it wrote is on the line all the same. POLLHUP is
			 * no event, so look again soon.
			 */
			if (rx_pending(s))
				s->rx_idle = false;
			*deadline = earliest(*deadline, now + 10000000u);
		}
	}
	tx = s->out_len > 0;
	if (s->opt.rate) {
		/* an idle direction waits for bytes, a busy one for time */
		size_t pending = s->rx_idle ? 0 : rx_pending(s);

		rx = s->rx_idle || rate_allow(s, s->rx_tokens, pending);
		if (!rx)
			*deadline =
				earliest(*deadline, rate_ready_at(s, now, s->rx_tokens, pending));
		if (tx && !rate_allow(s, s->tx_tokens, s->out_len)) {
			tx = false;
			*deadline = earliest(*deadline,
					     rate_ready_at(s, now, s->tx_tokens, s->out_len));
		}
	}
	events = (short)((rx && !s->slave_closed ? POLLIN : 0) | (tx ? POLLOUT : 0));
	if (events)
		s->serial_poll = poll_add(ps, s->master, events);
}

void
serial_handle(struct sim *s, const struct poll_set *ps)
{
	short revents = s->serial_poll >= 0 ? ps->p[s->serial_poll].revents : 0;
	uint64_t now;

	if (revents & POLLHUP)
		s->slave_closed = true;
	now = sim_now();
	rate_refill(s, now);
	if (revents & POLLIN)
		s->rx_idle = false; /* the bytes start their way now */
	do_read(s, now);
	do_write(s);
}
