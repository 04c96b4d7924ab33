/* SPDX-License-Identifier: MIT */
/*
 * Moonraker for the sentinel: after fork() it may only make system calls
 * (the process that forked it may have had other threads, and their locks
 * are copied held), so it cannot use json-c or malloc(). The request is
 * written before the fork; the answer is read into a fixed buffer and
 * judged by a small scanner of the top level of one JSON-RPC message.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "service-private.h"

#define ETX 0x03
#define MAX_DEPTH 64
#define ANSWER_MAX 65536

size_t
kf_moonraker_start_request(char *buf, size_t size, const char *unit, uint64_t id)
{
	size_t n = strlen(unit);
	int len;

	if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
		n -= 8;
	/* A valid unit name has nothing JSON would need to escape. */
	if (!kf_unit_name_is_valid(unit))
		return 0;
	len = snprintf(buf, size,
		       "{\"jsonrpc\":\"2.0\",\"method\":\"machine.services.start\","
		       "\"params\":{\"service\":\"%.*s\"},\"id\":%llu}\x03",
		       (int)n, unit, (unsigned long long)id);
	return len > 0 && (size_t)len < size ? (size_t)len : 0;
}

/* ---- the scanner ---- */

struct scan {
	const char *p, *end;
};

static bool
in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c);
}

static void
skip_space(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* A string at s->p: its contents (escapes kept) in @start, @len. */
static bool
scan_string(struct scan *s, const char **start, size_t *len)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	*start = ++s->p;
	while (s->p < s->end && *s->p != '"') {
		if ((unsigned char)*s->p < 0x20)
			return false;
		if (*s->p == '\\' && ++s->p >= s->end)
			return false;
		s->p++;
	}
	if (s->p >= s->end)
		return false;
	*len = (size_t)(s->p - *start);
	s->p++;
	return true;
}

/* A number, true, false or null: its characters, without a check of their order. */
static bool
scan_bare(struct scan *s)
{
	const char *from = s->p;

	while (s->p < s->end && (in_set(*s->p, "+-.eE") || (*s->p >= '0' && *s->p <= '9') ||
				 (*s->p >= 'a' && *s->p <= 'z')))
		s->p++;
	return s->p > from;
}

static bool
skip_value(struct scan *s, int depth);

/* The members or elements after '{' or '[', up to the closing @close. */
static bool
skip_container(struct scan *s, char close, int depth)
{
	const char *key;
	size_t len;

	s->p++;
	skip_space(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			skip_space(s);
			if (!scan_string(s, &key, &len))
				return false;
			skip_space(s);
			if (s->p >= s->end || *s->p++ != ':')
				return false;
		}
		if (!skip_value(s, depth + 1))
			return false;
		skip_space(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == close) {
			s->p++;
			return true;
		}
		if (*s->p++ != ',')
			return false;
	}
}

static bool
skip_value(struct scan *s, int depth)
{
	const char *str;
	size_t len;

	skip_space(s);
	if (s->p >= s->end || depth > MAX_DEPTH)
		return false;
	if (*s->p == '"')
		return scan_string(s, &str, &len);
	if (*s->p == '{')
		return skip_container(s, '}', depth);
	if (*s->p == '[')
		return skip_container(s, ']', depth);
	return scan_bare(s);
}

/* null, or a non-negative integer that fits, at s->p; false for any other value. */
static bool
scan_id(struct scan *s, uint64_t *value, bool *is_null)
{
	const char *from = s->p;

	*value = 0;
	*is_null = false;
	if (s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0) {
		s->p += 4;
		*is_null = true;
		return true;
	}
	for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
		if (*value > (UINT64_MAX - 9) / 10)
			return false;
		*value = *value * 10 + (uint64_t)(*s->p - '0');
	}
	return s->p > from && !(s->p < s->end && in_set(*s->p, ".eE"));
}

int
kf_jsonrpc_answer_kind(const char *msg, size_t len, uint64_t id)
{
	struct scan s = { .p = msg, .end = msg + len };
	bool ours = false, null_id = false, result = false, error = false;

	skip_space(&s);
	if (s.p >= s.end || *s.p != '{')
		return -1;
	s.p++;
	skip_space(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
	} else {
		for (;;) {
			const char *key;
			size_t klen;

			skip_space(&s);
			if (!scan_string(&s, &key, &klen))
				return -1;
			skip_space(&s);
			if (s.p >= s.end || *s.p++ != ':')
				return -1;
			skip_space(&s);
			if (klen == 2 && memcmp(key, "id", 2) == 0) {
				uint64_t value;
				const char *at = s.p;

				if (scan_id(&s, &value, &null_id)) {
					ours = !null_id && value == id;
				} else {
					/* A string id, a fraction: not ours, but valid JSON. */
					s.p = at;
					if (!skip_value(&s, 0))
						return -1;
				}
			} else {
				result = result || (klen == 6 && memcmp(key, "result", 6) == 0);
				error = error || (klen == 5 && memcmp(key, "error", 5) == 0);
				if (!skip_value(&s, 0))
					return -1;
			}
			skip_space(&s);
			if (s.p >= s.end)
				return -1;
			if (*s.p == '}') {
				s.p++;
				break;
			}
			if (*s.p++ != ',')
				return -1;
		}
	}
	skip_space(&s);
	if (s.p != s.end)
		return -1;
	if (!ours)
		/* An error for a request Moonraker could not read has a null id. */
		return null_id && error ? -1 : 0;
	return result && !error ? 1 : -1;
}

/* ---- the start ---- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for @events on @fd until @deadline: true when they came. */
static bool
wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			return false;
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0;
	}
}

static int
start_on(int fd, const struct kf_moonraker_start *start, uint64_t deadline)
{
	char buf[ANSWER_MAX];
	size_t len = 0, sent = 0;

	while (sent < start->len) {
		ssize_t n = send(fd, start->request + sent, start->len - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline))
			continue;
		else
			return -1;
	}
	for (;;) {
		char *etx;
		ssize_t n;

		while ((etx = memchr(buf, ETX, len))) {
			size_t mlen = (size_t)(etx - buf);
			int kind = kf_jsonrpc_answer_kind(buf, mlen, start->id);

			if (kind != 0)
				return kind > 0 ? 0 : -1;
			memmove(buf, etx + 1, len - mlen - 1);
			len -= mlen + 1;
		}
		/* A message that does not fit is not an answer to wait for. */
		if (len == sizeof(buf) || !wait_fd(fd, POLLIN, deadline))
			return -1;
		n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return -1;
		if (n > 0)
			len += (size_t)n;
	}
}

int
kf_moonraker_start_raw(const struct kf_moonraker_start *start)
{
	uint64_t deadline = now_ms() + start->timeout_ms;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = -1;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&start->addr, sizeof(start->addr)) == 0)
		r = start_on(fd, start, deadline);
	close(fd);
	return r;
}
