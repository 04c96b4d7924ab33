/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim: the event loop and the timers of the simulated board, bus or
 * bridge. See README.md beside this file and `kflash-sim --help`
 * (options.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define EXIT_USAGE 64
#define TICK_NS 10000000u /* how often the speed and a closed slave are polled */

uint64_t
sim_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
sim_oom(void)
{
	fprintf(stderr, "kflash-sim: out of memory\n");
	exit(1);
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

/* mkdir -p of the directory that holds @path. */
int
sim_mkdir_parent(const char *path)
{
	char buf[PATH_MAX];
	char *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
poll_add(struct poll_set *ps, int fd, short events)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct pollfd *p = realloc(ps->p, cap * sizeof(*p));

		if (!p)
			sim_oom();
		ps->p = p;
		ps->cap = cap;
	}
	ps->p[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	return (int)ps->n++;
}

uint64_t
earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
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
	if (s->no_return) {
		/* the application never starts: the board is gone for good */
		board_remove(s);
		return 0;
	}
	if (s->opt.mode == SIM_MODE_UART) {
		s->request_len = 0;
		r = board_enumerate(s, BOARD_KLIPPER);
		sim_log(s, "boot klipper");
		return r;
	}
	if (s->opt.mode == SIM_MODE_CAN) {
		/* a CAN node reboots in place, without a new enumeration */
		board_remove(s);
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
		if (s->link->busy(s)) /* the ACK leaves before the jump */
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

static int
run(struct sim *s, int sfd)
{
	struct poll_set ps = { 0 };
	int status = 0;

	for (;;) {
		uint64_t now = sim_now(), deadline = now + TICK_NS;
		struct timespec ts;
		int r;

		if (s->link && run_timers(s, now) < 0) {
			status = -1;
			break;
		}
		ps.n = 0;
		poll_add(&ps, sfd, POLLIN);
		serial_prepare(s, now, &ps, &deadline);
		can_prepare(s, now, &ps, &deadline);
		bus_prepare(s, &ps);

		deadline = earliest(deadline, s->enumerate_at);
		deadline = earliest(deadline, s->complete_at);
		if (s->garbage)
			deadline = earliest(deadline, s->last_rx_at + 20000000u);
		deadline = deadline > now ? deadline - now : 0;
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);

		r = ppoll(ps.p, ps.n, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("kflash-sim: poll");
			status = -1;
			break;
		}
		if (r < 0)
			for (size_t i = 0; i < ps.n; i++)
				ps.p[i].revents = 0;
		if (ps.p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				break;
		}
		serial_handle(s, &ps);
		can_handle(s, &ps);
		bus_handle(s, &ps);
	}
	free(ps.p);
	return status;
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
	case SIM_MODE_BUS:
		return "bus";
	case SIM_MODE_CAN:
		return "can";
	case SIM_MODE_BRIDGE:
		return "bridge";
	case SIM_MODE_USB:
		break;
	}
	return "usb";
}

/* The path the first line names: the one about to appear. */
static char *
first_path(const struct sim *s, enum board_state first)
{
	char *path;
	int r;

	switch (s->opt.mode) {
	case SIM_MODE_UART:
		r = asprintf(&path, "%s/%s", s->opt.dev_dir, s->opt.uart_link);
		break;
	case SIM_MODE_BUS:
	case SIM_MODE_CAN:
	case SIM_MODE_BRIDGE:
		path = bus_socket_path(&s->opt);
		r = 0;
		break;
	default:
		r = asprintf(&path, "%s/serial/by-id/usb-%s_%s_%s-if00", s->opt.dev_dir,
			     first == BOARD_KATAPULT ? "katapult" : "Klipper", s->opt.mcu,
			     s->opt.serial);
		break;
	}
	if (r < 0)
		sim_oom();
	return path;
}

/* The first state: a bus relay has none, everything else a board. */
static int
start(struct sim *s)
{
	enum board_state first = BOARD_KLIPPER;
	char *path;
	int r;

	switch (s->opt.mode) {
	case SIM_MODE_USB:
	case SIM_MODE_BRIDGE:
		s->link = &serial_link_usb;
		break;
	case SIM_MODE_KATAPULT:
		s->link = &serial_link_usb;
		first = BOARD_KATAPULT;
		break;
	case SIM_MODE_UART:
		s->link = &serial_link_uart;
		break;
	case SIM_MODE_CAN:
		s->link = &can_link;
		first = s->opt.can_start;
		break;
	case SIM_MODE_BUS:
		break;
	}
	path = first_path(s, first);
	sim_log(s, "start %s %s", mode_name(s->opt.mode), path);
	free(path);
	if (s->opt.mode == SIM_MODE_CAN || s->opt.mode == SIM_MODE_BRIDGE)
		can_init(s);
	if (s->opt.mode == SIM_MODE_BUS) {
		r = bus_open(s);
		if (r == 0)
			r = board_write_ready(s, s->bus.path);
		return r;
	}
	return board_enumerate(s, first);
}

int
main(int argc, char **argv)
{
	struct sim s = { .master = -1, .next_devnum = 2, .serial_poll = -1 };
	int sfd, r, status = 0;

	s.can.fd = -1;
	s.can.poll = -1;
	s.bus.fd = -1;
	s.bus.poll = -1;
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
	if (s.opt.mode != SIM_MODE_BUS && flash_init(&s) < 0) {
		fprintf(stderr, "kflash-sim: out of memory for %u bytes of flash\n",
			s.opt.flash_size);
		return 1;
	}

	if (start(&s) < 0 || run(&s, sfd) < 0)
		status = 1;

	if (s.link) {
		katapult_flush_garbage(&s);
		r = image_write(&s);
		if (r < 0) {
			fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s.opt.image,
				strerror(-r));
			status = 1;
		}
		board_remove(&s);
	}
	bus_close(&s);
	can_free(&s);
	bus_free(&s);
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
