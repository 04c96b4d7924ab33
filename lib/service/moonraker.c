/* SPDX-License-Identifier: MIT */
/*
 * A client of Moonraker's UNIX socket: JSON-RPC 2.0 requests and answers,
 * each message ended by 0x03 (the framing of Moonraker's socket
 * transport), one connection per request, with a timeout, a size limit and
 * cancellation. The socket needs no identification or authorization, so a
 * connection sends its request at once. Moonraker also sends notifications
 * to every connection; they have no id and are skipped.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "service-private.h"

#define REPLY_MAX (1024 * 1024)
#define ETX 0x03
#define STOP_POLL_MS 100

struct call {
	struct kflash_context *ctx;
	const char *path;
	int fd;
	bool uncancellable;
	uint64_t deadline;
	char *buf; /* received bytes not yet parsed */
	size_t len, size;
};

static int
open_socket(struct kflash_context *ctx, const char *path, int *ret)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, e;

	*ret = -1;
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (strlen(path) >= sizeof(addr.sun_path))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"Moonraker's socket path %s is longer than a socket path can be",
				path);
	strcpy(addr.sun_path, path);
	/* Non-blocking, so that even a full backlog cannot hold the connect. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return kf_error_sys(ctx, errno, "cannot create a socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		*ret = fd;
		return 0;
	}
	e = errno;
	close(fd);
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND, "there is no Moonraker socket at %s",
				path);
	case ECONNREFUSED:
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"nothing listens on Moonraker's socket %s", path);
	case EAGAIN:
		return kf_error(ctx, KFLASH_ERR_TIMEOUT,
				"Moonraker takes no more connections on %s (its backlog is full)",
				path);
	case EACCES:
	case EPERM:
		return kf_error_errno(ctx, KFLASH_ERR_PERMISSION, e,
				      "this user may not use Moonraker's socket %s", path);
	default:
		return kf_error_sys(ctx, e, "cannot connect to Moonraker's socket %s", path);
	}
}

int
kf_moonraker_probe(struct kflash_context *ctx)
{
	int fd, r = open_socket(ctx, kflash_context_get_moonraker_socket(ctx), &fd);

	if (fd >= 0)
		close(fd);
	return r;
}

/* Wait until @fd has @events, the deadline passes, or (unless uncancellable) a cancel. */
static int
wait_for(struct call *c, short events, const char *what)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = events },
			{ .fd = c->uncancellable ? -1 : kf_cancel_fd(c->ctx), .events = POLLIN },
		};
		uint64_t now = kf_now_ms();

		if (!c->uncancellable && kf_check_cancel(c->ctx))
			return KFLASH_ERR_CANCELLED;
		if (now >= c->deadline)
			return kf_error(c->ctx, KFLASH_ERR_TIMEOUT,
					"Moonraker did not %s on %s within %u ms", what, c->path,
					kflash_context_get_timeout(c->ctx, KFLASH_TIMEOUT_COMMAND));
		if (poll(p, 2, (int)(c->deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			return kf_error_sys(c->ctx, errno, "cannot wait for Moonraker");
		}
		if (p[1].revents)
			continue; /* kf_check_cancel() above says it */
		if (p[0].revents)
			return 0;
	}
}

