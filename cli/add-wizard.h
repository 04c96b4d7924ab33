/* SPDX-License-Identifier: MIT */
/* kflash add on a terminal: ask for what the command line left out. */
#pragma once

#include "board-fields.h"

/*
 * A new board named @name (asked for when NULL), with every field the
 * command line did not give (@given) asked for. Returns 0 with *@ret, or
 * the exit code with the problem (or "No board added.") reported.
 */
int
add_wizard(struct cli *cli,
	   const char *name,
	   const struct board_fields *given,
	   struct kflash_board **ret);
