/* SPDX-License-Identifier: MIT */
/* Room in the cache dir for the builds. */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "check-private.h"
#include "libkflash-private.h"

static const char *const space_names[] = {
	[KFLASH_SPACE_ENOUGH] = "enough",
	[KFLASH_SPACE_LOW] = "low",
	[KFLASH_SPACE_TOO_LOW] = "too-low",
};

KFLASH_EXPORT const char *
kflash_space_name(int space)
{
	return space > 0 && (size_t)space < KF_ARRAY_SIZE(space_names) ? space_names[space]
								       : "unknown";
}

int
kf_space_judge(uint64_t available, size_t boards)
{
	uint64_t builds = (boards ? boards : 1) * KFLASH_SPACE_PER_BUILD;

	if (available < builds)
		return KFLASH_SPACE_TOO_LOW;
	if (available - builds < KFLASH_SPACE_MARGIN)
		return KFLASH_SPACE_LOW;
	return KFLASH_SPACE_ENOUGH;
}

KFLASH_EXPORT int
kflash_check_cache_space(struct kflash_context *ctx, size_t boards, int *space, uint64_t *available)
{
	_cleanup_free_ char *dir = kf_strdup(kflash_context_get_cache_dir(ctx));
	struct statvfs st;
	uint64_t bytes;

	if (!space)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the space");
	if (!dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* A cache dir not made yet will be made on its nearest parent's file system. */
	while (statvfs(dir, &st) < 0) {
		char *slash = strrchr(dir, '/');

		if (errno != ENOENT || !slash || strcmp(dir, "/") == 0)
			return kf_error_sys(ctx, errno,
					    "cannot tell the free space of %s (the cache dir %s)",
					    dir, kflash_context_get_cache_dir(ctx));
		slash[slash == dir ? 1 : 0] = '\0';
	}
	bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	*space = kf_space_judge(bytes, boards);
	if (available)
		*available = bytes;
	return 0;
}
