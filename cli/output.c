/* SPDX-License-Identifier: MIT */
/* The --json document on stdout, and failures on stderr. */
#include <errno.h>
#include <string.h>

#include "cli.h"

int
cli_print_json(struct cli *cli, struct json_object *doc)
{
	const char *text;
	int r = 0;

	if (!doc) {
		fprintf(stderr, "kflash: out of memory\n");
		return -KFLASH_ERR_NO_MEMORY;
	}
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_SPACED |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "kflash: cannot write the JSON output: %s\n", strerror(errno));
		r = -KFLASH_ERR_IO;
	}
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

int
cli_fail(struct cli *cli, int r)
{
	const char *detail = kflash_context_last_error(cli->ctx);

	if (r >= 0)
		return r;
	cli_message(cli, "error:", "%s",
		    *detail && kflash_context_last_error_code(cli->ctx) == r ? detail
									     : kflash_strerror(r));
	return cli_exit_code(r);
}
