/* SPDX-License-Identifier: MIT */
/**
 * @file context.h
 * @brief The libkflash context: locations, timeouts, events,
 * cancellation and the last error.
 *
 * Every other libkflash object belongs to a context. A context is not
 * thread-safe: use one per thread, or serialise the calls. The only
 * exception is kflash_context_cancel(), which may be called from any
 * thread and from a signal handler.
 */
#ifndef KFLASH_CONTEXT_H
#define KFLASH_CONTEXT_H

#include <stdint.h>

#include <kflash/event.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup context Context
 * @{
 */

/** An opaque, reference-counted library context. */
struct kflash_context;

/**
 * Create a context.
 *
 * The locations start at their defaults (XDG base directories and the
 * usual Klipper paths), overridden by the environment variables
 * KFLASH_CONFIG_DIR, KFLASH_REGISTRY, KFLASH_CACHE_DIR,
 * KFLASH_KLIPPER_DIR, KFLASH_SERVICE, KFLASH_KLIPPY_SOCKET, KFLASH_DEV_DIR,
 * KFLASH_SYS_DIR, KFLASH_CAN_SOCKET_DIR, KFLASH_CCACHE and
 * KFLASH_MOONRAKER_SOCKET, read once here (and KFLASH_NO_CCACHE, see
 * kflash_context_set_ccache_enabled(), and the service provider,
 * KFLASH_SERVICE_PROVIDER). The
 * setters below override both.
 *
 * The context is silent until an event handler is set, unless
 * LIBKFLASH_DEBUG is set in the environment: then every event is printed
 * to stderr until a handler replaces that default.
 *
 * @param[out] ret The new context with a reference count of 1.
 * @return 0, KFLASH_ERR_INVALID when @p ret is NULL, or
 * KFLASH_ERR_NO_MEMORY.
 */
int
kflash_context_new(struct kflash_context **ret);

/**
 * Take a reference.
 *
 * @param ctx A context, or NULL.
 * @return @p ctx.
 */
struct kflash_context *
kflash_context_ref(struct kflash_context *ctx);

/**
 * Drop a reference; the context is freed with the last one.
 *
 * @param ctx A context, or NULL.
 * @return NULL, so that callers can write `ctx = kflash_context_unref(ctx);`.
 */
struct kflash_context *
kflash_context_unref(struct kflash_context *ctx);

/**
 * Set the one event handler of the context.
 *
 * @param ctx A context.
 * @param handler The handler, or NULL to make the context silent.
 * @param user_data Passed to every call of @p handler.
 */
void
kflash_context_set_event_handler(struct kflash_context *ctx,
				 kflash_event_handler handler,
				 void *user_data);

/**
 * Set the least severe level that reaches the handler. Progress and phase
 * events are INFO. The default is KFLASH_LEVEL_INFO, or
 * KFLASH_LEVEL_DEBUG when LIBKFLASH_DEBUG is set.
 *
 * @param ctx A context.
 * @param level One of enum kflash_event_level.
 */
void
kflash_context_set_event_level(struct kflash_context *ctx, enum kflash_event_level level);

/**
 * @param ctx A context.
 * @return The level set with kflash_context_set_event_level().
 */
enum kflash_event_level
kflash_context_get_event_level(const struct kflash_context *ctx);

/**
 * @name Locations
 *
 * Each location has a default, an environment variable that overrides
 * the default, and a setter that overrides both. A setter given NULL
 * drops its override. Relative paths are made absolute against the
 * current directory when they are set. Each getter returns a string owned
 * by the context, valid until the next call of a setter on the same
 * context or kflash_context_unref(); it returns NULL only when memory
 * runs out (and for a location that has no default and is not set).
 *
 * The setters return 0, KFLASH_ERR_INVALID for an empty string or a
 * string with a newline, or KFLASH_ERR_NO_MEMORY.
 * @{
 */

/**
 * Set the configuration directory, which holds devices.json, configs/
 * and kflash.lock. Default: `$XDG_CONFIG_HOME/kflash` (or
 * `~/.config/kflash`); environment: KFLASH_CONFIG_DIR.
 */
int
kflash_context_set_config_dir(struct kflash_context *ctx, const char *path);
/** @return The configuration directory. */
const char *
kflash_context_get_config_dir(struct kflash_context *ctx);

/**
 * Set the board registry file. Default: `<config dir>/devices.json`;
 * environment: KFLASH_REGISTRY.
 */
int
kflash_context_set_registry(struct kflash_context *ctx, const char *path);
/** @return The board registry file. */
const char *
kflash_context_get_registry(struct kflash_context *ctx);

/**
 * Set the cache directory, which holds build/<board>/. Default:
 * `$XDG_CACHE_HOME/kflash` (or `~/.cache/kflash`); environment:
 * KFLASH_CACHE_DIR.
 */
int
kflash_context_set_cache_dir(struct kflash_context *ctx, const char *path);
/** @return The cache directory. */
const char *
kflash_context_get_cache_dir(struct kflash_context *ctx);

/**
 * Set the Klipper source tree. Default: `~/klipper`; environment:
 * KFLASH_KLIPPER_DIR.
 */
int
kflash_context_set_klipper_dir(struct kflash_context *ctx, const char *path);
/** @return The Klipper source tree. */
const char *
kflash_context_get_klipper_dir(struct kflash_context *ctx);

/**
 * Set the systemd unit of Klipper (a board may override it). Default:
 * `klipper`; environment: KFLASH_SERVICE. This is a unit name, not a
 * path, and is not made absolute.
 */
int
kflash_context_set_service(struct kflash_context *ctx, const char *unit);
/** @return The Klipper service unit. */
const char *
kflash_context_get_service(struct kflash_context *ctx);

/**
 * Set Klipper's API socket. Default:
 * `~/printer_data/comms/klippy.sock`; environment: KFLASH_KLIPPY_SOCKET.
 */
int
kflash_context_set_klippy_socket(struct kflash_context *ctx, const char *path);
/** @return Klipper's API socket. */
const char *
kflash_context_get_klippy_socket(struct kflash_context *ctx);

/**
 * Set the device directory in which boards are looked for. Default:
 * `/dev`; environment: KFLASH_DEV_DIR. With any other directory,
 * discovery uses only the links and ttys below it, not udev.
 */
int
kflash_context_set_dev_dir(struct kflash_context *ctx, const char *path);
/** @return The device directory. */
const char *
kflash_context_get_dev_dir(struct kflash_context *ctx);

/**
 * Set the sysfs directory, where a USB device's identity and its network
 * interface are read when the device dir is not `/dev` (the USB-to-CAN
 * bridge, for example), and where CAN interfaces are looked for. Default:
 * `/sys`; environment: KFLASH_SYS_DIR.
 */
int
kflash_context_set_sys_dir(struct kflash_context *ctx, const char *path);
/** @return The sysfs directory. */
const char *
kflash_context_get_sys_dir(struct kflash_context *ctx);

/**
 * Carry CAN traffic over UNIX sockets instead of the kernel's CAN sockets:
 * CAN interface NAME is the `SOCK_SEQPACKET` socket `DIR/NAME`, and every
 * packet in both directions is one 16-byte Linux `struct can_frame` (u32
 * can_id little-endian, u8 length, 3 pad bytes, 8 data bytes); the other
 * end delivers each frame to every other participant, never back to its
 * sender. For simulated buses and hosts without SocketCAN. Default: unset
 * (the kernel's interfaces); environment: KFLASH_CAN_SOCKET_DIR.
 */
int
kflash_context_set_can_socket_dir(struct kflash_context *ctx, const char *path);
/**
 * @return The CAN socket directory, or NULL when it is not set (CAN
 * interfaces are the kernel's).
 */
const char *
kflash_context_get_can_socket_dir(struct kflash_context *ctx);

/**
 * Set the ccache program that builds run the compiler through. Default:
 * `ccache`; environment: KFLASH_CCACHE. A value with a '/' is a path (made
 * absolute when it is set), any other a name looked up on PATH when a build
 * starts. When the program is not found, builds run the compiler directly.
 * Each board has a cache of its own, `<cache dir>/boards/<board>/ccache/`,
 * so that no board is ever built with another's objects; the fingerprint
 * of a build does not depend on ccache.
 */
int
kflash_context_set_ccache(struct kflash_context *ctx, const char *program);
/** @return The ccache program. */
const char *
kflash_context_get_ccache(struct kflash_context *ctx);

/**
 * Set Moonraker's UNIX socket, through which Klipper's units are stopped
 * and started when Moonraker runs (see kflash_context_set_service_provider()
 * in service.h). Default: `~/printer_data/comms/moonraker.sock`;
 * environment: KFLASH_MOONRAKER_SOCKET.
 */
int
kflash_context_set_moonraker_socket(struct kflash_context *ctx, const char *path);
/** @return Moonraker's socket. */
const char *
kflash_context_get_moonraker_socket(struct kflash_context *ctx);

/**
 * Set the directory of systemd unit files in which Klipper instances are
 * looked for (kflash_instances_find()). Default: `/etc/systemd/system`;
 * environment: KFLASH_UNITS_DIR.
 */
int
kflash_context_set_units_dir(struct kflash_context *ctx, const char *path);
/** @return The units directory. */
const char *
kflash_context_get_units_dir(struct kflash_context *ctx);

/** @} */

/**
 * Turn the use of ccache by builds on or off (see
 * kflash_context_set_ccache()). Default: on, or off when the environment
 * variable KFLASH_NO_CCACHE is set to a non-empty value when the context is
 * created.
 *
 * @param ctx A context.
 * @param enabled 0: builds never run ccache; any other value: builds run
 * the compiler through ccache when it is found.
 * @return 0, or KFLASH_ERR_INVALID when @p ctx is NULL.
 */
int
kflash_context_set_ccache_enabled(struct kflash_context *ctx, int enabled);

/**
 * @param ctx A context.
 * @return 1 when builds use ccache where it is found, else 0.
 */
int
kflash_context_get_ccache_enabled(const struct kflash_context *ctx);

/**
 * The timeouts a context applies, in milliseconds. 0 means "no limit"
 * where that makes sense (builds), and is refused where it does not.
 */
enum kflash_timeout {
	/** One firmware build (make). Default 20 minutes. */
	KFLASH_TIMEOUT_BUILD = 1,
	/** A short helper command (systemctl, git describe). Default 30 s. */
	KFLASH_TIMEOUT_COMMAND = 2,
	/** One external flash command (make flash, SD card). Default 5 min. */
	KFLASH_TIMEOUT_FLASH = 3,
	/** A board appearing in its bootloader. Default 10 s. */
	KFLASH_TIMEOUT_BOOTLOADER = 4,
	/** A board coming back running Klipper after a flash. Default 10 s. */
	KFLASH_TIMEOUT_RETURN = 5,
	/** One request to Klipper's API socket. Default 5 s. */
	KFLASH_TIMEOUT_KLIPPY = 6,
	/** Klipper reporting "ready" after it was started. Default 60 s. */
	KFLASH_TIMEOUT_READY = 7,
	/** Waiting for a lock held by another kflash process. Default 10 s. */
	KFLASH_TIMEOUT_LOCK = 8,
};

/**
 * Set a timeout.
 *
 * @param ctx A context.
 * @param which One of enum kflash_timeout.
 * @param ms The timeout in milliseconds; 0 is only accepted for
 * KFLASH_TIMEOUT_BUILD and KFLASH_TIMEOUT_FLASH, where it means no limit.
 * @return 0 or KFLASH_ERR_INVALID.
 */
int
kflash_context_set_timeout(struct kflash_context *ctx, enum kflash_timeout which, uint32_t ms);

/**
 * @param ctx A context.
 * @param which One of enum kflash_timeout.
 * @return The timeout in milliseconds, or 0 for an unknown @p which.
 */
uint32_t
kflash_context_get_timeout(const struct kflash_context *ctx, enum kflash_timeout which);

/**
 * Ask the operation running on @p ctx to stop as soon as it safely can.
 * Child processes are killed, waits end, and the operation returns
 * KFLASH_ERR_CANCELLED after its cleanup (a stopped service is started
 * again). Further operations fail with KFLASH_ERR_CANCELLED until
 * kflash_context_clear_cancel() is called.
 *
 * This function is async-signal-safe and thread-safe: a SIGINT handler
 * may call it.
 *
 * @param ctx A context.
 */
void
kflash_context_cancel(struct kflash_context *ctx);

/**
 * @param ctx A context.
 * @return 1 after kflash_context_cancel(), else 0.
 */
int
kflash_context_is_cancelled(const struct kflash_context *ctx);

/**
 * Forget an earlier kflash_context_cancel(), so that the context can be
 * used again.
 *
 * @param ctx A context.
 */
void
kflash_context_clear_cancel(struct kflash_context *ctx);

/**
 * The detail of the most recent failure on this context: what failed,
 * on which board or file, and what to do about it.
 *
 * @param ctx A context.
 * @return A message owned by the context, valid until the next failure on
 * this context or kflash_context_unref(); "" when nothing has failed yet.
 * A later success does not clear it.
 */
const char *
kflash_context_last_error(const struct kflash_context *ctx);

/**
 * @param ctx A context.
 * @return The code of the most recent failure (enum kflash_error), or 0.
 */
int
kflash_context_last_error_code(const struct kflash_context *ctx);

/**
 * What the caller can do about the most recent failure.
 *
 * @param ctx A context.
 * @return A value of enum kflash_hint; KFLASH_HINT_NONE when the failure
 * has none, or nothing has failed yet.
 */
int
kflash_context_last_error_hint(const struct kflash_context *ctx);

/**
 * What the hint of the most recent failure is about.
 *
 * @param ctx A context.
 * @return For example the board whose config is missing, owned by the
 * context and valid until the next failure or kflash_context_unref(); NULL
 * when the hint has no subject.
 */
const char *
kflash_context_last_error_subject(const struct kflash_context *ctx);

/**
 * @return The version of the library at run time, for example "0.1.0".
 */
const char *
kflash_version(void);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KFLASH_CONTEXT_H */
