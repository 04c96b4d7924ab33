/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim: options, the event loop and the link I/O of the simulated
 * board. See README.md beside this file and `kflash-sim --help`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define EXIT_USAGE 64
#define TICK_NS 10000000u /* how often the speed and a closed slave are polled */

/* What a UART board's Klipper looks for: 32 bytes from the space on. */
static const char request_string[] = " \x1c Request Serial Bootloader!! ~";

uint64_t
sim_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
sim_log(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	fflush(s->log);
}

void
sim_send(struct sim *s, const uint8_t *data, size_t len)
{
	if (s->out_len + len > s->out_cap) {
		size_t cap = (s->out_len + len) * 2;
		uint8_t *p = realloc(s->out, cap);

		if (!p) {
			fprintf(stderr, "kflash-sim: out of memory\n");
			exit(1);
		}
		s->out = p;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

void
sim_discard_output(struct sim *s)
{
	s->out_len = 0;
}

int
sim_write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const uint8_t *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

/* ---- options ---- */

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
static int
parse_options(int argc, char **argv, struct sim_options *o)
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

/* ---- --rate: a line that carries N bytes per second each way ---- */

/*
 * Like a UART, a direction carries bytes only while it has some to carry:
 * an idle direction saves nothing up, so a frame takes its time on the
 * line. A busy one moves at most 2 ms worth of bytes at a time (at least
 * one byte).
 */
static double
rate_cap(const struct sim *s)
{
	return s->opt.rate / 500.0 < 1.0 ? 1.0 : s->opt.rate / 500.0;
}

static void
rate_refill(struct sim *s, uint64_t now)
{
	double cap = rate_cap(s), add;

	if (!s->opt.rate)
		return;
	add = (double)(now - s->rate_at) * s->opt.rate / 1e9;
	s->rate_at = now;
	s->rx_tokens = s->rx_idle ? 0 : s->rx_tokens + add > cap ? cap : s->rx_tokens + add;
	s->tx_tokens = !s->out_len ? 0 : s->tx_tokens + add > cap ? cap : s->tx_tokens + add;
}

/* The bytes the host wrote that are still to be read. */
static size_t
rx_pending(const struct sim *s)
{
	int n = 0;

	if (ioctl(s->master, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* The tokens that let @pending bytes move: all of them, or a busy line's worth. */
static double
rate_need(const struct sim *s, size_t pending)
{
	double cap = rate_cap(s);

	if (pending < 1)
		return 1.0;
	return (double)pending < cap ? (double)pending : cap;
}

/* How many bytes may move now: any number without --rate. */
static size_t
rate_allow(const struct sim *s, double tokens, size_t pending)
{
	if (!s->opt.rate)
		return SIZE_MAX;
	return tokens >= rate_need(s, pending) ? (size_t)tokens : 0;
}

/* When they may move. */
static uint64_t
rate_ready_at(const struct sim *s, uint64_t now, double tokens, size_t pending)
{
	double wait = (rate_need(s, pending) - tokens) / s->opt.rate;

	return now + (wait > 0 ? (uint64_t)(wait * 1e9) : 0) + 1;
}

/* ---- link I/O ---- */

static void
check_baud(struct sim *s)
{
	unsigned speed;

	if (tty_get_ospeed(s->master, &speed) < 0)
		return;
	if (speed == s->opt.baud) {
		s->baud_logged = 0;
		return;
	}
	if (speed != s->baud_logged) {
		sim_log(s, "baud-mismatch %u", speed);
		s->baud_logged = speed;
	}
}

/* Klipper on a UART: only the bootloader request means anything. */
static void
uart_klipper_input(struct sim *s, const uint8_t *data, size_t len)
{
	const size_t n = sizeof(request_string) - 1;

	for (size_t i = 0; i < len; i++) {
		if (s->request_len == n) {
			memmove(s->request, s->request + 1, n - 1);
			s->request_len--;
		}
		s->request[s->request_len++] = data[i];
		if (s->request_len == n && memcmp(s->request, request_string, n) == 0) {
			/* The board resets: whatever follows is lost. */
			s->request_len = 0;
			sim_log(s, "request-string");
			board_enumerate(s, BOARD_KATAPULT);
			return;
		}
	}
}

static void
handle_input(struct sim *s, const uint8_t *data, size_t len)
{
	if (s->opt.mode == SIM_MODE_UART)
		check_baud(s);
	switch (s->state) {
	case BOARD_KATAPULT:
		katapult_input(s, data, len);
		break;
	case BOARD_KLIPPER:
		if (s->opt.mode == SIM_MODE_UART)
			uart_klipper_input(s, data, len);
		/* Klipper's own protocol is not simulated: bytes are dropped. */
		break;
	default:
		break;
	}
}

static void
do_read(struct sim *s, uint64_t now)
{
	uint8_t buf[4096];
	size_t want = SIZE_MAX;
	ssize_t n;

	if (s->master < 0)
		return;
	if (s->opt.rate) {
		size_t pending;

		if (s->rx_idle)
			return;
		pending = rx_pending(s);
		if (!pending) {
			s->rx_idle = true;
			return;
		}
		want = rate_allow(s, s->rx_tokens, pending);
		if (!want)
			return;
	}
	if (want > sizeof(buf))
		want = sizeof(buf);
	n = read(s->master, buf, want);
	if (n <= 0) {
		/* EIO: nobody holds the slave; that means no data yet */
		if (n < 0 && errno == EIO)
			s->slave_closed = true;
		else if (n < 0 && errno == EAGAIN)
			s->slave_closed = false;
		s->rx_idle = true;
		return;
	}
	s->slave_closed = false;
	s->last_rx_at = now;
	if (s->opt.rate)
		s->rx_tokens -= (double)n;
	handle_input(s, buf, (size_t)n);
}

static void
do_write(struct sim *s)
{
	size_t want = rate_allow(s, s->tx_tokens, s->out_len);
	ssize_t n;

	if (s->master < 0 || s->out_len == 0 || want == 0)
		return;
	if (want > s->out_len)
		want = s->out_len;
	n = write(s->master, s->out, want);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			sim_discard_output(s); /* the line is gone */
		return;
	}
	if (s->opt.rate)
		s->tx_tokens -= (double)n;
	memmove(s->out, s->out + n, s->out_len - (size_t)n);
	s->out_len -= (size_t)n;
}

/* ---- timers ---- */

/* The jump to the application, 100 ms after COMPLETE was ACKed. */
static int
complete(struct sim *s)
{
	int r = 0;

	s->complete_at = 0;
	katapult_flush_garbage(s);
	sim_log(s, "complete");
	if (s->opt.mode == SIM_MODE_UART) {
		s->request_len = 0;
		r = board_enumerate(s, BOARD_KLIPPER);
		sim_log(s, "boot klipper");
		return r;
	}
	board_remove(s);
	board_schedule(s, BOARD_KLIPPER, true);
	return 0;
}

static int
run_timers(struct sim *s, uint64_t now)
{
	int r;

	if (s->complete_at && now >= s->complete_at) {
		if (s->out_len) /* the ACK leaves before the jump */
			s->complete_at = now + 1000000u;
		else if ((r = complete(s)) < 0)
			return r;
	}
	if (s->enumerate_at && now >= s->enumerate_at) {
		bool boot = s->enumerate_is_boot;

		r = board_enumerate(s, s->enumerate_as);
		if (r < 0)
			return r;
		if (boot)
			sim_log(s, "boot klipper");
	}
	if (s->state == BOARD_KATAPULT)
		katapult_idle(s, now);
	board_check_touch(s);
	return 0;
}

static uint64_t
earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static int
run(struct sim *s, int sfd)
{
	for (;;) {
		uint64_t now = sim_now(), deadline = now + TICK_NS;
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN } };
		struct timespec ts;
		nfds_t np = 1;
		int r;

		if (run_timers(s, now) < 0)
			return -1;
		rate_refill(s, now);

		deadline = earliest(deadline, s->enumerate_at);
		deadline = earliest(deadline, s->complete_at);
		if (s->master >= 0 && s->slave_closed) {
			/* a master reports POLLHUP for as long as nobody holds the slave */
			struct pollfd q = { .fd = s->master, .events = POLLIN };

			if (poll(&q, 1, 0) >= 0 && !(q.revents & POLLHUP)) {
				s->slave_closed = false;
			} else {
				/*
				 * A host may open, write and close between two looks:
				 * what it wrote is on the line all the same. POLLHUP is
				 * no event, so look again soon.
				 */
				if (rx_pending(s))
					s->rx_idle = false;
				deadline = earliest(deadline, now + 10000000u);
			}
		}
		if (s->master >= 0) {
			bool rx = true, tx = s->out_len > 0;

			if (s->opt.rate) {
				/* an idle direction waits for bytes, a busy one for time */
				size_t pending = s->rx_idle ? 0 : rx_pending(s);

				rx = s->rx_idle || rate_allow(s, s->rx_tokens, pending);
				if (!rx)
					deadline = earliest(
						deadline,
						rate_ready_at(s, now, s->rx_tokens, pending));
				if (tx && !rate_allow(s, s->tx_tokens, s->out_len)) {
					tx = false;
					deadline = earliest(
						deadline,
						rate_ready_at(s, now, s->tx_tokens, s->out_len));
				}
			}
			p[1].fd = s->master;
			p[1].events =
				(short)((rx && !s->slave_closed ? POLLIN : 0) | (tx ? POLLOUT : 0));
			if (p[1].events)
				np = 2;
		}
		if (s->garbage)
			deadline = earliest(deadline, s->last_rx_at + 20000000u);
		deadline = deadline > now ? deadline - now : 0;
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);

		r = ppoll(p, np, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("kflash-sim: poll");
			return -1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return 0;
		}
		if (np == 2 && (p[1].revents & POLLHUP))
			s->slave_closed = true;
		now = sim_now();
		rate_refill(s, now);
		if (np == 2 && (p[1].revents & POLLIN))
			s->rx_idle = false; /* the bytes start their way now */
		do_read(s, now);
		do_write(s);
	}
}

/*
 * The stop signals arrive through a signalfd. They are blocked first, then
 * given their default disposition: a shell may start us with SIGINT
 * ignored, and an ignored signal never reaches a signalfd.
 */
static int
setup_signals(void)
{
	static const int stop[] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t mask;

	sigemptyset(&mask);
	for (size_t i = 0; i < SIM_ARRAY_SIZE(stop); i++)
		sigaddset(&mask, stop[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (size_t i = 0; i < SIM_ARRAY_SIZE(stop); i++)
		signal(stop[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static const char *
mode_name(enum sim_mode mode)
{
	switch (mode) {
	case SIM_MODE_UART:
		return "uart";
	case SIM_MODE_KATAPULT:
		return "katapult";
	case SIM_MODE_USB:
		break;
	}
	return "usb";
}

int
main(int argc, char **argv)
{
	struct sim s = { .master = -1, .next_devnum = 2 };
	enum board_state first;
	char *first_path = NULL;
	int sfd, r, status = 0;

	r = parse_options(argc, argv, &s.opt);
	if (r > 0)
		return 0;
	if (r < 0)
		return EXIT_USAGE;
	s.rng = s.opt.seed;

	sfd = setup_signals();
	if (sfd < 0) {
		perror("kflash-sim: signalfd");
		return 1;
	}
	if (s.opt.log) {
		s.log = fopen(s.opt.log, "we");
		if (!s.log) {
			fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s.opt.log,
				strerror(errno));
			return 1;
		}
	}
	if (flash_init(&s) < 0) {
		fprintf(stderr, "kflash-sim: out of memory for %u bytes of flash\n",
			s.opt.flash_size);
		return 1;
	}

	first = s.opt.mode == SIM_MODE_KATAPULT ? BOARD_KATAPULT : BOARD_KLIPPER;
	if (s.opt.mode == SIM_MODE_UART)
		r = asprintf(&first_path, "%s/%s", s.opt.dev_dir, s.opt.uart_link);
	else
		r = asprintf(&first_path, "%s/serial/by-id/usb-%s_%s_%s-if00", s.opt.dev_dir,
			     first == BOARD_KATAPULT ? "katapult" : "Klipper", s.opt.mcu,
			     s.opt.serial);
	if (r < 0)
		return 1;
	sim_log(&s, "start %s %s", mode_name(s.opt.mode), first_path);
	free(first_path);

	if (board_enumerate(&s, first) < 0 || run(&s, sfd) < 0)
		status = 1;

	katapult_flush_garbage(&s);
	r = image_write(&s);
	if (r < 0) {
		fprintf(stderr, "kflash-sim: cannot write %s: %s\n", s.opt.image, strerror(-r));
		status = 1;
	}
	board_remove(&s);
	if (s.ready_written)
		unlink(s.opt.ready_file);
	sim_log(&s, "exit");
	if (s.log)
		fclose(s.log);
	close(sfd);
	free(s.flash);
	free(s.out);
	return status;
}
