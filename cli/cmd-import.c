/* SPDX-License-Identifier: MIT */
/*
 * kflash import [FILE] [--instance NAME] [--dry-run] [--force]
 *
 * Register the boards Klipper's config names: FILE's, else those of every
 * Klipper instance of the host (or of the one --instance names). One line
 * per board says what happened to it; boards without their own Klipper
 * config get the next step.
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* Does the board have a config of its own that fits it? */
static bool
has_config(struct cli *cli, const struct kflash_board *b)
{
	struct kflash_config *config = NULL;
	int r = kflash_board_config_load(cli->ctx, b, &config);

	kflash_config_unref(config);
	return r == 0;
}

static bool
same_unit(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

static struct json_object *
change_json(struct cli *cli, const struct kflash_import_change *c)
{
	const struct kflash_board *b = kflash_import_change_get_board(c);
	struct json_object *o = json_object_new_object(), *changes = json_object_new_array();
	uint32_t baud = kflash_board_get_baud(b);

	json_object_object_add(o, "name", json_object_new_string(kflash_import_change_get_name(c)));
	json_object_object_add(o, "action",
			       json_object_new_string(kflash_import_action_name(
				       kflash_import_change_get_action(c))));
	json_object_object_add(o, "section",
			       json_object_new_string(kflash_import_change_get_section(c)));
	json_object_object_add(o, "file", json_object_new_string(kflash_import_change_get_file(c)));
	json_object_object_add(o, "line", json_object_new_int64(kflash_import_change_get_line(c)));
	json_object_object_add(o, "config",
			       json_object_new_string(kflash_import_change_get_config(c)));
	json_object_object_add(o, "instance", cli_json_string(kflash_import_change_get_unit(c)));
	json_object_object_add(o, "klipper_mcu", cli_json_string(kflash_board_get_klipper_mcu(b)));
	json_object_object_add(o, "mcu", cli_json_string(kflash_board_get_mcu(b)));
	json_object_object_add(o, "mcu_source",
			       json_object_new_string(kflash_mcu_source_name(
				       kflash_import_change_get_mcu_source(c))));
	json_object_object_add(o, "serial_path", cli_json_string(kflash_board_get_serial_path(b)));
	json_object_object_add(o, "usb_serial", cli_json_string(kflash_board_get_usb_serial(b)));
	json_object_object_add(o, "baud", baud ? json_object_new_int64(baud) : NULL);
	json_object_object_add(o, "can_interface",
			       cli_json_string(kflash_board_get_can_interface(b)));
	json_object_object_add(o, "can_uuid", cli_json_string(kflash_board_get_can_uuid(b)));
	json_object_object_add(o, "restart_method",
			       cli_json_string(kflash_import_change_get_restart_method(c)));
	json_object_object_add(o, "has_config", json_object_new_boolean(has_config(cli, b)));
	json_object_object_add(o, "message",
			       json_object_new_string(kflash_import_change_get_message(c)));
	for (size_t i = 0; i < kflash_import_change_get_field_count(c); i++) {
		struct json_object *f = json_object_new_object();

		json_object_object_add(
			f, "field", json_object_new_string(kflash_import_change_get_field(c, i)));
		json_object_object_add(f, "from",
				       cli_json_string(kflash_import_change_get_field_old(c, i)));
		json_object_object_add(f, "to",
				       cli_json_string(kflash_import_change_get_field_new(c, i)));
		json_object_object_add(
			f, "conflict",
			json_object_new_boolean(kflash_import_change_get_field_conflict(c, i)));
		json_object_array_add(changes, f);
	}
	json_object_object_add(o, "changes", changes);
	return o;
}

static void
print_changes(struct cli *cli, const struct kflash_import *imp, bool dry_run)
{
	const char *service = kflash_context_get_service(cli->ctx);
	size_t n = kflash_import_get_change_count(imp);
	char **todo = NULL;
	bool several_units = false;

	for (size_t i = 1; i < n; i++)
		several_units =
			several_units ||
			!same_unit(kflash_import_change_get_unit(kflash_import_get_change(imp, 0)),
				   kflash_import_change_get_unit(kflash_import_get_change(imp, i)));
	if (dry_run && cli->verbosity >= 0)
		fprintf(stderr, "Dry run: these changes are not written.\n");
	for (size_t i = 0; i < n; i++) {
		const struct kflash_import_change *c = kflash_import_get_change(imp, i);
		const struct kflash_board *b = kflash_import_change_get_board(c);
		const char *unit = kflash_import_change_get_unit(c);
		int action = kflash_import_change_get_action(c);
		bool show_unit = unit && (several_units || strcmp(unit, service) != 0);

		printf("%-10s %-16s %s%s%s\n", kflash_import_action_name(action),
		       kflash_import_change_get_name(c), show_unit ? unit : "",
		       show_unit ? ": " : "", kflash_import_change_get_message(c));
		if (action != KFLASH_IMPORT_CONFLICT && !has_config(cli, b))
			cli_strv_add_once(&todo, kflash_import_change_get_name(c));
	}
	if (cli->verbosity < 0)
		goto out;
	if (todo) {
		fprintf(stderr, "\nNext, the Klipper config of each board that has none%s:\n",
			dry_run ? " (after the import)" : "");
		for (size_t i = 0; todo[i]; i++) {
			const struct kflash_board *b = NULL;

			for (size_t k = 0; k < n && !b; k++)
				if (strcmp(kflash_import_change_get_name(
						   kflash_import_get_change(imp, k)),
					   todo[i]) == 0)
					b = kflash_import_change_get_board(
						kflash_import_get_change(imp, k));
			fprintf(stderr, "  kflash config %s%s\n", todo[i],
				b && !kflash_board_get_mcu(b) ? "   (its MCU is not known yet: the "
								"config names it)"
							      : "");
		}
		fprintf(stderr, "Then: kflash flash --all\n");
	} else if (!dry_run && n > 0) {
		fprintf(stderr, "\nEvery board has its Klipper config. Next: kflash flash --all\n");
	}
out:
	cli_strv_free(todo);
}

/* Which instance --instance names; NULL (reported) when none. */
static const struct kflash_instance *
named_instance(struct cli *cli, const struct kflash_instances *list, const char *name, int *r)
{
	const struct kflash_instance *in = kflash_instances_find_name(list, name);
	char found[512] = "";
	size_t len = 0;

	*r = 0;
	if (in)
		return in;
	for (size_t i = 0; i < kflash_instances_get_count(list) && len < sizeof(found); i++)
		len += (size_t)snprintf(found + len, sizeof(found) - len, "%s%s", i ? ", " : "",
					kflash_instance_get_unit(kflash_instances_get(list, i)));
	*r = cli_error(cli, KFLASH_ERR_NOT_FOUND,
		       "no Klipper instance '%s' among the units of %s (%s)", name,
		       kflash_context_get_units_dir(cli->ctx), *found ? found : "there are none");
	return NULL;
}

/* Add the config(s) to import to @imp; 0 or the exit code, reported. */
static int
add_sources(struct cli *cli, struct kflash_import *imp, const char *file, const char *instance)
{
	struct kflash_instances *list = NULL;
	const struct kflash_instance *in = NULL;
	int r = 0;

	if (!file || instance) {
		r = kflash_instances_find(cli->ctx, &list);
		if (r < 0)
			return cli_fail(cli, r);
	}
	if (instance)
		in = named_instance(cli, list, instance, &r);
	if (r == 0 && file)
		r = cli_fail(cli, kflash_import_add_file(
					  imp, file, in ? kflash_instance_get_unit(in) : NULL,
					  in ? kflash_instance_get_klippy_socket(in) : NULL));
	else if (r == 0 && in)
		r = cli_fail(cli, kflash_import_add_instance(imp, in));
	else if (r == 0 && kflash_instances_get_count(list) == 0)
		r = cli_error(cli, KFLASH_ERR_NOT_FOUND,
			      "no Klipper instance was found in %s (a klipper.service or "
			      "klipper-NAME.service that runs klippy.py); give the config instead, "
			      "kflash import ~/printer_data/config/printer.cfg, or the units "
			      "directory with --units-dir",
			      kflash_context_get_units_dir(cli->ctx));
	for (size_t i = 0; r == 0 && !file && !in && i < kflash_instances_get_count(list); i++)
		r = cli_fail(cli, kflash_import_add_instance(imp, kflash_instances_get(list, i)));
	kflash_instances_unref(list);
	return r;
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct kflash_import *imp = NULL;
	const char *file = NULL, *instance = NULL;
	bool dry_run = false, force = false;
	int c, r, applied = 0;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'i':
			instance = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			return cli_command_help(cli);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

	r = cli_fail(cli, kflash_import_new(cli->ctx, &imp));
	if (r == 0)
		r = add_sources(cli, imp, file, instance);
	if (r == 0)
		r = cli_fail(cli, kflash_import_plan(imp, force ? KFLASH_IMPORT_FORCE : 0));
	if (r == 0 && !dry_run) {
		applied = kflash_import_apply(imp);
		/*
		 * Conflicts left as they are: the rest is written, and the lines say
		 * which. The failure is kept now, before anything else can fail.
		 */
		if (applied == KFLASH_ERR_EXISTS)
			cli_note_failure(cli, applied);
		else if (applied < 0)
			r = cli_fail(cli, applied);
	}
	if (r == 0 && cli->json) {
		struct json_object *doc = json_object_new_object(),
				   *boards = json_object_new_array();

		for (size_t i = 0; i < kflash_import_get_change_count(imp); i++)
			json_object_array_add(boards,
					      change_json(cli, kflash_import_get_change(imp, i)));
		json_object_object_add(doc, "dry_run", json_object_new_boolean(dry_run));
		json_object_object_add(doc, "boards", boards);
		c = cli_print_json(cli, doc);
		r = applied < 0 ? cli->error.exit : cli_exit_code(c);
	} else if (r == 0) {
		print_changes(cli, imp, dry_run);
		if (applied < 0) {
			char *hint = cli_hint_text(cli, cli->error.hint, cli->error.subject);

			cli_message(cli, "error:", "%s", cli->error.message);
			if (hint)
				cli_message(cli, "hint:", "%s", hint);
			free(hint);
			r = cli->error.exit;
		}
	}
	kflash_import_unref(imp);
	return r;
}
