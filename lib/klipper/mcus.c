/* SPDX-License-Identifier: MIT */
/*
 * The MCU names Klipper knows: the defaults of `config MCU` in the Kconfig
 * file of each of its architectures (src/<arch>/Kconfig), plus "linux".
 */
#include <dirent.h>
#include <string.h>
#include <strings.h>

#include "internal/fs.h"
#include "klipper.h"
#include "libkflash-private.h"

#define KCONFIG_MAX (256 * 1024)

/* Append the `default "X"` values of the `config MCU` entry of @text to @names. */
static int
collect(char *text, char ***names)
{
	bool in_mcu = false;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p = line + strspn(line, " \t");
		const char *open, *close;

		/* An entry ends where the next unindented line begins. */
		if (p == line)
			in_mcu = strcmp(line, "config MCU") == 0;
		if (!in_mcu || strncmp(p, "default \"", 9) != 0)
			continue;
		open = p + 9;
		close = strchr(open, '"');
		if (close && close > open &&
		    !kf_strv_pushf(names, "%.*s", (int)(close - open), open))
			return KFLASH_ERR_NO_MEMORY;
	}
	return 0;
}

/* Every MCU name of the Klipper tree; KFLASH_ERR_NOT_FOUND without its src/. */
static int
known_mcus(struct kflash_context *ctx, char ***names)
{
	const char *klipper = kflash_context_get_klipper_dir(ctx);
	_cleanup_free_ char *src = kf_path_join(klipper, "src");
	struct dirent *de;
	DIR *d;
	int r = 0;

	*names = NULL;
	if (!src)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	d = opendir(src);
	if (!d)
		return kf_error_hint(
			ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_SET_KLIPPER_DIR, NULL,
			"the MCU names Klipper knows cannot be read: no Klipper source "
			"tree at %s",
			klipper);
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *kconfig = NULL, *text = NULL;

		if (de->d_name[0] == '.')
			continue;
		kconfig = kf_strdup_printf("%s/%s/Kconfig", src, de->d_name);
		if (!kconfig)
			r = KFLASH_ERR_NO_MEMORY;
		else if (kf_fs_read_file(ctx, kconfig, KCONFIG_MAX, KF_FS_NOFOLLOW, &text, NULL) ==
			 0)
			r = collect(text, names);
	}
	closedir(d);
	if (r == 0 && !kf_strv_push(names, "linux"))
		r = KFLASH_ERR_NO_MEMORY;
	return r < 0 ? kf_error(ctx, r, "out of memory") : 0;
}

KFLASH_EXPORT int
kflash_klipper_check_mcu(struct kflash_context *ctx, const char *mcu)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ char *close = NULL;
	int r;

	if (!mcu || !*mcu)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no MCU name given");
	r = known_mcus(ctx, &names);
	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++)
		if (strcasecmp(names[i], mcu) == 0)
			return 0;
	/* A part of a name ("stm32f446" for "stm32f446xx") is most likely that one. */
	for (size_t i = 0; names[i] && !close; i++)
		if (strncasecmp(names[i], mcu, strlen(mcu)) == 0)
			close = kf_strdup(names[i]);
	if (close)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"Klipper does not know the MCU '%s'; did you mean %s? (Klipper's "
				"names are CONFIG_MCU's, from %s/src/*/Kconfig)",
				mcu, close, kflash_context_get_klipper_dir(ctx));
	return kf_error(ctx, KFLASH_ERR_INVALID,
			"Klipper does not know the MCU '%s'; use the name CONFIG_MCU has in the "
			"board's .config (Klipper's names are in %s/src/*/Kconfig)",
			mcu, kflash_context_get_klipper_dir(ctx));
}
