/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <unistd.h>

#include "build/build-private.h"
#include "klipper.h"
#include "libkflash-private.h"

char *
kf_board_config_path(struct kflash_context *ctx, const char *name)
{
	return kf_strdup_printf("%s/configs/%s.config", kflash_context_get_config_dir(ctx), name);
}

char *
kf_board_build_dir(struct kflash_context *ctx, const char *name)
{
	return kf_strdup_printf("%s/build/%s/", kflash_context_get_cache_dir(ctx), name);
}

char *
kf_board_state_dir(struct kflash_context *ctx, const char *name)
{
	return kf_strdup_printf("%s/boards/%s", kflash_context_get_cache_dir(ctx), name);
}

int
kf_klipper_check_tree(struct kflash_context *ctx, const char *dir)
{
	_cleanup_free_ char *makefile = kf_strdup_printf("%s/Makefile", dir);

	if (makefile && access(makefile, R_OK) == 0)
		return 0;
	return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_SET_KLIPPER_DIR, NULL,
			     "no Klipper source tree at %s (no Makefile); set the Klipper dir to "
			     "the Klipper checkout",
			     dir);
}

int
kf_klipper_make(struct kflash_context *ctx, const struct kf_make *m)
{
	const char *klipper = kflash_context_get_klipper_dir(ctx);
	struct kflash_jobserver *js = m->parallel ? kflash_context_get_jobserver(ctx) : NULL;
	_cleanup_strv_ char **argv = NULL, **env = NULL;
	struct kf_process_opts o = {
		.timeout_ms = m->timeout_ms,
		.interactive = m->interactive,
		.nice = m->low_priority ? 10 : 0,
		.idle_io = m->low_priority,
		.tail_lines = 20,
	};
	struct kf_process_result res;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	r = kf_klipper_check_tree(ctx, klipper);
	if (r < 0)
		return r;
	if (!kf_strv_push(&argv, "make") || !kf_strv_push(&argv, "--no-print-directory") ||
	    !kf_strv_push(&argv, "-C") || !kf_strv_push(&argv, klipper) ||
	    !kf_strv_pushf(&argv, "KCONFIG_CONFIG=%s", m->config) ||
	    !kf_strv_pushf(&argv, "OUT=%s", m->out) ||
	    (m->parallel && !js && !kf_strv_pushf(&argv, "-j%ld", cpus > 0 ? cpus : 1)) ||
	    !kf_strv_push(&env, "PYTHONDONTWRITEBYTECODE=1"))
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (const char *const *v = m->vars; v && *v; v++)
		if (!kf_strv_push(&argv, *v))
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (const char *const *t = m->targets; t && *t; t++)
		if (!kf_strv_push(&argv, *t))
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (const char *const *e = m->env; e && *e; e++)
		if (!kf_strv_push(&env, *e))
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (js) {
		char *flags = kf_jobserver_makeflags(js);

		if (!flags || !kf_strv_push(&env, flags)) {
			free(flags);
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		free(flags);
		o.inherit_fds = kf_jobserver_fds(js);
	}
	o.argv = (const char *const *)argv;
	o.env = (const char *const *)env;
	kf_debug(ctx, "running make -C %s KCONFIG_CONFIG=%s OUT=%s %s", klipper, m->config, m->out,
		 m->targets && m->targets[0] ? m->targets[0] : "");
	if (js && (r = kf_jobserver_acquire(ctx, js)) < 0)
		return r;
	r = kf_process_run(ctx, &o, &res);
	if (js)
		kf_jobserver_release(ctx, js);
	if (r == 0 && res.exit_code != 0)
		r = kf_error(ctx, KFLASH_ERR_BUILD, "make %s failed with exit status %d%s%s",
			     m->targets && m->targets[0] ? m->targets[0] : "", res.exit_code,
			     res.tail ? "; its last lines:\n" : "", res.tail ? res.tail : "");
	kf_process_result_clear(&res);
	return r;
}

int
kf_klipper_version(struct kflash_context *ctx, char **ret)
{
	const char *klipper = kflash_context_get_klipper_dir(ctx);
	_cleanup_free_ char *safe = kf_strdup_printf("safe.directory=%s", klipper);
	const char *argv[] = { "git",      "-c",     safe,     "-C",      klipper, "describe",
			       "--always", "--tags", "--long", "--dirty", NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
	};
	struct kf_process_result res;
	int r;

	*ret = NULL;
	if (!safe)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code == 0 && res.out) {
		kf_strip_newline(res.out);
		if (*res.out && !(*ret = kf_strdup(res.out)))
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	kf_process_result_clear(&res);
	/* No git, or not a git tree: the version cannot be told, which is no error. */
	if (r < 0 && r != KFLASH_ERR_CANCELLED && r != KFLASH_ERR_NO_MEMORY) {
		kf_debug(ctx, "the Klipper version cannot be told: %s",
			 kflash_context_last_error(ctx));
		r = 0;
	}
	return r;
}
