/* SPDX-License-Identifier: MIT */
/*
 * kflash set NAME --field VALUE...: change a registered board in place.
 * An empty VALUE clears an optional field.
 */
#include <string.h>

#include "board-fields.h"
#include "commands.h"

int
cmd_set(struct cli *cli, int argc, char **argv)
{
	struct board_fields f = { 0 };
	struct kflash_registry *reg = NULL;
	struct kflash_board *b = NULL;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", board_field_options)) != -1) {
		if (c == 'h')
			return cli_command_help(cli);
		if (!board_fields_take(&f, c, optarg))
			return CLI_EXIT_USAGE;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "name the board to change");
	if (optind + 1 < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + 1]);
	if (!board_fields_any(&f))
		return cli_usage_error(cli, "say what to change, for example --serial PATH");
	r = cli_load_registry(cli, &reg);
	/* The board of this snapshot is changed, then written back. */
	if (r == 0)
		r = cli_find_board(cli, reg, argv[optind], &b);
	if (r == 0)
		r = board_fields_apply(cli, b, &f);
	if (r == 0)
		r = cli_fail(cli, kflash_registry_update_board(cli->ctx, b));
	if (r == 0 && cli->json)
		r = cli_exit_code(cli_print_json(cli, cli_board_json(b, NULL)));
	else if (r == 0 && cli->verbosity >= 0)
		fprintf(stderr, "Changed board %s.\n", kflash_board_get_name(b));
	kflash_registry_unref(reg);
	return r;
}
