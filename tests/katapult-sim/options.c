/* SPDX-License-Identifier: MIT */
/* kflash-sim's command line: --help, and the checks of every option. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void
usage(FILE *f)
{
	fputs("Usage: kflash-sim --dev-dir DIR [--mode usb|uart|katapult] [OPTIONS]\n"
	      "       kflash-sim --mode bus --can-dir DIR [--can-interface NAME] [OPTIONS]\n"
	      "       kflash-sim --mode can --can-dir DIR [--can-interface NAME] [OPTIONS]\n"
	      "       kflash-sim --mode bridge --can-dir DIR --dev-dir DEV --sys-dir SYS "
	      "[OPTIONS]\n"
	      "\n"
	      "Simulates a board running Klipper, and then its Katapult bootloader, on a\n"
	      "pty or on a simulated CAN bus: the test bench for native Katapult flashing.\n"
	      "It runs until SIGTERM, SIGINT or SIGHUP, then removes every link and file it\n"
	      "published and exits 0.\n"
	      "\n"
	      "Board:\n"
	      "  --dev-dir DIR            where the links appear, like /dev (required but in\n"
	      "                           bus and can mode)\n"
	      "  --mode M                 usb (default): Klipper over USB CDC, enters Katapult\n"
	      "                           on a 1200-baud touch; katapult: a USB board already\n"
	      "                           in Katapult; uart: Klipper on a UART, enters\n"
	      "                           Katapult on the serial request string;\n"
	      "                           bus: a CAN bus relay and nothing else; can: a CAN\n"
	      "                           node on a bus, enters Katapult on REQUEST_BOOTLOADER;\n"
	      "                           bridge: Klipper as a USB-to-CAN bridge that is the\n"
	      "                           bus, enters Katapult over USB on REQUEST_BOOTLOADER\n"
	      "  --mcu NAME               MCU name (default stm32f446xx)\n"
	      "  --serial HEX             USB serial number (default 1A2B3C4D5E6F708192A3B4C5)\n"
	      "  --usb-port PORT          USB port in the by-path link name (default 1.2)\n"
	      "  --uart-link NAME         uart mode: the link under DIR (default ttyAMA0)\n"
	      "  --baud N                 uart mode: Klipper and Katapult baud (default 250000)\n"
	      "  --reenumerate-ms N       delay before the board is back, after the touch or\n"
	      "                           REQUEST_BOOTLOADER and (not a CAN node) after\n"
	      "                           COMPLETE (default 300)\n"
	      "  --rate N                 limit the pty link to N bytes/s in each direction\n"
	      "  --sys-dir SYS            usb, katapult (optional) and bridge (required): the\n"
	      "                           USB device under SYS/bus/usb/devices/1-<usb-port>,\n"
	      "                           and a bridge's SYS/class/net/<interface>\n"
	      "\n"
	      "CAN (bus, can, bridge):\n"
	      "  --can-dir DIR            interface NAME is the socket DIR/NAME (required)\n"
	      "  --can-interface NAME     the interface (default can0)\n"
	      "  --can-uuid HEX12         can mode: the node's UUID (default: derived from\n"
	      "                           --serial as Klipper does)\n"
	      "  --can-node-id N          start with node id N (0-255) assigned\n"
	      "  --can-start APP          can mode: klipper (default) or katapult\n"
	      "\n"
	      "Katapult:\n"
	      "  --katapult-version STR   version string in CONNECT (default v0.0.1-sim)\n"
	      "  --protocol 1.0|1.1       protocol version (default 1.1; 1.0 sends no version)\n"
	      "  --app-start ADDR         application start (default 0x8008000)\n"
	      "  --flash-start ADDR       first flash address (default 0x8000000)\n"
	      "  --flash-size N           bytes of flash from flash-start (default 0x80000)\n"
	      "  --block-size N           block size (default 64)\n"
	      "  --page-size N            flash page size, the erase unit (default 16384)\n"
	      "\n"
	      "Outputs:\n"
	      "  --image FILE             the flashed image, app-start up to the last written\n"
	      "                           byte; written after SEND_EOF, COMPLETE and at exit\n"
	      "  --log FILE               one line per event (see README.md)\n"
	      "  --ready-file FILE        holds the published path once it exists\n"
	      "\n"
	      "Faults (--fault KIND[=VALUE][:WHEN], repeatable):\n"
	      "  drop                     a response is lost\n"
	      "  crc                      a response carries a corrupted CRC\n"
	      "  busy                     BUSY (0xf3) instead of processing the command\n"
	      "  wrong-address            the ACK echoes another address\n"
	      "      (these four default to the first SEND_BLOCK)\n"
	      "  bad-cell                 a block is stored with one byte flipped but ACKed\n"
	      "                           (default: the first stored block)\n"
	      "  wrong-mcu[=NAME]         CONNECT reports NAME (default stm32f103xe)\n"
	      "  wrong-start[=ADDR]       CONNECT reports ADDR (default app-start + 0x2000);\n"
	      "                           storage still uses the real application start\n"
	      "  hangup                   the board resets and stays gone (default: the 10th\n"
	      "                           command)\n"
	      "  dfu                      the touch (bridge: REQUEST_BOOTLOADER) brings up\n"
	      "                           STM32 ROM DFU (0483:df11)\n"
	      "  bootsel                  likewise RP2040 BOOTSEL (2e8a:0003)\n"
	      "  no-return                after COMPLETE the board never comes back (default:\n"
	      "                           every COMPLETE)\n"
	      "  can mode only:\n"
	      "  lost-frame[=K]           the Kth CAN frame of a response is lost (default:\n"
	      "                           its last frame, of the first SEND_BLOCK)\n"
	      "  bus-off                  the node sends a bus-off error frame, and nothing\n"
	      "                           reaches or leaves it any more (default: the first\n"
	      "                           SEND_BLOCK)\n"
	      "  error-passive[=rx|tx]    the node sends an error-passive error frame (default\n"
	      "                           tx; at the first SEND_BLOCK) and goes on working\n"
	      "  no-katapult              REQUEST_BOOTLOADER makes the node go silent for good\n"
	      "  WHEN: N       the Nth command frame received (all commands counted)\n"
	      "        NAME    every command of that name\n"
	      "        NAME#N  the Nth command of that name\n"
	      "        P%      each command with probability P percent\n"
	      "  NAME: CONNECT SEND_BLOCK SEND_EOF REQUEST_BLOCK COMPLETE GET_CANBUS_ID\n"
	      "  --seed N                 seed for P% faults (default 1)\n"
	      "\n"
	      "  --help                   show this help and exit\n",
	      f);
}

static int
parse_u32(const char *arg, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!arg[0] || arg[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || *end || v > 0xffffffffu)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Names that become part of a file name: no separators, nothing odd. */
static bool
valid_name(const char *s, bool allow_empty)
{
	if (!*s)
		return allow_empty;
	if (strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("._-", *s))
			return false;
	return true;
}