static int
send_all(struct call *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = wait_for(c, POLLOUT, "take the request");
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return kf_error_sys(c->ctx, errno, "cannot send to Moonraker on %s",
					    c->path);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next whole message (without its 0x03), NUL-terminated, or an error. */
static int
receive(struct call *c, char **msg)
{
	for (;;) {
		char *etx = c->len ? memchr(c->buf, ETX, c->len) : NULL;
		ssize_t n;
		int r;

		if (etx) {
			size_t mlen = (size_t)(etx - c->buf);

			*msg = strndup(c->buf, mlen);
			memmove(c->buf, etx + 1, c->len - mlen - 1);
			c->len -= mlen + 1;
			return *msg ? 0 : kf_error(c->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		if (c->len >= REPLY_MAX)
			return kf_error(c->ctx, KFLASH_ERR_PROTOCOL,
					"Moonraker sent a message larger than %d bytes on %s",
					REPLY_MAX, c->path);
		r = wait_for(c, POLLIN, "answer");
		if (r < 0)
			return r;
		if (c->size - c->len < 4096) {
			size_t grown_size = c->size ? c->size * 2 : 8192;
			char *grown = realloc(c->buf, grown_size);

			if (!grown)
				return kf_error(c->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
			c->buf = grown;
			c->size = grown_size;
		}
		n = recv(c->fd, c->buf + c->len, c->size - c->len, 0);
		if (n == 0)
			return kf_error(c->ctx, KFLASH_ERR_IO,
					"Moonraker closed its socket %s before it answered%s",
					c->path, c->len ? " (the answer was cut short)" : "");
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return kf_error_sys(c->ctx, errno, "cannot read from Moonraker on %s",
					    c->path);
		if (n > 0)
			c->len += (size_t)n;
	}
}

/* The text of a JSON-RPC error object: its message, and its code when it has one. */
static char *
error_text(struct json_object *err)
{
	struct json_object *m = NULL, *code = NULL;

	if (!json_object_is_type(err, json_type_object))
		return kf_strdup_printf("%.200s", json_object_get_string(err));
	json_object_object_get_ex(err, "message", &m);
	json_object_object_get_ex(err, "code", &code);
	if (code)
		return kf_strdup_printf("%.400s (code %d)",
					m ? json_object_get_string(m) : "no message",
					json_object_get_int(code));
	return kf_strdup_printf("%.400s", m ? json_object_get_string(m) : "no message");
}

/* One answer: 1 when @reply is it (*@result set, or an error recorded), 0 when not. */
static int
take_answer(struct call *c,
	    const char *method,
	    uint64_t id,
	    struct json_object *reply,
	    struct json_object **result,
	    int *r)
{
	struct json_object *v, *err;
	bool has_id = json_object_object_get_ex(reply, "id", &v);

	/* Moonraker answers a request it cannot read with an error and a null id. */
	if (has_id && json_object_is_type(v, json_type_null) &&
	    json_object_object_get_ex(reply, "error", &err)) {
		_cleanup_free_ char *text = error_text(err);

		*r = kf_error(c->ctx, KFLASH_ERR_PROTOCOL,
			      "Moonraker could not read the request '%s' on %s: %s", method,
			      c->path, text ? text : "(out of memory)");
		return 1;
	}
	/* Notifications, and anything else that is not the answer. */
	if (!has_id || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != (int64_t)id)
		return 0;
	if (json_object_object_get_ex(reply, "error", &err)) {
		_cleanup_free_ char *text = error_text(err);

		*r = kf_error(c->ctx, KFLASH_ERR_SERVICE, "Moonraker refused '%s': %s", method,
			      text ? text : "(out of memory)");
	} else if (json_object_object_get_ex(reply, "result", &v)) {
		*result = json_object_get(v);
		*r = 0;
	} else {
		*r = kf_error(c->ctx, KFLASH_ERR_PROTOCOL,
			      "Moonraker's answer to '%s' on %s has neither a result nor an error",
			      method, c->path);
	}
	return 1;
}

/*
 * Send @method with @params (taken; NULL for none) and return its "result"
 * (a new reference, of any type). An uncancellable call still has its
 * timeout.
 */
static int
call(struct kflash_context *ctx,
     const char *method,
     struct json_object *params,
     bool uncancellable,
     struct json_object **result)
{
	struct call c = {
		.ctx = ctx,
		.path = kflash_context_get_moonraker_socket(ctx),
		.fd = -1,
		.uncancellable = uncancellable,
		.deadline = kf_now_ms() + kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
	};
	struct kf_service_ops *ops = kf_context_service_ops(ctx);
	uint64_t id = ++ops->moonraker_id;
	struct json_object *req;
	const char *text;
	int r;

	*result = NULL;
	if (!uncancellable && kf_check_cancel(ctx)) {
		json_object_put(params);
		return KFLASH_ERR_CANCELLED;
	}
	r = open_socket(ctx, c.path, &c.fd);
	if (r < 0) {
		json_object_put(params);
		return r;
	}
	req = json_object_new_object();
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	json_object_object_add(req, "id", json_object_new_int64((int64_t)id));
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	kf_debug(ctx, "Moonraker request on %s: %s", c.path, text);
	r = text ? send_all(&c, text, strlen(text))
		 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r == 0)
		r = send_all(&c, "\x03", 1);
	json_object_put(req);

	while (r == 0) {
		_cleanup_free_ char *msg = NULL;
		struct json_object *reply;
		int taken;

		r = receive(&c, &msg);
		if (r < 0)
			break;
		reply = json_tokener_parse(msg);
		if (!json_object_is_type(reply, json_type_object)) {
			json_object_put(reply);
			r = kf_error(ctx, KFLASH_ERR_PROTOCOL,
				     "Moonraker sent something that is not a JSON object on %s: "
				     "%.80s",
				     c.path, msg);
			break;
		}
		taken = take_answer(&c, method, id, reply, result, &r);
		json_object_put(reply);
		if (taken)
			break;
	}
	free(c.buf);
	close(c.fd);
	return r;
}

/* Moonraker names a service as systemd's unit without ".service". */
static char *
service_name(const char *unit)
{
	size_t n = strlen(unit);

	if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
		n -= 8;
	return strndup(unit, n);
}

/*
 * The state Moonraker reports for @unit: *@state a value of enum
 * kflash_unit_state, or -1 when Moonraker does not report this unit (not
 * among its services, or "unknown" to it yet). *@word is Moonraker's word.
 */
static int
reported_state(struct kflash_context *ctx, const char *unit, int *state, char **word)
{
	_cleanup_free_ char *name = service_name(unit);
	struct json_object *result = NULL, *info, *states, *one, *active;
	int r;

	*state = -1;
	*word = NULL;
	if (!name)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = call(ctx, "machine.system_info", NULL, false, &result);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(result, "system_info", &info) ||
	    !json_object_object_get_ex(info, "service_state", &states) ||
	    !json_object_is_type(states, json_type_object)) {
		json_object_put(result);
		return kf_error(ctx, KFLASH_ERR_PROTOCOL,
				"Moonraker's answer to 'machine.system_info' has no service_state "
				"object");
	}
	if (json_object_object_get_ex(states, name, &one) &&
	    json_object_object_get_ex(one, "active_state", &active) &&
	    json_object_is_type(active, json_type_string)) {
		*word = strndup(json_object_get_string(active), 64);
		if (!*word)
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		else if (strcmp(*word, "unknown") != 0)
			*state = kf_unit_state_from_name(*word);
	}
	json_object_put(result);
	return r;
}

int
kf_moonraker_unit_state(struct kflash_context *ctx, const char *unit, int *state)
{
	_cleanup_free_ char *word = NULL;
	int found, r = reported_state(ctx, unit, &found, &word);

	if (r < 0)
		return r;
	if (!word)
		return kf_error(ctx, KFLASH_ERR_SERVICE,
				"Moonraker does not report the state of %s: it is not among the "
				"services it manages (its allowed services are listed in "
				"moonraker.asvc in its data directory)",
				unit);
	if (found < 0)
		return kf_error(ctx, KFLASH_ERR_SERVICE,
				"Moonraker reports the state of %s as '%s', which does not tell "
				"whether it runs",
				unit, word);
	*state = found;
	return 0;
}

/* After a stop: wait until Moonraker no longer reports @unit running or stopping. */
static int
wait_stopped(struct kflash_context *ctx, const char *unit)
{
	uint32_t timeout = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND);
	uint64_t deadline = kf_now_ms() + timeout;

	for (;;) {
		_cleanup_free_ char *word = NULL;
		int state, r = reported_state(ctx, unit, &state, &word);

		if (r < 0)
			return r;
		if (state < 0) {
			kf_debug(ctx,
				 "Moonraker does not report the state of %s: not waiting for it",
				 unit);
			return 0;
		}
		if (!kflash_unit_state_is_running(state) && state != KFLASH_UNIT_DEACTIVATING)
			return 0;
		if (kf_now_ms() >= deadline)
			return kf_error(ctx, KFLASH_ERR_TIMEOUT,
					"Moonraker stopped %s, but still reports it %s after %u ms",
					unit, word, timeout);
		kf_debug(ctx, "Moonraker reports %s %s: waiting for it to stop", unit, word);
		r = kf_sleep_ms(ctx, STOP_POLL_MS);
		if (r < 0)
			return r;
	}
}

int
kf_moonraker_service_action(struct kflash_context *ctx, const char *action, const char *unit)
{
	_cleanup_free_ char *name = service_name(unit), *method = NULL;
	bool start = strcmp(action, "start") == 0;
	struct json_object *params, *result = NULL;
	int r;

	method = kf_strdup_printf("machine.services.%s", action);
	if (!name || !method)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	params = json_object_new_object();
	json_object_object_add(params, "service", json_object_new_string(name));
	/* Starting Klipper again must happen even on the way out of a cancel. */
	r = call(ctx, method, params, start, &result);
	json_object_put(result);
	if (r < 0)
		return r;
	kf_debug(ctx, "Moonraker %s %s", start ? "started" : "stopped", unit);
	/* Moonraker may answer once systemd has the job, before the unit has stopped. */
	return start ? 0 : wait_stopped(ctx, unit);
}

KFLASH_EXPORT int
kflash_moonraker_query_print_state(struct kflash_context *ctx, int *state)
{
	struct json_object *params, *objects, *fields, *result = NULL, *status, *stats, *word;
	int r;

	if (!state)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the print state");
	*state = KFLASH_PRINT_UNKNOWN;
	params = json_object_new_object();
	objects = json_object_new_object();
	fields = json_object_new_array();
	json_object_array_add(fields, json_object_new_string("state"));
	json_object_object_add(objects, "print_stats", fields);
	json_object_object_add(params, "objects", objects);
	r = call(ctx, "printer.objects.query", params, false, &result);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(result, "status", &status) ||
	    !json_object_object_get_ex(status, "print_stats", &stats) ||
	    !json_object_object_get_ex(stats, "state", &word) ||
	    !json_object_is_type(word, json_type_string)) {
		json_object_put(result);
		return kf_error(ctx, KFLASH_ERR_PROTOCOL,
				"Moonraker's answer to 'printer.objects.query' has no "
				"print_stats state");
	}
	for (int i = KFLASH_PRINT_UNKNOWN + 1; strcmp(kflash_print_state_name(i), "unknown") != 0;
	     i++)
		if (strcmp(kflash_print_state_name(i), json_object_get_string(word)) == 0)
			*state = i;
	json_object_put(result);
	return 0;
}
