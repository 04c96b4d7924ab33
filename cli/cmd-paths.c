/* SPDX-License-Identifier: MIT */
/* kflash paths: where kflash reads and writes, after flags and environment. */
#include "commands.h"

struct location {
	const char *name;
	const char *(*get)(struct kflash_context *ctx);
};

static const struct location locations[] = {
	{ "config_dir", kflash_context_get_config_dir },
	{ "registry", kflash_context_get_registry },
	{ "cache_dir", kflash_context_get_cache_dir },
	{ "klipper_dir", kflash_context_get_klipper_dir },
	{ "service", kflash_context_get_service },
	{ "klippy_socket", kflash_context_get_klippy_socket },
	{ "dev_dir", kflash_context_get_dev_dir },
	{ "sys_dir", kflash_context_get_sys_dir },
	{ "can_socket_dir", kflash_context_get_can_socket_dir },
	{ "moonraker_socket", kflash_context_get_moonraker_socket },
	{ "units_dir", kflash_context_get_units_dir },
};

#define N_LOCATIONS (sizeof(locations) / sizeof(locations[0]))

int
cmd_paths(struct cli *cli, int argc, char **argv)
{
	int provider, c = cli_getopt(cli, argc, argv, "", NULL);

	if (c == 'h')
		return cli_command_help(cli);
	if (c != -1)
		return CLI_EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	/* Not a location, but where Klipper's service is controlled from. */
	provider = kflash_context_get_service_provider(cli->ctx);
	if (provider < 0)
		return cli_fail(cli, provider);

	if (cli->json) {
		struct json_object *doc = json_object_new_object();

		for (size_t i = 0; i < N_LOCATIONS; i++)
			json_object_object_add(doc, locations[i].name,
					       cli_json_string(locations[i].get(cli->ctx)));
		json_object_object_add(
			doc, "service_provider",
			json_object_new_string(kflash_service_provider_name(provider)));
		return cli_print_json(cli, doc);
	}
	for (size_t i = 0; i < N_LOCATIONS; i++) {
		const char *v = locations[i].get(cli->ctx);

		printf("%-16s %s\n", locations[i].name, v ? v : "(not set)");
	}
	printf("%-16s %s\n", "service_provider", kflash_service_provider_name(provider));
	return 0;
}
