/* SPDX-License-Identifier: MIT */
/*
 * The bootloader side of the simulated board: the frame parser, the
 * commands, the flash with its page erase rules, and the fault injection.
 * Written from the description of the Katapult protocol.
 *
 * The bootloader sees only a byte stream (struct sim_link): the same code
 * serves a board on a pty and a CAN node, which differ in their receive
 * buffer and in how a response leaves.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* The longest reply: REQUEST_BLOCK with the largest block, or CONNECT. */
#define REPLY_MAX (8 + 4 * 2 + SIM_BLOCK_MAX + 4 * 40)

struct reply {
	uint8_t type;
	uint8_t payload[REPLY_MAX];
	size_t len;    /* bytes of payload, a multiple of 4 */
	char text[96]; /* the log line after "tx " */
};

/* Which faults a command frame selected. */
struct selected {
	uint8_t cmd;
	unsigned nth; /* the Nth command of its name */
	struct fault *drop, *crc, *busy, *wrong_address, *bad_cell, *wrong_mcu, *wrong_start,
		*hangup, *lost_frame, *no_return, *bus_off, *error_passive;
};

static const struct {
	uint8_t cmd;
	const char *name;
} commands[] = {
	{ CMD_CONNECT, "CONNECT" },   { CMD_SEND_BLOCK, "SEND_BLOCK" },
	{ CMD_SEND_EOF, "SEND_EOF" }, { CMD_REQUEST_BLOCK, "REQUEST_BLOCK" },
	{ CMD_COMPLETE, "COMPLETE" }, { CMD_GET_CANBUS_ID, "GET_CANBUS_ID" },
};

static const char *const fault_names[] = {
	[FAULT_DROP] = "drop",
	[FAULT_CRC] = "crc",
	[FAULT_BUSY] = "busy",
	[FAULT_WRONG_ADDRESS] = "wrong-address",
	[FAULT_BAD_CELL] = "bad-cell",
	[FAULT_WRONG_MCU] = "wrong-mcu",
	[FAULT_WRONG_START] = "wrong-start",
	[FAULT_HANGUP] = "hangup",
	[FAULT_DFU] = "dfu",
	[FAULT_BOOTSEL] = "bootsel",
	[FAULT_LOST_FRAME] = "lost-frame",
	[FAULT_NO_KATAPULT] = "no-katapult",
	[FAULT_NO_RETURN] = "no-return",
	[FAULT_BUS_OFF] = "bus-off",
	[FAULT_ERROR_PASSIVE] = "error-passive",
};

const char *
command_name(uint8_t cmd)
{
	for (size_t i = 0; i < SIM_ARRAY_SIZE(commands); i++)
		if (commands[i].cmd == cmd)
			return commands[i].name;
	return "UNKNOWN";
}

int
command_from_name(const char *name, uint8_t *cmd)
{
	for (size_t i = 0; i < SIM_ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, name) == 0) {
			*cmd = commands[i].cmd;
			return 0;
		}
	}
	return -EINVAL;
}

/* 0 for unknown commands, 1.. for the known ones: the per-name counters. */
static unsigned
command_index(uint8_t cmd)
{
	for (size_t i = 0; i < SIM_ARRAY_SIZE(commands); i++)
		if (commands[i].cmd == cmd)
			return (unsigned)i + 1;
	return 0;
}

const char *
fault_kind_name(enum fault_kind kind)
{
	return fault_names[kind];
}

