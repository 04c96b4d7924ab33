/* SPDX-License-Identifier: MIT */
/* Run the built kflash binary from a test and collect what it printed. */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

struct kf_cli_result {
	int status; /* exit code, or 128 + signal */
	char *out;  /* stdout */
	char *err;  /* stderr */
};

/*
 * Run `kflash argv...` (argv is NULL-terminated, without "kflash") with
 * the environment overlay @env ("KEY=VALUE", NULL-terminated; may be NULL)
 * and stdin from /dev/null. KF_KFLASH_BIN names the binary.
 */
struct kf_cli_result
kf_cli_run(const char *const *env, const char *const *argv);

/* How to run it: in another directory, as an ordinary user (nobody when root). */
struct kf_cli_opts {
	const char *cwd;
	bool ordinary_user;
};

/* Like kf_cli_run(), with @opts (may be NULL). */
struct kf_cli_result
kf_cli_run_opts(const struct kf_cli_opts *opts, const char *const *env, const char *const *argv);

/* Like kf_cli_run() with the arguments given inline, ending with NULL. */
struct kf_cli_result
kf_cli(const char *const *env, const char *arg, ...) __attribute__((sentinel));

/*
 * Run kflash on a new pseudo-terminal (stdin, stdout and stderr), as a
 * user at a terminal would. @script holds pairs: wait until the terminal
 * shows the first string, then type the second; NULL ends it. The result's
 * out holds everything the terminal showed; err is empty.
 */
struct kf_cli_result
kf_cli_pty(const char *const *env, const char *const *argv, const char *const *script);

void
kf_cli_result_free(struct kf_cli_result *r);

/* Parse stdout as the one JSON document; fails the test if it is not. */
struct json_object *
kf_cli_json(const struct kf_cli_result *r);

/* An environment that points every KFLASH_* location into @dir. */
const char *const *
kf_cli_env(const char *dir);
