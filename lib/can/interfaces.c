/* SPDX-License-Identifier: MIT */
/*
 * The host's CAN interfaces: network interfaces of type CAN (ARPHRD_CAN,
 * 280) that are up, as sysfs lists them, or the sockets of a CAN socket dir.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "can-private.h"
#include "internal/fs.h"

#define ARPHRD_CAN_TEXT "280"

struct kflash_can_interfaces {
	int refcount;
	char **names;
	size_t count;
};

/* The first line of @dir/@name/@file, or NULL. */
static char *
first_line(struct kflash_context *ctx, const char *dir, const char *name, const char *file)
{
	_cleanup_free_ char *path = kf_strdup_printf("%s/%s/%s", dir, name, file);
	char *text = NULL;

	if (!path || kf_fs_read_file(ctx, path, 256, 0, &text, NULL) < 0)
		return NULL;
	kf_strip_newline(text);
	return text;
}

/* Is @name under @net a CAN interface that is up? */
static bool
is_up_can(struct kflash_context *ctx, const char *net, const char *name)
{
	_cleanup_free_ char *type = first_line(ctx, net, name, "type");
	_cleanup_free_ char *flags = first_line(ctx, net, name, "flags");

	/* IFF_UP is bit 0 of the flags, which sysfs writes in hex. */
	return type && strcmp(type, ARPHRD_CAN_TEXT) == 0 && flags &&
	       (strtoul(flags, NULL, 16) & 1);
}

static int
is_socket_in(const char *dir, const char *name)
{
	_cleanup_free_ char *path = kf_strdup_printf("%s/%s", dir, name);
	struct stat st;

	return path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int
compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

KFLASH_EXPORT int
kflash_can_find_interfaces(struct kflash_context *ctx, struct kflash_can_interfaces **ret)
{
	const char *sockets = kflash_context_get_can_socket_dir(ctx);
	_cleanup_free_ char *net = NULL;
	struct kflash_can_interfaces *list;
	struct dirent *de;
	const char *dir;
	DIR *d;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the interfaces");
	*ret = NULL;
	list = calloc(1, sizeof(*list));
	net = kf_path_join(kflash_context_get_sys_dir(ctx), "class/net");
	if (!list || !net) {
		free(list);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	list->refcount = 1;
	dir = sockets ? sockets : net;
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		bool wanted;

		if (de->d_name[0] == '.')
			continue;
		wanted = sockets ? is_socket_in(sockets, de->d_name)
				 : is_up_can(ctx, net, de->d_name);
		if (wanted && (!KF_GROW(list->names, list->count + 1) ||
			       !(list->names[list->count] = strdup(de->d_name)))) {
			closedir(d);
			kflash_can_interfaces_unref(list);
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		list->count += wanted;
	}
	if (d)
		closedir(d);
	if (list->count)
		qsort(list->names, list->count, sizeof(*list->names), compare);
	*ret = list;
	return 0;
}

KFLASH_EXPORT struct kflash_can_interfaces *
kflash_can_interfaces_ref(struct kflash_can_interfaces *list)
{
	if (list)
		list->refcount++;
	return list;
}

KFLASH_EXPORT struct kflash_can_interfaces *
kflash_can_interfaces_unref(struct kflash_can_interfaces *list)
{
	if (!list || --list->refcount > 0)
		return NULL;
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	free(list);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_can_interfaces_get_count(const struct kflash_can_interfaces *list)
{
	return list ? list->count : 0;
}

KFLASH_EXPORT const char *
kflash_can_interfaces_get_name(const struct kflash_can_interfaces *list, size_t index)
{
	return list && index < list->count ? list->names[index] : NULL;
}
