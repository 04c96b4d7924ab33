/* SPDX-License-Identifier: MIT */
/*
 * What the library's hints (enum kflash_hint) mean for a user of this
 * tool: its commands and flags. The library says what to do in its own
 * terms; only here do kflash's words appear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

char *
cli_hint_text(const struct cli *cli, int hint, const char *subject)
{
	const char *name = subject ? subject : "NAME";
	char *text = NULL;
	int n = -1;

	switch (hint) {
	case KFLASH_HINT_FORCE:
		n = asprintf(&text, "add --force to go on anyway");
		break;
	case KFLASH_HINT_SET_KLIPPY_SOCKET:
		n = asprintf(&text,
			     "give the socket with --klippy-socket PATH or KFLASH_KLIPPY_SOCKET "
			     "(Klipper's service names it after -a in KLIPPER_ARGS)%s%s",
			     subject ? "; it was looked for at " : "", subject ? subject : "");
		break;
	case KFLASH_HINT_SET_KLIPPER_DIR:
		n = asprintf(&text, "give the Klipper checkout with --klipper-dir DIR or "
				    "KFLASH_KLIPPER_DIR");
		break;
	case KFLASH_HINT_SET_DEV_DIR:
		n = asprintf(&text, "give a device dir with --dev-dir DIR or KFLASH_DEV_DIR");
		break;
	case KFLASH_HINT_SET_SERVICE:
		n = asprintf(&text,
			     "name Klipper's unit with --service UNIT or KFLASH_SERVICE, or the "
			     "board's own with kflash set %s --unit UNIT",
			     name);
		break;
	case KFLASH_HINT_CONFIGURE_BOARD:
		n = asprintf(&text, "run kflash config %s, or kflash config %s --from FILE", name,
			     name);
		break;
	case KFLASH_HINT_REFRESH_CONFIG:
		n = asprintf(&text, "run kflash config %s --refresh", name);
		break;
	case KFLASH_HINT_EDIT_BOARD:
		/* A board being added is not in the registry yet. */
		if (cli->command && strcmp(cli->command, "add") == 0)
			n = asprintf(&text, "give the field on the kflash add line (see kflash "
					    "add --help)");
		else
			n = asprintf(&text,
				     "change the board with kflash set %s (see kflash set --help)",
				     name);
		break;
	case KFLASH_HINT_ADD_BOARD:
		n = asprintf(&text, "register a board with kflash add; kflash scan shows what is "
				    "plugged in, with a ready add line each");
		break;
	case KFLASH_HINT_LIST_BOARDS:
		n = asprintf(&text, "kflash list shows the registered boards");
		break;
	case KFLASH_HINT_BUILD:
		n = asprintf(&text, "drop --no-build, or build it first with kflash build %s",
			     name);
		break;
	case KFLASH_HINT_CLEAN_BUILD:
		n = asprintf(&text, "build it from scratch with kflash build %s --clean", name);
		break;
	case KFLASH_HINT_KEEP_GOING:
		n = asprintf(&text, "flash it anyway with kflash flash %s --keep-going", name);
		break;
	default:
		return NULL;
	}
	return n < 0 ? NULL : text;
}
