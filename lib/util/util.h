/* SPDX-License-Identifier: MIT */
/*
 * Small generic helpers: cleanup attributes, strings, string vectors,
 * time. No dependency on the context.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define KF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Resize the array @p (a pointer variable) to @n elements; true on
 * success, false when memory runs out (@p is then unchanged).
 */
#define KF_GROW(p, n)                                                                              \
	({                                                                                         \
		__typeof__(p) _grown = reallocarray((p), (n) ? (n) : 1, sizeof(*(p)));             \
		_grown ? ((p) = _grown, true) : false;                                             \
	})

static inline void
kf_freep(void *p)
{
	free(*(void **)p);
}

static inline void
kf_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Free or close automatically when the variable goes out of scope. */
#define _cleanup_free_ __attribute__((cleanup(kf_freep)))
#define _cleanup_close_ __attribute__((cleanup(kf_closep)))
#define _cleanup_strv_ __attribute__((cleanup(kf_strv_freep)))

/* Take ownership out of a cleanup variable. */
#define kf_steal(pp)                                                                               \
	({                                                                                         \
		__typeof__(*(pp)) _kf_tmp = *(pp);                                                 \
		*(pp) = NULL;                                                                      \
		_kf_tmp;                                                                           \
	})

#define kf_steal_fd(fdp)                                                                           \
	({                                                                                         \
		int _kf_fd = *(fdp);                                                               \
		*(fdp) = -1;                                                                       \
		_kf_fd;                                                                            \
	})

static inline bool
kf_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static inline bool
kf_startswith(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* asprintf that returns the string, or NULL when memory runs out. */
char *
kf_strdup_printf(const char *fmt, ...) KF_PRINTF(1, 2);

/* strdup(NULL) is NULL. */
char *
kf_strdup(const char *s);

/* "a" + "/" + "b", without a double slash. NULL on OOM. */
char *
kf_path_join(const char *a, const char *b);

/* Remove trailing '\n' and '\r'. */
void
kf_strip_newline(char *s);

/* ---- NULL-terminated string vectors ---- */

size_t
kf_strv_length(char *const *strv);

/* Append a copy of @s; false on OOM (the vector is unchanged then). */
bool
kf_strv_push(char ***strv, const char *s);

/* Append a formatted string; false on OOM. */
bool
kf_strv_pushf(char ***strv, const char *fmt, ...) KF_PRINTF(2, 3);

void
kf_strv_free(char **strv);

static inline void
kf_strv_freep(char ***strv)
{
	kf_strv_free(*strv);
}

/* ---- time ---- */

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t
kf_now_ms(void);

/* ---- names ---- */

/* A board name: ^[a-z0-9][a-z0-9_-]{0,31}$ */
bool
kf_name_is_valid(const char *name);
