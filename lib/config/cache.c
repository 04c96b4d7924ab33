/* SPDX-License-Identifier: MIT */
/* Each board's cached .config: load and check, seed, menuconfig, refresh. */
#include <string.h>
#include <unistd.h>

#include "internal/fs.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"

static int
check_mcu(struct kflash_context *ctx,
	  const struct kflash_board *board,
	  const struct kflash_config *c)
{
	const char *want = kflash_board_get_mcu(board);
	const char *have = kflash_config_get_mcu(c);

	if (!have)
		return kf_error_hint(ctx, KFLASH_ERR_CORRUPT, KFLASH_HINT_CONFIGURE_BOARD,
				     kflash_board_get_name(board),
				     "%s names no MCU (no CONFIG_MCU); configure the board again",
				     kflash_config_get_path(c));
	if (want && !kflash_mcu_matches(want, have))
		return kf_error_hint(ctx, KFLASH_ERR_MCU_MISMATCH, KFLASH_HINT_CONFIGURE_BOARD,
				     kflash_board_get_name(board),
				     "board %s is a %s, but %s is for a %s; choose the board's MCU "
				     "in its config, or correct the board's MCU",
				     kflash_board_get_name(board), want, kflash_config_get_path(c),
				     have);
	return 0;
}

KFLASH_EXPORT int
kflash_board_config_load(struct kflash_context *ctx,
			 const struct kflash_board *board,
			 struct kflash_config **ret)
{
	_cleanup_free_ char *path = NULL;
	struct kflash_config *c;
	int r;

	if (!board || !ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board given");
	*ret = NULL;
	path = kf_board_config_path(ctx, kflash_board_get_name(board));
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (kf_fs_exists(path) == 0)
		return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_CONFIGURE_BOARD,
				     kflash_board_get_name(board),
				     "board %s has no Klipper config yet (%s); create it with "
				     "Klipper's menuconfig, or seed it from a .config file",
				     kflash_board_get_name(board), path);
	r = kflash_config_load(ctx, path, &c);
	if (r == 0)
		r = check_mcu(ctx, board, c);
	if (r < 0) {
		kflash_config_unref(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Make sure configs/ exists, and keep the current file as .old. */
static int
prepare(struct kflash_context *ctx, const char *path)
{
	_cleanup_free_ char *dir = kf_strdup(path), *old = NULL, *text = NULL;
	size_t len;
	int r;

	if (!dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	*strrchr(dir, '/') = '\0';
	r = kf_fs_mkdir_p(ctx, dir, 0700);
	if (r < 0 || kf_fs_exists(path) != 1)
		return r;
	old = kf_strdup_printf("%s.old", path);
	r = kf_fs_read_file(ctx, path, 1024 * 1024, KF_FS_NOFOLLOW, &text, &len);
	if (r == 0)
		r = kf_fs_write_atomic(ctx, old, text, len, 0600, 0);
	return r;
}

KFLASH_EXPORT int
kflash_board_config_seed(struct kflash_context *ctx,
			 const struct kflash_board *board,
			 const char *from)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	struct kflash_config *c = NULL;
	size_t len;
	int r;

	if (!board || !from)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board or file given");
	r = kflash_config_load(ctx, from, &c);
	if (r == 0)
		r = check_mcu(ctx, board, c);
	kflash_config_unref(c);
	if (r < 0)
		return r;
	path = kf_board_config_path(ctx, kflash_board_get_name(board));
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = kf_fs_read_file(ctx, from, 1024 * 1024, 0, &text, &len);
	if (r == 0)
		r = prepare(ctx, path);
	if (r == 0)
		r = kf_fs_write_atomic(ctx, path, text, len, 0600, 0);
	if (r == 0)
		kf_info(ctx, "board %s: config seeded from %s", kflash_board_get_name(board), from);
	return r;
}

/* Run a kconfig target on the board's config, then check the result. */
static int
run_kconfig(struct kflash_context *ctx,
	    const struct kflash_board *board,
	    const char *target,
	    bool interactive)
{
	const char *name = kflash_board_get_name(board);
	_cleanup_free_ char *path = kf_board_config_path(ctx, name);
	_cleanup_free_ char *out = kf_board_build_dir(ctx, name);
	const char *const targets[] = { target, NULL };
	struct kf_make m = {
		.config = path,
		.out = out,
		.targets = targets,
		.interactive = interactive,
		.timeout_ms =
			interactive ? 0 : kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
	};
	struct kflash_config *c = NULL;
	struct kf_scope prev;
	int r;

	if (!path || !out)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	prev = kf_scope_enter(ctx, KFLASH_PHASE_CONFIG, name);
	r = prepare(ctx, path);
	if (r == 0)
		r = kf_fs_mkdir_p(ctx, out, 0700);
	if (r == 0)
		r = kf_klipper_make(ctx, &m);
	if (r == 0)
		r = kflash_board_config_load(ctx, board, &c);
	if (r == 0)
		kf_info(ctx, "%s is for a %s (%s)", path, kflash_config_get_mcu(c),
			kflash_comm_name(kflash_config_get_comm(c)));
	kflash_config_unref(c);
	kf_scope_leave(ctx, prev);
	return r;
}

KFLASH_EXPORT int
kflash_board_config_menuconfig(struct kflash_context *ctx, const struct kflash_board *board)
{
	if (!board)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board given");
	if (!isatty(STDIN_FILENO))
		return kf_error_hint(ctx, KFLASH_ERR_NOT_TTY, KFLASH_HINT_CONFIGURE_BOARD,
				     kflash_board_get_name(board),
				     "Klipper's menuconfig for board %s needs a terminal; without "
				     "one, seed the config from a .config file, or refresh the one "
				     "it has",
				     kflash_board_get_name(board));
	return run_kconfig(ctx, board, "menuconfig", true);
}

KFLASH_EXPORT int
kflash_board_config_refresh(struct kflash_context *ctx, const struct kflash_board *board)
{
	_cleanup_free_ char *path = NULL;

	if (!board)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board given");
	path = kf_board_config_path(ctx, kflash_board_get_name(board));
	if (path && kf_fs_exists(path) == 0)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND,
				"board %s has no config to refresh (%s); create it with kflash "
				"config %s",
				kflash_board_get_name(board), path, kflash_board_get_name(board));
	return run_kconfig(ctx, board, "olddefconfig", false);
}