static bool
valid_relative_path(const char *s)
{
	if (!*s || *s == '/' || strlen(s) > 200)
		return false;
	for (const char *p = s; *p; p++) {
		if (p == s || p[-1] == '/') {
			if (*p == '/' || strncmp(p, "../", 3) == 0 || strcmp(p, "..") == 0 ||
			    strncmp(p, "./", 2) == 0 || strcmp(p, ".") == 0)
				return false;
		}
	}
	return s[strlen(s) - 1] != '/';
}

static int
usage_error(const char *fmt, ...) SIM_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kflash-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'kflash-sim --help'.\n", stderr);
	return -EINVAL;
}

static int
parse_when(struct fault *f, const char *when, const char *spec)
{
	size_t len = strlen(when);
	const char *hash;
	uint32_t n;
	char name[32];

	if (len && when[len - 1] == '%') {
		char num[16];

		if (len - 1 >= sizeof(num))
			return usage_error("bad probability in --fault %s", spec);
		memcpy(num, when, len - 1);
		num[len - 1] = '\0';
		if (parse_u32(num, &n) < 0 || n > 100)
			return usage_error("bad probability in --fault %s (0%% to 100%%)", spec);
		f->when = WHEN_PERCENT;
		f->percent = n;
		return 0;
	}
	if (when[0] >= '0' && when[0] <= '9') {
		if (parse_u32(when, &n) < 0 || n == 0)
			return usage_error("bad command number in --fault %s (1 is the first)",
					   spec);
		f->when = WHEN_NUMBER;
		f->n = n;
		return 0;
	}
	hash = strchr(when, '#');
	len = hash ? (size_t)(hash - when) : len;
	if (len >= sizeof(name))
		return usage_error("unknown command in --fault %s", spec);
	memcpy(name, when, len);
	name[len] = '\0';
	if (command_from_name(name, &f->cmd) < 0)
		return usage_error("unknown command '%s' in --fault %s (CONNECT, SEND_BLOCK, "
				   "SEND_EOF, REQUEST_BLOCK, COMPLETE, GET_CANBUS_ID)",
				   name, spec);
	if (!hash) {
		f->when = WHEN_NAME;
		return 0;
	}
	if (parse_u32(hash + 1, &n) < 0 || n == 0)
		return usage_error("bad count in --fault %s (NAME#1 is the first)", spec);
	f->when = WHEN_NAME_NTH;
	f->n = n;
	return 0;
}

