/* SPDX-License-Identifier: MIT */
/*
 * The CAN bus of the "socket-dir" transport: interface NAME under DIR is
 * the UNIX SOCK_SEQPACKET socket DIR/NAME, and every packet is one 16-byte
 * Linux struct can_frame. The relay listens there, takes any number of
 * clients and hands each frame to every other client, never back to its
 * sender; a packet of another length is dropped and logged. A bridge's
 * own CAN node is one more participant (can.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim.h"

#define READ_BURST 64 /* frames read from one client in one round */

/* ---- a queue of frames waiting for room in a socket ---- */

bool
pkt_queue_push(struct pkt_queue *q, const uint8_t *raw)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		uint8_t(*p)[CAN_PACKET_SIZE];

		if (q->len >= CAN_QUEUE_MAX)
			return false;
		p = malloc(cap * sizeof(*p));
		if (!p)
			sim_oom();
		for (size_t i = 0; i < q->len; i++)
			memcpy(p[i], q->pkt[(q->head + i) % q->cap], CAN_PACKET_SIZE);
		free(q->pkt);
		q->pkt = p;
		q->cap = cap;
		q->head = 0;
	}
	memcpy(q->pkt[(q->head + q->len) % q->cap], raw, CAN_PACKET_SIZE);
	q->len++;
	return true;
}

const uint8_t *
pkt_queue_front(const struct pkt_queue *q)
{
	return q->len ? q->pkt[q->head] : NULL;
}

