/* SPDX-License-Identifier: MIT */
/*
 * Building one board: fingerprint, up-to-date check, make in the board's
 * own OUT directory, artifact checks, and the state kept for next time
 * (<cache>/boards/<board>/build.json).
 */
#include <json-c/json.h>
#include <string.h>

#include "build-private.h"
#include "internal/fs.h"
#include "klipper/klipper.h"
#include "libkflash-private.h"
#include "util/sha256.h"

struct kflash_build {
	int refcount;
	enum kflash_build_result result;
	char *artifact;
	struct kflash_firmware *firmware;
	char fingerprint[65];
};

KFLASH_EXPORT struct kflash_build *
kflash_build_ref(struct kflash_build *b)
{
	if (b)
		b->refcount++;
	return b;
}

KFLASH_EXPORT struct kflash_build *
kflash_build_unref(struct kflash_build *b)
{
	if (!b || --b->refcount > 0)
		return NULL;
	free(b->artifact);
	kflash_firmware_unref(b->firmware);
	free(b);
	return NULL;
}

KFLASH_EXPORT enum kflash_build_result
kflash_build_get_result(const struct kflash_build *b)
{
	return b ? b->result : 0;
}

KFLASH_EXPORT const char *
kflash_build_get_artifact(const struct kflash_build *b)
{
	return b ? b->artifact : NULL;
}

KFLASH_EXPORT struct kflash_firmware *
kflash_build_get_firmware(const struct kflash_build *b)
{
	return b ? b->firmware : NULL;
}

KFLASH_EXPORT const char *
kflash_build_get_fingerprint(const struct kflash_build *b)
{
	return b ? b->fingerprint : NULL;
}

/* ---- the fingerprint: config content, Klipper version, compiler ---- */

static int
fingerprint(struct kflash_context *ctx, const struct kflash_config *c, char out[65], char **version)
{
	_cleanup_free_ char *text = NULL, *compiler = NULL, *gcc = NULL;
	struct kf_sha256 sha;
	size_t len;
	int r;

	r = kf_fs_read_file(ctx, kflash_config_get_path(c), 1024 * 1024, 0, &text, &len);
	if (r < 0)
		return r;
	r = kf_cached_klipper_version(ctx, version);
	if (r < 0)
		return r;
	/* A tree without git: every build is the same "unknown" version. */
	if (!*version && !(*version = kf_strdup("unknown")))
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* The C compiler Klipper's Makefile uses for this config. */
	gcc = kf_strdup(kflash_config_get_build_program(c, 0));
	compiler = gcc ? kf_cached_compiler_version(ctx, gcc) : NULL;
	if (!compiler)
		return kf_check_cancel(ctx) < 0
			       ? KFLASH_ERR_CANCELLED
			       : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	kf_sha256_init(&sha);
	kf_sha256_update(&sha, text, len);
	kf_sha256_update(&sha, "", 1);
	kf_sha256_update(&sha, *version, strlen(*version) + 1);
	kf_sha256_update(&sha, compiler, strlen(compiler) + 1);
	kf_sha256_hex(&sha, out);
	kf_debug(ctx, "fingerprint %.12s: Klipper %s, %s", out, *version, compiler);
	return 0;
}

/* ---- the state of the last good build ---- */

struct last_build {
	char *fingerprint, *artifact, *sha256;
};

static void
last_build_clear(struct last_build *l)
{
	free(l->fingerprint);
	free(l->artifact);
	free(l->sha256);
	memset(l, 0, sizeof(*l));
}

static char *
member(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? kf_strdup(json_object_get_string(v))
		       : NULL;
}

/* A missing or unreadable state is no state: the build runs. */
static void
read_state(struct kflash_context *ctx, const char *path, struct last_build *l)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *o;

	memset(l, 0, sizeof(*l));
	if (kf_fs_exists(path) != 1 || kf_fs_read_file(ctx, path, 65536, 0, &text, NULL) < 0)
		return;
	o = json_tokener_parse(text);
	l->fingerprint = member(o, "fingerprint");
	l->artifact = member(o, "artifact");
	l->sha256 = member(o, "sha256");
	json_object_put(o);
}