/* KIND[=VALUE][:WHEN] */
static int
parse_fault(struct sim_options *o, const char *spec)
{
	struct fault *f;
	char kind[32];
	const char *colon = strchr(spec, ':');
	size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
	char *eq;

	if (o->nfaults == SIM_MAX_FAULTS)
		return usage_error("at most %d --fault options", SIM_MAX_FAULTS);
	f = &o->faults[o->nfaults];
	memset(f, 0, sizeof(*f));
	if (klen >= sizeof(kind))
		return usage_error("unknown fault '%s'", spec);
	memcpy(kind, spec, klen);
	kind[klen] = '\0';
	eq = strchr(kind, '=');
	if (eq) {
		*eq = '\0';
		if (strlen(eq + 1) >= sizeof(f->value))
			return usage_error("value too long in --fault %s", spec);
		strcpy(f->value, eq + 1);
	}
	if (fault_kind_from_name(kind, &f->kind) < 0)
		return usage_error("unknown fault '%s' (drop, crc, busy, wrong-address, bad-cell, "
				   "wrong-mcu, wrong-start, hangup, dfu, bootsel, no-return, "
				   "lost-frame, bus-off, error-passive, no-katapult)",
				   kind);
	if (eq) {
		uint32_t addr;

		if (f->kind == FAULT_WRONG_MCU) {
			if (!valid_name(f->value, false))
				return usage_error("bad MCU name in --fault %s", spec);
		} else if (f->kind == FAULT_WRONG_START) {
			if (parse_u32(f->value, &addr) < 0)
				return usage_error("bad address in --fault %s", spec);
		} else if (f->kind == FAULT_LOST_FRAME) {
			if (parse_u32(f->value, &addr) < 0 || addr == 0 || addr > 64)
				return usage_error(
					"bad frame number in --fault %s (1 is the first)", spec);
		} else if (f->kind == FAULT_ERROR_PASSIVE) {
			if (strcmp(f->value, "rx") != 0 && strcmp(f->value, "tx") != 0)
				return usage_error("--fault %s: error-passive=rx or =tx", spec);
		} else {
			return usage_error("--fault %s takes no value", kind);
		}
	}
	if (colon) {
		if (f->kind == FAULT_DFU || f->kind == FAULT_BOOTSEL)
			return usage_error("--fault %s takes no WHEN: it acts on the way into the "
					   "bootloader",
					   kind);
		if (f->kind == FAULT_NO_KATAPULT)
			return usage_error("--fault %s takes no WHEN: it acts on "
					   "REQUEST_BOOTLOADER",
					   kind);
		if (parse_when(f, colon + 1, spec) < 0)
			return -EINVAL;
	}
	o->nfaults++;
	return 0;
}

