/* SPDX-License-Identifier: MIT */
/* kflash remove NAME [--purge] */
#include "commands.h"

int
cmd_remove(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "purge", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name;
	bool purge = false;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'p':
			purge = true;
			break;
		case 'h':
			return cli_command_help(cli);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "missing the board name");
	if (optind + 1 < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + 1]);
	name = argv[optind];

	r = kflash_registry_remove_board(cli->ctx, name);
	if (r < 0)
		return cli_fail(cli, r);
	if (purge) {
		r = kflash_board_purge_files(cli->ctx, name);
		if (r < 0)
			return cli_fail(cli, r);
	}
	if (cli->json) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "removed", json_object_new_string(name));
		json_object_object_add(doc, "purged", json_object_new_boolean(purge));
		return cli_exit_code(cli_print_json(cli, doc));
	}
	if (cli->verbosity >= 0)
		fprintf(stderr, "Removed board %s%s.\n", name,
			purge ? " and its cached config and builds"
			      : "; its cached config and builds, if any, stay (--purge deletes "
				"them)");
	return 0;
}
