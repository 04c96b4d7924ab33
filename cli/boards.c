/* SPDX-License-Identifier: MIT */
/* Boards as the CLI shows them: JSON records and the text of `show`. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int
cli_load_registry(struct cli *cli, struct kflash_registry **reg)
{
	int r = kflash_registry_load(cli->ctx, reg);

	return cli_fail(cli, r);
}

int
cli_find_board(struct cli *cli,
	       const struct kflash_registry *reg,
	       const char *name,
	       struct kflash_board **board)
{
	*board = kflash_registry_find_board(reg, name);
	if (*board)
		return 0;
	return cli_error(cli, KFLASH_ERR_NOT_FOUND,
			 "no board named '%s' is registered; see kflash list", name);
}

static struct json_object *
last_flash_json(const struct kflash_board *b)
{
	struct json_object *lf;
	char when[32] = "";
	time_t t = (time_t)kflash_board_get_last_flash_time(b);
	struct tm tm;

	if (!kflash_board_has_last_flash(b))
		return NULL;
	if (t > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	lf = json_object_new_object();
	json_object_object_add(lf, "klipper_version",
			       cli_json_string(kflash_board_get_last_flash_version(b)));
	json_object_object_add(lf, "time", cli_json_string(*when ? when : NULL));
	json_object_object_add(lf, "firmware_hash",
			       cli_json_string(kflash_board_get_last_flash_hash(b)));
	json_object_object_add(
		lf, "result",
		json_object_new_string(kflash_board_get_last_flash_ok(b) ? "success" : "failed"));
	return lf;
}

struct json_object *
cli_connection_json(struct cli *cli, struct kflash_discovery *d, const struct kflash_board *b)
{
	struct json_object *o;
	struct kflash_device *dev = NULL;
	const char *state, *path = NULL;
	int r;

	if (!d)
		return NULL;
	r = kflash_discovery_find_board(d, b, &dev);
	if (r == 0)
		state = "connected";
	else if (r == KFLASH_ERR_NOT_FOUND)
		state = "missing";
	else if (r == KFLASH_ERR_AMBIGUOUS)
		state = "ambiguous";
	else if (r == KFLASH_ERR_NOT_SUPPORTED)
		state = "unknown"; /* a CAN node: Klipper's has an id and answers no query */
	else
		return NULL;
	if (r == KFLASH_ERR_AMBIGUOUS)
		cli_message(cli, "warning:", "%s", kflash_context_last_error(cli->ctx));
	/* The by-id link, else the tty: as registered when matched by path. */
	if (dev && (kflash_device_get_by_id(dev) || kflash_board_get_usb_serial(b)))
		path = kflash_device_get_path(dev);
	else if (dev)
		path = kflash_board_get_serial_path(b);
	o = json_object_new_object();
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(
		o, "mode",
		dev ? json_object_new_string(kflash_device_mode_name(kflash_device_get_mode(dev)))
		    : NULL);
	json_object_object_add(o, "path", cli_json_string(path));
	kflash_device_unref(dev);
	return o;
}

int
cli_scan(struct cli *cli, struct kflash_discovery **d)
{
	int r = kflash_discovery_scan(cli->ctx, d);

	if (r < 0)
		cli_message(cli, "warning:", "cannot tell which boards are connected: %s",
			    kflash_context_last_error(cli->ctx));
	return r;
}

struct json_object *
cli_board_json(const struct kflash_board *b, struct json_object *connection)
{
	struct json_object *o = json_object_new_object();
	uint32_t baud = kflash_board_get_baud(b);

	json_object_object_add(o, "name", cli_json_string(kflash_board_get_name(b)));
	json_object_object_add(o, "mcu", cli_json_string(kflash_board_get_mcu(b)));
	json_object_object_add(o, "serial_path", cli_json_string(kflash_board_get_serial_path(b)));
	json_object_object_add(o, "usb_serial", cli_json_string(kflash_board_get_usb_serial(b)));
	json_object_object_add(o, "method",
			       cli_json_string(kflash_method_name(kflash_board_get_method(b))));
	json_object_object_add(o, "sdcard_board",
			       cli_json_string(kflash_board_get_sdcard_board(b)));
	json_object_object_add(o, "baud", baud ? json_object_new_int64(baud) : NULL);
	json_object_object_add(o, "can_interface",
			       cli_json_string(kflash_board_get_can_interface(b)));
	json_object_object_add(o, "can_uuid", cli_json_string(kflash_board_get_can_uuid(b)));
	json_object_object_add(o, "klipper_mcu", cli_json_string(kflash_board_get_klipper_mcu(b)));
	json_object_object_add(o, "service", cli_json_string(kflash_board_get_service(b)));
	json_object_object_add(o, "notes", cli_json_string(kflash_board_get_notes(b)));
	json_object_object_add(o, "connection", connection);
	json_object_object_add(o, "last_flash", last_flash_json(b));
	return o;
}

void
cli_print_board(const struct kflash_board *b,
		const char *service_default,
		struct json_object *connection)
{
	struct json_object *o = cli_board_json(b, connection), *lf, *conn;
	static const struct {
		const char *key, *label;
	} rows[] = {
		{ "name", "Name" },
		{ "mcu", "MCU" },
		{ "serial_path", "Serial path" },
		{ "usb_serial", "USB serial" },
		{ "method", "Method" },
		{ "sdcard_board", "SD card board" },
		{ "baud", "Baud" },
		{ "can_interface", "CAN interface" },
		{ "can_uuid", "CAN UUID" },
		{ "klipper_mcu", "Klipper MCU" },
		{ "service", "Service" },
		{ "notes", "Notes" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *v = json_object_object_get(o, rows[i].key);

		if (v)
			printf("%-15s %s\n", rows[i].label, json_object_get_string(v));
		else if (strcmp(rows[i].key, "service") == 0)
			printf("%-15s %s (default)\n", rows[i].label, service_default);
	}
	if (kflash_board_get_import_config(b))
		printf("%-15s [%s] of %s\n", "Imported from",
		       kflash_board_get_import_section(b) ?: "?",
		       kflash_board_get_import_config(b));
	conn = json_object_object_get(o, "connection");
	if (conn)
		printf("%-15s %s%s%s%s%s\n", "Connection",
		       json_object_get_string(json_object_object_get(conn, "state")),
		       json_object_object_get(conn, "mode") ? ", " : "",
		       json_object_get_string(json_object_object_get(conn, "mode")) ?: "",
		       json_object_object_get(conn, "path") ? " at " : "",
		       json_object_get_string(json_object_object_get(conn, "path")) ?: "");
	lf = json_object_object_get(o, "last_flash");
	if (lf)
		printf("%-15s %s, %s, at %s\n", "Last flash",
		       json_object_get_string(json_object_object_get(lf, "result")),
		       json_object_get_string(json_object_object_get(lf, "klipper_version"))
			       ?: "unknown version",
		       json_object_get_string(json_object_object_get(lf, "time")) ?: "?");
	else
		printf("%-15s never by kflash\n", "Last flash");
	json_object_put(o);
}
