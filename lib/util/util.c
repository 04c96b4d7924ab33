/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "util.h"

char *
kf_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);

	return r < 0 ? NULL : s;
}

char *
kf_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *
kf_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return kf_strdup_printf("%.*s/%s", (int)la, a, b);
}

void
kf_strip_newline(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

size_t
kf_strv_length(char *const *strv)
{
	size_t n = 0;

	while (strv && strv[n])
		n++;
	return n;
}

static bool
strv_push_owned(char ***strv, char *s)
{
	size_t n = kf_strv_length(*strv);
	char **v;

	if (!s)
		return false;
	v = realloc(*strv, (n + 2) * sizeof(*v));
	if (!v) {
		free(s);
		return false;
	}
	v[n] = s;
	v[n + 1] = NULL;
	*strv = v;
	return true;
}

bool
kf_strv_push(char ***strv, const char *s)
{
	return strv_push_owned(strv, strdup(s));
}

bool
kf_strv_pushf(char ***strv, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);

	return r >= 0 && strv_push_owned(strv, s);
}

void
kf_strv_free(char **strv)
{
	for (size_t i = 0; strv && strv[i]; i++)
		free(strv[i]);
	free(strv);
}

uint64_t
kf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool
kf_name_is_valid(const char *name)
{
	size_t n;

	if (!name || !*name)
		return false;
	n = strlen(name);
	if (n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}
