/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim: a Katapult device simulated on a pty or a CAN bus.
 *
 * The program shares no code with lib/: a mistake in the library's frame
 * code must not be mirrored here. See README.md beside this file.
 *
 *   main.c      the event loop, timers, logging
 *   options.c   the command line
 *   serial.c    the pty link: I/O, --rate, the UART request string
 *   board.c     ptys, links, usbfs nodes, sysfs: what the board publishes
 *   katapult.c  the bootloader: frames, commands, flash, faults
 *   can.c       a CAN node: UUID, admin commands, the byte stream in frames
 *   bus.c       the CAN bus relay of --mode bus and of a bridge
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
 * in its 128 bytes (the host waits); a UART has 192 bytes, and so has
 * Katapult's CAN receive buffer (canserial).
 */
#define RX_BUFFER_USB 128
#define RX_BUFFER_UART 192
#define RX_BUFFER_CAN 192
#define RX_BUFFER_MAX 192

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

/*
 * CAN on the bus: every packet is one 16-byte Linux struct can_frame
 * (u32 can_id little-endian, u8 len, 3 pad bytes, 8 data bytes).
 */
#define CAN_PACKET_SIZE 16
#define CANID_EFF 0x80000000u /* extended id: not ours */
#define CANID_RTR 0x40000000u /* remote request: not ours */
#define CANID_ERR 0x20000000u /* error frame (CAN_ERR_FLAG) */
#define CANERR_CRTL 0x00000004u
#define CANERR_BUSOFF 0x00000040u
#define CANERR_CRTL_RX_PASSIVE 0x10
#define CANERR_CRTL_TX_PASSIVE 0x20
#define CANBUS_ID_ADMIN 0x3f0
#define CANBUS_ID_ADMIN_RESP 0x3f1
#define CAN_QUEUE_MAX 4096 /* frames waiting for room in a socket */

/* Admin opcodes (the first data byte on 0x3f0 and 0x3f1). */
#define ADMIN_QUERY_UNASSIGNED 0x00
#define ADMIN_SET_KLIPPER_NODEID 0x01
#define ADMIN_REQUEST_BOOTLOADER 0x02
#define ADMIN_SET_NODEID 0x11
#define ADMIN_CLEAR_NODEID 0x12
#define ADMIN_RESP_NEED_NODEID 0x20
#define ADMIN_APP_KLIPPER 0x01
#define ADMIN_APP_KATAPULT 0x11

/* A decoded CAN frame. */
struct can_pkt {
	uint32_t id; /* with the CANID_* flags */
	uint8_t len;
	uint8_t data[8];
};

/* Frames waiting to go into a socket: a ring of raw packets. */
struct pkt_queue {
	uint8_t (*pkt)[CAN_PACKET_SIZE];
	size_t head, len, cap;
};

enum sim_mode {
	SIM_MODE_USB,
	SIM_MODE_UART,
	SIM_MODE_KATAPULT,
	SIM_MODE_BUS,    /* a CAN bus relay, no board */
	SIM_MODE_CAN,    /* a CAN node on a bus */
	SIM_MODE_BRIDGE, /* a USB-to-CAN bridge: the bus and a node; Katapult over USB */
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
	FAULT_LOST_FRAME,
	FAULT_NO_KATAPULT,
	FAULT_NO_RETURN,
	FAULT_BUS_OFF,
	FAULT_ERROR_PASSIVE,
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
	char value[64];   /* wrong-mcu=NAME, wrong-start=ADDR, lost-frame=K, error-passive=rx|tx */
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
	/* CAN and the bridge */
	const char *can_dir;
	const char *can_interface;
	const char *sys_dir;
	bool has_uuid;
	uint8_t uuid[6];
	int can_node_id;            /* -1: none */
	enum board_state can_start; /* --mode can: BOARD_KLIPPER or BOARD_KATAPULT */
};

struct sim;

/*
 * How the bootloader's byte stream travels between it and the host: on a
 * pty (USB CDC or a UART) or in CAN frames.
 */
struct sim_link {
	size_t rx_buffer; /* what the bootloader's receive buffer holds */
	bool host_waits;  /* USB: the host writes only while the buffer has room */
	/* A response leaves; @lose_frame: lose that CAN frame of it (1-based), 0 none. */
	void (*send)(struct sim *s, const uint8_t *data, size_t len, unsigned lose_frame);
	/* Whether output is still on its way (the jump after COMPLETE waits). */
	bool (*busy)(const struct sim *s);
};

/* The descriptors one round of the event loop waits on. */
struct poll_set {
	struct pollfd *p;
	size_t n, cap;
};

