/* SPDX-License-Identifier: MIT */
/* kflash scan on CAN: the nodes that answer a query. */
#pragma once

#include "cli.h"

struct scan_can {
	const char *const *interfaces; /* --can-interface, as given */
	size_t n_interfaces;
	bool query; /* --can-query: also while Klipper runs */
};

/*
 * Query the CAN interfaces (those given, else the boards' and the host's)
 * and show each node that answers, as text or into @devices (JSON, may be
 * NULL); *@shown counts them. Returns 0, or the exit code with the problem
 * reported; a bus that fails is a warning.
 */
int
scan_can(struct cli *cli,
	 struct kflash_registry *reg,
	 const struct scan_can *opts,
	 struct json_object *devices,
	 size_t *shown);