enum {
	OPT_DEV_DIR = 256,
	OPT_MODE,
	OPT_MCU,
	OPT_SERIAL,
	OPT_USB_PORT,
	OPT_UART_LINK,
	OPT_VERSION,
	OPT_PROTOCOL,
	OPT_APP_START,
	OPT_FLASH_START,
	OPT_FLASH_SIZE,
	OPT_BLOCK_SIZE,
	OPT_PAGE_SIZE,
	OPT_BAUD,
	OPT_REENUMERATE_MS,
	OPT_IMAGE,
	OPT_LOG,
	OPT_READY_FILE,
	OPT_FAULT,
	OPT_SEED,
	OPT_RATE,
	OPT_CAN_DIR,
	OPT_CAN_INTERFACE,
	OPT_CAN_UUID,
	OPT_CAN_NODE_ID,
	OPT_CAN_START,
	OPT_SYS_DIR,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "dev-dir", required_argument, NULL, OPT_DEV_DIR },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "mcu", required_argument, NULL, OPT_MCU },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "usb-port", required_argument, NULL, OPT_USB_PORT },
	{ "uart-link", required_argument, NULL, OPT_UART_LINK },
	{ "katapult-version", required_argument, NULL, OPT_VERSION },
	{ "protocol", required_argument, NULL, OPT_PROTOCOL },
	{ "app-start", required_argument, NULL, OPT_APP_START },
	{ "flash-start", required_argument, NULL, OPT_FLASH_START },
	{ "flash-size", required_argument, NULL, OPT_FLASH_SIZE },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
	{ "baud", required_argument, NULL, OPT_BAUD },
	{ "reenumerate-ms", required_argument, NULL, OPT_REENUMERATE_MS },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "can-dir", required_argument, NULL, OPT_CAN_DIR },
	{ "can-interface", required_argument, NULL, OPT_CAN_INTERFACE },
	{ "can-uuid", required_argument, NULL, OPT_CAN_UUID },
	{ "can-node-id", required_argument, NULL, OPT_CAN_NODE_ID },
	{ "can-start", required_argument, NULL, OPT_CAN_START },
	{ "sys-dir", required_argument, NULL, OPT_SYS_DIR },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int
number_option(const char *name, const char *arg, uint32_t *out)
{
	if (parse_u32(arg, out) < 0)
		return usage_error("--%s needs a number, not '%s'", name, arg);
	return 0;
}

/* Twelve hex digits, the UUID as printed: its bytes in that order. */
static int
parse_uuid(const char *arg, uint8_t uuid[6])
{
	if (strlen(arg) != 12)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		char byte[3] = { arg[2 * i], arg[2 * i + 1], '\0' };
		char *end;

		if (!strchr("0123456789abcdefABCDEF", byte[0]) ||
		    !strchr("0123456789abcdefABCDEF", byte[1]))
			return -EINVAL;
		uuid[i] = (uint8_t)strtoul(byte, &end, 16);
	}
	return 0;
}

static bool
mode_is_can(enum sim_mode mode)
{
	return mode == SIM_MODE_BUS || mode == SIM_MODE_CAN || mode == SIM_MODE_BRIDGE;
}

static bool
fault_allowed(enum fault_kind kind, enum sim_mode mode)
{
	switch (kind) {
	case FAULT_DFU:
	case FAULT_BOOTSEL:
		return mode == SIM_MODE_USB || mode == SIM_MODE_BRIDGE;
	case FAULT_LOST_FRAME:
	case FAULT_NO_KATAPULT:
	case FAULT_BUS_OFF:
	case FAULT_ERROR_PASSIVE:
		return mode == SIM_MODE_CAN;
	default:
		return mode != SIM_MODE_BUS;
	}
}

static const char *
fault_needs(enum fault_kind kind)
{
	switch (kind) {
	case FAULT_DFU:
	case FAULT_BOOTSEL:
		return "--mode usb or bridge: it acts on the way into the bootloader";
	case FAULT_LOST_FRAME:
	case FAULT_NO_KATAPULT:
	case FAULT_BUS_OFF:
	case FAULT_ERROR_PASSIVE:
		return "--mode can";
	default:
		return "a board (a bus relay has no faults)";
	}
}

