/* SPDX-License-Identifier: MIT */
/* kflash status: which boards need a reflash after a Klipper update. */
#include <string.h>

#include "commands.h"

/* The unit of board @name when it is not the context's, else NULL. */
static const char *
instance_of(struct cli *cli, const struct kflash_registry *reg, const char *name)
{
	const char *unit = kflash_board_get_service(kflash_registry_find_board(reg, name));

	return unit && strcmp(unit, kflash_context_get_service(cli->ctx)) != 0 ? unit : NULL;
}

static struct json_object *
status_json(struct cli *cli, struct kflash_status *s, const struct kflash_registry *reg)
{
	struct json_object *doc = json_object_new_object(), *mcus = json_object_new_array();
	struct json_object *boards = json_object_new_array(), *klipper = NULL;

	json_object_object_add(doc, "host_version",
			       cli_json_string(kflash_status_get_host_version(s)));
	if (kflash_status_get_klipper_state(s) != KFLASH_KLIPPER_UNKNOWN) {
		klipper = json_object_new_object();
		json_object_object_add(klipper, "state",
				       json_object_new_string(kflash_klipper_state_name(
					       kflash_status_get_klipper_state(s))));
	}
	json_object_object_add(doc, "klipper", klipper);
	for (size_t i = 0; i < kflash_status_get_mcu_count(s); i++) {
		struct json_object *m = json_object_new_object();

		json_object_object_add(m, "name",
				       cli_json_string(kflash_status_get_mcu_name(s, i)));
		json_object_object_add(m, "version",
				       cli_json_string(kflash_status_get_mcu_version(s, i)));
		json_object_object_add(m, "board",
				       cli_json_string(kflash_status_get_mcu_board(s, i)));
		json_object_object_add(
			m, "needs_reflash",
			json_object_new_boolean(kflash_status_get_mcu_needs_reflash(s, i)));
		json_object_array_add(mcus, m);
	}
	json_object_object_add(doc, "mcus", mcus);
	for (size_t i = 0; i < kflash_status_get_board_count(s); i++) {
		struct json_object *b = json_object_new_object();

		json_object_object_add(b, "name",
				       cli_json_string(kflash_status_get_board_name(s, i)));
		json_object_object_add(
			b, "last_flashed_version",
			cli_json_string(kflash_status_get_board_flashed_version(s, i)));
		json_object_object_add(b, "live_version",
				       cli_json_string(kflash_status_get_board_live_version(s, i)));
		json_object_object_add(
			b, "needs_reflash",
			json_object_new_boolean(kflash_status_get_board_needs_reflash(s, i)));
		json_object_object_add(b, "reason",
				       kflash_status_get_board_needs_reflash(s, i)
					       ? json_object_new_string(kflash_reflash_reason_name(
							 kflash_status_get_board_reason(s, i)))
					       : NULL);
		json_object_object_add(b, "message",
				       cli_json_string(kflash_status_get_board_message(s, i)));
		json_object_object_add(
			b, "instance",
			cli_json_string(instance_of(cli, reg, kflash_status_get_board_name(s, i))));
		json_object_array_add(boards, b);
	}
	json_object_object_add(doc, "boards", boards);
	json_object_object_add(doc, "needs_reflash",
			       json_object_new_boolean(kflash_status_get_needs_reflash(s)));
	return doc;
}

static void
print_status(struct cli *cli, struct kflash_status *s, const struct kflash_registry *reg)
{
	const char *host = kflash_status_get_host_version(s);
	int state = kflash_status_get_klipper_state(s);
	bool instances = false;

	for (size_t i = 0; i < kflash_status_get_board_count(s); i++)
		instances = instances || instance_of(cli, reg, kflash_status_get_board_name(s, i));

	if (!host)
		host = "unknown version (no git checkout there; see --klipper-dir)";
	printf("Klipper in %s: %s\n", kflash_context_get_klipper_dir(cli->ctx), host);
	if (state != KFLASH_KLIPPER_UNKNOWN)
		printf("Klipper runs: %s\n", kflash_klipper_state_name(state));
	else
		printf("Klipper does not run: only the registry's last flashes are compared\n");
	if (kflash_status_get_board_count(s) && instances)
		printf("\n%-16s %-12s %-34s %-34s %s\n", "BOARD", "INSTANCE", "LAST FLASHED",
		       "RUNNING", "STATUS");
	else if (kflash_status_get_board_count(s))
		printf("\n%-16s %-34s %-34s %s\n", "BOARD", "LAST FLASHED", "RUNNING", "STATUS");
	for (size_t i = 0; i < kflash_status_get_board_count(s); i++) {
		const char *name = kflash_status_get_board_name(s, i);
		const char *flashed = kflash_status_get_board_flashed_version(s, i);
		const char *live = kflash_status_get_board_live_version(s, i);
		const char *why = kflash_status_get_board_message(s, i);
		const char *unit = instance_of(cli, reg, name);

		printf("%-16s ", name);
		if (instances)
			printf("%-12s ", unit ? unit : kflash_context_get_service(cli->ctx));
		printf("%-34s %-34s %s%s\n", flashed ? flashed : "-", live ? live : "-",
		       why ? "REFLASH: " : "current", why ? why : "");
	}
	for (size_t i = 0; i < kflash_status_get_mcu_count(s); i++) {
		if (kflash_status_get_mcu_board(s, i))
			continue;
		printf("\nMCU '%s' runs %s and belongs to no board%s\n",
		       kflash_status_get_mcu_name(s, i),
		       kflash_status_get_mcu_version(s, i) ? kflash_status_get_mcu_version(s, i)
							   : "?",
		       kflash_status_get_mcu_needs_reflash(s, i)
			       ? ": it needs a reflash (kflash add it with --klipper-mcu)"
			       : "");
	}
	if (kflash_status_get_needs_reflash(s))
		printf("\nRun kflash flash --all to bring every board up to date.\n");
	else if (kflash_status_get_board_count(s) == 0)
		printf("\nNo boards registered. Add one with: kflash add\n");
	else
		printf("\nEvery board is up to date.\n");
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	struct kflash_status *s;
	struct kflash_registry *reg;
	int c = cli_getopt(cli, argc, argv, "", NULL), r;

	if (c == 'h')
		return cli_command_help(cli);
	if (c != -1)
		return CLI_EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	r = kflash_status_query(cli->ctx, &s);
	if (r < 0)
		return cli_fail(cli, r);
	/* For each board's instance; without it, every board is the default's. */
	if (kflash_registry_load(cli->ctx, &reg) < 0)
		reg = NULL;
	if (cli->json)
		r = cli_print_json(cli, status_json(cli, s, reg));
	else
		print_status(cli, s, reg);
	kflash_registry_unref(reg);
	if (r == 0 && kflash_status_get_needs_reflash(s))
		r = CLI_EXIT_OUTDATED;
	kflash_status_unref(s);
	return r;
}
