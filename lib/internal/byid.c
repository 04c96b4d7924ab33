/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>

#include "byid.h"
#include "util/util.h"

/* The "-ifNN" of the name, or NULL. Matches the last one. */
static const char *
find_interface_suffix(const char *s)
{
	const char *found = NULL;

	for (const char *p = strstr(s, "-if"); p; p = strstr(p + 1, "-if"))
		if (isxdigit((unsigned char)p[3]) && isxdigit((unsigned char)p[4]) &&
		    (p[5] == '\0' || kf_startswith(p + 5, "-port")))
			found = p;
	return found;
}

/* Does a trailing field of an adapter's name look like a serial number? */
static bool
looks_like_serial(const char *s)
{
	bool digit = false;
	size_t n = 0;

	for (; *s; s++, n++) {
		if (!isalnum((unsigned char)*s))
			return false;
		if (isdigit((unsigned char)*s))
			digit = true;
	}
	return n >= 4 && digit;
}

static enum kf_byid_kind
kind_of_vendor(const char *vendor)
{
	if (strcasecmp(vendor, "Klipper") == 0)
		return KF_BYID_KLIPPER;
	if (strcasecmp(vendor, "katapult") == 0 || strcasecmp(vendor, "CanBoot") == 0)
		return KF_BYID_KATAPULT;
	return KF_BYID_OTHER;
}

void
kf_byid_clear(struct kf_byid *id)
{
	free(id->vendor);
	free(id->product);
	free(id->serial);
	*id = (struct kf_byid){ .interface = -1 };
}

int
kf_byid_parse(const char *name, struct kf_byid *out)
{
	_cleanup_free_ char *id = NULL;
	const char *suffix;
	char *sep, *last;

	*out = (struct kf_byid){ .interface = -1 };
	if (!name || !kf_startswith(name, "usb-") || strlen(name) > NAME_MAX || strchr(name, '/'))
		return -EINVAL;

	suffix = find_interface_suffix(name + 4);
	if (suffix) {
		out->interface = (int)strtol(suffix + 3, NULL, 16);
		id = strndup(name + 4, (size_t)(suffix - (name + 4)));
	} else {
		id = strdup(name + 4);
	}
	if (!id)
		return -ENOMEM;
	if (!*id || id[0] == '_')
		return -EINVAL;

	sep = strchr(id, '_');
	if (sep)
		*sep = '\0';
	out->vendor = strdup(id);
	if (!out->vendor)
		goto oom;
	out->kind = kind_of_vendor(out->vendor);
	if (!sep || !sep[1])
		return 0;

	/* sep + 1 is "<product>[_<serial>]". */
	last = strrchr(sep + 1, '_');
	if (last && last[1] && (out->kind != KF_BYID_OTHER || looks_like_serial(last + 1))) {
		*last = '\0';
		out->serial = strdup(last + 1);
		if (!out->serial)
			goto oom;
	}
	if (sep[1]) {
		out->product = strdup(sep + 1);
		if (!out->product)
			goto oom;
	}
	return 0;
oom:
	kf_byid_clear(out);
	return -ENOMEM;
}
