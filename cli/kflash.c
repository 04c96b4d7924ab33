/* SPDX-License-Identifier: MIT */
/*
 * kflash: build and flash Klipper firmware onto every board of a printer.
 *
 * This file parses the global options, maps the options of the tool
 * kflash replaces (--list-devices, ...) onto commands, and dispatches
 * `kflash <command>`. Each command lives in cmd-<name>.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

/* The fields of a board, as kflash add and kflash set take them. */
#define BOARD_FIELD_HELP                                                                           \
	"  --serial PATH          the board's tty: a /dev/serial/by-id link, /dev/ttyAMA0, ...\n"  \
	"                         (a path absent right now is accepted, with a warning)\n"         \
	"  --mcu MCU              CONFIG_MCU of its firmware, for example stm32f446xx\n"           \
	"                         (checked against the MCUs the Klipper tree knows)\n"             \
	"  --method METHOD        auto (Katapult, else make flash; the default),\n"                \
	"                         katapult, make, or sdcard\n"                                     \
	"  --sdcard-board NAME    the board in Klipper's flash-sdcard list (sdcard method)\n"      \
	"  --baud N               the UART baud rate (CONFIG_SERIAL_BAUD)\n"                       \
	"  --klipper-mcu SECTION  its section in printer.cfg: mcu, \"mcu toolhead\", ...\n"        \
	"  --unit UNIT            the Klipper service of this board, when not the default\n"       \
	"  --can-interface IF     its CAN interface, for example can0\n"                           \
	"  --can-uuid UUID        its canbus_uuid (a CAN board needs no serial path)\n"            \
	"  --usb-serial SERIAL    its USB serial number, when the serial path does not tell it\n"  \
	"  --notes TEXT           anything worth remembering\n"

