/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim: the event loop and the link I/O of the simulated board. See
 * README.md beside this file and `kflash-sim --help` (options.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define EXIT_USAGE 64
#define TICK_NS 10000000u /* how often the speed and a closed slave are polled */

/* What a UART board's Klipper looks for: 32 bytes from the space on. */
static const char request_string[] = " \x1c Request Serial Bootloader!! ~";

uint64_t
sim_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
sim_log(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	fflush(s->log);
}

void
sim_send(struct sim *s, const uint8_t *data, size_t len)
{
	if (s->out_len + len > s->out_cap) {
		size_t cap = (s->out_len + len) * 2;
		uint8_t *p = realloc(s->out, cap);

		if (!p) {
			fprintf(stderr, "kflash-sim: out of memory\n");
			exit(1);
		}
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

int
sim_write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const uint8_t *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

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
	if (s->state == BOARD_KATAPULT && want > katapult_rx_room(s))
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

/* ---- timers ---- */

/* The jump to the application, 100 ms after COMPLETE was ACKed. */
static int
complete(struct sim *s)
{
	int r = 0;

	s->complete_at = 0;
	katapult_flush_garbage(s);
	sim_log(s, "complete");
	if (s->opt.mode == SIM_MODE_UART) {
		s->request_len = 0;
		r = board_enumerate(s, BOARD_KLIPPER);
		sim_log(s, "boot klipper");
		return r;
	}
	board_remove(s);
	board_schedule(s, BOARD_KLIPPER, true);
	return 0;
}

static int
run_timers(struct sim *s, uint64_t now)
{
	int r;

	if (s->complete_at && now >= s->complete_at) {
		if (s->out_len) /* the ACK leaves before the jump */
			s->complete_at = now + 1000000u;
		else if ((r = complete(s)) < 0)
			return r;
	}
	if (s->enumerate_at && now >= s->enumerate_at) {
		bool boot = s->enumerate_is_boot;

		r = board_enumerate(s, s->enumerate_as);
		if (r < 0)
			return r;
		if (boot)
			sim_log(s, "boot klipper");
	}
	if (s->state == BOARD_KATAPULT)
		katapult_idle(s, now);
	board_check_touch(s);
	return 0;
}

static uint64_t
earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static int
run(struct sim *s, int sfd)
{
	for (;;) {
		uint64_t now = sim_now(), deadline = now + TICK_NS;
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN } };
		struct timespec ts;
		nfds_t np = 1;
		int r;

		if (run_timers(s, now) < 0)
			return -1;
		rate_refill(s, now);

		deadline = earliest(deadline, s->enumerate_at);
		deadline = earliest(deadline, s->complete_at);
		if (s->master >= 0 && s->slave_closed) {
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
				deadline = earliest(deadline, now + 10000000u);
			}
		}
		if (s->master >= 0) {
			bool rx = true, tx = s->out_len > 0;

			if (s->opt.rate) {
				/* an idle direction waits for bytes, a busy one for time */
				size_t pending = s->rx_idle ? 0 : rx_pending(s);

				rx = s->rx_idle || rate_allow(s, s->rx_tokens, pending);
				if (!rx)
					deadline = earliest(
						deadline,
						rate_ready_at(s, now, s->rx_tokens, pending));
				if (tx && !rate_allow(s, s->tx_tokens, s->out_len)) {
					tx = false;
					deadline = earliest(
						deadline,
						rate_ready_at(s, now, s->tx_tokens, s->out_len));
				}
			}
			p[1].fd = s->master;
			p[1].events =
				(short)((rx && !s->slave_closed ? POLLIN : 0) | (tx ? POLLOUT : 0));
			if (p[1].events)
				np = 2;
		}
		if (s->garbage)
			deadline = earliest(deadline, s->last_rx_at + 20000000u);
		deadline = deadline > now ? deadline - now : 0;
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);

		r = ppoll(p, np, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("kflash-sim: poll");
			return -1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return 0;
		}
		if (np == 2 && (p[1].revents & POLLHUP))
			s->slave_closed = true;
		now = sim_now();
		rate_refill(s, now);
		if (np == 2 && (p[1].revents & POLLIN))
			s->rx_idle = false; /* the bytes start their way now */
		do_read(s, now);
		do_write(s);
	}
}

/*
 * The stop signals arrive through a signalfd. They are blocked first, then
 * given their default disposition: a shell may start us with SIGINT
 * ignored, and an ignored signal never reaches a signalfd.
 */
static int
setup_signals(void)
{
	static const int stop[] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t mask;

	sigemptyset(&mask);
	for (size_t i = 0; i < SIM_ARRAY_SIZE(stop); i++)
		sigaddset(&mask, stop[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (size_t i = 0; i < SIM_ARRAY_SIZE(stop); i++)
		signal(stop[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static const char *
mode_name(enum sim_mode mode)
{
	switch (mode) {
	case SIM_MODE_UART:
		return "uart";
	case SIM_MODE_KATAPULT:
		return "katapult";
	case SIM_MODE_USB:
		break;
	}
	return "usb";
}

int
main(int argc, char **argv)
{
	struct sim s = { .master = -1, .next_devnum = 2 };
	enum board_state first;
	char *first_path = NULL;
	int sfd, r, status = 0;

	r = sim_parse_options(argc, argv, &s.opt);
	if (r > 0)
		return 0;
	if (r < 0)
		return EXIT_USAGE;
	s.rng = s.opt.seed;

	sfd = setup_signals();
	if (sfd < 0) {
		perror("kflash-sim: signalfd");
		return 1;
	}
	if (s.opt.log) {
		s.log = fopen(s.opt.log, "we");
		if (!s.log) {
			fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s.opt.log,
				strerror(errno));
			return 1;
		}
	}
	if (flash_init(&s) < 0) {
		fprintf(stderr, "kflash-sim: out of memory for %u bytes of flash\n",
			s.opt.flash_size);
		return 1;
	}

	first = s.opt.mode == SIM_MODE_KATAPULT ? BOARD_KATAPULT : BOARD_KLIPPER;
	if (s.opt.mode == SIM_MODE_UART)
		r = asprintf(&first_path, "%s/%s", s.opt.dev_dir, s.opt.uart_link);
	else
		r = asprintf(&first_path, "%s/serial/by-id/usb-%s_%s_%s-if00", s.opt.dev_dir,
			     first == BOARD_KATAPULT ? "katapult" : "Klipper", s.opt.mcu,
			     s.opt.serial);
	if (r < 0)
		return 1;
	sim_log(&s, "start %s %s", mode_name(s.opt.mode), first_path);
	free(first_path);

	if (board_enumerate(&s, first) < 0 || run(&s, sfd) < 0)
		status = 1;

	katapult_flush_garbage(&s);
	r = image_write(&s);
	if (r < 0) {
		fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s.opt.image, strerror(-r));
		status = 1;
	}
	board_remove(&s);
	if (s.ready_written)
		unlink(s.opt.ready_file);
	sim_log(&s, "exit");
	if (s.log)
		fclose(s.log);
	close(sfd);
	free(s.flash);
	free(s.out);
	return status;
}
