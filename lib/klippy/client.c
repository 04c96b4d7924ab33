/* SPDX-License-Identifier: MIT */
/*
 * A client of Klipper's API socket: JSON requests and replies, each
 * ended by 0x03, with a timeout, a size limit and cancellation.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libkflash-private.h"

#define REPLY_MAX (1024 * 1024)
#define ETX 0x03
#define MAX_MCUS 32

struct mcu {
	char *name, *version, *type;
};

struct kflash_klippy {
	int refcount;
	struct kflash_context *ctx;
	int fd;
	char *path;
	uint64_t next_id;
	char *buf; /* received bytes not yet parsed */
	size_t len, size;

	int state, print_state; /* enum kflash_klipper_state, enum kflash_print_state */
	char *state_message, *software_version, *config_file;
	struct mcu mcus[MAX_MCUS];
	size_t n_mcus;
};

KFLASH_EXPORT int
kflash_klippy_connect(struct kflash_context *ctx, struct kflash_klippy **ret)
{
	return kflash_klippy_connect_socket(ctx, NULL, ret);
}

KFLASH_EXPORT int
kflash_klippy_connect_socket(struct kflash_context *ctx,
			     const char *path,
			     struct kflash_klippy **ret)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct kflash_klippy *k;
	int fd, e;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the connection");
	*ret = NULL;
	if (!path)
		path = kflash_context_get_klippy_socket(ctx);
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (strlen(path) >= sizeof(addr.sun_path))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"Klipper's API socket path %s is longer than a socket path can be",
				path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kf_error_sys(ctx, errno, "cannot create a socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		close(fd);
		if (e == ENOENT)
			return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
					"Klipper is not running: there is no API socket at %s",
					path);
		if (e == ECONNREFUSED)
			return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
					"Klipper is not running: nothing listens on %s", path);
		return kf_error_sys(ctx, e, "cannot connect to Klipper's API socket %s", path);
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->path = strdup(path))) {
		free(k);
		close(fd);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	k->refcount = 1;
	k->ctx = kflash_context_ref(ctx);
	k->fd = fd;
	k->next_id = 1;
	*ret = k;
	return 0;
}

KFLASH_EXPORT struct kflash_klippy *
kflash_klippy_ref(struct kflash_klippy *k)
{
	if (k)
		k->refcount++;
	return k;
}

/* Forget the MCUs of the last status; every slot is left empty, never dangling. */
static void
clear_mcus(struct kflash_klippy *k)
{
	for (size_t i = 0; i < k->n_mcus; i++) {
		free(k->mcus[i].name);
		free(k->mcus[i].version);
		free(k->mcus[i].type);
		k->mcus[i] = (struct mcu){ 0 };
	}
	k->n_mcus = 0;
}

KFLASH_EXPORT struct kflash_klippy *
kflash_klippy_unref(struct kflash_klippy *k)
{
	if (!k || --k->refcount > 0)
		return NULL;
	close(k->fd);
	clear_mcus(k);
	free(k->buf);
	free(k->path);
	free(k->state_message);
	free(k->software_version);
	free(k->config_file);
	kflash_context_unref(k->ctx);
	free(k);
	return NULL;
}

/* ---- one request ---- */

