/* SPDX-License-Identifier: MIT */
/* kflash config NAME [--from FILE | --refresh]: a board's Klipper config. */
#include <string.h>

#include "commands.h"

int
cmd_config(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "refresh", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct kflash_registry *reg;
	struct kflash_board *board;
	struct kflash_config *config = NULL;
	const char *from = NULL;
	bool refresh = false;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 'r':
			refresh = true;
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
	if (from && refresh)
		return cli_usage_error(cli, "--from and --refresh do not go together");

	r = cli_load_registry(cli, &reg);
	if (r)
		return r;
	r = cli_find_board(cli, reg, argv[optind], &board);
	if (r == 0) {
		if (from)
			r = kflash_board_config_seed(cli->ctx, board, from);
		else if (refresh)
			r = kflash_board_config_refresh(cli->ctx, board);
		else
			r = kflash_board_config_menuconfig(cli->ctx, board);
		if (r == 0)
			r = kflash_board_config_load(cli->ctx, board, &config);
		/* A board imported without its MCU gets it from its config. */
		if (r == 0 && !kflash_board_get_mcu(board) && kflash_config_get_mcu(config)) {
			r = kflash_board_set_mcu(board, kflash_config_get_mcu(config));
			if (r == 0)
				r = kflash_registry_update_board(cli->ctx, board);
			if (r == 0 && cli->verbosity >= 0)
				fprintf(stderr, "Board %s is a %s, as its config says.\n",
					argv[optind], kflash_board_get_mcu(board));
		}
		if (r < 0)
			r = cli_fail(cli, r);
	}
	if (r == 0 && cli->json) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "name", json_object_new_string(argv[optind]));
		json_object_object_add(doc, "config",
				       json_object_new_string(kflash_config_get_path(config)));
		json_object_object_add(doc, "mcu", cli_json_string(kflash_config_get_mcu(config)));
		json_object_object_add(
			doc, "communication",
			json_object_new_string(kflash_comm_name(kflash_config_get_comm(config))));
		r = cli_print_json(cli, doc);
	} else if (r == 0 && cli->verbosity >= 0) {
		fprintf(stderr, "Board %s: %s is for a %s (%s). Next: kflash build %s\n",
			argv[optind], kflash_config_get_path(config), kflash_config_get_mcu(config),
			kflash_comm_name(kflash_config_get_comm(config)), argv[optind]);
	}
	kflash_config_unref(config);
	kflash_registry_unref(reg);
	return r;
}