int
fault_kind_from_name(const char *name, enum fault_kind *kind)
{
	for (size_t i = 0; i < SIM_ARRAY_SIZE(fault_names); i++) {
		if (strcmp(fault_names[i], name) == 0) {
			*kind = (enum fault_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * CRC-16/MCRF4XX (reflected 0x1021, init 0xffff, no final xor), in the
 * byte-wise form the device uses.
 */
static uint16_t
crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;

	while (n--) {
		uint8_t d = *p++ ^ (uint8_t)(crc & 0xff);

		d ^= (uint8_t)(d << 4);
		crc = (uint16_t)(((uint16_t)d << 8 | crc >> 8) ^ (d >> 4) ^ ((uint16_t)d << 3));
	}
	return crc;
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
reply_word(struct reply *r, uint32_t v)
{
	r->payload[r->len++] = (uint8_t)v;
	r->payload[r->len++] = (uint8_t)(v >> 8);
	r->payload[r->len++] = (uint8_t)(v >> 16);
	r->payload[r->len++] = (uint8_t)(v >> 24);
}

/* A string in whole words, NUL padded; no word at all for "". */
static void
reply_string(struct reply *r, const char *str)
{
	size_t n = strlen(str);
	size_t words = (n + 3) / 4;

	memset(r->payload + r->len, 0, words * 4);
	memcpy(r->payload + r->len, str, n);
	r->len += words * 4;
}

static void
reply_ack(struct reply *r, uint8_t cmd)
{
	r->type = RESP_ACK;
	r->len = 0;
	reply_word(r, cmd);
}

static void
reply_error(struct reply *r, uint8_t cmd, const char *reason)
{
	r->type = RESP_ERROR;
	r->len = 0;
	snprintf(r->text, sizeof(r->text), "ERROR %s %s", command_name(cmd), reason);
}

/* @lose_frame: a CAN frame of the response to lose (1-based, 0 none). */
static void
send_frame(struct sim *s,
	   uint8_t type,
	   const uint8_t *payload,
	   size_t len,
	   bool bad_crc,
	   unsigned lose_frame)
{
	uint8_t frame[8 + REPLY_MAX];
	uint16_t crc;

	frame[0] = FRAME_STX1;
	frame[1] = FRAME_STX2;
	frame[2] = type;
	frame[3] = (uint8_t)(len / 4);
	if (len)
		memcpy(frame + 4, payload, len);
	crc = crc16(frame + 2, len + 2);
	if (bad_crc)
		crc ^= 0x5a5a;
	frame[4 + len] = (uint8_t)(crc & 0xff);
	frame[5 + len] = (uint8_t)(crc >> 8);
	frame[6 + len] = FRAME_SYNC2;
	frame[7 + len] = FRAME_SYNC;
	s->link->send(s, frame, len + 8, lose_frame);
}

static void
log_fault(struct sim *s, const struct fault *f, const struct selected *sel)
{
	sim_log(s, "fault %s %s#%u", fault_kind_name(f->kind), command_name(sel->cmd), sel->nth);
}

/* ---- flash ---- */

static uint64_t
flash_end(const struct sim *s)
{
	return (uint64_t)s->opt.flash_start + s->opt.flash_size;
}

static uint8_t *
flash_at(struct sim *s, uint32_t addr)
{
	return s->flash + (addr - s->opt.flash_start);
}

static bool
erased(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/*
 * The board's flash when the simulator starts: a bootloader below the
 * application start and the previous firmware (2 KiB) at it; the rest is
 * erased. A block written into old data without erasing its page first is
 * refused as out of order, as on the real device.
 */
int
flash_init(struct sim *s)
{
	uint32_t x = 0x2545f491;
	size_t boot = s->opt.app_start - s->opt.flash_start;
	size_t old = s->opt.flash_size - boot < 2048 ? s->opt.flash_size - boot : 2048;

	s->flash = malloc(s->opt.flash_size);
	if (!s->flash)
		return -ENOMEM;
	memset(s->flash, 0xff, s->opt.flash_size);
	for (size_t i = 0; i < boot + old; i++) {
		x = x * 1103515245u + 12345u;
		s->flash[i] = (uint8_t)(x >> 16);
	}
	if (old >= 8) {
		/* an initial stack pointer and a reset vector */
		static const uint8_t vectors[8] = {
			0x00, 0x00, 0x02, 0x20, 0xd1, 0x01, 0x00, 0x08
		};

		memcpy(s->flash + boot, vectors, sizeof(vectors));
	}
	return 0;
}

int
image_write(struct sim *s)
{
	size_t len = 0;

	if (!s->opt.image)
		return 0;
	if (s->image_end > s->opt.app_start)
		len = (size_t)(s->image_end - s->opt.app_start);
	return sim_write_file_atomic(s->opt.image, flash_at(s, s->opt.app_start), len);
}

/* ---- faults ---- */

/* splitmix64 */
static uint64_t
rng_next(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static bool
fault_selects(struct sim *s, struct fault *f, uint8_t cmd, unsigned number, unsigned nth)
{
	switch (f->when) {
	case WHEN_NUMBER:
		return number == f->n;
	case WHEN_NAME:
		return cmd == f->cmd;
	case WHEN_NAME_NTH:
		return cmd == f->cmd && nth == f->n;
	case WHEN_PERCENT:
		return rng_next(s) % 100 < f->percent;
	case WHEN_DEFAULT:
		break;
	}
	switch (f->kind) {
	case FAULT_DROP:
	case FAULT_CRC:
	case FAULT_BUSY:
	case FAULT_WRONG_ADDRESS:
	case FAULT_LOST_FRAME:
	case FAULT_BUS_OFF:
	case FAULT_ERROR_PASSIVE:
		return cmd == CMD_SEND_BLOCK && nth == 1;
	case FAULT_NO_RETURN:
		return cmd == CMD_COMPLETE;
	case FAULT_BAD_CELL:
		return cmd == CMD_SEND_BLOCK && !f->fired;
	case FAULT_HANGUP:
		return number == 10;
	case FAULT_WRONG_MCU:
	case FAULT_WRONG_START:
		return cmd == CMD_CONNECT;
	case FAULT_DFU:
	case FAULT_BOOTSEL:
	case FAULT_NO_KATAPULT:
		break;
	}
	return false;
}

static void
select_faults(struct sim *s, struct selected *sel, unsigned number)
{
	for (unsigned i = 0; i < s->opt.nfaults; i++) {
		struct fault *f = &s->opt.faults[i];
		struct fault **slot = NULL;

		if (!fault_selects(s, f, sel->cmd, number, sel->nth))
			continue;
		switch (f->kind) {
		case FAULT_DROP:
			slot = &sel->drop;
			break;
		case FAULT_CRC:
			slot = &sel->crc;
			break;
		case FAULT_BUSY:
			slot = &sel->busy;
			break;
		case FAULT_WRONG_ADDRESS:
			slot = &sel->wrong_address;
			break;
		case FAULT_BAD_CELL:
			slot = &sel->bad_cell;
			break;
		case FAULT_WRONG_MCU:
			slot = &sel->wrong_mcu;
			break;
		case FAULT_WRONG_START:
			slot = &sel->wrong_start;
			break;
		case FAULT_HANGUP:
			slot = &sel->hangup;
			break;
		case FAULT_LOST_FRAME:
			slot = &sel->lost_frame;
			break;
		case FAULT_NO_RETURN:
			slot = &sel->no_return;
			break;
		case FAULT_BUS_OFF:
			slot = &sel->bus_off;
			break;
		case FAULT_ERROR_PASSIVE:
			slot = &sel->error_passive;
			break;
		case FAULT_DFU:
		case FAULT_BOOTSEL:
		case FAULT_NO_KATAPULT:
			break;
		}
		if (slot && !*slot)
			*slot = f;
	}
}

/* ---- commands ---- */

static void
cmd_connect(struct sim *s, const struct selected *sel, struct reply *r)
{
	const char *mcu = s->opt.mcu;
	uint32_t start = s->opt.app_start;

	if (sel->wrong_mcu) {
		log_fault(s, sel->wrong_mcu, sel);
		mcu = sel->wrong_mcu->value[0] ? sel->wrong_mcu->value : "stm32f103xe";
	}
	if (sel->wrong_start) {
		log_fault(s, sel->wrong_start, sel);
		start = sel->wrong_start->value[0]
				? (uint32_t)strtoul(sel->wrong_start->value, NULL, 0)
				: s->opt.app_start + 0x2000;
	}
	reply_ack(r, CMD_CONNECT);
	reply_word(r, s->opt.protocol);
	reply_word(r, start);
	reply_word(r, s->opt.block_size);
	reply_string(r, mcu);
	if (s->opt.protocol >= PROTO_1_1) {
		/* a full zero word separates the MCU from the version */
		reply_word(r, 0);
		reply_string(r, s->opt.version);
	}
	snprintf(r->text, sizeof(r->text), "ACK CONNECT");
}

static void
stored(struct sim *s, uint32_t addr)
{
	uint64_t end = (uint64_t)addr + s->opt.block_size;

	/* The image is what this session wrote: forget an earlier one. */
	if (!s->session_stored) {
		s->session_stored = true;
		s->image_end = 0;
	}
	if (end > s->image_end)
		s->image_end = end;
}

/*
 * Write a block with the device's erase rules: the block at a page start
 * erases the page unless the page is erased already or holds exactly this
 * block with the rest erased (a retransmission); a block inside a page must
 * land on erased flash, or repeat what is there (a retransmission).
 */
static void
cmd_send_block(struct sim *s,
	       const struct selected *sel,
	       const uint8_t *payload,
	       unsigned nwords,
	       struct reply *r)
{
	const uint32_t bs = s->opt.block_size;
	uint32_t addr, page;
	const uint8_t *data = payload + 4;
	uint8_t *cell;

	if (nwords != bs / 4 + 1) {
		reply_error(r, CMD_SEND_BLOCK, "args");
		return;
	}
	addr = get_le32(payload);
	if (addr < s->opt.app_start || addr % bs) {
		reply_error(r, CMD_SEND_BLOCK, "address");
		return;
	}
	if ((uint64_t)addr + bs > flash_end(s)) {
		reply_error(r, CMD_SEND_BLOCK, "write");
		return;
	}

	cell = flash_at(s, addr);
	page = addr - (addr - s->opt.flash_start) % s->opt.page_size;
	if (page == addr) {
		bool need_erase = false;

		if (erased(cell, s->opt.page_size)) {
			/* nothing to erase */
		} else if (memcmp(cell, data, bs) == 0 &&
			   erased(cell + bs, s->opt.page_size - bs)) {
			goto ack; /* retransmission */
		} else {
			need_erase = true;
		}
		s->page_write_count++;
		if (need_erase)
			memset(cell, 0xff, s->opt.page_size);
	} else if (!erased(cell, bs)) {
		if (memcmp(cell, data, bs) != 0) {
			reply_error(r, CMD_SEND_BLOCK, "order");
			return;
		}
		goto ack; /* retransmission */
	}

	/* Programming clears bits; the cells are erased, so this stores data. */
	for (uint32_t i = 0; i < bs; i++)
		cell[i] &= data[i];
	if (sel->bad_cell) {
		log_fault(s, sel->bad_cell, sel);
		cell[bs / 2 + 1] ^= 0x10;
		sel->bad_cell->fired = true;
	}

ack:
	stored(s, addr);
	reply_ack(r, CMD_SEND_BLOCK);
	if (sel->wrong_address) {
		log_fault(s, sel->wrong_address, sel);
		addr += bs;
	}
	reply_word(r, addr);
	snprintf(r->text, sizeof(r->text), "ACK SEND_BLOCK 0x%x", addr);
}

static void
cmd_send_eof(struct sim *s, struct reply *r)
{
	reply_ack(r, CMD_SEND_EOF);
	reply_word(r, s->page_write_count);
	snprintf(r->text, sizeof(r->text), "ACK SEND_EOF pages=%u", s->page_write_count);
	image_write(s);
}

/* Any address: flash reads as flash, anything else as zeros. */
static void
cmd_request_block(struct sim *s,
		  const struct selected *sel,
		  const uint8_t *payload,
		  unsigned nwords,
		  struct reply *r)
{
	const uint32_t bs = s->opt.block_size;
	uint32_t addr, echo;

	if (nwords < 1) {
		reply_error(r, CMD_REQUEST_BLOCK, "args");
		return;
	}
	addr = get_le32(payload);
	echo = addr;
	if (sel->wrong_address) {
		log_fault(s, sel->wrong_address, sel);
		echo = addr + bs;
	}
	reply_ack(r, CMD_REQUEST_BLOCK);
	reply_word(r, echo);
	for (uint32_t i = 0; i < bs; i++) {
		uint64_t a = (uint64_t)addr + i;
		bool in_flash = a >= s->opt.flash_start && a < flash_end(s);

		r->payload[r->len++] = in_flash ? s->flash[a - s->opt.flash_start] : 0;
	}
	snprintf(r->text, sizeof(r->text), "ACK REQUEST_BLOCK 0x%x", echo);
}

/* The device ACKs, then jumps to the application 100 ms later. */
static void
cmd_complete(struct sim *s, const struct selected *sel, struct reply *r)
{
	reply_ack(r, CMD_COMPLETE);
	snprintf(r->text, sizeof(r->text), "ACK COMPLETE");
	s->complete_at = sim_now() + 100000000u;
	if (sel->no_return) {
		log_fault(s, sel->no_return, sel);
		s->no_return = true;
	}
	image_write(s);
}

/* A CAN build answers its UUID and two zero bytes. */
static void
cmd_get_canbus_id(struct sim *s, struct reply *r)
{
	reply_ack(r, CMD_GET_CANBUS_ID);
	memcpy(r->payload + r->len, s->can.uuid, 6);
	memset(r->payload + r->len + 6, 0, 2);
	r->len += 8;
	snprintf(r->text, sizeof(r->text), "ACK GET_CANBUS_ID %s", s->can.uuid_hex);
}

/* lost-frame[=K]: the Kth CAN frame of the response, by default the last. */
static unsigned
lost_frame_index(const struct fault *f)
{
	if (!f)
		return 0;
	if (!f->value[0])
		return UINT_MAX;
	return (unsigned)strtoul(f->value, NULL, 10);
}

static void
dispatch(struct sim *s, const uint8_t *frame)
{
	struct selected sel = { .cmd = frame[2] };
	const uint8_t *payload = frame + 4;
	unsigned nwords = frame[3];
	unsigned number = ++s->commands;
	struct reply r = { 0 };

	sel.nth = ++s->per_name[command_index(sel.cmd)];
	if (!command_index(sel.cmd))
		sim_log(s, "rx UNKNOWN 0x%02x", sel.cmd);
	else if ((sel.cmd == CMD_SEND_BLOCK || sel.cmd == CMD_REQUEST_BLOCK) && nwords >= 1)
		sim_log(s, "rx %s 0x%x", command_name(sel.cmd), get_le32(payload));
	else
		sim_log(s, "rx %s", command_name(sel.cmd));

	select_faults(s, &sel, number);
	if (sel.hangup) {
		log_fault(s, sel.hangup, &sel);
		board_hangup(s);
		return;
	}
	if (sel.bus_off) {
		/* the command never got through: nothing reaches the node any more */
		log_fault(s, sel.bus_off, &sel);
		can_bus_off(s);
		return;
	}
	if (sel.error_passive) {
		log_fault(s, sel.error_passive, &sel);
		can_error_passive(s, strcmp(sel.error_passive->value, "rx") == 0);
	}

	if (sel.busy) {
		log_fault(s, sel.busy, &sel);
		r.type = RESP_BUSY;
		snprintf(r.text, sizeof(r.text), "BUSY %s", command_name(sel.cmd));
	} else {
		switch (sel.cmd) {
		case CMD_CONNECT:
			cmd_connect(s, &sel, &r);
			break;
		case CMD_SEND_BLOCK:
			cmd_send_block(s, &sel, payload, nwords, &r);
			break;
		case CMD_SEND_EOF:
			cmd_send_eof(s, &r);
			break;
		case CMD_REQUEST_BLOCK:
			cmd_request_block(s, &sel, payload, nwords, &r);
			break;
		case CMD_COMPLETE:
			cmd_complete(s, &sel, &r);
			break;
		case CMD_GET_CANBUS_ID:
			if (s->opt.mode == SIM_MODE_CAN) {
				cmd_get_canbus_id(s, &r);
				break;
			}
			/* a serial build has no CAN id */
			reply_error(&r, sel.cmd, "unknown");
			break;
		default:
			reply_error(&r, sel.cmd, "unknown");
			break;
		}
	}

	if (sel.drop) {
		log_fault(s, sel.drop, &sel);
		return;
	}
	if (sel.crc)
		log_fault(s, sel.crc, &sel);
	if (sel.lost_frame)
		log_fault(s, sel.lost_frame, &sel);
	sim_log(s, "tx %s", r.text);
	send_frame(s, r.type, r.payload, r.len, sel.crc != NULL, lost_frame_index(sel.lost_frame));
}

/* ---- the parser ---- */

void
katapult_flush_garbage(struct sim *s)
{
	if (!s->garbage)
		return;
	sim_log(s, "rx garbage %zu", s->garbage);
	s->garbage = 0;
}

void
katapult_reset(struct sim *s)
{
	katapult_flush_garbage(s);
	s->in_len = 0;
	s->need_sync = false;
	s->need_valid = false;
	s->page_write_count = 0;
	s->session_stored = false;
	s->complete_at = 0;
}

static void
consume(struct sim *s, size_t n)
{
	memmove(s->in, s->in + n, s->in_len - n);
	s->in_len -= n;
}

/* Whether the buffer starts with a complete valid frame: its length, 0 to
 * wait for more bytes, -1 when it is not a frame. */
static int
frame_at_start(const struct sim *s)
{
	const uint8_t *b = s->in;
	size_t len;

	if (s->in_len < FRAME_MIN)
		return 0;
	if (b[0] != FRAME_STX1 || b[1] != FRAME_STX2)
		return -1;
	len = (size_t)b[3] * 4 + 8;
	if (len > FRAME_MAX)
		return -1;
	if (s->in_len < len)
		return 0;
	if (b[len - 2] != FRAME_SYNC2 || b[len - 1] != FRAME_SYNC)
		return -1;
	if (crc16(b + 2, len - 6) != (uint16_t)(b[len - 4] | b[len - 3] << 8))
		return -1;
	return (int)len;
}

/*
 * The device's parser: a valid frame is dispatched; anything else is
 * discarded up to the next 0x01, and one NACK answers each such burst
 * (until the next valid frame).
 */
static void
parse(struct sim *s)
{
	while (s->in_len && s->state == BOARD_KATAPULT) {
		size_t from = 0, pop;
		uint8_t *next;
		int len;

		if (!s->need_sync) {
			len = frame_at_start(s);
			if (len == 0)
				return;
			if (len > 0) {
				s->need_valid = false;
				katapult_flush_garbage(s);
				dispatch(s, s->in);
				if (s->state != BOARD_KATAPULT)
					return;
				consume(s, (size_t)len);
				continue;
			}
			/* not a frame: skip at least its first byte */
			s->need_sync = true;
			from = 1;
		}
		next = memchr(s->in + from, FRAME_STX1, s->in_len - from);
		if (next) {
			s->need_sync = false;
			pop = (size_t)(next - s->in);
		} else {
			pop = s->in_len;
		}
		s->garbage += pop;
		consume(s, pop);
		if (!s->need_valid) {
			s->need_valid = true;
			katapult_flush_garbage(s);
			sim_log(s, "tx NACK");
			send_frame(s, RESP_NACK, NULL, 0, false, 0);
		}
	}
}

size_t
katapult_rx_room(const struct sim *s)
{
	return s->link->rx_buffer - s->in_len;
}

void
katapult_input(struct sim *s, const uint8_t *data, size_t len)
{
	size_t capacity = s->link->rx_buffer;

	while (len && s->state == BOARD_KATAPULT) {
		/* A frame is at most FRAME_MAX bytes: parsing always makes room. */
		size_t n = capacity - s->in_len;

		if (n > len)
			n = len;
		memcpy(s->in + s->in_len, data, n);
		s->in_len += n;
		data += n;
		len -= n;
		parse(s);
	}
	if (s->state != BOARD_KATAPULT)
		s->in_len = 0;
}

/* Discarded bytes are logged when the line goes quiet. */
void
katapult_idle(struct sim *s, uint64_t now)
{
	if (s->garbage && now - s->last_rx_at >= 20000000u)
		katapult_flush_garbage(s);
}
