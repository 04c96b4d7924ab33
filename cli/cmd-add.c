/* SPDX-License-Identifier: MIT */
/*
 * kflash add [NAME] [--mcu M] [--serial PATH] [--method M] ...
 *
 * With the name and a way to find the board (a serial path, or a CAN
 * UUID), and an MCU unless the path's by-id name tells it, no question is
 * asked. Whatever is missing is asked on a terminal (add-wizard.c);
 * without one, a missing field is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "add-wizard.h"
#include "commands.h"

/* A board that is not plugged in now is fine: boards get unplugged. */
static void
report_connection(struct cli *cli, const struct kflash_board *b)
{
	struct kflash_device *dev = NULL;
	int r;

	if (!kflash_board_get_serial_path(b) && !kflash_board_get_usb_serial(b))
		return; /* a CAN board: it is found on its bus */
	r = kflash_discovery_locate(cli->ctx, b, &dev);
	if (r == KFLASH_ERR_NOT_FOUND && kflash_board_is_host_mcu(b))
		cli_message(cli, "note:",
			    "%s; it appears while the klipper-mcu service runs, and the host "
			    "MCU is flashed without it",
			    kflash_context_last_error(cli->ctx));
	else if (r == KFLASH_ERR_NOT_FOUND)
		cli_message(cli,
			    "warning:", "%s; the board is added anyway, plug it in before flashing",
			    kflash_context_last_error(cli->ctx));
	else if (r < 0)
		cli_message(cli, "warning:", "%s", kflash_context_last_error(cli->ctx));
	else if (cli->verbosity >= 0 && kflash_device_get_mode(dev) == KFLASH_MODE_UNKNOWN)
		fprintf(stderr, "Board %s is connected at %s.\n", kflash_board_get_name(b),
			kflash_device_get_path(dev));
	else if (cli->verbosity >= 0 && kflash_device_get_mode(dev) != KFLASH_MODE_KLIPPER)
		fprintf(stderr, "Board %s is connected, in %s mode, at %s.\n",
			kflash_board_get_name(b),
			kflash_device_mode_name(kflash_device_get_mode(dev)),
			kflash_device_get_path(dev));
	kflash_device_unref(dev);
}

/* The board as the command line describes it, asking on a terminal for the rest. */
static int
make_board(struct cli *cli, const char *name, const struct board_fields *f, struct kflash_board **b)
{
	bool findable = board_fields_get(f, FIELD_SERIAL) || board_fields_get(f, FIELD_CAN_UUID) ||
			(board_fields_get(f, FIELD_MCU) &&
			 strcmp(board_fields_get(f, FIELD_MCU), "linux") == 0);

	*b = NULL;
	if (name && findable)
		return cli_fail(cli, kflash_board_new(cli->ctx, name, b));
	if (!cli->stdin_tty)
		return cli_error(cli, KFLASH_ERR_NOT_TTY,
				 "stdin is not a terminal, so kflash cannot ask: give the board as "
				 "kflash add NAME --serial PATH [--mcu MCU] [--method METHOD], or "
				 "kflash add NAME --can-uuid UUID --can-interface IF --mcu MCU");
	return add_wizard(cli, name, f, b);
}

int
cmd_add(struct cli *cli, int argc, char **argv)
{
	struct board_fields f = { 0 };
	struct kflash_board *b = NULL;
	const char *name = NULL;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", board_field_options)) != -1) {
		if (c == 'h')
			return cli_command_help(cli);
		if (!board_fields_take(&f, c, optarg))
			return CLI_EXIT_USAGE;
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

	r = make_board(cli, name, &f, &b);
	if (r == 0)
		r = board_fields_apply(cli, b, &f);
	if (r == 0 && !kflash_board_get_mcu(b))
		r = cli_error(cli, KFLASH_ERR_INVALID,
			      "board %s: the MCU is unknown (the serial path does not tell it); "
			      "add --mcu MCU, as CONFIG_MCU in its .config, for example "
			      "stm32f446xx",
			      kflash_board_get_name(b));
	if (r == 0)
		r = cli_fail(cli, kflash_registry_add_board(cli->ctx, b));
	if (r == 0) {
		report_connection(cli, b);
		if (cli->json)
			r = cli_exit_code(cli_print_json(cli, cli_board_json(b, NULL)));
		else if (cli->verbosity >= 0)
			fprintf(stderr, "Added board %s (%s). Next: kflash config %s\n",
				kflash_board_get_name(b), kflash_board_get_mcu(b),
				kflash_board_get_name(b));
	}
	kflash_board_unref(b);
	return r;
}
