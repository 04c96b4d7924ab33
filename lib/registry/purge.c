/* SPDX-License-Identifier: MIT */
/* The files kflash keeps for a board outside devices.json. */
#include "internal/fs.h"
#include "libkflash-private.h"

KFLASH_EXPORT int
kflash_board_purge_files(struct kflash_context *ctx, const char *name)
{
	const char *config_dir = kflash_context_get_config_dir(ctx);
	const char *cache_dir = kflash_context_get_cache_dir(ctx);
	char *paths[4];
	int r = 0;

	if (!kf_name_is_valid(name))
		return kf_error(ctx, KFLASH_ERR_INVALID, "'%s' is not a valid board name",
				name ? name : "");
	paths[0] = kf_strdup_printf("%s/configs/%s.config", config_dir, name);
	paths[1] = kf_strdup_printf("%s/configs/%s.config.old", config_dir, name);
	paths[2] = kf_strdup_printf("%s/build/%s", cache_dir, name);
	paths[3] = kf_strdup_printf("%s/boards/%s", cache_dir, name);
	for (size_t i = 0; i < KF_ARRAY_SIZE(paths); i++) {
		if (!paths[i] && r == 0)
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		if (paths[i] && r == 0) {
			r = kf_fs_remove_tree(ctx, paths[i]);
			if (r == 0)
				kf_debug(ctx, "removed %s", paths[i]);
		}
		free(paths[i]);
	}
	return r;
}
