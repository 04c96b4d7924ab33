/* SPDX-License-Identifier: MIT */
/*
 * kflash add [NAME] [--mcu M] [--serial PATH] [--method M] ...
 *
 * With the name and a serial path (and an MCU, unless the path's by-id
 * name tells it) no question is asked. Whatever is missing is asked on a
 * TTY; without one, a missing field is an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"

enum {
	OPT_MCU = 256,
	OPT_SERIAL,
	OPT_METHOD,
	OPT_BAUD,
	OPT_KLIPPER_MCU,
	OPT_SDCARD_BOARD,
	OPT_UNIT,
	OPT_CAN_INTERFACE,
	OPT_CAN_UUID,
	OPT_NOTES,
};

struct add_args {
	const char *name, *mcu, *serial, *method, *baud, *klipper_mcu, *sdcard_board, *unit,
		*can_interface, *can_uuid, *notes;
};

/* Read one answer from stdin; NULL at the end of input. */
static char *
ask(struct cli *cli, const char *question, const char *def)
{
	char *line = NULL;
	size_t size = 0;
	ssize_t n;

	if (def)
		fprintf(stderr, "%s [%s]: ", question, def);
	else
		fprintf(stderr, "%s: ", question);
	fflush(stderr);
	n = getline(&line, &size, stdin);
	if (n < 0) {
		free(line);
		fputc('\n', stderr);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n == 0 && def) {
		free(line);
		return strdup(def);
	}
	return line;
}

/*
 * The serial ports plugged in now, by-id links first: the wizard's
 * numbered list. NULL-terminated; @labels gets what to show for each.
 */
static char **
list_ports(struct cli *cli, size_t *count, char ***labels)
{
	struct kflash_discovery *d;
	char **paths = NULL, **texts = NULL;

	*count = 0;
	*labels = NULL;
	if (cli_scan(cli, &d) < 0)
		return NULL;
	paths = calloc(kflash_discovery_get_device_count(d) + 1, sizeof(*paths));
	texts = calloc(kflash_discovery_get_device_count(d) + 1, sizeof(*texts));
	for (size_t i = 0; paths && texts && i < kflash_discovery_get_device_count(d); i++) {
		const struct kflash_device *dev = kflash_discovery_get_device(d, i);
		enum kflash_device_mode mode = kflash_device_get_mode(dev);
		const char *path = kflash_device_get_path(dev);
		const char *mcu = kflash_device_get_mcu(dev);

		if (mode == KFLASH_MODE_DFU || mode == KFLASH_MODE_RP2_BOOT ||
		    mode == KFLASH_MODE_CAN_BRIDGE)
			continue;
		if (asprintf(&texts[*count], "%s (%s%s%s)", strrchr(path, '/') + 1,
			     kflash_device_mode_name(mode), mcu ? ", " : "", mcu ? mcu : "") < 0) {
			texts[*count] = NULL;
			break;
		}
		paths[(*count)++] = strdup(path);
	}
	kflash_discovery_unref(d);
	*labels = texts;
	return paths;
}

static void
free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* A setter's answer: ask again, its own message printed already. */
#define ASK_AGAIN 1

/* Where Klipper's host MCU (the klipper-mcu service) makes its pty. */
#define LINUX_MCU_SERIAL "/tmp/klipper_host_mcu"

static bool
is_host_mcu(const struct kflash_board *b)
{
	const char *mcu = kflash_board_get_mcu(b);

	return mcu && strcasecmp(mcu, "linux") == 0;
}

/* Ask until @set accepts the answer; KFLASH_ERR_CANCELLED at the end of input. */
static int
ask_field(struct cli *cli,
	  struct kflash_board *b,
	  const char *question,
	  const char *def,
	  int (*set)(struct kflash_board *, const char *))
{
	for (;;) {
		char *answer = ask(cli, question, def);
		int r;

		if (!answer)
			return KFLASH_ERR_CANCELLED;
		r = *answer ? set(b, answer) : ASK_AGAIN;
		free(answer);
		if (r == 0)
			return 0;
		if (r < 0)
			cli_message(cli, "error:", "%s", kflash_context_last_error(cli->ctx));
	}
}

static int
set_method_name(struct kflash_board *b, const char *name)
{
	enum kflash_method m;

	if (kflash_method_from_name(name, &m) < 0) {
		fprintf(stderr, "Use auto, katapult, make or sdcard.\n");
		return ASK_AGAIN;
	}
	return kflash_board_set_method(b, m);
}