const struct cli_command cli_commands[] = {
	{ "flash", cmd_flash, "[NAME...|--all] [OPTIONS]",
	  "build, stop Klipper once, flash, start it",
	  "Update the boards named (on a terminal without names: chosen from a list),\n"
	  "or every board: find them, build each while Klipper still runs (boards\n"
	  "that did not change are not rebuilt), refuse while the printer prints,\n"
	  "stop Klipper once, flash each board (Katapult natively, else make flash,\n"
	  "or the SD card), start Klipper again on every path, even when kflash is\n"
	  "interrupted or killed, and confirm it is ready. One failing board does\n"
	  "not stop the others. Boards on independent links (each USB port, each\n"
	  "UART) are flashed at the same time; the boards of one CAN interface one\n"
	  "after the other. A USB-to-CAN bridge is flashed last, after the CAN\n"
	  "nodes behind it, and not at all when one of them failed (--keep-going).\n"
	  "The option --device NAME does the same for NAME.\n\n"
	  "Options:\n"
	  "  --all                  every registered board\n"
	  "  --dry-run              find and check, then say what would happen; touch nothing\n"
	  "  --force                go on even while the printer prints or is paused\n"
	  "  --no-build             flash each board's last build as it is\n"
	  "  --clean                build from scratch\n"
	  "  --reflash              flash boards that run their current firmware, too\n"
	  "  --fail-fast            stop at the first board that fails\n"
	  "  --keep-going           flash a USB-to-CAN bridge even when a node behind it failed\n"
	  "  --jobs N               flash at most N boards at once (1: one after the other)\n"
	  "  --firmware FILE        flash FILE to the one board named, without building\n"
	  "  --method METHOD        this time, flash with auto, katapult, make or sdcard\n"
	  "  --wait-ready SECONDS   how long to wait for Klipper to be ready again (60)\n" },
	{ "status", cmd_status, "", "which boards need a reflash",
	  "Compare the Klipper version of this host (git describe in the Klipper\n"
	  "dir) with each board's last flash, and, when Klipper runs, with the\n"
	  "firmware version every MCU reports (linked to boards by --klipper-mcu).\n"
	  "Build suffixes such as -dirty are not flagged. The exit status is 0 when\n"
	  "everything is current and 70 when something needs a reflash.\n" },
	{ "doctor", cmd_doctor, "", "check what a flash needs, and say what to fix",
	  "Check, one line each, what a flash needs: the Klipper tree and its git\n"
	  "state, each board's config, the compilers and programs the builds run,\n"
	  "passwordless sudo for the commands kflash runs, the Klipper units,\n"
	  "Klipper's API socket, each board (found, and in which mode), Katapult on\n"
	  "the boards that use it, the CAN interfaces at the configs' bitrate, and\n"
	  "the free space in the cache dir. Each line says ok, warning or fail, and\n"
	  "what fixes it. Nothing is changed: Klipper is not stopped, no board is\n"
	  "sent to its bootloader, and a CAN bus is queried only while Klipper is\n"
	  "stopped (a node Klipper runs answers no query). The exit status is 0 when\n"
	  "nothing would make a flash fail (warnings aside), and 71 when something\n"
	  "would.\n" },
	{ "list", cmd_list, "[--names]", "list the registered boards",
	  "List the boards in the registry, with their MCU, flash method, last\n"
	  "flash, and whether each is connected now (in which mode, at which path)\n"
	  "or missing. The option --list-devices does the same.\n\n"
	  "Options:\n"
	  "  --names                only the board names, one per line (for scripts)\n" },
	{ "show", cmd_show, "NAME", "show every field of one board",
	  "Show everything the registry holds about board NAME.\n" },
	{ "import", cmd_import, "[FILE] [--instance NAME] [--dry-run] [--force]",
	  "register the boards of Klipper's printer.cfg",
	  "Register a board for every [mcu] and [mcu NAME] section of Klipper's config,\n"
	  "read as Klipper reads it (includes, comments, continuation lines): its\n"
	  "serial path or CAN UUID and interface, its baud rate, its section as its\n"
	  "Klipper MCU name, and its MCU from its by-id name, from the running Klipper,\n"
	  "or later from its own config. Without FILE, the config of every Klipper\n"
	  "instance of the host (klipper.service, klipper-NAME.service; see\n"
	  "--units-dir), each board tagged with its instance's unit. A second import\n"
	  "changes nothing; a board edited by hand since its import is not\n"
	  "overwritten where the config changed too (a conflict), unless --force.\n\n"
	  "Options:\n"
	  "  --instance NAME        only this instance (klipper-2, or 2); with FILE, the\n"
	  "                         instance FILE belongs to\n"
	  "  --dry-run              show what would change; write nothing\n"
	  "  --force                take the config's values over conflicting edits\n" },
	{ "add", cmd_add, "[NAME] [--serial PATH] [--mcu MCU] [OPTIONS]", "register a board",
	  "Register a board. With NAME and --serial no question is asked (the MCU\n"
	  "comes from a Klipper or Katapult by-id name, or from --mcu); on a\n"
	  "terminal, whatever is missing is asked, with a numbered list of the\n"
	  "serial/by-id entries. The option --add-device does the same.\n\n"
	  "Options:\n" BOARD_FIELD_HELP },
	{ "set", cmd_set, "NAME --FIELD VALUE...", "change a registered board",
	  "Change fields of board NAME in the registry: the same fields kflash add\n"
	  "takes. An empty VALUE clears an optional field (--notes '').\n\n"
	  "Options:\n" BOARD_FIELD_HELP },
	{ "remove", cmd_remove, "NAME [--purge]", "unregister a board",
	  "Remove board NAME from the registry. Its cached config and builds stay,\n"
	  "unless --purge is given. The option --remove-device NAME does the same.\n\n"
	  "Options:\n"
	  "  --purge                also delete its cached .config and its build directories\n" },
	{ "config", cmd_config, "NAME [--from FILE|--refresh]", "edit a board's Klipper config",
	  "Edit board NAME's own Klipper config with Klipper's menuconfig (this needs\n"
	  "a terminal), seed it from a file, or refresh it after a Klipper update with\n"
	  "olddefconfig. The config lives in the config dir, never in the Klipper\n"
	  "tree; the previous version is kept as .old. A config for another MCU than\n"
	  "the board's is refused.\n\n"
	  "Options:\n"
	  "  --from FILE            copy FILE (a Klipper .config) as the board's config\n"
	  "  --refresh              run make olddefconfig: no questions, no terminal\n" },
	{ "build", cmd_build, "NAME...|--all [--clean]", "build firmware without flashing",
	  "Build the firmware of the boards named, or of every board, each in its own\n"
	  "directory under the cache dir. A board whose config, Klipper version and\n"
	  "compiler are unchanged since its last good build is not built again.\n"
	  "make runs at low priority, so a print on the same host is not disturbed.\n\n"
	  "Options:\n"
	  "  --all                  every registered board\n"
	  "  --clean                build from scratch\n" },
	{ "scan", cmd_scan, "[--can-interface IF]... [--can-query]",
	  "list plugged-in devices and CAN nodes that are not registered",
	  "List the devices plugged in now that no registered board claims: boards\n"
	  "running Klipper or Katapult, USB-serial adapters, and boards in a ROM\n"
	  "bootloader (STM32 DFU, RP2040 BOOTSEL) or acting as a USB-to-CAN bridge.\n"
	  "Each one that can be added comes with a ready kflash add line.\n\n"
	  "CAN nodes answer a query only while they have no node id, and Klipper gives\n"
	  "its nodes one: so the CAN interfaces (the registered boards' and every CAN\n"
	  "interface that is up) are queried only while Klipper is stopped, unless\n"
	  "asked. Each node is listed with its UUID, what it runs, and its board.\n\n"
	  "Options:\n"
	  "  --can-interface IF     query this CAN interface (also while Klipper runs)\n"
	  "  --can-query            query the CAN interfaces also while Klipper runs\n" },
	{ "service", cmd_service, "stop|start|status [UNIT...]",
	  "stop, start or show the Klipper service by hand",
	  "Stop, start or show the state of the Klipper units: the configured service\n"
	  "(--service, KFLASH_SERVICE, default klipper) and every board's own unit,\n"
	  "or the UNITs given. kflash flash stops and starts them by itself, and\n"
	  "always starts them again; this command is for diagnosis. As a user other\n"
	  "than root it uses sudo -n, and says which sudoers line is missing.\n" },
	{ "paths", cmd_paths, "", "show where kflash reads and writes its files",
	  "Show the locations kflash uses, after command line flags, KFLASH_*\n"
	  "environment variables and defaults are applied.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --json                 print one JSON document on stdout; messages go to stderr\n"
	"  -v, --verbose          show debug messages\n"
	"  -q, --quiet            show only warnings and errors, and no build output\n"
	"  -h, --help             show help (kflash <command> --help for a command)\n"
	"  --version              show the version\n"
	"  --config-dir DIR       devices.json, configs/ and the lock  [KFLASH_CONFIG_DIR]\n"
	"  --registry FILE        the board registry                   [KFLASH_REGISTRY]\n"
	"  --cache-dir DIR        build directories                    [KFLASH_CACHE_DIR]\n"
	"  --klipper-dir DIR      the Klipper source tree              [KFLASH_KLIPPER_DIR]\n"
	"  --service UNIT         Klipper's systemd unit               [KFLASH_SERVICE]\n"
	"  --klippy-socket PATH   Klipper's API socket                 [KFLASH_KLIPPY_SOCKET]\n"
	"  --moonraker-socket PATH Moonraker's socket                  [KFLASH_MOONRAKER_SOCKET]\n"
	"  --service-provider P   auto, moonraker or systemctl         [KFLASH_SERVICE_PROVIDER]\n"
	"  --dev-dir DIR          where boards are looked for          [KFLASH_DEV_DIR]\n"
	"  --sys-dir DIR          sysfs, for USB identities without udev [KFLASH_SYS_DIR]\n"
	"  --can-socket-dir DIR   CAN interfaces as UNIX sockets there [KFLASH_CAN_SOCKET_DIR]\n"
	"  --units-dir DIR        systemd units of Klipper instances  [KFLASH_UNITS_DIR]\n";

static const struct cli_command *
find_command(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void
print_exit_codes(FILE *f)
{
	fprintf(f, "Exit status:\n  0    success\n");
	for (int code = -1; strcmp(kflash_error_name(code), "KFLASH_ERR_UNKNOWN") != 0; code--)
		fprintf(f, "  %-4d %s (%s)\n", -code, kflash_strerror(code),
			kflash_error_name(code));
	fprintf(f, "  %-4d usage error: unknown option, missing argument\n", CLI_EXIT_USAGE);
	fprintf(f, "  %-4d kflash status: a board or MCU needs a reflash\n", CLI_EXIT_OUTDATED);
	fprintf(f, "  %-4d kflash doctor: a check failed, so a flash would fail\n",
		CLI_EXIT_CHECK_FAILED);
}

static void
print_help(FILE *f)
{
	fprintf(f, "Usage: kflash [OPTIONS] COMMAND [ARGS]\n\n"
		   "Build and flash Klipper firmware onto every board of a printer, safely.\n\n"
		   "Commands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", c->name, c->args);
		if (strlen(left) > 30)
			fprintf(f, "  %s\n  %-30s %s\n", left, "", c->summary);
		else
			fprintf(f, "  %-30s %s\n", left, c->summary);
	}
	fprintf(f, "\n%s\n", global_help);
	print_exit_codes(f);
}

int
cli_command_help(struct cli *cli)
{
	const struct cli_command *c = find_command(cli->command);

	printf("Usage: kflash %s %s\n\n%s\n%s", c->name, c->args, c->help, global_help);
	return 0;
}

/*
 * The options of the tool kflash replaces become commands:
 * --list-devices -> list, --add-device -> add, --remove-device NAME ->
 * remove NAME, --device NAME -> flash NAME. Returns a new argv (the
 * strings are shared) or NULL when there is no such option, or when one
 * lacks its NAME (then *@missing names the option).
 */
static char **
rewrite_aliases(int *argc, char **argv, const char **missing)
{
	static const struct {
		const char *option;
		const char *command;
		bool takes_name;
	} aliases[] = {
		{ "--list-devices", "list", false },
		{ "--add-device", "add", false },
		{ "--remove-device", "remove", true },
		{ "--device", "flash", true },
	};
	char **out;
	int n = 0;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		for (size_t a = 0; a < sizeof(aliases) / sizeof(aliases[0]); a++) {
			size_t len = strlen(aliases[a].option);
			const char *name = NULL;

			if (strncmp(argv[i], aliases[a].option, len) != 0)
				continue;
			if (argv[i][len] == '=' && aliases[a].takes_name)
				name = argv[i] + len + 1;
			else if (argv[i][len] != '\0')
				continue;
			else if (aliases[a].takes_name && i + 1 < *argc && argv[i + 1][0] != '-')
				name = argv[i + 1];
			/* The old tool's option needs its NAME: say so as a usage error. */
			if (aliases[a].takes_name && (!name || !*name)) {
				*missing = aliases[a].option;
				return NULL;
			}

			out = calloc((size_t)*argc + 2, sizeof(*out));
			if (!out)
				return NULL;
			out[n++] = argv[0];
			out[n++] = (char *)aliases[a].command;
			if (name)
				out[n++] = (char *)name;
			for (int j = 1; j < *argc; j++) {
				if (j == i || (name && argv[i][len] == '\0' && j == i + 1))
					continue;
				out[n++] = argv[j];
			}
			*argc = n;
			return out;
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const struct cli_command *cmd;
	const char *missing_name = NULL;
	char **aliased;
	int c, r;

	r = kflash_context_new(&cli.ctx);
	if (r < 0) {
		fprintf(stderr, "kflash: cannot start: %s\n", kflash_strerror(r));
		return cli_exit_code(r);
	}
	cli.stdin_tty = isatty(STDIN_FILENO);
	cli.stderr_tty = isatty(STDERR_FILENO);
	cli.color = cli.stderr_tty && !getenv("NO_COLOR") &&
		    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	kflash_context_set_event_handler(cli.ctx, cli_render_event, &cli);
	kflash_context_set_event_level(cli.ctx, KFLASH_LEVEL_INFO);
	cli_install_signal_handlers(&cli);

	/* Known before any option is parsed, so that even a usage error is JSON. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		cli.json = cli.json || strcmp(argv[i], "--json") == 0;
	aliased = rewrite_aliases(&argc, argv, &missing_name);
	if (missing_name) {
		r = cli_usage_error(&cli, "%s needs a board name", missing_name);
		goto out;
	}
	if (aliased)
		argv = aliased;

	c = cli_getopt(&cli, argc, argv, "+", NULL);
	if (c == 'h') {
		print_help(stdout);
		r = 0;
		goto out;
	}
	if (c != -1) {
		r = CLI_EXIT_USAGE;
		goto out;
	}
	if (optind >= argc) {
		print_help(stderr);
		r = CLI_EXIT_USAGE;
		goto out;
	}

	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 < argc && find_command(argv[optind + 1])) {
			cli.command = argv[optind + 1];
			r = cli_command_help(&cli);
		} else {
			print_help(stdout);
			r = 0;
		}
		goto out;
	}

	cmd = find_command(argv[optind]);
	if (!cmd) {
		r = cli_usage_error(&cli, "unknown command '%s'", argv[optind]);
		goto out;
	}
	cli.command = cmd->name;
	argc -= optind;
	argv += optind;
	optind = 0;
	r = cmd->run(&cli, argc, argv);

	cli_render_break(&cli);
	if (cli_caught_signal() && r != 0)
		cli_message(&cli, NULL, "kflash: interrupted by signal %d", cli_caught_signal());
out:
	/* With --json, a failure is a JSON document too. */
	if (cli.json && !cli.json_printed && r != 0) {
		struct json_object *doc = json_object_new_object();

		if (!cli.error.exit)
			cli.error = (__typeof__(cli.error)){
				.exit = r,
				.name = r < CLI_EXIT_USAGE ? kflash_error_name(-r) : "usage",
			};
		json_object_object_add(doc, "error", cli_error_json(&cli));
		cli_print_json(&cli, doc);
	}
	cli_forget_error(&cli);
	free(aliased);
	kflash_context_unref(cli.ctx);
	return r;
}
