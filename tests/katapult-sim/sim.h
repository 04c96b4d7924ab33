/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim: a Katapult device simulated on a pty.
 *
 * The program shares no code with lib/: a mistake in the library's frame
 * code must not be mirrored here. See README.md beside this file.
 *
 *   main.c      the event loop, timers, logging
 *   options.c   the command line
 *   serial.c    the pty link: I/O, --rate, the UART request string
 *   board.c     ptys, links, usbfs nodes: what the board publishes
 *   katapult.c  the bootloader: frames, commands, flash, faults
 *   speed.c     the line speed through termios2 (its own file, since
 *               <asm/termbits.h> clashes with <termios.h>)
 */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SIM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The frame layout. */
#define FRAME_STX1 0x01
#define FRAME_STX2 0x88
#define FRAME_SYNC2 0x99
#define FRAME_SYNC 0x03
#define FRAME_MIN 8
#define FRAME_MAX 128 /* Katapult's MESSAGE_MAX: a longer frame is garbage */

/*
 * The device's receive buffers: USB CDC takes data only while it has room
 * in its 128 bytes (the host waits); a UART has 192 bytes.
 */
#define RX_BUFFER_USB 128
#define RX_BUFFER_UART 192

/* Commands and responses. */
#define CMD_CONNECT 0x11
#define CMD_SEND_BLOCK 0x12
#define CMD_SEND_EOF 0x13
#define CMD_REQUEST_BLOCK 0x14
#define CMD_COMPLETE 0x15
#define CMD_GET_CANBUS_ID 0x16
#define RESP_ACK 0xa0
#define RESP_NACK 0xf1
#define RESP_ERROR 0xf2
#define RESP_BUSY 0xf3

#define PROTO_1_0 0x00010000u
#define PROTO_1_1 0x00010100u

#define SIM_MAX_FAULTS 32
#define SIM_BLOCK_MAX 512 /* the largest block a host accepts */

enum sim_mode {
	SIM_MODE_USB,
	SIM_MODE_UART,
	SIM_MODE_KATAPULT,
};

/* What the board is right now. */
enum board_state {
	BOARD_ABSENT,   /* between two enumerations, or gone after a hangup */
	BOARD_KLIPPER,  /* running Klipper */
	BOARD_KATAPULT, /* in the bootloader */
	BOARD_DFU,      /* STM32 ROM DFU: a usbfs node, no tty */
	BOARD_BOOTSEL,  /* RP2040 BOOTSEL: a usbfs node, no tty */
};

enum fault_kind {
	FAULT_DROP,
	FAULT_CRC,
	FAULT_BUSY,
	FAULT_WRONG_ADDRESS,
	FAULT_BAD_CELL,
	FAULT_WRONG_MCU,
	FAULT_WRONG_START,
	FAULT_HANGUP,
	FAULT_DFU,
	FAULT_BOOTSEL,
};

enum fault_when {
	WHEN_DEFAULT,  /* the kind's own default */
	WHEN_NUMBER,   /* the Nth command frame */
	WHEN_NAME,     /* every command of a name */
	WHEN_NAME_NTH, /* the Nth command of a name */
	WHEN_PERCENT,  /* each command with a probability */
};

struct fault {
	enum fault_kind kind;
	enum fault_when when;
	uint8_t cmd;      /* WHEN_NAME, WHEN_NAME_NTH */
	unsigned n;       /* WHEN_NUMBER, WHEN_NAME_NTH */
	unsigned percent; /* WHEN_PERCENT */
	char value[64];   /* wrong-mcu=NAME, wrong-start=ADDR; "" for the default */
	bool fired;       /* for the once-only defaults */
};

struct sim_options {
	enum sim_mode mode;
	const char *dev_dir;
	const char *mcu;
	const char *serial;
	const char *usb_port;
	const char *uart_link;
	const char *version;
	uint32_t protocol;
	uint32_t app_start;
	uint32_t flash_start;
	uint32_t flash_size;
	uint32_t block_size;
	uint32_t page_size;
	unsigned baud;
	unsigned reenumerate_ms;
	const char *image;
	const char *log;
	const char *ready_file;
	struct fault faults[SIM_MAX_FAULTS];
	unsigned nfaults;
	uint64_t seed;
	unsigned rate;
};

struct sim;

/*
 * How the bootloader's byte stream travels between it and the host (here
 * on a pty: USB CDC or a UART).
 */