/* The checks between options, and of the modes' own options. */
static int
check_modes(struct sim_options *o)
{
	enum sim_mode m = o->mode;

	if ((!o->dev_dir || !*o->dev_dir) && m != SIM_MODE_BUS && m != SIM_MODE_CAN)
		return usage_error("--dev-dir DIR is required");
	if (mode_is_can(m) && (!o->can_dir || !*o->can_dir))
		return usage_error("--mode %s needs --can-dir DIR", m == SIM_MODE_BUS   ? "bus"
								    : m == SIM_MODE_CAN ? "can"
											: "bridge");
	if (!mode_is_can(m) && o->can_dir)
		return usage_error("--can-dir needs --mode bus, can or bridge");
	if (o->has_uuid && m != SIM_MODE_CAN)
		return usage_error("--can-uuid needs --mode can (a bridge's UUID comes from its "
				   "--serial)");
	if (o->can_node_id >= 0 && m != SIM_MODE_CAN && m != SIM_MODE_BRIDGE)
		return usage_error("--can-node-id needs --mode can or bridge");
	if (o->can_start != BOARD_KLIPPER && m != SIM_MODE_CAN)
		return usage_error("--can-start needs --mode can");
	if (m == SIM_MODE_BRIDGE && (!o->sys_dir || !*o->sys_dir))
		return usage_error("--mode bridge needs --sys-dir SYS");
	if (o->rate && (m == SIM_MODE_BUS || m == SIM_MODE_CAN))
		return usage_error("--rate needs a board on a pty (the CAN bus has no speed)");
	if (o->sys_dir && m != SIM_MODE_USB && m != SIM_MODE_KATAPULT && m != SIM_MODE_BRIDGE)
		return usage_error("--sys-dir needs --mode usb, katapult or bridge");
	if ((m == SIM_MODE_BRIDGE || (m == SIM_MODE_CAN && !o->has_uuid))) {
		uint8_t uuid[6];

		if (can_uuid_from_serial(o->serial, uuid) < 0)
			return usage_error("--serial '%s' is no chip id in hex: the CAN UUID is "
					   "derived from it%s",
					   o->serial,
					   m == SIM_MODE_CAN ? " (or give --can-uuid)" : "");
	}
	for (unsigned i = 0; i < o->nfaults; i++)
		if (!fault_allowed(o->faults[i].kind, m))
			return usage_error("--fault %s needs %s",
					   fault_kind_name(o->faults[i].kind),
					   fault_needs(o->faults[i].kind));
	return 0;
}