/* The ports offered by the wizard, for set_serial_choice(). */
static char **choices, **choice_labels;
static size_t n_choices;

static int
set_serial_choice(struct kflash_board *b, const char *answer)
{
	char *end;
	unsigned long n = strtoul(answer, &end, 10);

	if (*answer != '/' && (*end || n < 1 || n > n_choices)) {
		fprintf(stderr, "Type a number from the list, or an absolute path.\n");
		return ASK_AGAIN;
	}
	return kflash_board_set_serial_path(b, *answer == '/' ? answer : choices[n - 1]);
}

static int
wizard(struct cli *cli, struct kflash_board **board, const struct add_args *a)
{
	struct kflash_board *b = NULL;
	int r = 0;

	fprintf(stderr, "Adding a board. Answer each question; Ctrl+D stops.\n");
	while (!b) {
		char *name = a->name ? strdup(a->name)
				     : ask(cli, "Board name (for example octopus)", NULL);

		if (!name)
			return KFLASH_ERR_CANCELLED;
		if (kflash_board_new(cli->ctx, name, &b) < 0)
			cli_message(cli, "error:", "%s", kflash_context_last_error(cli->ctx));
		free(name);
		if (!b && a->name)
			return KFLASH_ERR_INVALID;
	}

	if (a->serial) {
		r = kflash_board_set_serial_path(b, a->serial);
	} else {
		choices = list_ports(cli, &n_choices, &choice_labels);
		if (n_choices == 0)
			fprintf(stderr, "No serial ports found under %s right now.\n",
				kflash_context_get_dev_dir(cli->ctx));
		for (size_t i = 0; i < n_choices; i++)
			fprintf(stderr, "  %zu) %s\n", i + 1, choice_labels[i]);
		r = ask_field(cli, b, "Serial port (number, or a path such as /dev/ttyAMA0)",
			      n_choices == 1 ? "1" : NULL, set_serial_choice);
		free_strv(choices);
		free_strv(choice_labels);
		choices = choice_labels = NULL;
	}
	if (r == 0 && a->mcu)
		r = kflash_board_set_mcu(b, a->mcu);
	else if (r == 0)
		r = ask_field(cli, b, "MCU (CONFIG_MCU, for example stm32f446xx)",
			      kflash_board_get_mcu(b), kflash_board_set_mcu);
	if (r == 0 && !a->method)
		r = ask_field(cli, b, "Flash method: auto, katapult, make or sdcard", "auto",
			      set_method_name);
	if (r == 0 && !a->method && kflash_board_get_method(b) == KFLASH_METHOD_SDCARD &&
	    !a->sdcard_board)
		r = ask_field(cli, b, "SD card board (a name from Klipper's flash-sdcard list)",
			      NULL, kflash_board_set_sdcard_board);
	if (r < 0) {
		if (r != KFLASH_ERR_CANCELLED)
			cli_message(cli, "error:", "%s", kflash_context_last_error(cli->ctx));
		kflash_board_unref(b);
		return r;
	}
	*board = b;
	return 0;
}

/* Returns 0 or the exit code, the problem reported. */
static int
apply_flags(struct cli *cli, struct kflash_board *b, const struct add_args *a)
{
	int r = 0;

	if (a->serial && !kflash_board_get_serial_path(b))
		r = kflash_board_set_serial_path(b, a->serial);
	if (r == 0 && a->mcu)
		r = kflash_board_set_mcu(b, a->mcu);
	if (r == 0 && a->method) {
		enum kflash_method m;

		if (kflash_method_from_name(a->method, &m) < 0) {
			cli_message(cli, "error:",
				    "unknown flash method '%s': use auto, katapult, make or sdcard",
				    a->method);
			return cli_exit_code(KFLASH_ERR_INVALID);
		}
		r = kflash_board_set_method(b, m);
	}
	if (r == 0 && a->baud) {
		char *end;
		unsigned long baud = strtoul(a->baud, &end, 10);

		if (*end || !*a->baud || baud == 0 || baud > UINT32_MAX) {
			cli_message(cli,
				    "error:", "invalid baud rate '%s': use a number such as 250000",
				    a->baud);
			return cli_exit_code(KFLASH_ERR_INVALID);
		}
		r = kflash_board_set_baud(b, (uint32_t)baud);
	}
	if (r == 0 && a->klipper_mcu)
		r = kflash_board_set_klipper_mcu(b, a->klipper_mcu);
	if (r == 0 && a->sdcard_board)
		r = kflash_board_set_sdcard_board(b, a->sdcard_board);
	if (r == 0 && a->unit)
		r = kflash_board_set_service(b, a->unit);
	if (r == 0 && a->can_interface)
		r = kflash_board_set_can_interface(b, a->can_interface);
	if (r == 0 && a->can_uuid)
		r = kflash_board_set_can_uuid(b, a->can_uuid);
	if (r == 0 && a->notes)
		r = kflash_board_set_notes(b, a->notes);
	if (r == 0 && kflash_board_get_method(b) == KFLASH_METHOD_SDCARD &&
	    !kflash_board_get_sdcard_board(b)) {
		cli_message(cli, "error:",
			    "the sdcard method needs the board's name in Klipper's "
			    "flash-sdcard list: add --sdcard-board NAME");
		return cli_exit_code(KFLASH_ERR_INVALID);
	}
	return cli_fail(cli, r);
}

