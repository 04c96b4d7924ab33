/* SPDX-License-Identifier: MIT */
/* The --json document on stdout, and failures on stderr (and in the document). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct json_object *
cli_error_json(const struct cli *cli)
{
	struct json_object *e;

	if (!cli->error.exit)
		return NULL;
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_int(cli->error.exit));
	json_object_object_add(e, "name", json_object_new_string(cli->error.name));
	json_object_object_add(e, "message", cli_json_string(cli->error.message));
	json_object_object_add(
		e, "hint",
		cli->error.hint ? json_object_new_string(kflash_hint_name(cli->error.hint)) : NULL);
	json_object_object_add(e, "subject", cli_json_string(cli->error.subject));
	return e;
}

int
cli_print_json(struct cli *cli, struct json_object *doc)
{
	const char *text;
	int r = 0;

	if (!doc) {
		fprintf(stderr, "kflash: out of memory\n");
		return -KFLASH_ERR_NO_MEMORY;
	}
	if (cli->error.exit && !json_object_object_get_ex(doc, "error", NULL))
		json_object_object_add(doc, "error", cli_error_json(cli));
	json_object_object_add(doc, "kflash_version", json_object_new_string(kflash_version()));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_SPACED |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "kflash: cannot write the JSON output: %s\n", strerror(errno));
		r = -KFLASH_ERR_IO;
	}
	cli->json_printed = true;
	json_object_put(doc);
	return r;
}

struct json_object *
cli_json_string(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

int
cli_exit_code(int r)
{
	return r < 0 ? -r : r;
}

/* Keep what was reported, for the JSON document; the first failure wins. */
static void
remember(struct cli *cli,
	 int exit,
	 const char *name,
	 const char *message,
	 int hint,
	 const char *subject)
{
	if (cli->error.exit)
		return;
	cli->error.exit = exit;
	cli->error.name = name;
	cli->error.message = message ? strdup(message) : NULL;
	cli->error.hint = hint;
	cli->error.subject = subject ? strdup(subject) : NULL;
}

void
cli_forget_error(struct cli *cli)
{
	free(cli->error.message);
	free(cli->error.subject);
	memset(&cli->error, 0, sizeof(cli->error));
}

/* Report @message (with the library's @hint about @subject) for exit code @exit. */
static int
report(struct cli *cli,
       int exit,
       const char *name,
       const char *message,
       int hint,
       const char *subject)
{
	char *text = hint ? cli_hint_text(cli, hint, subject) : NULL;

	cli_message(cli, "error:", "%s", message);
	if (text)
		cli_message(cli, "hint:", "%s", text);
	free(text);
	remember(cli, exit, name, message, hint, subject);
	return exit;
}

/* The library's failure @r: its message, hint and subject, when the context has them. */
static int
library_failure(struct cli *cli, int r, bool say)
{
	const char *detail = kflash_context_last_error(cli->ctx);
	bool ours = *detail && kflash_context_last_error_code(cli->ctx) == r;
	const char *message = ours ? detail : kflash_strerror(r);
	int hint = ours ? kflash_context_last_error_hint(cli->ctx) : KFLASH_HINT_NONE;
	const char *subject = ours ? kflash_context_last_error_subject(cli->ctx) : NULL;

	if (r >= 0)
		return r;
	if (say)
		return report(cli, cli_exit_code(r), kflash_error_name(r), message, hint, subject);
	remember(cli, cli_exit_code(r), kflash_error_name(r), message, hint, subject);
	return cli_exit_code(r);
}

int
cli_fail(struct cli *cli, int r)
{
	return library_failure(cli, r, true);
}

int
cli_note_failure(struct cli *cli, int r)
{
	return library_failure(cli, r, false);
}

int
cli_error(struct cli *cli, int code, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;
	int exit;

	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);
	exit = report(cli, cli_exit_code(code), kflash_error_name(code),
		      message ? message : kflash_strerror(code), KFLASH_HINT_NONE, NULL);
	free(message);
	return exit;
}

void
cli_outcome_failed(struct cli *cli, int exit, const char *name, const char *message)
{
	remember(cli, exit, name, message, KFLASH_HINT_NONE, NULL);
}

void
cli_usage_failed(struct cli *cli, const char *message)
{
	remember(cli, CLI_EXIT_USAGE, "usage", message, KFLASH_HINT_NONE, NULL);
}
