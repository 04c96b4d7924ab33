/* SPDX-License-Identifier: MIT */
/* The options that set a board's fields, shared by `kflash add` and `kflash set`. */
#pragma once

#include "cli.h"

/* The option codes, one per field (getopt_long's val). */
enum board_field {
	FIELD_FIRST = 512,
	FIELD_MCU = FIELD_FIRST,
	FIELD_SERIAL,
	FIELD_METHOD,
	FIELD_BAUD,
	FIELD_KLIPPER_MCU,
	FIELD_SDCARD_BOARD,
	FIELD_UNIT,
	FIELD_CAN_INTERFACE,
	FIELD_CAN_UUID,
	FIELD_USB_SERIAL,
	FIELD_NOTES,
	FIELD_END,
};

/* The fields given on the command line, NULL where not given. */
struct board_fields {
	const char *value[FIELD_END - FIELD_FIRST];
};

/* The options, NULL-terminated: --mcu, --serial, --method, ... */
extern const struct option board_field_options[];

/* Keep @value for @option; false when @option is not a field's. */
bool
board_fields_take(struct board_fields *f, int option, const char *value);

/* The value given for @option, or NULL. */
const char *
board_fields_get(const struct board_fields *f, int option);

/* Whether any field was given. */
bool
board_fields_any(const struct board_fields *f);

/*
 * Check an MCU name against Klipper's: 0, or the exit code with the
 * problem reported. A Klipper tree that cannot be read is only a warning.
 */
int
board_fields_check_mcu(struct cli *cli, const char *mcu);

/* Apply the fields given to @b: 0, or the exit code with the problem reported. */
int
board_fields_apply(struct cli *cli, struct kflash_board *b, const struct board_fields *f);
