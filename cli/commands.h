/* SPDX-License-Identifier: MIT */
/* One function per subcommand, each in its own cmd-<name>.c. */
#pragma once

#include "cli.h"

int
cmd_paths(struct cli *cli, int argc, char **argv);

int
cmd_list(struct cli *cli, int argc, char **argv);

int
cmd_show(struct cli *cli, int argc, char **argv);

int
cmd_add(struct cli *cli, int argc, char **argv);

int
cmd_remove(struct cli *cli, int argc, char **argv);

int
cmd_set(struct cli *cli, int argc, char **argv);

int
cmd_scan(struct cli *cli, int argc, char **argv);

int
cmd_service(struct cli *cli, int argc, char **argv);

int
cmd_config(struct cli *cli, int argc, char **argv);

int
cmd_build(struct cli *cli, int argc, char **argv);

int
cmd_flash(struct cli *cli, int argc, char **argv);

int
cmd_status(struct cli *cli, int argc, char **argv);

int
cmd_doctor(struct cli *cli, int argc, char **argv);

int
cmd_import(struct cli *cli, int argc, char **argv);
