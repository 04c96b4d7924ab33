/* SPDX-License-Identifier: MIT */
/*
 * kflash service stop|start|status [UNIT...]: the Klipper units by hand,
 * for diagnosis. Without units: the configured service and every board's
 * own unit from the registry.
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* Add @unit to @units (of *@n) unless it is there; false when memory runs out. */
static bool
add_unit(const char ***units, size_t *n, const char *unit)
{
	const char **grown;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*units)[i], unit) == 0)
			return true;
	grown = realloc(*units, (*n + 1) * sizeof(**units));
	if (!grown)
		return false;
	*units = grown;
	(*units)[(*n)++] = unit;
	return true;
}

int
cmd_service(struct cli *cli, int argc, char **argv)
{
	const char **units = NULL;
	struct kflash_registry *reg = NULL;
	struct json_object *list = NULL;
	const char *action;
	size_t n = 0;
	int c, r = 0;

	c = cli_getopt(cli, argc, argv, "", NULL);
	if (c == 'h')
		return cli_command_help(cli);
	if (c != -1)
		return CLI_EXIT_USAGE;
	if (optind >= argc)
		return cli_usage_error(cli, "say what to do: stop, start or status");
	action = argv[optind++];
	if (strcmp(action, "stop") != 0 && strcmp(action, "start") != 0 &&
	    strcmp(action, "status") != 0)
		return cli_usage_error(cli, "unknown action '%s': use stop, start or status",
				       action);

	for (; optind < argc; optind++)
		if (!add_unit(&units, &n, argv[optind]))
			return cli_fail(cli, KFLASH_ERR_NO_MEMORY);
	if (n == 0) {
		if (!add_unit(&units, &n, kflash_context_get_service(cli->ctx)))
			return cli_fail(cli, KFLASH_ERR_NO_MEMORY);
		/* A broken registry does not stop a look at the service, but is said. */
		if (kflash_registry_load(cli->ctx, &reg) < 0)
			cli_message(cli, "warning:", "the boards' own units are not known: %s",
				    kflash_context_last_error(cli->ctx));
		else
			for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++) {
				const char *own =
					kflash_board_get_service(kflash_registry_get_board(reg, i));

				if (own && !add_unit(&units, &n, own))
					r = KFLASH_ERR_NO_MEMORY;
			}
	}

	if (cli->json)
		list = json_object_new_array();
	for (size_t i = 0; i < n && r == 0; i++) {
		int state = KFLASH_UNIT_UNKNOWN;

		if (strcmp(action, "stop") == 0)
			r = kflash_service_stop(cli->ctx, units[i]);
		else if (strcmp(action, "start") == 0)
			r = kflash_service_start(cli->ctx, units[i]);
		if (r == 0)
			r = kflash_service_get_state(cli->ctx, units[i], &state);
		if (r < 0)
			break;
		if (list) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(units[i]));
			json_object_object_add(
				o, "state", json_object_new_string(kflash_unit_state_name(state)));
			json_object_array_add(list, o);
		} else {
			printf("%-20s %s\n", units[i], kflash_unit_state_name(state));
		}
	}
	kflash_registry_unref(reg);
	free(units);
	if (r < 0) {
		json_object_put(list);
		return cli_fail(cli, r);
	}
	if (list) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "units", list);
		return cli_print_json(cli, doc);
	}
	return 0;
}
