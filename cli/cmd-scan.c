/* SPDX-License-Identifier: MIT */
/* kflash scan: the devices plugged in that no registered board claims. */
#include <string.h>

#include "commands.h"
#include "scan-can.h"

enum {
	OPT_CAN_INTERFACE = 256,
	OPT_CAN_QUERY,
};

/* What to do with a device that has no tty, or NULL for a tty. */
static const char *
ttyless_note(enum kflash_device_mode mode)
{
	switch (mode) {
	case KFLASH_MODE_DFU:
	case KFLASH_MODE_RP2_BOOT:
		return "a board in its ROM bootloader, without a serial port: flash Klipper or "
		       "Katapult onto it once (make flash), then it shows up here to be added";
	case KFLASH_MODE_CAN_BRIDGE:
		return "a mainboard running Klipper as a USB-to-CAN bridge: the CAN nodes behind "
		       "it are listed by a query of its interface; flash --all does them first "
		       "and the bridge last";
	default:
		return NULL;
	}
}

/* A bridge is added by its interface, its UUID and its serial number (for Katapult on USB). */
static char *
bridge_add(struct kflash_registry *reg, const struct kflash_device *dev)
{
	const char *mcu = kflash_device_get_mcu(dev);
	const char *iface = kflash_device_get_net_interface(dev);
	const char *uuid = kflash_device_get_can_uuid(dev);
	const char *name = kflash_registry_suggest_name(reg, "mainboard");
	char *line = NULL;

	if (!name || !uuid || !iface)
		return NULL;
	if (asprintf(&line,
		     "kflash add %s --can-interface %s --can-uuid %s --usb-serial %s --mcu %s",
		     name, iface, uuid, kflash_device_get_serial_number(dev),
		     mcu ? mcu : "MCU") < 0)
		return NULL;
	return line;
}

static char *
suggested_add(struct kflash_registry *reg, const struct kflash_device *dev)
{
	const char *mcu = kflash_device_get_mcu(dev);
	const char *name;
	char *line = NULL;

	if (kflash_device_get_mode(dev) == KFLASH_MODE_CAN_BRIDGE)
		return bridge_add(reg, dev);
	if (ttyless_note(kflash_device_get_mode(dev)))
		return NULL;
	name = kflash_registry_suggest_name(reg, mcu);
	if (!name)
		return NULL;
	if (asprintf(&line, "kflash add %s --serial %s%s%s", name, kflash_device_get_path(dev),
		     mcu && kflash_device_get_by_id(dev) ? "" : " --mcu ",
		     mcu && kflash_device_get_by_id(dev) ? ""
		     : mcu                               ? mcu
							 : "MCU") < 0)
		return NULL;
	return line;
}

static struct json_object *
hex4(unsigned int v)
{
	char s[16];

	if (!v)
		return NULL;
	snprintf(s, sizeof(s), "%04x", v & 0xffff);
	return json_object_new_string(s);
}

static struct json_object *
device_json(const struct kflash_device *dev, const char *add)
{
	struct json_object *o = json_object_new_object();
	const char *note = ttyless_note(kflash_device_get_mode(dev));

	json_object_object_add(
		o, "mode",
		json_object_new_string(kflash_device_mode_name(kflash_device_get_mode(dev))));
	json_object_object_add(o, "mcu", cli_json_string(kflash_device_get_mcu(dev)));
	json_object_object_add(o, "serial_number",
			       cli_json_string(kflash_device_get_serial_number(dev)));
	json_object_object_add(o, "vid", hex4(kflash_device_get_vid(dev)));
	json_object_object_add(o, "pid", hex4(kflash_device_get_pid(dev)));
	json_object_object_add(o, "path", cli_json_string(kflash_device_get_path(dev)));
	json_object_object_add(o, "by_path", cli_json_string(kflash_device_get_by_path(dev)));
	json_object_object_add(o, "devnode", cli_json_string(kflash_device_get_devnode(dev)));
	json_object_object_add(o, "usb_port", cli_json_string(kflash_device_get_usb_port(dev)));
	json_object_object_add(o, "manufacturer",
			       cli_json_string(kflash_device_get_manufacturer(dev)));
	json_object_object_add(o, "product", cli_json_string(kflash_device_get_product(dev)));
	json_object_object_add(o, "net_interface",
			       cli_json_string(kflash_device_get_net_interface(dev)));
	/* The fields a CAN node has (see scan-can.c): a bridge is one, on its own interface. */
	json_object_object_add(o, "can_interface",
			       kflash_device_get_can_uuid(dev)
				       ? cli_json_string(kflash_device_get_net_interface(dev))
				       : NULL);
	json_object_object_add(o, "can_uuid", cli_json_string(kflash_device_get_can_uuid(dev)));
	json_object_object_add(o, "application",
			       kflash_device_get_can_uuid(dev) ? json_object_new_string("klipper")
							       : NULL);
	/* Devices a board claims are not listed: only a CAN node's can be named. */
	json_object_object_add(o, "board", NULL);
	json_object_object_add(o, "suggested_add", cli_json_string(add));
	json_object_object_add(o, "note", cli_json_string(note));
	return o;
}

