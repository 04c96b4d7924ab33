/* SPDX-License-Identifier: MIT */
/* The Klipper tree: there, and what git says of it. */
#include <string.h>

#include "check-private.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"

static const char *const tree_state_names[] = {
	[KFLASH_TREE_CLEAN] = "clean",
	[KFLASH_TREE_DIRTY] = "dirty",
	[KFLASH_TREE_NO_GIT] = "no-git",
};

KFLASH_EXPORT const char *
kflash_tree_state_name(int state)
{
	return state > 0 && (size_t)state < KF_ARRAY_SIZE(tree_state_names)
		       ? tree_state_names[state]
		       : "unknown";
}

KFLASH_EXPORT int
kflash_klipper_check_tree(struct kflash_context *ctx, int *state, char *version, size_t size)
{
	_cleanup_free_ char *described = NULL;
	size_t n;
	int r;

	kf_check_copy(version, size, NULL);
	if (!state)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the tree's state");
	r = kf_klipper_check_tree(ctx, kflash_context_get_klipper_dir(ctx));
	if (r == 0)
		r = kf_klipper_version(ctx, &described);
	if (r < 0)
		return r;
	kf_check_copy(version, size, described);
	n = described ? strlen(described) : 0;
	if (!described)
		*state = KFLASH_TREE_NO_GIT;
	else if (n > 6 && strcmp(described + n - 6, "-dirty") == 0)
		*state = KFLASH_TREE_DIRTY;
	else
		*state = KFLASH_TREE_CLEAN;
	return 0;
}
