/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "context-private.h"

struct error_info {
	int code;
	const char *name;
	const char *text;
};

static const struct error_info errors[] = {
	{ KFLASH_OK, "KFLASH_OK", "Success" },
	{ KFLASH_ERR_INVALID, "KFLASH_ERR_INVALID", "Invalid argument" },
	{ KFLASH_ERR_NOT_FOUND, "KFLASH_ERR_NOT_FOUND", "Not found" },
	{ KFLASH_ERR_EXISTS, "KFLASH_ERR_EXISTS", "Already exists" },
	{ KFLASH_ERR_CORRUPT, "KFLASH_ERR_CORRUPT", "Corrupt file" },
	{ KFLASH_ERR_LOCKED, "KFLASH_ERR_LOCKED", "Locked by another process" },
	{ KFLASH_ERR_IO, "KFLASH_ERR_IO", "Input/output error" },
	{ KFLASH_ERR_NO_MEMORY, "KFLASH_ERR_NO_MEMORY", "Out of memory" },
	{ KFLASH_ERR_PERMISSION, "KFLASH_ERR_PERMISSION", "Permission denied" },
	{ KFLASH_ERR_MCU_MISMATCH, "KFLASH_ERR_MCU_MISMATCH", "MCU mismatch" },
	{ KFLASH_ERR_BUILD, "KFLASH_ERR_BUILD", "Firmware build failed" },
	{ KFLASH_ERR_FLASH, "KFLASH_ERR_FLASH", "Flashing failed" },
	{ KFLASH_ERR_TIMEOUT, "KFLASH_ERR_TIMEOUT", "Timed out" },
	{ KFLASH_ERR_SERVICE, "KFLASH_ERR_SERVICE", "Service control failed" },
	{ KFLASH_ERR_CANCELLED, "KFLASH_ERR_CANCELLED", "Cancelled" },
	{ KFLASH_ERR_NOT_TTY, "KFLASH_ERR_NOT_TTY", "Not a terminal" },
	{ KFLASH_ERR_BUSY, "KFLASH_ERR_BUSY", "Device busy" },
	{ KFLASH_ERR_PROTOCOL, "KFLASH_ERR_PROTOCOL", "Protocol error" },
	{ KFLASH_ERR_AMBIGUOUS, "KFLASH_ERR_AMBIGUOUS", "Ambiguous device" },
	{ KFLASH_ERR_PRINTING, "KFLASH_ERR_PRINTING", "Printer is busy printing" },
	{ KFLASH_ERR_NOT_SUPPORTED, "KFLASH_ERR_NOT_SUPPORTED", "Not supported" },
	{ KFLASH_ERR_NOT_READY, "KFLASH_ERR_NOT_READY", "Klipper is not ready" },
};

static const char *const hint_names[] = {
	[KFLASH_HINT_NONE] = "none",
	[KFLASH_HINT_FORCE] = "force",
	[KFLASH_HINT_SET_KLIPPY_SOCKET] = "set-klippy-socket",
	[KFLASH_HINT_SET_KLIPPER_DIR] = "set-klipper-dir",
	[KFLASH_HINT_SET_DEV_DIR] = "set-dev-dir",
	[KFLASH_HINT_SET_SERVICE] = "set-service",
	[KFLASH_HINT_CONFIGURE_BOARD] = "configure-board",
	[KFLASH_HINT_REFRESH_CONFIG] = "refresh-config",
	[KFLASH_HINT_EDIT_BOARD] = "edit-board",
	[KFLASH_HINT_ADD_BOARD] = "add-board",
	[KFLASH_HINT_LIST_BOARDS] = "list-boards",
	[KFLASH_HINT_BUILD] = "build",
	[KFLASH_HINT_CLEAN_BUILD] = "clean-build",
	[KFLASH_HINT_KEEP_GOING] = "keep-going",
};

KFLASH_EXPORT const char *
kflash_hint_name(int hint)
{
	return hint >= 0 && (size_t)hint < KF_ARRAY_SIZE(hint_names) && hint_names[hint]
		       ? hint_names[hint]
		       : "none";
}

void
kf_set_hint(struct kflash_context *ctx, int hint, const char *subject)
{
	if (!ctx)
		return;
	free(ctx->last_error_subject);
	ctx->last_error_subject = subject ? strdup(subject) : NULL;
	ctx->last_error_hint = hint;
}

static const struct error_info *
lookup(int code)
{
	if (code > 0)
		code = -code;
	for (size_t i = 0; i < KF_ARRAY_SIZE(errors); i++)
		if (errors[i].code == code)
			return &errors[i];
	return NULL;
}

KFLASH_EXPORT const char *
kflash_strerror(int error)
{
	const struct error_info *e = lookup(error);

	return e ? e->text : "Unknown error";
}

KFLASH_EXPORT const char *
kflash_error_name(int error)
{
	const struct error_info *e = lookup(error);

	return e ? e->name : "KFLASH_ERR_UNKNOWN";
}

int
kf_errno_to_error(int errnum)
{
	switch (errnum) {
	case 0:
		return 0;
	case ENOMEM:
		return KFLASH_ERR_NO_MEMORY;
	case EACCES:
	case EPERM:
	case EROFS:
		return KFLASH_ERR_PERMISSION;
	case ENOENT:
	case ENOTDIR:
	case ENODEV:
	case ENXIO:
		return KFLASH_ERR_NOT_FOUND;
	case EEXIST:
		return KFLASH_ERR_EXISTS;
	case ETIMEDOUT:
		return KFLASH_ERR_TIMEOUT;
	case EBUSY:
		return KFLASH_ERR_BUSY;
	case EWOULDBLOCK:
		return KFLASH_ERR_LOCKED;
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
		return KFLASH_ERR_INVALID;
	case ECANCELED:
		return KFLASH_ERR_CANCELLED;
	default:
		return KFLASH_ERR_IO;
	}
}

static int
record(struct kflash_context *ctx, int code, const char *suffix, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (code > 0)
		code = -code;
	if (!ctx)
		return code;

	if (vasprintf(&msg, fmt, ap) >= 0 && suffix) {
		char *full = kf_strdup_printf("%s: %s", msg, suffix);

		free(msg);
		msg = full;
	}
	if (msg) {
		kf_strip_newline(msg);
		free(ctx->last_error);
		ctx->last_error = msg;
	}
	/* On OOM the previous message stays; the code still tells the class. */
	ctx->last_error_code = code;
	kf_set_hint(ctx, KFLASH_HINT_NONE, NULL);
	kf_debug(ctx, "error %s: %s", kflash_error_name(code), ctx->last_error);
	return code;
}

int
kf_error(struct kflash_context *ctx, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(ctx, code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int
kf_error_hint(
	struct kflash_context *ctx, int code, int hint, const char *subject, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(ctx, code, NULL, fmt, ap);
	va_end(ap);
	kf_set_hint(ctx, hint, subject);
	return code;
}

int
kf_error_errno(struct kflash_context *ctx, int code, int errnum, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	code = record(ctx, code, strerror_r(errnum, buf, sizeof(buf)), fmt, ap);
	va_end(ap);
	return code;
}

int
kf_error_sys(struct kflash_context *ctx, int errnum, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int code;

	va_start(ap, fmt);
	code = record(ctx, kf_errno_to_error(errnum) ?: KFLASH_ERR_IO,
		      strerror_r(errnum, buf, sizeof(buf)), fmt, ap);
	va_end(ap);
	return code;
}
