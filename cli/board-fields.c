/* SPDX-License-Identifier: MIT */
/*
 * The options that set a board's fields, shared by `kflash add` and
 * `kflash set`: their table, and applying them to a board.
 */
#include <stdlib.h>
#include <string.h>

#include "board-fields.h"

const struct option board_field_options[] = {
	{ "mcu", required_argument, NULL, FIELD_MCU },
	{ "serial", required_argument, NULL, FIELD_SERIAL },
	{ "method", required_argument, NULL, FIELD_METHOD },
	{ "baud", required_argument, NULL, FIELD_BAUD },
	{ "klipper-mcu", required_argument, NULL, FIELD_KLIPPER_MCU },
	{ "sdcard-board", required_argument, NULL, FIELD_SDCARD_BOARD },
	{ "unit", required_argument, NULL, FIELD_UNIT },
	{ "can-interface", required_argument, NULL, FIELD_CAN_INTERFACE },
	{ "can-uuid", required_argument, NULL, FIELD_CAN_UUID },
	{ "usb-serial", required_argument, NULL, FIELD_USB_SERIAL },
	{ "notes", required_argument, NULL, FIELD_NOTES },
	{ NULL, 0, NULL, 0 },
};

bool
board_fields_take(struct board_fields *f, int option, const char *value)
{
	if (option < FIELD_FIRST || option >= FIELD_END)
		return false;
	f->value[option - FIELD_FIRST] = value;
	return true;
}

const char *
board_fields_get(const struct board_fields *f, int option)
{
	return f->value[option - FIELD_FIRST];
}

bool
board_fields_any(const struct board_fields *f)
{
	for (size_t i = 0; i < FIELD_END - FIELD_FIRST; i++)
		if (f->value[i])
			return true;
	return false;
}

static int
set_method(struct cli *cli, struct kflash_board *b, const char *name)
{
	enum kflash_method m;

	if (kflash_method_from_name(name, &m) < 0)
		return cli_error(cli, KFLASH_ERR_INVALID,
				 "unknown flash method '%s': use auto, katapult, make or sdcard",
				 name);
	return cli_fail(cli, kflash_board_set_method(b, m));
}

static int
set_baud(struct cli *cli, struct kflash_board *b, const char *text)
{
	char *end;
	unsigned long baud = strtoul(text, &end, 10);

	if (*end || !*text || baud == 0 || baud > UINT32_MAX)
		return cli_error(cli, KFLASH_ERR_INVALID,
				 "invalid baud rate '%s': use a number such as 250000", text);
	return cli_fail(cli, kflash_board_set_baud(b, (uint32_t)baud));
}

/* An MCU name Klipper does not know is refused; when Klipper cannot be read, it is said. */
int
board_fields_check_mcu(struct cli *cli, const char *mcu)
{
	int r = kflash_klipper_check_mcu(cli->ctx, mcu);

	if (r == KFLASH_ERR_NOT_FOUND) {
		cli_message(cli, "warning:", "the MCU name '%s' is not checked: %s", mcu,
			    kflash_context_last_error(cli->ctx));
		return 0;
	}
	return cli_fail(cli, r);
}

int
board_fields_apply(struct cli *cli, struct kflash_board *b, const struct board_fields *f)
{
	static int (*const string_setters[])(struct kflash_board *, const char *) = {
		[FIELD_SERIAL - FIELD_FIRST] = kflash_board_set_serial_path,
		[FIELD_KLIPPER_MCU - FIELD_FIRST] = kflash_board_set_klipper_mcu,
		[FIELD_SDCARD_BOARD - FIELD_FIRST] = kflash_board_set_sdcard_board,
		[FIELD_UNIT - FIELD_FIRST] = kflash_board_set_service,
		[FIELD_CAN_INTERFACE - FIELD_FIRST] = kflash_board_set_can_interface,
		[FIELD_CAN_UUID - FIELD_FIRST] = kflash_board_set_can_uuid,
		[FIELD_USB_SERIAL - FIELD_FIRST] = kflash_board_set_usb_serial,
		[FIELD_NOTES - FIELD_FIRST] = kflash_board_set_notes,
	};
	const char *mcu = board_fields_get(f, FIELD_MCU);
	int r = 0;

	/* The MCU first: a host MCU then gets its serial path unless one is given. */
	if (mcu && (r = board_fields_check_mcu(cli, mcu)) == 0)
		r = cli_fail(cli, kflash_board_set_mcu(b, mcu));
	for (int o = FIELD_FIRST; r == 0 && o < FIELD_END; o++) {
		const char *v = board_fields_get(f, o);

		if (!v || o == FIELD_MCU)
			continue;
		if (o == FIELD_METHOD)
			r = set_method(cli, b, v);
		else if (o == FIELD_BAUD)
			r = set_baud(cli, b, v);
		else
			r = cli_fail(cli, string_setters[o - FIELD_FIRST](b, v));
	}
	return r;
}