/* 0 to run, 1 after --help, <0 on a usage error (already reported). */
int
sim_parse_options(int argc, char **argv, struct sim_options *o)
{
	uint32_t v;
	int c;

	*o = (struct sim_options){
		.mode = SIM_MODE_USB,
		.mcu = "stm32f446xx",
		.serial = "1A2B3C4D5E6F708192A3B4C5",
		.usb_port = "1.2",
		.uart_link = "ttyAMA0",
		.version = "v0.0.1-sim",
		.protocol = PROTO_1_1,
		.app_start = 0x8008000,
		.flash_start = 0x8000000,
		.flash_size = 0x80000,
		.block_size = 64,
		.page_size = 16384,
		.baud = 250000,
		.reenumerate_ms = 300,
		.seed = 1,
		.can_interface = "can0",
		.can_node_id = -1,
		.can_start = BOARD_KLIPPER,
	};

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_DEV_DIR:
			o->dev_dir = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "usb") == 0)
				o->mode = SIM_MODE_USB;
			else if (strcmp(optarg, "uart") == 0)
				o->mode = SIM_MODE_UART;
			else if (strcmp(optarg, "katapult") == 0)
				o->mode = SIM_MODE_KATAPULT;
			else if (strcmp(optarg, "bus") == 0)
				o->mode = SIM_MODE_BUS;
			else if (strcmp(optarg, "can") == 0)
				o->mode = SIM_MODE_CAN;
			else if (strcmp(optarg, "bridge") == 0)
				o->mode = SIM_MODE_BRIDGE;
			else
				return usage_error(
					"--mode is usb, uart, katapult, bus, can or bridge, "
					"not '%s'",
					optarg);
			break;
		case OPT_MCU:
			if (!valid_name(optarg, false))
				return usage_error("bad --mcu '%s' (letters, digits, . _ -)",
						   optarg);
			o->mcu = optarg;
			break;
		case OPT_SERIAL:
			if (!valid_name(optarg, false))
				return usage_error("bad --serial '%s' (letters, digits, . _ -)",
						   optarg);
			o->serial = optarg;
			break;
		case OPT_USB_PORT:
			if (!valid_name(optarg, false))
				return usage_error("bad --usb-port '%s' (like 1.2)", optarg);
			o->usb_port = optarg;
			break;
		case OPT_UART_LINK:
			if (!valid_relative_path(optarg))
				return usage_error("bad --uart-link '%s' (a path inside --dev-dir)",
						   optarg);
			o->uart_link = optarg;
			break;
		case OPT_VERSION:
			if (strlen(optarg) > 63)
				return usage_error("--katapult-version is at most 63 characters");
			o->version = optarg;
			break;
		case OPT_PROTOCOL:
			if (strcmp(optarg, "1.0") == 0)
				o->protocol = PROTO_1_0;
			else if (strcmp(optarg, "1.1") == 0)
				o->protocol = PROTO_1_1;
			else
				return usage_error("--protocol is 1.0 or 1.1, not '%s'", optarg);
			break;
		case OPT_APP_START:
			if (number_option("app-start", optarg, &o->app_start) < 0)
				return -EINVAL;
			break;
		case OPT_FLASH_START:
			if (number_option("flash-start", optarg, &o->flash_start) < 0)
				return -EINVAL;
			break;
		case OPT_FLASH_SIZE:
			if (number_option("flash-size", optarg, &o->flash_size) < 0)
				return -EINVAL;
			break;
		case OPT_BLOCK_SIZE:
			if (number_option("block-size", optarg, &o->block_size) < 0)
				return -EINVAL;
			break;
		case OPT_PAGE_SIZE:
			if (number_option("page-size", optarg, &o->page_size) < 0)
				return -EINVAL;
			break;
		case OPT_BAUD:
			if (number_option("baud", optarg, &v) < 0)
				return -EINVAL;
			o->baud = v;
			break;
		case OPT_REENUMERATE_MS:
			if (number_option("reenumerate-ms", optarg, &v) < 0)
				return -EINVAL;
			o->reenumerate_ms = v;
			break;
		case OPT_IMAGE:
			o->image = optarg;
			break;
		case OPT_LOG:
			o->log = optarg;
			break;
		case OPT_READY_FILE:
			o->ready_file = optarg;
			break;
		case OPT_FAULT:
			if (parse_fault(o, optarg) < 0)
				return -EINVAL;
			break;
		case OPT_SEED:
			if (number_option("seed", optarg, &v) < 0)
				return -EINVAL;
			o->seed = v;
			break;
		case OPT_RATE:
			if (number_option("rate", optarg, &v) < 0)
				return -EINVAL;
			o->rate = v;
			break;
		case OPT_CAN_DIR:
			o->can_dir = optarg;
			break;
		case OPT_CAN_INTERFACE:
			if (!valid_name(optarg, false) || strlen(optarg) > 15)
				return usage_error("bad --can-interface '%s' (like can0)", optarg);
			o->can_interface = optarg;
			break;
		case OPT_CAN_UUID:
			if (parse_uuid(optarg, o->uuid) < 0)
				return usage_error("bad --can-uuid '%s' (12 hex digits)", optarg);
			o->has_uuid = true;
			break;
		case OPT_CAN_NODE_ID:
			if (number_option("can-node-id", optarg, &v) < 0)
				return -EINVAL;
			if (v > 255)
				return usage_error("--can-node-id is 0 to 255");
			o->can_node_id = (int)v;
			break;
		case OPT_CAN_START:
			if (strcmp(optarg, "klipper") == 0)
				o->can_start = BOARD_KLIPPER;
			else if (strcmp(optarg, "katapult") == 0)
				o->can_start = BOARD_KATAPULT;
			else
				return usage_error("--can-start is klipper or katapult, not '%s'",
						   optarg);
			break;
		case OPT_SYS_DIR:
			o->sys_dir = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			return 1;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (check_modes(o) < 0)
		return -EINVAL;

	if (o->block_size < 4 || o->block_size > SIM_BLOCK_MAX || o->block_size % 4)
		return usage_error("--block-size must be a multiple of 4 from 4 to %d",
				   SIM_BLOCK_MAX);
	if (o->page_size == 0 || o->page_size % o->block_size)
		return usage_error("--page-size must be a multiple of --block-size");
	if (o->flash_start % o->block_size)
		return usage_error("--flash-start must be block aligned");
	if (o->flash_size == 0 || o->flash_size % o->page_size || o->flash_size > 0x10000000)
		return usage_error("--flash-size must be a multiple of --page-size, at most "
				   "256 MiB");
	if ((uint64_t)o->flash_start + o->flash_size > 0x100000000u)
		return usage_error("the flash must end below 4 GiB");
	if (o->app_start < o->flash_start ||
	    (uint64_t)o->app_start >= (uint64_t)o->flash_start + o->flash_size ||
	    (o->app_start - o->flash_start) % o->page_size)
		return usage_error("--app-start must be a page boundary inside the flash");
	if (o->baud == 0)
		return usage_error("--baud must be positive");
	if (o->reenumerate_ms > 60000)
		return usage_error("--reenumerate-ms is at most 60000");
	return 0;
}