/* A client of the bus relay. */
struct bus_client {
	int fd;          /* -1 once gone (removed at the next round) */
	unsigned number; /* 1, 2, ... over the run, for the log */
	int poll;        /* index in this round's poll set, -1 none */
	struct pkt_queue out;
	bool overrun; /* a frame to it was lost and that was logged */
};

/* The relay: a listening SOCK_SEQPACKET socket and its clients (bus.c). */
struct bus {
	int fd; /* -1 while there is no bus */
	char *path;
	int poll;
	struct bus_client *clients;
	size_t nclients, cap;
	unsigned next_number;
};

/* A CAN node: the board of --mode can, or a bridge's own node (can.c). */
struct can_node {
	uint8_t uuid[6];
	char uuid_hex[13];
	uint32_t assigned_id; /* the receive id 0x100 + 2n; 0 = no node id */
	/* --mode can: the connection to the bus */
	char *path;
	int fd;
	int poll;
	bool ever_connected;
	uint64_t retry_at; /* when to try to connect again, 0 = connected */
	struct pkt_queue out;
	/* faults */
	bool bus_off;      /* nothing reaches or leaves the node any more */
	unsigned requests; /* REQUEST_BOOTLOADER commands for this node */
};

struct sim {
	struct sim_options opt;
	FILE *log;
	const struct sim_link *link; /* NULL in --mode bus */

	/* ---- what the board publishes (board.c) ---- */
	enum board_state state;
	int master;
	char slave[64];
	char *link_path; /* by-id link (USB) or the UART link */
	char *bypath;    /* by-path link (USB) */
	char *usbfs;     /* bus/usb/001/NNN */
	unsigned devnum; /* of usbfs */
	char *sysfs_dev; /* --sys-dir: bus/usb/devices/1-<port> */
	char *sysfs_net; /* --sys-dir, bridge: class/net/<iface> */
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

	/* ---- CAN (can.c, bus.c) ---- */
	struct can_node can;
	struct bus bus;

	/* ---- the bootloader (katapult.c) ---- */
	uint8_t in[RX_BUFFER_MAX];
	size_t in_len;
	bool need_sync, need_valid;
	size_t garbage; /* discarded bytes not yet logged */
	uint32_t page_write_count;
	bool session_stored;
	uint64_t image_end; /* one past the last written byte, 0 = none */
	uint8_t *flash;
	uint64_t complete_at; /* when the board jumps to the application */
	bool no_return;       /* and then never comes back (fault no-return) */
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
bool
board_has_fault(const struct sim *s, enum fault_kind kind);
int
board_write_ready(struct sim *s, const char *path);
void
board_request_bootloader(struct sim *s);

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

/* can.c */
extern const struct sim_link can_link;
uint64_t
can_fasthash64(const uint8_t *data, size_t len, uint64_t seed);
/* The UUID Klipper and Katapult derive from the chip id (the USB serial in hex). */
int
can_uuid_from_serial(const char *serial, uint8_t uuid[6]);
void
can_init(struct sim *s);
void
can_free(struct sim *s);
/* The node boots an application (BOARD_KLIPPER or BOARD_KATAPULT) or goes. */
void
can_node_boot(struct sim *s, enum board_state as);
void
can_node_reset(struct sim *s);
/* A frame from the bus reaches the node. */
void
can_receive(struct sim *s, const uint8_t *raw);
void
can_bus_off(struct sim *s);
void
can_error_passive(struct sim *s, bool rx);
void
can_prepare(struct sim *s, uint64_t now, struct poll_set *ps, uint64_t *deadline);
void
can_handle(struct sim *s, const struct poll_set *ps);
void
can_pkt_encode(const struct can_pkt *f, uint8_t *raw);
void
can_pkt_decode(const uint8_t *raw, struct can_pkt *f);

/* bus.c */
bool
pkt_queue_push(struct pkt_queue *q, const uint8_t *raw);
void
pkt_queue_pop(struct pkt_queue *q);
const uint8_t *
pkt_queue_front(const struct pkt_queue *q);
void
pkt_queue_clear(struct pkt_queue *q);
void
pkt_queue_free(struct pkt_queue *q);
char *
bus_socket_path(const struct sim_options *o);
int
bus_open(struct sim *s);
void
bus_close(struct sim *s);
void
bus_free(struct sim *s);
/* A frame from the bridge's own node to every client. */
void
bus_broadcast(struct sim *s, const uint8_t *raw);
void
bus_prepare(struct sim *s, struct poll_set *ps);
void
bus_handle(struct sim *s, const struct poll_set *ps);

/* speed.c */
int
tty_get_ospeed(int fd, unsigned *speed);
