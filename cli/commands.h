/* SPDX-License-Identifier: MIT */
/* One function per subcommand, each in its own cmd-<name>.c. */
#pragma once

#include "cli.h"

int
cmd_paths(struct cli *cli, int argc, char **argv);
