/* SPDX-License-Identifier: MIT */
/*
 * kflash add on a terminal: ask for what the command line left out, with a
 * numbered list of the serial ports plugged in.
 */
#include <stdlib.h>
#include <string.h>

#include "add-wizard.h"

/* A setter's answer: ask again, its own message printed already. */
#define ASK_AGAIN 1

/* Read one answer from stdin; NULL at the end of input. */
static char *
ask(const char *question, const char *def)
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

/* The serial ports plugged in now: the wizard's numbered list. */
struct ports {
	char **paths, **labels;
	size_t count;
};

static void
ports_free(struct ports *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->paths[i]);
		free(p->labels[i]);
	}
	free(p->paths);
	free(p->labels);
}

static void
list_ports(struct cli *cli, struct ports *p)
{
	struct kflash_discovery *d;
	size_t n;

	*p = (struct ports){ 0 };
	if (cli_scan(cli, &d) < 0)
		return;
	n = kflash_discovery_get_device_count(d);
	p->paths = calloc(n + 1, sizeof(*p->paths));
	p->labels = calloc(n + 1, sizeof(*p->labels));
	for (size_t i = 0; p->paths && p->labels && i < n; i++) {
		const struct kflash_device *dev = kflash_discovery_get_device(d, i);
		enum kflash_device_mode mode = kflash_device_get_mode(dev);
		const char *path = kflash_device_get_path(dev);
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		const char *mcu = kflash_device_get_mcu(dev);

		/* Only what has a tty can be a board's serial path. */
		if (!kflash_device_get_devnode(dev) || mode == KFLASH_MODE_DFU ||
		    mode == KFLASH_MODE_RP2_BOOT || mode == KFLASH_MODE_CAN_BRIDGE)
			continue;
		if (asprintf(&p->labels[p->count], "%s (%s%s%s)", base,
			     kflash_device_mode_name(mode), mcu ? ", " : "", mcu ? mcu : "") < 0)
			break;
		p->paths[p->count++] = strdup(path);
	}
	kflash_discovery_unref(d);
}

typedef int (*field_setter)(struct cli *cli, struct kflash_board *b, const char *answer);

/* Ask until @set accepts the answer; KFLASH_ERR_CANCELLED at the end of input. */
static int
ask_field(struct cli *cli,
	  struct kflash_board *b,
	  const char *question,
	  const char *def,
	  field_setter set)
{
	for (;;) {
		char *answer = ask(question, def);
		int r;

		if (!answer)
			return KFLASH_ERR_CANCELLED;
		r = *answer ? set(cli, b, answer) : ASK_AGAIN;
		free(answer);
		if (r == 0)
			return 0;
		if (r < 0)
			cli_message(cli, "error:", "%s", kflash_context_last_error(cli->ctx));
	}
}

static const struct ports *offered;

static int
set_serial(struct cli *cli, struct kflash_board *b, const char *answer)
{
	char *end;
	unsigned long n = strtoul(answer, &end, 10);

	if (*answer != '/' && (*end || n < 1 || n > offered->count)) {
		fprintf(stderr, "Type a number from the list, or an absolute path.\n");
		return ASK_AGAIN;
	}
	return kflash_board_set_serial_path(b, *answer == '/' ? answer : offered->paths[n - 1]);
}

static int
set_mcu(struct cli *cli, struct kflash_board *b, const char *answer)
{
	int r = kflash_klipper_check_mcu(cli->ctx, answer);

	if (r == KFLASH_ERR_INVALID)
		return r;
	return kflash_board_set_mcu(b, answer);
}

static int
set_method(struct cli *cli, struct kflash_board *b, const char *answer)
{
	enum kflash_method m;

	if (kflash_method_from_name(answer, &m) < 0) {
		fprintf(stderr, "Use auto, katapult, make or sdcard.\n");
		return ASK_AGAIN;
	}
	return kflash_board_set_method(b, m);
}

static int
set_sdcard_board(struct cli *cli, struct kflash_board *b, const char *answer)
{
	return kflash_board_set_sdcard_board(b, answer);
}

static int
ask_serial(struct cli *cli, struct kflash_board *b)
{
	struct ports ports;
	int r;

	list_ports(cli, &ports);
	if (ports.count == 0)
		fprintf(stderr, "No serial ports found under %s right now.\n",
			kflash_context_get_dev_dir(cli->ctx));
	for (size_t i = 0; i < ports.count; i++)
		fprintf(stderr, "  %zu) %s\n", i + 1, ports.labels[i]);
	offered = &ports;
	r = ask_field(cli, b, "Serial port (number, or a path such as /dev/ttyAMA0)",
		      ports.count == 1 ? "1" : NULL, set_serial);
	offered = NULL;
	ports_free(&ports);
	return r;
}

int
add_wizard(struct cli *cli,
	   const char *name,
	   const struct board_fields *given,
	   struct kflash_board **ret)
{
	struct kflash_board *b = NULL;
	int r = 0;

	*ret = NULL;
	fprintf(stderr, "Adding a board. Answer each question; Ctrl+D stops.\n");
	while (!b) {
		char *answer = name ? strdup(name) : ask("Board name (for example octopus)", NULL);

		if (!answer)
			return KFLASH_ERR_CANCELLED;
		if (kflash_board_new(cli->ctx, answer, &b) < 0)
			cli_message(cli, "error:", "%s", kflash_context_last_error(cli->ctx));
		free(answer);
		if (!b && name)
			return cli_fail(cli, KFLASH_ERR_INVALID);
	}
	/* A CAN board has no serial port; everything else needs one. */
	if (!board_fields_get(given, FIELD_SERIAL) && !board_fields_get(given, FIELD_CAN_UUID))
		r = ask_serial(cli, b);
	if (r == 0 && !board_fields_get(given, FIELD_MCU))
		r = ask_field(cli, b, "MCU (CONFIG_MCU, for example stm32f446xx)",
			      kflash_board_get_mcu(b), set_mcu);
	if (r == 0 && !board_fields_get(given, FIELD_METHOD))
		r = ask_field(cli, b, "Flash method: auto, katapult, make or sdcard", "auto",
			      set_method);
	if (r == 0 && kflash_board_get_method(b) == KFLASH_METHOD_SDCARD &&
	    !board_fields_get(given, FIELD_SDCARD_BOARD))
		r = ask_field(cli, b, "SD card board (a name from Klipper's flash-sdcard list)",
			      NULL, set_sdcard_board);
	if (r < 0) {
		kflash_board_unref(b);
		if (r == KFLASH_ERR_CANCELLED)
			cli_message(cli, NULL, "No board added.");
		return r == KFLASH_ERR_CANCELLED ? cli_exit_code(r) : cli_fail(cli, r);
	}
	*ret = b;
	return 0;
}
