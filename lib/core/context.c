/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>

#include "context-private.h"

struct location_info {
	const char *env;
	bool is_path;
	/* A program: a path when it has a '/', else a name looked up on PATH. */
	bool is_program;
};

static const struct location_info locations[KF_LOC_COUNT] = {
	[KF_LOC_CONFIG_DIR] = { "KFLASH_CONFIG_DIR", true },
	[KF_LOC_REGISTRY] = { "KFLASH_REGISTRY", true },
	[KF_LOC_CACHE_DIR] = { "KFLASH_CACHE_DIR", true },
	[KF_LOC_KLIPPER_DIR] = { "KFLASH_KLIPPER_DIR", true },
	[KF_LOC_SERVICE] = { "KFLASH_SERVICE", false },
	[KF_LOC_KLIPPY_SOCKET] = { "KFLASH_KLIPPY_SOCKET", true },
	[KF_LOC_DEV_DIR] = { "KFLASH_DEV_DIR", true },
	[KF_LOC_SYS_DIR] = { "KFLASH_SYS_DIR", true },
	[KF_LOC_CAN_SOCKET_DIR] = { "KFLASH_CAN_SOCKET_DIR", true },
	[KF_LOC_CCACHE] = { "KFLASH_CCACHE", false, true },
	[KF_LOC_MOONRAKER_SOCKET] = { "KFLASH_MOONRAKER_SOCKET", true },
	[KF_LOC_UNITS_DIR] = { "KFLASH_UNITS_DIR", true },
};

static const uint32_t default_timeouts[KF_TIMEOUT_COUNT] = {
	[KFLASH_TIMEOUT_BUILD] = 20 * 60 * 1000, [KFLASH_TIMEOUT_COMMAND] = 30 * 1000,
	[KFLASH_TIMEOUT_FLASH] = 5 * 60 * 1000,  [KFLASH_TIMEOUT_BOOTLOADER] = 10 * 1000,
	[KFLASH_TIMEOUT_RETURN] = 10 * 1000,     [KFLASH_TIMEOUT_KLIPPY] = 5 * 1000,
	[KFLASH_TIMEOUT_READY] = 60 * 1000,      [KFLASH_TIMEOUT_LOCK] = 10 * 1000,
};

/* An absolute copy of @path; relative paths are taken against the cwd. */
static char *
absolute_path(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	return kf_path_join(cwd, path);
}

static bool
value_is_valid(const char *value)
{
	return value && *value && !strchr(value, '\n');
}

static char *
location_value(enum kf_location loc, const char *v)
{
	if (locations[loc].is_path || (locations[loc].is_program && strchr(v, '/')))
		return absolute_path(v);
	return strdup(v);
}

static char *
env_value(enum kf_location loc)
{
	const char *v = secure_getenv(locations[loc].env);

	if (!value_is_valid(v))
		return NULL;
	return location_value(loc, v);
}

static char *
find_home(void)
{
	const char *h = secure_getenv("HOME");
	struct passwd *pw;

	if (h && h[0] == '/')
		return strdup(h);
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		return strdup(pw->pw_dir);
	return strdup("/");
}

