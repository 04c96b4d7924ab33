/* SPDX-License-Identifier: MIT */
/*
 * kflash scan on CAN: the nodes that answer a query on each CAN interface,
 * which registered board each is, and a ready add line for the others. A
 * query only reaches nodes without an id, so it waits until Klipper, which
 * gives its nodes ids, is stopped, unless asked.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scan-can.h"

#define QUERY_WINDOW_MS 1000

/* The interfaces to query: those asked for, else the boards' and the host's. */
static int
interfaces(struct cli *cli,
	   const struct kflash_registry *reg,
	   const struct scan_can *opts,
	   char ***out)
{
	struct kflash_can_interfaces *found = NULL;

	for (size_t i = 0; i < opts->n_interfaces; i++)
		if (!cli_strv_add_once(out, opts->interfaces[i]))
			return KFLASH_ERR_NO_MEMORY;
	if (opts->n_interfaces)
		return 0;
	for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++) {
		const struct kflash_board *b = kflash_registry_get_board(reg, i);

		if (kflash_board_get_can_uuid(b) &&
		    !cli_strv_add_once(out, kflash_board_get_can_interface(b) ?: "can0"))
			return KFLASH_ERR_NO_MEMORY;
	}
	if (kflash_can_find_interfaces(cli->ctx, &found) < 0)
		return KFLASH_ERR_NO_MEMORY;
	for (size_t i = 0; i < kflash_can_interfaces_get_count(found); i++)
		if (!cli_strv_add_once(out, kflash_can_interfaces_get_name(found, i))) {
			kflash_can_interfaces_unref(found);
			return KFLASH_ERR_NO_MEMORY;
		}
	kflash_can_interfaces_unref(found);
	return 0;
}

/* The registered board that is node @uuid on @iface, or NULL. */
static const struct kflash_board *
board_of(const struct kflash_registry *reg, const char *iface, const char *uuid)
{
	for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++) {
		const struct kflash_board *b = kflash_registry_get_board(reg, i);
		const char *own = kflash_board_get_can_uuid(b);

		if (own && strcasecmp(own, uuid) == 0 &&
		    strcmp(kflash_board_get_can_interface(b) ?: "can0", iface) == 0)
			return b;
	}
	return NULL;
}

static void
show_node(struct cli *cli,
	  struct kflash_registry *reg,
	  const char *iface,
	  const char *uuid,
	  int app,
	  struct json_object *devices)
{
	const struct kflash_board *b = board_of(reg, iface, uuid);
	char *add = NULL;

	if (!b && asprintf(&add, "kflash add %s --can-interface %s --can-uuid %s --mcu MCU",
			   kflash_registry_suggest_name(reg, "toolhead"), iface, uuid) < 0)
		add = NULL;
	if (devices) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "mode", json_object_new_string("can-node"));
		json_object_object_add(o, "application",
				       json_object_new_string(kflash_can_app_name(app)));
		json_object_object_add(o, "can_interface", json_object_new_string(iface));
		json_object_object_add(o, "can_uuid", json_object_new_string(uuid));
		json_object_object_add(o, "board",
				       cli_json_string(b ? kflash_board_get_name(b) : NULL));
		json_object_object_add(o, "suggested_add", cli_json_string(add));
		json_object_array_add(devices, o);
	} else {
		printf("can-node %s %s (%s%s%s)\n", iface, uuid, kflash_can_app_name(app),
		       b ? ", board " : "", b ? kflash_board_get_name(b) : "");
		if (add)
			printf("    add it: %s\n", add);
	}
	free(add);
}

/* Does Klipper run? Then its nodes have ids, and a query would say nothing of them. */
static bool
klipper_runs(struct cli *cli)
{
	int state = KFLASH_UNIT_UNKNOWN;

	return kflash_service_get_state(cli->ctx, kflash_context_get_service(cli->ctx), &state) ==
		       0 &&
	       kflash_unit_state_is_running(state);
}

int
scan_can(struct cli *cli,
	 struct kflash_registry *reg,
	 const struct scan_can *opts,
	 struct json_object *devices,
	 size_t *shown)
{
	char **names = NULL;
	int r = interfaces(cli, reg, opts, &names);

	if (r < 0) {
		cli_strv_free(names);
		return cli_fail(cli, r);
	}
	if (!names)
		return 0;
	if (!opts->n_interfaces && !opts->query && klipper_runs(cli)) {
		cli_strv_free(names);
		cli_message(cli, "note:",
			    "CAN interfaces were not queried, since Klipper runs: its nodes have "
			    "ids and answer no query, and a query disturbs the bus; stop Klipper "
			    "(kflash service stop) and scan again, or give --can-query");
		return 0;
	}
	for (size_t i = 0; names[i]; i++) {
		struct kflash_can_bus *bus = NULL;
		struct kflash_can_query *q = NULL;

		if (cli->verbosity >= 0)
			cli_message(cli, "note:",
				    "querying %s: only nodes without an id answer (a node Klipper "
				    "runs has one: stop Klipper, or reset the board, to see it)",
				    names[i]);
		r = kflash_can_bus_open(cli->ctx, names[i], &bus);
		if (r == 0)
			r = kflash_can_bus_query(bus, QUERY_WINDOW_MS, &q);
		if (r < 0) {
			cli_message(cli, "warning:", "%s", kflash_context_last_error(cli->ctx));
		} else {
			for (size_t n = 0; n < kflash_can_query_get_count(q); n++)
				show_node(cli, reg, names[i], kflash_can_query_get_uuid(q, n),
					  kflash_can_query_get_app(q, n), devices);
			*shown += kflash_can_query_get_count(q);
		}
		kflash_can_query_unref(q);
		kflash_can_bus_unref(bus);
	}
	cli_strv_free(names);
	return 0;
}
