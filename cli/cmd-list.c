/* SPDX-License-Identifier: MIT */
/* kflash list, kflash show NAME: the registered boards. */
#include <string.h>

#include "commands.h"

static int
no_extra_args(struct cli *cli, int argc, char **argv, int want)
{
	if (argc - optind > want)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + want]);
	if (argc - optind < want)
		return cli_usage_error(cli, "missing the board name");
	return 0;
}

static void
print_table(struct cli *cli, const struct kflash_registry *reg, struct kflash_discovery *d)
{
	size_t n = kflash_registry_get_board_count(reg);
	const char *service = kflash_context_get_service(cli->ctx);
	bool instances = false;

	/* The instance (service unit) of each board, when some board is not the default's. */
	for (size_t i = 0; i < n; i++) {
		const char *unit = kflash_board_get_service(kflash_registry_get_board(reg, i));

		instances = instances || (unit && strcmp(unit, service) != 0);
	}
	if (n == 0) {
		printf("No boards registered. Add one with: kflash add (kflash scan lists "
		       "what is plugged in)\n");
		return;
	}
	if (instances)
		printf("%-16s %-14s %-9s %-7s %-22s %-12s %s\n", "NAME", "MCU", "METHOD", "LAST",
		       "CONNECTION", "INSTANCE", "PATH");
	else
		printf("%-16s %-14s %-9s %-7s %-22s %s\n", "NAME", "MCU", "METHOD", "LAST",
		       "CONNECTION", "PATH");
	for (size_t i = 0; i < n; i++) {
		const struct kflash_board *b = kflash_registry_get_board(reg, i);
		struct json_object *conn = cli_connection_json(cli, d, b);
		const char *last = "never", *state = "?", *path = NULL;
		char connection[64], can_path[64];

		if (kflash_board_has_last_flash(b))
			last = kflash_board_get_last_flash_ok(b) ? "ok" : "failed";
		if (conn) {
			const char *mode =
				json_object_get_string(json_object_object_get(conn, "mode"));

			state = json_object_get_string(json_object_object_get(conn, "state"));
			path = json_object_get_string(json_object_object_get(conn, "path"));
			if (mode && strcmp(mode, "unknown") != 0)
				snprintf(connection, sizeof(connection), "%s, %s", state, mode);
			else
				snprintf(connection, sizeof(connection), "%s", state);
		} else {
			snprintf(connection, sizeof(connection), "unknown");
		}
		/*
		 * A CAN node's place is its UUID on its interface; a bridge's too,
		 * and it is seen connected as a USB device (also when registered by
		 * its UUID alone).
		 */
		if (kflash_board_get_link(b) == KFLASH_LINK_CAN ||
		    kflash_board_get_link(b) == KFLASH_LINK_CAN_BRIDGE) {
			if (!conn ||
			    strcmp(json_object_get_string(json_object_object_get(conn, "state")),
				   "unknown") == 0)
				snprintf(connection, sizeof(connection), "CAN node");
			snprintf(can_path, sizeof(can_path), "%s %s",
				 kflash_board_get_can_interface(b) ?: "can0",
				 kflash_board_get_can_uuid(b));
			path = can_path;
		}
		printf("%-16s %-14s %-9s %-7s %-22s ", kflash_board_get_name(b),
		       kflash_board_get_mcu(b) ?: "-",
		       kflash_method_name(kflash_board_get_method(b)), last, connection);
		if (instances)
			printf("%-12s ", kflash_board_get_service(b) ?: service);
		printf("%s\n", path ? path : kflash_board_get_serial_path(b) ?: "-");
		json_object_put(conn);
	}
}

int
cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "names", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct kflash_registry *reg;
	struct kflash_discovery *d = NULL;
	bool names_only = false;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return cli_command_help(cli);
		if (c != 'n')
			return CLI_EXIT_USAGE;
		names_only = true;
	}
	r = no_extra_args(cli, argc, argv, 0);
	if (r)
		return r;
	r = cli_load_registry(cli, &reg);
	if (r)
		return r;
	if (names_only && !cli->json) {
		for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++)
			printf("%s\n", kflash_board_get_name(kflash_registry_get_board(reg, i)));
		kflash_registry_unref(reg);
		return 0;
	}
	if (kflash_registry_get_board_count(reg) > 0)
		cli_scan(cli, &d);
	if (cli->json) {
		struct json_object *doc = json_object_new_object(),
				   *boards = json_object_new_array();

		for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++) {
			const struct kflash_board *b = kflash_registry_get_board(reg, i);

			json_object_array_add(boards,
					      cli_board_json(b, cli_connection_json(cli, d, b)));
		}
		json_object_object_add(doc, "boards", boards);
		r = cli_print_json(cli, doc);
	} else {
		print_table(cli, reg, d);
	}
	kflash_discovery_unref(d);
	kflash_registry_unref(reg);
	return cli_exit_code(r);
}

int
cmd_show(struct cli *cli, int argc, char **argv)
{
	struct kflash_registry *reg;
	struct kflash_discovery *d = NULL;
	struct kflash_board *board;
	int c = cli_getopt(cli, argc, argv, "", NULL), r;

	if (c == 'h')
		return cli_command_help(cli);
	if (c != -1)
		return CLI_EXIT_USAGE;
	r = no_extra_args(cli, argc, argv, 1);
	if (r)
		return r;
	r = cli_load_registry(cli, &reg);
	if (r)
		return r;
	r = cli_find_board(cli, reg, argv[optind], &board);
	if (r == 0) {
		cli_scan(cli, &d);
		if (cli->json)
			r = cli_print_json(
				cli, cli_board_json(board, cli_connection_json(cli, d, board)));
		else
			cli_print_board(board, kflash_context_get_service(cli->ctx),
					cli_connection_json(cli, d, board));
	}
	kflash_discovery_unref(d);
	kflash_registry_unref(reg);
	return cli_exit_code(r);
}