void
pkt_queue_pop(struct pkt_queue *q)
{
	if (!q->len)
		return;
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

void
pkt_queue_clear(struct pkt_queue *q)
{
	q->head = 0;
	q->len = 0;
}

void
pkt_queue_free(struct pkt_queue *q)
{
	free(q->pkt);
	*q = (struct pkt_queue){ 0 };
}

/* ---- the listening socket ---- */

char *
bus_socket_path(const struct sim_options *o)
{
	char *path;

	if (asprintf(&path, "%s/%s", o->can_dir, o->can_interface) < 0)
		sim_oom();
	return path;
}

static int
fail(const char *what, const char *path, int r)
{
	fprintf(stderr, "kflash-sim: cannot %s %s: %s\n", what, path, strerror(-r));
	return r;
}

/* Whether something listens on @sa: a live bus must not be replaced. */
static bool
listening(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

int
bus_open(struct sim *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = bus_socket_path(&s->opt);
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		r = fail("listen on", path, -ENAMETOOLONG);
		free(path);
		return r;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = sim_mkdir_parent(path);
	if (r < 0) {
		fail("create the directory of", path, r);
		free(path);
		return r;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = fail("create a socket for", path, -errno);
		free(path);
		return r;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE) {
		struct stat st;

		/* a socket left behind by a simulator that was killed */
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && !listening(&sa))
			unlink(path);
		else
			errno = EADDRINUSE;
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		r = 0;
	}
	if (r < 0 || listen(fd, 128) < 0) {
		r = fail("listen on", path, -errno);
		close(fd);
		free(path);
		return r;
	}
	free(s->bus.path);
	s->bus.path = path;
	s->bus.fd = fd;
	sim_log(s, "bus listen %s", path);
	return 0;
}

static void
drop_client(struct sim *s, size_t i)
{
	struct bus_client *c = &s->bus.clients[i];

	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	pkt_queue_free(&c->out);
	sim_log(s, "bus disconnect %u", c->number);
}

/* Every client goes and the socket is removed: the bus is gone. */
void
bus_close(struct sim *s)
{
	if (s->bus.fd < 0)
		return;
	unlink(s->bus.path);
	close(s->bus.fd);
	s->bus.fd = -1;
	sim_log(s, "remove %s", s->bus.path);
	for (size_t i = 0; i < s->bus.nclients; i++)
		drop_client(s, i);
	s->bus.nclients = 0;
}

void
bus_free(struct sim *s)
{
	for (size_t i = 0; i < s->bus.nclients; i++)
		drop_client(s, i);
	free(s->bus.clients);
	s->bus.clients = NULL;
	s->bus.nclients = s->bus.cap = 0;
	free(s->bus.path);
	s->bus.path = NULL;
}

/* Take every client that is waiting. */
static void
accept_all(struct sim *s)
{
	for (;;) {
		int fd = accept4(s->bus.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct bus_client *c;

		if (fd < 0)
			return;
		if (s->bus.nclients == s->bus.cap) {
			size_t cap = s->bus.cap ? s->bus.cap * 2 : 8;
			struct bus_client *p = realloc(s->bus.clients, cap * sizeof(*p));

			if (!p)
				sim_oom();
			s->bus.clients = p;
			s->bus.cap = cap;
		}
		c = &s->bus.clients[s->bus.nclients++];
		*c = (struct bus_client){ .fd = fd, .number = ++s->bus.next_number, .poll = -1 };
		sim_log(s, "bus connect %u", c->number);
	}
}

/* ---- frames ---- */

static void
flush_client(struct sim *s, size_t i)
{
	struct bus_client *c = &s->bus.clients[i];

	while (c->fd >= 0 && c->out.len) {
		ssize_t n = send(c->fd, pkt_queue_front(&c->out), CAN_PACKET_SIZE,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == CAN_PACKET_SIZE) {
			pkt_queue_pop(&c->out);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		drop_client(s, i);
		return;
	}
	c->overrun = false;
}

/* One frame to client @i: now, or once its socket has room again. */
static void
client_send(struct sim *s, size_t i, const uint8_t *raw)
{
	struct bus_client *c = &s->bus.clients[i];

	if (c->fd < 0)
		return;
	if (!pkt_queue_push(&c->out, raw)) {
		/* a client that reads nothing: its receive buffer overruns */
		if (!c->overrun)
			sim_log(s, "bus overrun %u", c->number);
		c->overrun = true;
		return;
	}
	if (c->out.len == 1)
		flush_client(s, i);
}

void
bus_broadcast(struct sim *s, const uint8_t *raw)
{
	for (size_t i = 0; i < s->bus.nclients && s->bus.fd >= 0; i++)
		client_send(s, i, raw);
}

/* A frame from client @from: to every other client and a bridge's node. */
static void
deliver(struct sim *s, size_t from, const uint8_t *raw)
{
	for (size_t i = 0; i < s->bus.nclients; i++)
		if (i != from)
			client_send(s, i, raw);
	if (s->opt.mode == SIM_MODE_BRIDGE)
		can_receive(s, raw); /* last: it may take the bus away */
}

/* Whether the peer closed: a read of 0 bytes is also an empty packet. */
static bool
peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static void
read_client(struct sim *s, size_t i)
{
	for (int k = 0; k < READ_BURST && s->bus.fd >= 0; k++) {
		struct bus_client *c = &s->bus.clients[i];
		uint8_t buf[CAN_PACKET_SIZE + 1];
		ssize_t n;

		if (c->fd < 0)
			return;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0 || (n == 0 && peer_gone(c->fd))) {
			drop_client(s, i);
			return;
		}
		if (n != CAN_PACKET_SIZE) {
			sim_log(s, "bus drop %u len=%zd", c->number, n);
			continue;
		}
		if (buf[4] > 8) {
			sim_log(s, "bus drop %u dlc=%u", c->number, buf[4]);
			continue;
		}
		/*
		 * A client that connected before this frame was sent hears it,
		 * though it may not have been accepted yet.
		 */
		accept_all(s);
		deliver(s, i, buf);
	}
}

void
bus_prepare(struct sim *s, struct poll_set *ps)
{
	size_t kept = 0;

	s->bus.poll = -1;
	if (s->bus.fd < 0)
		return;
	for (size_t i = 0; i < s->bus.nclients; i++)
		if (s->bus.clients[i].fd >= 0)
			s->bus.clients[kept++] = s->bus.clients[i];
	s->bus.nclients = kept;
	s->bus.poll = poll_add(ps, s->bus.fd, POLLIN);
	for (size_t i = 0; i < s->bus.nclients; i++) {
		struct bus_client *c = &s->bus.clients[i];

		c->poll = poll_add(ps, c->fd, (short)(POLLIN | (c->out.len ? POLLOUT : 0)));
	}
}

void
bus_handle(struct sim *s, const struct poll_set *ps)
{
	size_t polled = s->bus.nclients;

	if (s->bus.fd < 0 || s->bus.poll < 0)
		return;
	if (ps->p[s->bus.poll].revents & POLLIN)
		accept_all(s);
	for (size_t i = 0; i < polled && i < s->bus.nclients && s->bus.fd >= 0; i++) {
		short revents;

		if (s->bus.clients[i].fd < 0 || s->bus.clients[i].poll < 0)
			continue;
		revents = ps->p[s->bus.clients[i].poll].revents;
		if (revents & POLLOUT)
			flush_client(s, i);
		if (revents & (POLLIN | POLLHUP | POLLERR))
			read_client(s, i);
	}
}
