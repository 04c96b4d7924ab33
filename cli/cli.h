/* SPDX-License-Identifier: MIT */
/*
 * The kflash command line tool. Not a stable interface: only shared code
 * of the CLI's own files. The CLI uses nothing but the public libkflash
 * headers; whatever another program could need belongs in the library.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include <kflash/kflash.h>

/* Exit codes beyond the library's (which are -enum kflash_error, 1..63). */
#define CLI_EXIT_USAGE 64
/* kflash status: something needs a reflash (not an error). */
#define CLI_EXIT_OUTDATED 70
/* kflash doctor: a check failed, so a flash would fail. */
#define CLI_EXIT_CHECK_FAILED 71

struct cli {
	struct kflash_context *ctx;
	const char *command;
	bool json;
	int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
	bool stdin_tty;
	bool stderr_tty;
	bool color;
	/* Set by the renderer while a progress bar occupies the line. */
	bool progress_active;
	bool version_requested;
	/* The one JSON document of the run went out (--json). */
	bool json_printed;
	/* The failure reported last, for the JSON error document. */
	struct {
		int exit;         /* the exit code; 0 when nothing failed */
		const char *name; /* KFLASH_ERR_..., or "usage" */
		char *message;
		int hint; /* enum kflash_hint */
		char *subject;
	} error;
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *args;    /* "NAME [--purge]" */
	const char *summary; /* one line for --help */
	const char *help;    /* the command's own --help, options included */
};

/* The commands, in the order --help lists them (cmd-*.c). */
extern const struct cli_command cli_commands[];

/*
 * getopt_long over the command's options merged with the global ones.
 * Global options are applied to @cli and skipped; the command sees its own
 * codes, '?' for an error (already reported), 'h' for --help, or -1.
 */
int
cli_getopt(struct cli *cli,
	   int argc,
	   char **argv,
	   const char *shortopts,
	   const struct option *longopts);

/* Report a usage error for the current command and return CLI_EXIT_USAGE. */
int
cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the current command's help to stdout and return 0. */
int
cli_command_help(struct cli *cli);

/*
 * Report a library failure (the context's last error, and what to do
 * about it in this tool's words) and return the exit code for @r: -r for
 * a library error, 0 for 0.
 */
int
cli_fail(struct cli *cli, int r);

/* As cli_fail(), for a failure said already: it is only kept for the JSON document. */
int
cli_note_failure(struct cli *cli, int r);

/*
 * Report a failure of this tool's own (not the library's) with exit code
 * -@code (@code is an enum kflash_error) and return that exit code.
 */
int
cli_error(struct cli *cli, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Remember an outcome of this tool's own that ends with exit code @exit
 * (not a library error: @name is static, for example "checks-failed"),
 * for the JSON error document.
 */
void
cli_outcome_failed(struct cli *cli, int exit, const char *name, const char *message);

/* Remember a usage error's @message for the JSON error document. */
void
cli_usage_failed(struct cli *cli, const char *message);

/* Forget the failure reported last (the run goes on, for example after asking again). */
void
cli_forget_error(struct cli *cli);

/* What @hint (enum kflash_hint) about @subject means for a user of this tool; free it. */
char *
cli_hint_text(const struct cli *cli, int hint, const char *subject);

/* The JSON error object of the failure reported last, or NULL when none was. */
struct json_object *
cli_error_json(const struct cli *cli);

/* The exit code for a library return value (0 stays 0). */
int
cli_exit_code(int r);

/* Print a message to stderr the way events are printed. */
void
cli_message(struct cli *cli, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- lists of strings (strv.c) ---- */

/* Append a copy of @s to the NULL-terminated list *@v unless it is there; false on OOM. */
bool
cli_strv_add_once(char ***v, const char *s);

void
cli_strv_free(char **v);

/* ---- rendering (render.c) ---- */

void
cli_render_event(struct kflash_context *ctx, const struct kflash_event *ev, void *data);

/* End a progress bar line, if one is showing, before other output. */
void
cli_render_break(struct cli *cli);

/* ---- JSON (output.c) ---- */

/*
 * Print @doc to stdout as the one JSON document of this run; frees it.
 * When a failure was reported, the document gets its "error" object.
 */
int
cli_print_json(struct cli *cli, struct json_object *doc);

/* A JSON string, or null for NULL. */
struct json_object *
cli_json_string(const char *s);

/* ---- signals (signals.c) ---- */

/* SIGINT, SIGTERM and SIGHUP cancel the context's operation. */
void
cli_install_signal_handlers(struct cli *cli);

/* The signal that cancelled the run, or 0. */
int
cli_caught_signal(void);

/* ---- boards (boards.c) ---- */

/* Load the registry; 0, or the exit code with the problem reported. */
int
cli_load_registry(struct cli *cli, struct kflash_registry **reg);

/* The board @name of @reg; 0, or the exit code with the problem reported. */
int
cli_find_board(struct cli *cli,
	       const struct kflash_registry *reg,
	       const char *name,
	       struct kflash_board **board);

/* Scan for devices; on failure a warning is printed and *d is NULL. */
int
cli_scan(struct cli *cli, struct kflash_discovery **d);

/*
 * The board's connection as the JSON contract shows it:
 * {"state": "connected"|"missing"|"ambiguous", "mode", "path"}, or NULL
 * (JSON null) when @d is NULL.
 */
struct json_object *
cli_connection_json(struct cli *cli, struct kflash_discovery *d, const struct kflash_board *b);

/* A board as the JSON contract shows it (list, show, add); takes @connection. */
struct json_object *
cli_board_json(const struct kflash_board *b, struct json_object *connection);

/* Every field of a board, one per line, for `kflash show`; takes @connection. */
void
cli_print_board(const struct kflash_board *b,
		const char *service_default,
		struct json_object *connection);