static int
write_state(struct kflash_context *ctx, const char *path, const struct kflash_build *b)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	int r;

	json_object_object_add(o, "fingerprint", json_object_new_string(b->fingerprint));
	json_object_object_add(o, "artifact", json_object_new_string(b->artifact));
	json_object_object_add(o, "sha256",
			       json_object_new_string(kflash_firmware_get_sha256(b->firmware)));
	json_object_object_add(
		o, "mcu",
		kflash_firmware_get_mcu(b->firmware)
			? json_object_new_string(kflash_firmware_get_mcu(b->firmware))
			: NULL);
	json_object_object_add(
		o, "version",
		kflash_firmware_get_version(b->firmware)
			? json_object_new_string(kflash_firmware_get_version(b->firmware))
			: NULL);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	r = kf_fs_write_atomic(ctx, path, text, strlen(text), 0600, 0);
	json_object_put(o);
	return r;
}

/* ---- the build ---- */

static char *
find_artifact(const char *out)
{
	static const char *const names[] = { "klipper.bin", "klipper.uf2", "klipper.elf.hex",
					     "klipper.elf" };

	for (size_t i = 0; i < KF_ARRAY_SIZE(names); i++) {
		char *path = kf_strdup_printf("%s%s", out, names[i]);

		if (path && kf_fs_exists(path) == 1)
			return path;
		free(path);
	}
	return NULL;
}

KFLASH_EXPORT int
kflash_build_load_last(struct kflash_context *ctx,
		       const struct kflash_board *board,
		       struct kflash_firmware **ret)
{
	const char *name = kflash_board_get_name(board);
	_cleanup_free_ char *out = NULL, *artifact = NULL;

	if (!ret || !board)
		return kf_error(ctx, KFLASH_ERR_INVALID, "kflash_build_load_last needs a board");
	*ret = NULL;
	out = kf_board_build_dir(ctx, name);
	if (!out)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	artifact = find_artifact(out);
	if (!artifact)
		return kf_error_hint(ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_BUILD, name,
				     "board %s has never been built, so there is no last build "
				     "in %s to flash",
				     name, out);
	return kflash_firmware_load(ctx, artifact, ret);
}

/* Read the artifact and check what it was built for. */
static int
check_artifact(struct kflash_context *ctx, const struct kflash_board *board, struct kflash_build *b)
{
	const char *want = kflash_board_get_mcu(board), *have;
	int r = kflash_firmware_load(ctx, b->artifact, &b->firmware);

	if (r < 0)
		return r;
	have = kflash_firmware_get_mcu(b->firmware);
	if (!have)
		return kf_error_hint(ctx, KFLASH_ERR_BUILD, KFLASH_HINT_CLEAN_BUILD,
				     kflash_board_get_name(board),
				     "%s has no Klipper data dictionary (klipper.dict), so its MCU "
				     "cannot be checked; build it again from scratch",
				     b->artifact);
	if (!kflash_mcu_matches(want, have))
		return kf_error(ctx, KFLASH_ERR_MCU_MISMATCH,
				"board %s is a %s, but the firmware built in %s is for a %s",
				kflash_board_get_name(board), want, b->artifact, have);
	return 0;
}

static int
run_make(struct kflash_context *ctx,
	 const struct kflash_config *c,
	 const char *board,
	 const char *out,
	 bool clean)
{
	static const char *const clean_target[] = { "clean", NULL };
	_cleanup_free_ char *gcc = kf_strdup(kflash_config_get_build_program(c, 0));
	_cleanup_strv_ char **vars = NULL, **env = NULL;
	struct kf_make m = {
		.config = kflash_config_get_path(c),
		.out = out,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_BUILD),
		.parallel = true,
		.low_priority = true,
	};
	int r = gcc ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");

	if (r == 0 && clean) {
		struct kf_make mc = m;

		mc.targets = clean_target;
		mc.parallel = false;
		r = kf_klipper_make(ctx, &mc);
	}
	if (r == 0)
		r = kf_fs_mkdir_p(ctx, out, 0700);
	if (r == 0)
		r = kf_ccache_setup(ctx, gcc, board, &vars, &env);
	if (r == 0) {
		m.vars = (const char *const *)vars;
		m.env = (const char *const *)env;
		r = kf_klipper_make(ctx, &m);
	}
	return r;
}