static void
print_device(const struct kflash_device *dev, const char *add)
{
	const char *note = ttyless_note(kflash_device_get_mode(dev));
	const char *sep = " (";

	printf("%s %s", kflash_device_mode_name(kflash_device_get_mode(dev)),
	       kflash_device_get_path(dev));
	if (kflash_device_get_vid(dev)) {
		printf("%s%04x:%04x", sep, kflash_device_get_vid(dev), kflash_device_get_pid(dev));
		sep = ", ";
	}
	if (kflash_device_get_mcu(dev)) {
		printf("%s%s", sep, kflash_device_get_mcu(dev));
		sep = ", ";
	}
	if (kflash_device_get_serial_number(dev)) {
		printf("%sserial %s", sep, kflash_device_get_serial_number(dev));
		sep = ", ";
	}
	if (kflash_device_get_usb_port(dev)) {
		printf("%sUSB port %s", sep, kflash_device_get_usb_port(dev));
		sep = ", ";
	}
	if (kflash_device_get_net_interface(dev)) {
		printf("%s%s", sep, kflash_device_get_net_interface(dev));
		sep = ", ";
	}
	if (kflash_device_get_can_uuid(dev)) {
		printf("%sCAN UUID %s", sep, kflash_device_get_can_uuid(dev));
		sep = ", ";
	}
	printf("%s\n", sep[0] == ',' ? ")" : "");
	if (add)
		printf("    add it: %s\n", add);
	if (note)
		printf("    %s\n", note);
}

int
cmd_scan(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "can-interface", required_argument, NULL, OPT_CAN_INTERFACE },
		{ "can-query", no_argument, NULL, OPT_CAN_QUERY },
		{ NULL, 0, NULL, 0 },
	};
	const char *ifaces[16];
	struct scan_can can = { .interfaces = ifaces };
	struct kflash_registry *reg;
	struct kflash_discovery *d;
	struct json_object *devices = NULL;
	size_t shown = 0, claimed = 0;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return cli_command_help(cli);
		if (c == OPT_CAN_QUERY) {
			can.query = true;
		} else if (c == OPT_CAN_INTERFACE) {
			if (can.n_interfaces == sizeof(ifaces) / sizeof(ifaces[0]))
				return cli_usage_error(cli, "at most %zu --can-interface",
						       sizeof(ifaces) / sizeof(ifaces[0]));
			ifaces[can.n_interfaces++] = optarg;
		} else {
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	r = cli_load_registry(cli, &reg);
	if (r)
		return r;
	r = kflash_discovery_scan(cli->ctx, &d);
	if (r < 0) {
		kflash_registry_unref(reg);
		return cli_fail(cli, r);
	}
	if (cli->json)
		devices = json_object_new_array();
	for (size_t i = 0; i < kflash_discovery_get_device_count(d); i++) {
		const struct kflash_device *dev = kflash_discovery_get_device(d, i);
		char *add;

		if (kflash_discovery_find_device_board(d, reg, dev)) {
			claimed++;
			continue;
		}
		add = suggested_add(reg, dev);
		if (devices)
			json_object_array_add(devices, device_json(dev, add));
		else
			print_device(dev, add);
		free(add);
		shown++;
	}
	r = scan_can(cli, reg, &can, devices, &shown);
	if (r == 0 && devices) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "devices", devices);
		json_object_object_add(doc, "claimed", json_object_new_int64((int64_t)claimed));
		r = cli_print_json(cli, doc);
	} else if (devices) {
		json_object_put(devices);
	} else if (r == 0 && shown == 0) {
		printf("No unregistered devices found%s.\n",
		       claimed ? "; every device found is a registered board (kflash list)" : "");
	}
	kflash_discovery_unref(d);
	kflash_registry_unref(reg);
	return cli_exit_code(r);
}