static int
send_all(struct kflash_klippy *k, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(k->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kf_error_sys(k->ctx, errno, "cannot send to Klipper on %s", k->path);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next whole message (without its 0x03), NUL-terminated, or an error. */
static int
receive(struct kflash_klippy *k, uint64_t deadline, char **msg)
{
	for (;;) {
		char *etx = k->len ? memchr(k->buf, ETX, k->len) : NULL;
		struct pollfd p[2] = {
			{ .fd = k->fd, .events = POLLIN },
			{ .fd = kf_cancel_fd(k->ctx), .events = POLLIN },
		};
		uint64_t now;
		ssize_t n;

		if (etx) {
			size_t mlen = (size_t)(etx - k->buf);

			*msg = strndup(k->buf, mlen);
			memmove(k->buf, etx + 1, k->len - mlen - 1);
			k->len -= mlen + 1;
			return *msg ? 0 : kf_error(k->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		if (k->len >= REPLY_MAX)
			return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
					"Klipper sent a message larger than %d bytes on %s",
					REPLY_MAX, k->path);
		now = kf_now_ms();
		if (now >= deadline)
			return kf_error(k->ctx, KFLASH_ERR_TIMEOUT,
					"Klipper did not answer on %s within %u ms", k->path,
					kflash_context_get_timeout(k->ctx, KFLASH_TIMEOUT_KLIPPY));
		if (poll(p, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			return kf_error_sys(k->ctx, errno, "cannot wait for Klipper");
		if (p[1].revents)
			return kf_check_cancel(k->ctx);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (k->size - k->len < 4096) {
			size_t grown_size = k->size ? k->size * 2 : 8192;
			char *grown = realloc(k->buf, grown_size);

			if (!grown)
				return kf_error(k->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
			k->buf = grown;
			k->size = grown_size;
		}
		n = recv(k->fd, k->buf + k->len, k->size - k->len, 0);
		if (n == 0)
			return kf_error(k->ctx, KFLASH_ERR_IO,
					"Klipper closed its API socket %s before it answered%s",
					k->path, k->len ? " (the reply was cut short)" : "");
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return kf_error_sys(k->ctx, errno, "cannot read from Klipper on %s",
					    k->path);
		if (n > 0)
			k->len += (size_t)n;
	}
}

/* Send @method with @params (taken) and return its "result" (a new reference). */
static int
request(struct kflash_klippy *k,
	const char *method,
	struct json_object *params,
	struct json_object **result)
{
	struct json_object *req = json_object_new_object();
	uint64_t id = k->next_id++;
	uint64_t deadline = kf_now_ms() + kflash_context_get_timeout(k->ctx, KFLASH_TIMEOUT_KLIPPY);
	const char *text;
	int r;

	*result = NULL;
	json_object_object_add(req, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "params", params ? params : json_object_new_object());
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r = send_all(k, text, strlen(text));
	if (r == 0)
		r = send_all(k, "\x03", 1);
	json_object_put(req);

	while (r == 0) {
		_cleanup_free_ char *msg = NULL;
		struct json_object *reply, *v;

		r = receive(k, deadline, &msg);
		if (r < 0)
			break;
		reply = json_tokener_parse(msg);
		if (!json_object_is_type(reply, json_type_object)) {
			json_object_put(reply);
			r = kf_error(
				k->ctx, KFLASH_ERR_PROTOCOL,
				"Klipper sent something that is not a JSON object on %s: %.80s",
				k->path, msg);
			break;
		}
		/* Other messages (subscriptions) are not ours. */
		if (!json_object_object_get_ex(reply, "id", &v) ||
		    json_object_get_int64(v) != (int64_t)id) {
			json_object_put(reply);
			continue;
		}
		if (json_object_object_get_ex(reply, "error", &v)) {
			struct json_object *m = NULL;

			if (json_object_is_type(v, json_type_object))
				json_object_object_get_ex(v, "message", &m);
			r = kf_error(k->ctx, KFLASH_ERR_PROTOCOL, "Klipper refused '%s': %s",
				     method,
				     m ? json_object_get_string(m) : json_object_get_string(v));
		} else if (json_object_object_get_ex(reply, "result", &v) &&
			   json_object_is_type(v, json_type_object)) {
			*result = json_object_get(v);
		} else {
			r = kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				     "Klipper's answer to '%s' has no result object", method);
		}
		json_object_put(reply);
		break;
	}
	return r;
}

static char *
string_member(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strndup(json_object_get_string(v), max);
}

/* Klipper's words, in the order of the enums (index = value). */
static const char *const klipper_states[] = {
	[KFLASH_KLIPPER_UNKNOWN] = "unknown",   [KFLASH_KLIPPER_NOT_RUNNING] = "not-running",
	[KFLASH_KLIPPER_READY] = "ready",       [KFLASH_KLIPPER_STARTUP] = "startup",
	[KFLASH_KLIPPER_SHUTDOWN] = "shutdown", [KFLASH_KLIPPER_ERROR] = "error",
};

static const char *const print_states[] = {
	[KFLASH_PRINT_UNKNOWN] = "unknown",   [KFLASH_PRINT_STANDBY] = "standby",
	[KFLASH_PRINT_PRINTING] = "printing", [KFLASH_PRINT_PAUSED] = "paused",
	[KFLASH_PRINT_COMPLETE] = "complete", [KFLASH_PRINT_CANCELLED] = "cancelled",
	[KFLASH_PRINT_ERROR] = "error",
};

static const char *
name_of(const char *const *names, size_t n, int value)
{
	return value >= 0 && (size_t)value < n && names[value] ? names[value] : "unknown";
}

/* The value whose name is @word, or 0 (unknown); never the not-running state. */
static int
value_of(const char *const *names, size_t n, const char *word)
{
	for (size_t i = 1; word && i < n; i++)
		if (names[i] && strcmp(names[i], word) == 0 && strcmp(word, "not-running") != 0)
			return (int)i;
	return 0;
}

KFLASH_EXPORT const char *
kflash_klipper_state_name(int state)
{
	return name_of(klipper_states, KF_ARRAY_SIZE(klipper_states), state);
}

KFLASH_EXPORT const char *
kflash_print_state_name(int state)
{
	return name_of(print_states, KF_ARRAY_SIZE(print_states), state);
}

KFLASH_EXPORT int
kflash_klippy_query_info(struct kflash_klippy *k)
{
	struct json_object *result;
	_cleanup_free_ char *word = NULL;
	int r;

	if (!k)
		return KFLASH_ERR_INVALID;
	r = request(k, "info", NULL, &result);
	if (r < 0)
		return r;
	free(k->state_message);
	free(k->software_version);
	free(k->config_file);
	word = string_member(result, "state", 64);
	k->state = value_of(klipper_states, KF_ARRAY_SIZE(klipper_states), word);
	k->state_message = string_member(result, "state_message", 4096);
	k->software_version = string_member(result, "software_version", 256);
	k->config_file = string_member(result, "config_file", 4096);
	json_object_put(result);
	if (!word)
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Klipper's 'info' answer has no state");
	/* A state this library does not know: keep Klipper's word in the message. */
	if (k->state == KFLASH_KLIPPER_UNKNOWN && !k->state_message)
		k->state_message = kf_strdup_printf("Klipper reports the state '%s'", word);
	return 0;
}

static bool
is_mcu_object(const char *name)
{
	return strcmp(name, "mcu") == 0 || (strncmp(name, "mcu ", 4) == 0 && name[4]);
}

KFLASH_EXPORT int
kflash_klippy_query_status(struct kflash_klippy *k)
{
	struct json_object *list, *objects, *query, *status, *names;
	int r;

	if (!k)
		return KFLASH_ERR_INVALID;
	r = request(k, "objects/list", NULL, &list);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(list, "objects", &names) ||
	    !json_object_is_type(names, json_type_array)) {
		json_object_put(list);
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Klipper's 'objects/list' answer has no list of objects");
	}
	objects = json_object_new_object();
	json_object_object_add(objects, "print_stats", json_object_new_array());
	json_object_array_add(json_object_object_get(objects, "print_stats"),
			      json_object_new_string("state"));
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(names, i));
		struct json_object *fields;

		if (!name || !is_mcu_object(name))
			continue;
		fields = json_object_new_array();
		json_object_array_add(fields, json_object_new_string("mcu_version"));
		json_object_array_add(fields, json_object_new_string("mcu_constants"));
		json_object_object_add(objects, name, fields);
	}
	json_object_put(list);
	query = json_object_new_object();
	json_object_object_add(query, "objects", objects);
	r = request(k, "objects/query", query, &list);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(list, "status", &status) ||
	    !json_object_is_type(status, json_type_object)) {
		json_object_put(list);
		return kf_error(k->ctx, KFLASH_ERR_PROTOCOL,
				"Klipper's 'objects/query' answer has no status");
	}
	clear_mcus(k);
	k->print_state = KFLASH_PRINT_UNKNOWN;
	json_object_object_foreach(status, name, value)
	{
		if (!json_object_is_type(value, json_type_object))
			continue;
		if (strcmp(name, "print_stats") == 0) {
			_cleanup_free_ char *word = string_member(value, "state", 64);

			k->print_state = value_of(print_states, KF_ARRAY_SIZE(print_states), word);
		} else if (is_mcu_object(name) && k->n_mcus < MAX_MCUS) {
			struct mcu *m = &k->mcus[k->n_mcus++];
			struct json_object *constants;

			m->name = strndup(name, 128);
			m->version = string_member(value, "mcu_version", 256);
			if (json_object_object_get_ex(value, "mcu_constants", &constants) &&
			    json_object_is_type(constants, json_type_object))
				m->type = string_member(constants, "MCU", 64);
		}
	}
	json_object_put(list);
	return 0;
}

KFLASH_EXPORT int
kflash_klippy_get_state(const struct kflash_klippy *k)
{
	return k ? k->state : KFLASH_KLIPPER_UNKNOWN;
}

KFLASH_EXPORT const char *
kflash_klippy_get_state_message(const struct kflash_klippy *k)
{
	return k ? k->state_message : NULL;
}

KFLASH_EXPORT const char *
kflash_klippy_get_software_version(const struct kflash_klippy *k)
{
	return k ? k->software_version : NULL;
}

KFLASH_EXPORT const char *
kflash_klippy_get_config_file(const struct kflash_klippy *k)
{
	return k ? k->config_file : NULL;
}

KFLASH_EXPORT int
kflash_klippy_get_print_state(const struct kflash_klippy *k)
{
	return k ? k->print_state : KFLASH_PRINT_UNKNOWN;
}

KFLASH_EXPORT size_t
kflash_klippy_get_mcu_count(const struct kflash_klippy *k)
{
	return k ? k->n_mcus : 0;
}

KFLASH_EXPORT const char *
kflash_klippy_get_mcu_name(const struct kflash_klippy *k, size_t index)
{
	return k && index < k->n_mcus ? k->mcus[index].name : NULL;
}

KFLASH_EXPORT const char *
kflash_klippy_get_mcu_version(const struct kflash_klippy *k, size_t index)
{
	return k && index < k->n_mcus ? k->mcus[index].version : NULL;
}

KFLASH_EXPORT const char *
kflash_klippy_get_mcu_type(const struct kflash_klippy *k, size_t index)
{
	return k && index < k->n_mcus ? k->mcus[index].type : NULL;
}