struct sim_link {
	size_t rx_buffer; /* what the bootloader's receive buffer holds */
	bool host_waits;  /* USB: the host writes only while the buffer has room */
	/* A response leaves. */
	void (*send)(struct sim *s, const uint8_t *data, size_t len);
	/* Whether output is still on its way (the jump after COMPLETE waits). */
	bool (*busy)(const struct sim *s);
};

/* The descriptors one round of the event loop waits on. */
struct poll_set {
	struct pollfd *p;
	size_t n, cap;
};

struct sim {
	struct sim_options opt;
	FILE *log;
	const struct sim_link *link;

	/* ---- what the board publishes (board.c) ---- */
	enum board_state state;
	int master;
	char slave[64];
	char *link_path; /* by-id link (USB) or the UART link */
	char *bypath;    /* by-path link (USB) */
	char *usbfs;     /* bus/usb/001/NNN */
	unsigned next_devnum;
	bool ready_written;
	/* a pending enumeration (after a touch, after COMPLETE) */
	uint64_t enumerate_at; /* CLOCK_MONOTONIC ns, 0 = none */
	enum board_state enumerate_as;
	bool enumerate_is_boot;

	/* ---- the pty link (serial.c) ---- */
	int serial_poll;
	bool slave_closed;
	uint8_t *out;
	size_t out_len, out_cap;
	double rx_tokens, tx_tokens; /* --rate: bytes that may pass now */
	uint64_t rate_at;
	bool rx_idle; /* the last read found nothing */
	uint64_t last_rx_at;
	unsigned baud_logged; /* last baud-mismatch value logged, 0 = none */
	uint8_t request[32];  /* UART Klipper: the last bytes, to find the request */
	size_t request_len;

	/* ---- the bootloader (katapult.c) ---- */
	uint8_t in[RX_BUFFER_UART];
	size_t in_len;
	bool need_sync, need_valid;
	size_t garbage; /* discarded bytes not yet logged */
	uint32_t page_write_count;
	bool session_stored;
	uint64_t image_end; /* one past the last written byte, 0 = none */
	uint8_t *flash;
	uint64_t complete_at; /* when the board jumps to the application */
	unsigned commands;    /* command frames received in this run */
	unsigned per_name[8]; /* the same per command name */
	bool bad_cell_fired;
	uint64_t rng;
};

/* main.c */
uint64_t
sim_now(void);
void
sim_log(struct sim *s, const char *fmt, ...) SIM_PRINTF(2, 3);
int
sim_write_file_atomic(const char *path, const void *data, size_t len);
/* mkdir -p of the directory that holds @path. */
int
sim_mkdir_parent(const char *path);
/* Wait for @events on @fd in this round; the index in @ps. */
int
poll_add(struct poll_set *ps, int fd, short events);
uint64_t
earliest(uint64_t a, uint64_t b);
void
sim_oom(void) __attribute__((noreturn));

/* options.c: 0, 1 after --help, or -1 after a usage error (said on stderr). */
int
sim_parse_options(int argc, char **argv, struct sim_options *o);

/* serial.c */
extern const struct sim_link serial_link_usb;
extern const struct sim_link serial_link_uart;
void
sim_send(struct sim *s, const uint8_t *data, size_t len);
void
sim_discard_output(struct sim *s);
void
serial_prepare(struct sim *s, uint64_t now, struct poll_set *ps, uint64_t *deadline);
void
serial_handle(struct sim *s, const struct poll_set *ps);

/* board.c */
const char *
board_state_name(enum board_state state);
int
board_enumerate(struct sim *s, enum board_state as);
void
board_remove(struct sim *s);
int
board_check_touch(struct sim *s);
void
board_hangup(struct sim *s);
void
board_schedule(struct sim *s, enum board_state as, bool is_boot);

/* katapult.c */
int
flash_init(struct sim *s);
void
katapult_reset(struct sim *s);
void
katapult_input(struct sim *s, const uint8_t *data, size_t len);
/* How many more bytes the receive buffer holds now. */
size_t
katapult_rx_room(const struct sim *s);
void
katapult_idle(struct sim *s, uint64_t now);
void
katapult_flush_garbage(struct sim *s);
int
image_write(struct sim *s);
const char *
command_name(uint8_t cmd);
int
command_from_name(const char *name, uint8_t *cmd);
const char *
fault_kind_name(enum fault_kind kind);
int
fault_kind_from_name(const char *name, enum fault_kind *kind);

/* speed.c */
int
tty_get_ospeed(int fd, unsigned *speed);