/* Recursive: a handler may call back into the library, which may log. */
static int
init_event_lock(struct kflash_context *ctx)
{
	pthread_mutexattr_t attr;
	int r;

	if (pthread_mutexattr_init(&attr) != 0)
		return -1;
	r = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (r == 0)
		r = pthread_mutex_init(&ctx->event_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return r == 0 ? 0 : -1;
}

KFLASH_EXPORT int
kflash_context_new(struct kflash_context **ret)
{
	struct kflash_context *ctx;
	const char *debug, *no_ccache;

	if (!ret)
		return KFLASH_ERR_INVALID;
	*ret = NULL;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return KFLASH_ERR_NO_MEMORY;

	ctx->refcount = 1;
	ctx->level = KFLASH_LEVEL_INFO;
	ctx->cancel_pipe[0] = ctx->cancel_pipe[1] = -1;
	if (init_event_lock(ctx) < 0) {
		free(ctx);
		return KFLASH_ERR_NO_MEMORY;
	}
	memcpy(ctx->timeouts, default_timeouts, sizeof(ctx->timeouts));

	ctx->home = find_home();
	ctx->last_error = strdup("");
	if (!ctx->home || !ctx->last_error)
		goto oom;

	for (int i = 0; i < KF_LOC_COUNT; i++) {
		const char *raw = secure_getenv(locations[i].env);

		ctx->env[i] = env_value((enum kf_location)i);
		if (value_is_valid(raw) && !ctx->env[i])
			goto oom;
	}

	if (pipe2(ctx->cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    kf_service_ops_init(&ctx->service) < 0)
		goto oom;

	no_ccache = secure_getenv("KFLASH_NO_CCACHE");
	ctx->ccache_off = no_ccache && *no_ccache;

	debug = secure_getenv("LIBKFLASH_DEBUG");
	if (debug && *debug) {
		ctx->handler = kf_event_debug_handler;
		ctx->level = KFLASH_LEVEL_DEBUG;
	}

	*ret = ctx;
	return 0;

oom:
	kflash_context_unref(ctx);
	return KFLASH_ERR_NO_MEMORY;
}

KFLASH_EXPORT struct kflash_context *
kflash_context_ref(struct kflash_context *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

KFLASH_EXPORT struct kflash_context *
kflash_context_unref(struct kflash_context *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return NULL;

	for (int i = 0; i < KF_LOC_COUNT; i++) {
		free(ctx->set[i]);
		free(ctx->env[i]);
		free(ctx->resolved[i]);
	}
	for (int i = 0; i < 2; i++)
		if (ctx->cancel_pipe[i] >= 0)
			close(ctx->cancel_pipe[i]);
	kflash_jobserver_unref(ctx->jobserver);
	kf_service_ops_clear(&ctx->service);
	free(ctx->home);
	free(ctx->last_error);
	free(ctx->last_error_subject);
	pthread_mutex_destroy(&ctx->event_lock);
	kflash_context_unref(ctx->parent);
	free(ctx);
	return NULL;
}

KFLASH_EXPORT void
kflash_context_set_event_handler(struct kflash_context *ctx,
				 kflash_event_handler handler,
				 void *user_data)
{
	if (!ctx)
		return;
	ctx->handler = handler;
	ctx->handler_data = user_data;
}

KFLASH_EXPORT void
kflash_context_set_event_level(struct kflash_context *ctx, enum kflash_event_level level)
{
	if (ctx)
		ctx->level = level;
}

KFLASH_EXPORT enum kflash_event_level
kflash_context_get_event_level(const struct kflash_context *ctx)
{
	return ctx ? ctx->level : KFLASH_LEVEL_INFO;
}

/* An XDG base directory + "kflash", e.g. $XDG_CONFIG_HOME/kflash. */
static char *
xdg_dir(struct kflash_context *ctx, const char *var, const char *fallback)
{
	const char *v = secure_getenv(var);

	/* The XDG spec says relative values are invalid and must be ignored. */
	if (v && v[0] == '/')
		return kf_path_join(v, "kflash");
	return kf_strdup_printf("%s/%s/kflash", strcmp(ctx->home, "/") ? ctx->home : "", fallback);
}

static char *
default_value(struct kflash_context *ctx, enum kf_location loc)
{
	const char *config_dir;

	switch (loc) {
	case KF_LOC_CONFIG_DIR:
		return xdg_dir(ctx, "XDG_CONFIG_HOME", ".config");
	case KF_LOC_REGISTRY:
		config_dir = kflash_context_get_config_dir(ctx);
		return config_dir ? kf_path_join(config_dir, "devices.json") : NULL;
	case KF_LOC_CACHE_DIR:
		return xdg_dir(ctx, "XDG_CACHE_HOME", ".cache");
	case KF_LOC_KLIPPER_DIR:
		return kf_path_join(ctx->home, "klipper");
	case KF_LOC_SERVICE:
		return strdup("klipper");
	case KF_LOC_KLIPPY_SOCKET:
		return kf_path_join(ctx->home, "printer_data/comms/klippy.sock");
	case KF_LOC_MOONRAKER_SOCKET:
		return kf_path_join(ctx->home, "printer_data/comms/moonraker.sock");
	case KF_LOC_DEV_DIR:
		return strdup("/dev");
	case KF_LOC_SYS_DIR:
		return strdup("/sys");
	case KF_LOC_CCACHE:
		return strdup("ccache");
	case KF_LOC_UNITS_DIR:
		return strdup("/etc/systemd/system");
	case KF_LOC_CAN_SOCKET_DIR: /* unset: CAN interfaces are the kernel's */
	case KF_LOC_COUNT:
		break;
	}
	return NULL;
}

static const char *
get_location(struct kflash_context *ctx, enum kf_location loc)
{
	char *v;

	if (!ctx)
		return NULL;
	if (ctx->set[loc])
		return ctx->set[loc];
	if (ctx->env[loc])
		return ctx->env[loc];

	/* Defaults may depend on other locations; recompute each time. */
	v = default_value(ctx, loc);
	if (!v)
		return NULL;
	if (ctx->resolved[loc] && strcmp(ctx->resolved[loc], v) == 0) {
		free(v);
		return ctx->resolved[loc];
	}
	free(ctx->resolved[loc]);
	ctx->resolved[loc] = v;
	return v;
}

static int
set_location(struct kflash_context *ctx, enum kf_location loc, const char *value)
{
	char *copy = NULL;

	if (!ctx)
		return KFLASH_ERR_INVALID;
	if (value) {
		if (!value_is_valid(value))
			return kf_error(ctx, KFLASH_ERR_INVALID,
					"%s must be a non-empty value without newlines",
					locations[loc].env);
		copy = location_value(loc, value);
		if (!copy)
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	free(ctx->set[loc]);
	ctx->set[loc] = copy;
	return 0;
}

#define LOCATION_ACCESSORS(name, loc)                                                              \
	KFLASH_EXPORT int kflash_context_set_##name(struct kflash_context *ctx, const char *value) \
	{                                                                                          \
		return set_location(ctx, loc, value);                                              \
	}                                                                                          \
	KFLASH_EXPORT const char *kflash_context_get_##name(struct kflash_context *ctx)            \
	{                                                                                          \
		return get_location(ctx, loc);                                                     \
	}

LOCATION_ACCESSORS(config_dir, KF_LOC_CONFIG_DIR)
LOCATION_ACCESSORS(registry, KF_LOC_REGISTRY)
LOCATION_ACCESSORS(cache_dir, KF_LOC_CACHE_DIR)
LOCATION_ACCESSORS(klipper_dir, KF_LOC_KLIPPER_DIR)
LOCATION_ACCESSORS(service, KF_LOC_SERVICE)
LOCATION_ACCESSORS(klippy_socket, KF_LOC_KLIPPY_SOCKET)
LOCATION_ACCESSORS(dev_dir, KF_LOC_DEV_DIR)
LOCATION_ACCESSORS(sys_dir, KF_LOC_SYS_DIR)
LOCATION_ACCESSORS(can_socket_dir, KF_LOC_CAN_SOCKET_DIR)
LOCATION_ACCESSORS(ccache, KF_LOC_CCACHE)

KFLASH_EXPORT int
kflash_context_set_ccache_enabled(struct kflash_context *ctx, int enabled)
{
	if (!ctx)
		return KFLASH_ERR_INVALID;
	ctx->ccache_off = !enabled;
	return 0;
}

KFLASH_EXPORT int
kflash_context_get_ccache_enabled(const struct kflash_context *ctx)
{
	return ctx && !ctx->ccache_off ? 1 : 0;
}

LOCATION_ACCESSORS(moonraker_socket, KF_LOC_MOONRAKER_SOCKET)

LOCATION_ACCESSORS(units_dir, KF_LOC_UNITS_DIR)

static bool
timeout_is_known(enum kflash_timeout which)
{
	return which >= KFLASH_TIMEOUT_BUILD && which < KF_TIMEOUT_COUNT;
}

KFLASH_EXPORT int
kflash_context_set_timeout(struct kflash_context *ctx, enum kflash_timeout which, uint32_t ms)
{
	if (!ctx)
		return KFLASH_ERR_INVALID;
	if (!timeout_is_known(which))
		return kf_error(ctx, KFLASH_ERR_INVALID, "unknown timeout %d", (int)which);
	if (ms == 0 && which != KFLASH_TIMEOUT_BUILD && which != KFLASH_TIMEOUT_FLASH)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"timeout %d cannot be 0 (no limit); give a number of milliseconds",
				(int)which);
	ctx->timeouts[which] = ms;
	return 0;
}

KFLASH_EXPORT uint32_t
kflash_context_get_timeout(const struct kflash_context *ctx, enum kflash_timeout which)
{
	if (!ctx || !timeout_is_known(which))
		return 0;
	return ctx->timeouts[which];
}

KFLASH_EXPORT void
kflash_context_cancel(struct kflash_context *ctx)
{
	int saved_errno = errno;

	if (!ctx)
		return;
	ctx = kf_context_root(ctx);
	ctx->cancelled = 1;
	/* write(2) is async-signal-safe; a full pipe already wakes pollers. */
	if (write(ctx->cancel_pipe[1], "c", 1) < 0) {
		/* nothing to do: EAGAIN means a wake-up is already pending */
	}
	errno = saved_errno;
}

KFLASH_EXPORT int
kflash_context_is_cancelled(const struct kflash_context *ctx)
{
	return ctx && kf_context_root(ctx)->cancelled ? 1 : 0;
}

KFLASH_EXPORT void
kflash_context_clear_cancel(struct kflash_context *ctx)
{
	char buf[64];

	if (!ctx)
		return;
	ctx = kf_context_root(ctx);
	while (read(ctx->cancel_pipe[0], buf, sizeof(buf)) > 0) {
		/* drain */
	}
	ctx->cancelled = 0;
}

int
kf_cancel_fd(const struct kflash_context *ctx)
{
	return kf_context_root(ctx)->cancel_pipe[0];
}

int
kf_check_cancel(struct kflash_context *ctx)
{
	if (!kf_context_root(ctx)->cancelled)
		return 0;
	return kf_error(ctx, KFLASH_ERR_CANCELLED, "cancelled");
}

int
kf_sleep_ms(struct kflash_context *ctx, uint32_t ms)
{
	uint64_t end = kf_now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = kf_cancel_fd(ctx), .events = POLLIN };
		uint64_t now = kf_now_ms();

		if (kf_check_cancel(ctx))
			return KFLASH_ERR_CANCELLED;
		if (now >= end)
			return 0;
		if (poll(&p, 1, (int)(end - now)) < 0 && errno != EINTR)
			return kf_error_errno(ctx, KFLASH_ERR_IO, errno, "poll");
	}
}

KFLASH_EXPORT const char *
kflash_context_last_error(const struct kflash_context *ctx)
{
	return ctx && ctx->last_error ? ctx->last_error : "";
}

KFLASH_EXPORT int
kflash_context_last_error_code(const struct kflash_context *ctx)
{
	return ctx ? ctx->last_error_code : 0;
}

KFLASH_EXPORT int
kflash_context_last_error_hint(const struct kflash_context *ctx)
{
	return ctx ? ctx->last_error_hint : KFLASH_HINT_NONE;
}

KFLASH_EXPORT const char *
kflash_context_last_error_subject(const struct kflash_context *ctx)
{
	return ctx ? ctx->last_error_subject : NULL;
}

struct kf_service_ops *
kf_context_service_ops(struct kflash_context *ctx)
{
	return &ctx->service;
}

struct kflash_jobserver **
kf_context_jobserver(struct kflash_context *ctx)
{
	return &ctx->jobserver;
}

KFLASH_EXPORT const char *
kflash_version(void)
{
	return KFLASH_VERSION;
}

int
kf_context_new_worker(struct kflash_context *parent, struct kflash_context **ret)
{
	struct kflash_context *ctx;

	*ret = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return kf_error(parent, KFLASH_ERR_NO_MEMORY, "out of memory");
	ctx->refcount = 1;
	ctx->cancel_pipe[0] = ctx->cancel_pipe[1] = -1;
	if (init_event_lock(ctx) < 0) {
		free(ctx);
		return kf_error(parent, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	ctx->parent = kflash_context_ref(parent);
	ctx->level = parent->level;
	ctx->home = strdup(parent->home);
	ctx->last_error = strdup("");
	memcpy(ctx->timeouts, parent->timeouts, sizeof(ctx->timeouts));
	ctx->scope = parent->scope;
	ctx->ccache_off = parent->ccache_off;
	/* One job server for every build, whichever thread runs it. */
	ctx->jobserver = kflash_jobserver_ref(parent->jobserver);
	if (!ctx->home || !ctx->last_error ||
	    kf_service_ops_copy(&ctx->service, &parent->service) < 0)
		goto oom;
	/* The locations as the parent resolves them now, fixed for the worker's life. */
	for (int i = 0; i < KF_LOC_COUNT; i++) {
		const char *v = get_location(parent, (enum kf_location)i);

		if (v && !(ctx->set[i] = strdup(v)))
			goto oom;
	}
	*ret = ctx;
	return 0;

oom:
	kflash_context_unref(ctx);
	return kf_error(parent, KFLASH_ERR_NO_MEMORY, "out of memory");
}
