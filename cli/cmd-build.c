/* SPDX-License-Identifier: MIT */
/* kflash build NAME... | --all [--clean]: build without flashing. */
#include <string.h>

#include "commands.h"

static struct json_object *
result_json(const char *name, struct kflash_build *b, int r)
{
	struct json_object *o = json_object_new_object();
	struct kflash_firmware *fw = kflash_build_get_firmware(b);

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "artifact", cli_json_string(kflash_build_get_artifact(b)));
	json_object_object_add(o, "size",
			       fw ? json_object_new_int64((int64_t)kflash_firmware_get_size(fw))
				  : NULL);
	json_object_object_add(o, "mcu", cli_json_string(kflash_firmware_get_mcu(fw)));
	json_object_object_add(o, "version", cli_json_string(kflash_firmware_get_version(fw)));
	json_object_object_add(o, "sha256", cli_json_string(kflash_firmware_get_sha256(fw)));
	json_object_object_add(
		o, "result",
		json_object_new_string(r < 0 ? "failed"
				       : kflash_build_get_result(b) == KFLASH_BUILD_UP_TO_DATE
					       ? "up-to-date"
					       : "built"));
	json_object_object_add(o, "error",
			       r < 0 ? json_object_new_string(kflash_strerror(r)) : NULL);
	return o;
}

int
cmd_build(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "clean", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct kflash_registry *reg;
	struct json_object *boards = NULL;
	bool all = false;
	unsigned int flags = 0;
	int c, r, first_error = 0;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'c':
			flags |= KFLASH_BUILD_CLEAN;
			break;
		case 'h':
			return cli_command_help(cli);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (all == (optind < argc))
		return cli_usage_error(cli, "name the boards to build, or give --all");
	r = cli_load_registry(cli, &reg);
	if (r)
		return r;
	if (all && kflash_registry_get_board_count(reg) == 0) {
		kflash_registry_unref(reg);
		return cli_error(cli, KFLASH_ERR_NOT_FOUND,
				 "no boards to build: register one with kflash add");
	}
	/* Every name must be known before anything is built. */
	for (int i = optind; i < argc; i++) {
		struct kflash_board *b;

		r = cli_find_board(cli, reg, argv[i], &b);
		if (r) {
			kflash_registry_unref(reg);
			return r;
		}
	}
	if (cli->json)
		boards = json_object_new_array();
	for (size_t i = 0, n = all ? kflash_registry_get_board_count(reg) : (size_t)(argc - optind);
	     i < n; i++) {
		struct kflash_board *b =
			all ? kflash_registry_get_board(reg, i)
			    : kflash_registry_find_board(reg, argv[optind + (int)i]);
		struct kflash_build *result = NULL;

		r = kflash_build_board(cli->ctx, b, flags, &result);
		if (r < 0) {
			cli_fail(cli, r);
			if (!first_error)
				first_error = r;
		}
		if (boards)
			json_object_array_add(boards,
					      result_json(kflash_board_get_name(b), result, r));
		kflash_build_unref(result);
	}
	if (boards) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "boards", boards);
		r = cli_print_json(cli, doc);
	}
	kflash_registry_unref(reg);
	return first_error ? cli_exit_code(first_error) : cli_exit_code(r);
}