/* A board that is not plugged in now is fine: boards get unplugged. */
static void
report_connection(struct cli *cli, const struct kflash_board *b)
{
	struct kflash_device *dev = NULL;
	int r = kflash_discovery_locate(cli->ctx, b, &dev);

	if (r == KFLASH_ERR_NOT_FOUND && is_host_mcu(b))
		cli_message(cli, "note:",
			    "%s; it appears while the klipper-mcu service runs, and kflash "
			    "flashes the host MCU without it",
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

int
cmd_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mcu", required_argument, NULL, OPT_MCU },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "baud", required_argument, NULL, OPT_BAUD },
		{ "klipper-mcu", required_argument, NULL, OPT_KLIPPER_MCU },
		{ "sdcard-board", required_argument, NULL, OPT_SDCARD_BOARD },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "can-interface", required_argument, NULL, OPT_CAN_INTERFACE },
		{ "can-uuid", required_argument, NULL, OPT_CAN_UUID },
		{ "notes", required_argument, NULL, OPT_NOTES },
		{ NULL, 0, NULL, 0 },
	};
	struct add_args a = { 0 };
	struct kflash_board *b = NULL;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case OPT_MCU:
			a.mcu = optarg;
			break;
		case OPT_SERIAL:
			a.serial = optarg;
			break;
		case OPT_METHOD:
			a.method = optarg;
			break;
		case OPT_BAUD:
			a.baud = optarg;
			break;
		case OPT_KLIPPER_MCU:
			a.klipper_mcu = optarg;
			break;
		case OPT_SDCARD_BOARD:
			a.sdcard_board = optarg;
			break;
		case OPT_UNIT:
			a.unit = optarg;
			break;
		case OPT_CAN_INTERFACE:
			a.can_interface = optarg;
			break;
		case OPT_CAN_UUID:
			a.can_uuid = optarg;
			break;
		case OPT_NOTES:
			a.notes = optarg;
			break;
		case 'h':
			return cli_command_help(cli);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		a.name = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

	/* Klipper's host MCU always answers on the pty its klipper-mcu service makes. */
	if (a.name && !a.serial && a.mcu && strcasecmp(a.mcu, "linux") == 0)
		a.serial = LINUX_MCU_SERIAL;
	if (a.name && a.serial) {
		r = kflash_board_new(cli->ctx, a.name, &b);
		if (r < 0)
			return cli_fail(cli, r);
	} else if (!cli->stdin_tty) {
		cli_message(cli, "error:",
			    "stdin is not a terminal, so kflash cannot ask: give the board as "
			    "kflash add NAME --serial PATH [--mcu MCU] [--method METHOD]");
		return cli_exit_code(KFLASH_ERR_NOT_TTY);
	} else {
		r = wizard(cli, &b, &a);
		if (r < 0) {
			if (r == KFLASH_ERR_CANCELLED)
				cli_message(cli, NULL, "No board added.");
			return cli_exit_code(r);
		}
	}

	r = apply_flags(cli, b, &a);
	if (r == 0 && !kflash_board_get_mcu(b)) {
		cli_message(cli, "error:",
			    "board %s: the MCU is unknown (the serial path does not tell it); "
			    "add --mcu MCU, as CONFIG_MCU in its .config, for example stm32f446xx",
			    kflash_board_get_name(b));
		r = cli_exit_code(KFLASH_ERR_INVALID);
	}
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
