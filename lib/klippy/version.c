/* SPDX-License-Identifier: MIT */
/* Klipper versions: `git describe` output, without its build suffixes. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "libkflash-private.h"

#define VERSION_MAX 128

/* Drop "-dirty" and "-YYYYMMDD_HHMMSS-host" (and what follows them). */
static void
strip_suffixes(char *v)
{
	char *dirty = strstr(v, "-dirty");

	if (dirty)
		*dirty = '\0';
	for (char *p = v; (p = strchr(p, '-')); p++) {
		if (strlen(p) >= 17 && strspn(p + 1, "0123456789") == 8 && p[9] == '_' &&
		    strspn(p + 10, "0123456789") == 6 && (p[16] == '-' || p[16] == '\0')) {
			*p = '\0';
			break;
		}
	}
}

struct described {
	unsigned long parts[4]; /* the tag's numbers */
	size_t n_parts;
	unsigned long commits; /* after the tag */
};

/* "v0.12.0-396-gabc1234" (or "v0.12.0"); false when not of that form. */
static bool
parse(const char *v, struct described *d)
{
	const char *p = v;
	char *end;

	memset(d, 0, sizeof(*d));
	if (*p == 'v')
		p++;
	while (d->n_parts < KF_ARRAY_SIZE(d->parts)) {
		if (!isdigit((unsigned char)*p))
			return false;
		d->parts[d->n_parts++] = strtoul(p, &end, 10);
		p = end;
		if (*p != '.')
			break;
		p++;
	}
	if (*p == '\0')
		return true;
	if (*p != '-' || !isdigit((unsigned char)p[1]))
		return false;
	d->commits = strtoul(p + 1, &end, 10);
	p = end;
	if (*p == '\0')
		return true;
	if (p[0] != '-' || p[1] != 'g' || !p[2])
		return false;
	return strspn(p + 2, "0123456789abcdef") == strlen(p + 2);
}

KFLASH_EXPORT int
kflash_klipper_version_compare(const char *a, const char *b)
{
	char x[VERSION_MAX], y[VERSION_MAX];
	struct described da, db;

	if (!a || !b)
		return KFLASH_VERSION_DIFFERENT;
	snprintf(x, sizeof(x), "%s", a);
	snprintf(y, sizeof(y), "%s", b);
	strip_suffixes(x);
	strip_suffixes(y);
	if (strcmp(x, y) == 0)
		return KFLASH_VERSION_SAME;
	if (!parse(x, &da) || !parse(y, &db))
		return KFLASH_VERSION_DIFFERENT;
	for (size_t i = 0; i < KF_ARRAY_SIZE(da.parts); i++) {
		if (da.parts[i] != db.parts[i])
			return da.parts[i] < db.parts[i] ? KFLASH_VERSION_OLDER
							 : KFLASH_VERSION_NEWER;
	}
	if (da.commits != db.commits)
		return da.commits < db.commits ? KFLASH_VERSION_OLDER : KFLASH_VERSION_NEWER;
	/* Same tag and count, another commit: a different branch. */
	return KFLASH_VERSION_DIFFERENT;
}
