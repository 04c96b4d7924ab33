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
	      "\n"
	      "Simulates a board running Klipper, and then its Katapult bootloader, on a\n"
	      "pty: the test bench for native Katapult flashing. It runs until SIGTERM,\n"
	      "SIGINT or SIGHUP, then removes every link and file it published and exits 0.\n"
	      "\n"
	      "Board:\n"
	      "  --dev-dir DIR            where the links appear, like /dev (required)\n"
	      "  --mode M                 usb (default): Klipper over USB CDC, enters Katapult\n"
	      "                           on a 1200-baud touch; katapult: a USB board already\n"
	      "                           in Katapult; uart: Klipper on a UART, enters\n"
	      "                           Katapult on the serial request string\n"
	      "  --mcu NAME               MCU name (default stm32f446xx)\n"
	      "  --serial HEX             USB serial number (default 1A2B3C4D5E6F708192A3B4C5)\n"
	      "  --usb-port PORT          USB port in the by-path link name (default 1.2)\n"
	      "  --uart-link NAME         uart mode: the link under DIR (default ttyAMA0)\n"
	      "  --baud N                 uart mode: Klipper and Katapult baud (default 250000)\n"
	      "  --reenumerate-ms N       delay before a new link appears, after the touch and\n"
	      "                           after COMPLETE (default 300)\n"
	      "  --rate N                 limit the link to N bytes/s in each direction\n"
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
	      "Faults (--fault KIND[:WHEN], repeatable):\n"
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
	      "  dfu                      the touch brings up STM32 ROM DFU (0483:df11)\n"
	      "  bootsel                  the touch brings up RP2040 BOOTSEL (2e8a:0003)\n"
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
				   "wrong-mcu, wrong-start, hangup, dfu, bootsel)",
				   kind);
	if (eq) {
		uint32_t addr;

		if (f->kind == FAULT_WRONG_MCU) {
			if (!valid_name(f->value, false))
				return usage_error("bad MCU name in --fault %s", spec);
		} else if (f->kind == FAULT_WRONG_START) {
			if (parse_u32(f->value, &addr) < 0)
				return usage_error("bad address in --fault %s", spec);
		} else {
			return usage_error("--fault %s takes no value", kind);
		}
	}
	if (colon) {
		if (f->kind == FAULT_DFU || f->kind == FAULT_BOOTSEL)
			return usage_error("--fault %s takes no WHEN: it acts on the touch", kind);
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
			else
				return usage_error("--mode is usb, uart or katapult, not '%s'",
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
	if (!o->dev_dir || !*o->dev_dir)
		return usage_error("--dev-dir DIR is required");

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
	for (unsigned i = 0; i < o->nfaults; i++)
		if ((o->faults[i].kind == FAULT_DFU || o->faults[i].kind == FAULT_BOOTSEL) &&
		    o->mode != SIM_MODE_USB)
			return usage_error("--fault %s needs --mode usb: it acts on the touch",
					   fault_kind_name(o->faults[i].kind));
	return 0;
}