static int
build(struct kflash_context *ctx,
      const struct kflash_board *board,
      unsigned int flags,
      struct kflash_build *b)
{
	const char *name = kflash_board_get_name(board);
	_cleanup_free_ char *out = kf_board_build_dir(ctx, name);
	_cleanup_free_ char *state_dir = kf_board_state_dir(ctx, name);
	_cleanup_free_ char *state = NULL, *lock_path = NULL, *version = NULL;
	_cleanup_lock_ struct kf_lock *lock = NULL;
	struct kflash_config *c = NULL;
	struct last_build last = { 0 };
	bool clean;
	int r;

	if (!out || !state_dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	/* An imported board waits for its config to name its MCU (import.h). */
	if (!kflash_board_get_mcu(board))
		return kf_error_hint(ctx, KFLASH_ERR_INVALID, KFLASH_HINT_CONFIGURE_BOARD, name,
				     "board %s has no MCU yet, so what is built for it cannot be "
				     "checked; configure it, and record the MCU its config names "
				     "as the board's",
				     name);
	state = kf_strdup_printf("%s/build.json", state_dir);
	lock_path = kf_strdup_printf("%s/build.lock", state_dir);
	r = kflash_board_config_load(ctx, board, &c);
	if (r == 0)
		r = kf_fs_mkdir_p(ctx, state_dir, 0700);
	if (r == 0)
		r = kf_lock_acquire(ctx, lock_path, KF_LOCK_EXCLUSIVE,
				    kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_LOCK), &lock);
	if (r == 0)
		r = fingerprint(ctx, c, b->fingerprint, &version);
	if (r < 0)
		goto out;

	read_state(ctx, state, &last);
	b->artifact = find_artifact(out);
	if (!(flags & KFLASH_BUILD_CLEAN) && kf_streq(last.fingerprint, b->fingerprint) &&
	    b->artifact && kf_streq(last.artifact, b->artifact) &&
	    check_artifact(ctx, board, b) == 0 &&
	    kf_streq(kflash_firmware_get_sha256(b->firmware), last.sha256)) {
		b->result = KFLASH_BUILD_UP_TO_DATE;
		kf_info(ctx, "up to date: %s (Klipper %s)", b->artifact, version);
		goto out;
	}
	free(b->artifact);
	b->artifact = NULL;
	b->firmware = kflash_firmware_unref(b->firmware);

	clean = (flags & KFLASH_BUILD_CLEAN) || !kf_streq(last.fingerprint, b->fingerprint);
	kf_info(ctx, "building Klipper %s for a %s%s", version, kflash_config_get_mcu(c),
		clean ? " (clean build)" : "");
	r = run_make(ctx, c, name, out, clean);
	if (r < 0)
		goto out;
	b->artifact = find_artifact(out);
	if (!b->artifact) {
		r = kf_error(ctx, KFLASH_ERR_BUILD,
			     "make succeeded but left no firmware (klipper.bin, klipper.uf2, "
			     "klipper.elf.hex or klipper.elf) in %s",
			     out);
		goto out;
	}
	r = check_artifact(ctx, board, b);
	if (r == 0)
		r = write_state(ctx, state, b);
	if (r == 0) {
		b->result = KFLASH_BUILD_BUILT;
		kf_info(ctx, "built %s: %zu bytes for a %s, Klipper %s", b->artifact,
			kflash_firmware_get_size(b->firmware), kflash_firmware_get_mcu(b->firmware),
			kflash_firmware_get_version(b->firmware)
				? kflash_firmware_get_version(b->firmware)
				: "?");
	}
out:
	last_build_clear(&last);
	kflash_config_unref(c);
	return r;
}

KFLASH_EXPORT int
kflash_build_board(struct kflash_context *ctx,
		   const struct kflash_board *board,
		   unsigned int flags,
		   struct kflash_build **ret)
{
	struct kflash_build *b;
	struct kf_scope prev;
	int r;

	if (!board || !ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no board to build");
	*ret = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	b->refcount = 1;
	prev = kf_scope_enter(ctx, KFLASH_PHASE_BUILD, kflash_board_get_name(board));
	r = build(ctx, board, flags, b);
	kf_scope_leave(ctx, prev);
	if (r < 0) {
		kflash_build_unref(b);
		return r;
	}
	*ret = b;
	return 0;
}
