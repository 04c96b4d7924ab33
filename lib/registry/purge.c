/* SPDX-License-Identifier: MIT */
/* The files kflash keeps for a board outside devices.json. */
#include "internal/fs.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"

KFLASH_EXPORT int
kflash_board_purge_files(struct kflash_context *ctx, const char *name)
{
	char *paths[4];
	int r = 0;

	if (!kf_name_is_valid(name))
		return kf_error(ctx, KFLASH_ERR_INVALID, "'%s' is not a valid board name",
				name ? name : "");
	paths[0] = kf_board_config_path(ctx, name);
	paths[1] = paths[0] ? kf_strdup_printf("%s.old", paths[0]) : NULL;
	paths[2] = kf_board_build_dir(ctx, name);
	paths[3] = kf_board_state_dir(ctx, name);
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
