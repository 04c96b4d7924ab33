/* SPDX-License-Identifier: MIT */
/*
 * Tests of kflash-sim, the Katapult device simulator, through a scripted
 * client. The client's frame encoder, CRC and parser are written here from
 * the protocol description, independently of the simulator's own code, so
 * that a mistake on one side cannot hide on the other.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kf-test.h"
#include "test-sim-tty.h"

#define SIM_ARRAY_MAX 60
#define TIMEOUT_MS 5000 /* generous: it only catches hangs */
#define QUIET_MS 300    /* how long "no response" is watched */
#define APP 0x8008000u
#define BLOCK 64u
#define PAGE 16384u
#define MCU "stm32f446xx"
#define SERIAL "1A2B3C4D5E6F708192A3B4C5"

#define CONNECT 0x11
#define SEND_BLOCK 0x12
#define SEND_EOF 0x13
#define REQUEST_BLOCK 0x14
#define COMPLETE 0x15
#define GET_CANBUS_ID 0x16
#define ACK 0xa0
#define NACK 0xf1
#define ERROR 0xf2
#define BUSY 0xf3

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the client's frame code ---- */

/* CRC-16/MCRF4XX bit by bit: reflected polynomial 0x8408, init 0xffff. */
static uint16_t
client_crc(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Frame @cmd around @len payload bytes (a multiple of 4); the frame's length. */
static size_t
encode(uint8_t *buf, uint8_t cmd, const void *payload, size_t len)
{
	uint16_t crc;

	buf[0] = 0x01;
	buf[1] = 0x88;
	buf[2] = cmd;
	buf[3] = (uint8_t)(len / 4);
	if (len)
		memcpy(buf + 4, payload, len);
	crc = client_crc(buf + 2, len + 2);
	buf[4 + len] = (uint8_t)(crc & 0xff);
	buf[5 + len] = (uint8_t)(crc >> 8);
	buf[6 + len] = 0x99;
	buf[7 + len] = 0x03;
	return len + 8;
}

static bool
bytes_eq_hex(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[512];
	size_t len = 0;

	for (const char *p = hex; *p;) {
		unsigned v;

		if (*p == ' ' || *p == '|') {
			p++;
			continue;
		}
		ck_assert(sscanf(p, "%2x", &v) == 1);
		ck_assert(len < sizeof(want));
		want[len++] = (uint8_t)v;
		p += 2;
	}
	return len == n && memcmp(got, want, n) == 0;
}

static const char *
hex(const uint8_t *p, size_t n)
{
	static char buf[4096];
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && at + 4 < sizeof(buf); i++)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%02x", i ? " " : "", p[i]);
	return buf;
}

struct frame {
	uint8_t raw[1200];
	size_t len;     /* the whole frame */
	size_t skipped; /* bytes before it that were not a frame */
	uint8_t type;
	const uint8_t *payload;
	size_t payload_len;
	bool crc_ok;
};

static void
write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			ck_assert_int_ge(poll(&pfd, 1, TIMEOUT_MS), 0);
			continue;
		}
		ck_assert_msg(k > 0, "write to the port: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* Exactly @n bytes before @deadline; false on a timeout or a hangup. */
static bool
read_full(int fd, uint8_t *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t k;
		int r;

		if (now >= deadline)
			return false;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		k = read(fd, buf + got, n - got);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0 || (errno != EAGAIN && errno != EINTR))
			return false;
	}
	return true;
}

/*
 * The next frame within @timeout_ms, parsed by its length byte (0x99 0x03
 * may occur inside block data): 1 with a good CRC, 0 with a bad one, -1
 * when no frame came.
 */
static int
recv_frame(int fd, struct frame *f, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	bool after_stx1 = false;
	uint8_t b;
	size_t n;

	memset(f, 0, sizeof(*f));
	for (;;) {
		if (!read_full(fd, &b, 1, deadline))
			return -1;
		if (after_stx1 && b == 0x88)
			break;
		if (after_stx1)
			f->skipped++; /* that 0x01 was not a frame's */
		after_stx1 = b == 0x01;
		if (!after_stx1)
			f->skipped++;
	}
	f->raw[0] = 0x01;
	f->raw[1] = 0x88;
	if (!read_full(fd, f->raw + 2, 2, deadline))
		return -1;
	n = (size_t)f->raw[3] * 4;
	if (!read_full(fd, f->raw + 4, n + 4, deadline))
		return -1;
	f->len = n + 8;
	f->type = f->raw[2];
	f->payload = f->raw + 4;
	f->payload_len = n;
	ck_assert_msg(f->raw[n + 6] == 0x99 && f->raw[n + 7] == 0x03, "bad trailer in %s",
		      hex(f->raw, f->len));
	f->crc_ok = client_crc(f->raw + 2, n + 2) == (f->raw[n + 4] | f->raw[n + 5] << 8);
	return f->crc_ok ? 1 : 0;
}

static void
client_send(int fd, uint8_t cmd, const void *payload, size_t len)
{
	uint8_t buf[1200];

	write_all(fd, buf, encode(buf, cmd, payload, len));
}

/* A command whose well-formed response must come. */
static void
transact(int fd, uint8_t cmd, const void *payload, size_t len, struct frame *f)
{
	client_send(fd, cmd, payload, len);
	ck_assert_msg(recv_frame(fd, f, TIMEOUT_MS) == 1, "no valid response to command 0x%02x",
		      cmd);
	ck_assert_msg(f->skipped == 0, "%zu stray bytes before a response", f->skipped);
}

static void
expect_ack(const struct frame *f, uint8_t cmd)
{
	ck_assert_msg(f->type == ACK, "expected an ACK of 0x%02x, got %s", cmd,
		      hex(f->raw, f->len));
	ck_assert_uint_ge(f->payload_len, 4);
	ck_assert_uint_eq(get32(f->payload), cmd);
}

static void
expect_type(const struct frame *f, uint8_t type)
{
	ck_assert_msg(f->type == type && f->payload_len == 0, "expected a bare 0x%02x, got %s",
		      type, hex(f->raw, f->len));
}

/* No byte at all arrives for a while. */
static void
expect_quiet(int fd)
{
	uint8_t b;
	bool got = read_full(fd, &b, 1, now_ms() + QUIET_MS);

	ck_assert_msg(!got, "unexpected byte 0x%02x from the simulator", b);
}

static void
send_block(int fd, uint32_t addr, const uint8_t *data, struct frame *f)
{
	uint8_t payload[4 + BLOCK];

	put32(payload, addr);
	memcpy(payload + 4, data, BLOCK);
	transact(fd, SEND_BLOCK, payload, sizeof(payload), f);
}

static void
write_block(int fd, uint32_t addr, const uint8_t *data)
{
	struct frame f;

	send_block(fd, addr, data, &f);
	expect_ack(&f, SEND_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
}

static void
request_block(int fd, uint32_t addr, struct frame *f)
{
	uint8_t payload[4];

	put32(payload, addr);
	transact(fd, REQUEST_BLOCK, payload, sizeof(payload), f);
}

/* The block at @addr, read back. */
static void
read_block(int fd, uint32_t addr, uint8_t *out)
{
	struct frame f;

	request_block(fd, addr, &f);
	expect_ack(&f, REQUEST_BLOCK);
	ck_assert_uint_eq(f.payload_len, 8 + BLOCK);
	ck_assert_uint_eq(get32(f.payload + 4), addr);
	memcpy(out, f.payload + 8, BLOCK);
}

static uint32_t
send_eof(int fd)
{
	struct frame f;

	transact(fd, SEND_EOF, NULL, 0, &f);
	expect_ack(&f, SEND_EOF);
	ck_assert_uint_eq(f.payload_len, 8);
	return get32(f.payload + 4);
}

static void
send_complete(int fd)
{
	struct frame f;

	transact(fd, COMPLETE, NULL, 0, &f);
	expect_ack(&f, COMPLETE);
	ck_assert_uint_eq(f.payload_len, 4);
}

struct connect_info {
	uint32_t proto, start, block;
	char mcu[64];
	char version[64];
	bool has_version;
};

static void
parse_connect(const struct frame *f, struct connect_info *ci)
{
	const uint8_t *p = f->payload + 16, *end = f->payload + f->payload_len;
	size_t n;

	memset(ci, 0, sizeof(*ci));
	expect_ack(f, CONNECT);
	ck_assert_uint_ge(f->payload_len, 20);
	ci->proto = get32(f->payload + 4);
	ci->start = get32(f->payload + 8);
	ci->block = get32(f->payload + 12);
	while (end > p && end[-1] == 0)
		end--;
	n = strnlen((const char *)p, (size_t)(end - p));
	ck_assert_uint_lt(n, sizeof(ci->mcu));
	memcpy(ci->mcu, p, n);
	p += n;
	if (ci->proto >= 0x00010100) {
		while (p < end && *p == 0)
			p++;
		ck_assert_uint_lt((size_t)(end - p), sizeof(ci->version));
		memcpy(ci->version, p, (size_t)(end - p));
		ci->has_version = true;
	} else {
		ck_assert_msg(p == end, "bytes after the MCU in a protocol 1.0 CONNECT");
	}
}

static void
client_connect(int fd, struct connect_info *ci)
{
	struct frame f;

	transact(fd, CONNECT, NULL, 0, &f);
	parse_connect(&f, ci);
}

/* Deterministic image bytes. */
static uint8_t *
make_image(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	ck_assert(p != NULL);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

/* @data as the host sends it: whole blocks, the last padded with 0xff. */
static uint8_t *
pad_image(const uint8_t *data, size_t n, size_t *padded)
{
	size_t len = (n + BLOCK - 1) / BLOCK * BLOCK;
	uint8_t *p = malloc(len ? len : 1);

	ck_assert(p != NULL);
	memset(p, 0xff, len);
	memcpy(p, data, n);
	*padded = len;
	return p;
}

static void
flash_image(int fd, const uint8_t *padded, size_t len, uint32_t start)
{
	for (size_t off = 0; off < len; off += BLOCK)
		write_block(fd, start + (uint32_t)off, padded + off);
}

static void
verify_image(int fd, const uint8_t *padded, size_t len, uint32_t start)
{
	uint8_t got[BLOCK];

	for (size_t off = 0; off < len; off += BLOCK) {
		read_block(fd, start + (uint32_t)off, got);
		ck_assert_msg(memcmp(got, padded + off, BLOCK) == 0, "block 0x%x differs",
			      start + (unsigned)off);
	}
}

/* ---- the simulator process ---- */

struct sim {
	pid_t pid;
	char *dir;
	char *dev;
	char *log;
	char *image;
	char *ready;
	char *path; /* what the ready file names */
};

/* A simulator that a failed test left behind (CK_FORK=no). */
static struct sim *leftover;

static char *
strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert(r >= 0);
	return s;
}

static const char *
sim_bin(void)
{
	const char *bin = getenv("KF_SIM_BIN");

	ck_assert_msg(bin != NULL, "KF_SIM_BIN is not set (run the tests with meson test)");
	return bin;
}

static void
sim_free(struct sim *s)
{
	kf_test_rmtree(s->dir);
	free(s->dir);
	free(s->dev);
	free(s->log);
	free(s->image);
	free(s->ready);
	free(s->path);
	free(s);
}

static pid_t
spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The simulator cleans up and goes when the test dies. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Start the simulator with the common outputs and @extra options. */
static struct sim *
sim_start_v(const char *const *extra)
{
	const char *argv[64];
	struct sim *s = calloc(1, sizeof(*s));
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	size_t n = 0;
	char *ready;

	if (leftover) {
		kill(leftover->pid, SIGKILL);
		waitpid(leftover->pid, NULL, 0);
		leftover = NULL;
	}
	ck_assert(s != NULL);
	s->dir = kf_test_mkdtemp();
	s->dev = strf("%s/dev", s->dir);
	s->log = strf("%s/sim.log", s->dir);
	s->image = strf("%s/image.bin", s->dir);
	s->ready = strf("%s/ready", s->dir);

	argv[n++] = sim_bin();
	argv[n++] = "--dev-dir";
	argv[n++] = s->dev;
	argv[n++] = "--log";
	argv[n++] = s->log;
	argv[n++] = "--image";
	argv[n++] = s->image;
	argv[n++] = "--ready-file";
	argv[n++] = s->ready;
	argv[n++] = "--reenumerate-ms";
	argv[n++] = "20";
	for (; *extra; extra++) {
		ck_assert(n < SIM_ARRAY_MAX);
		argv[n++] = *extra;
	}
	argv[n] = NULL;

	s->pid = spawn(argv, -1, -1);
	leftover = s;
	while (!(ready = kf_test_read_file(s->ready))) {
		int status;

		ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0,
			      "the simulator exited before it was ready (status %d)", status);
		ck_assert_msg(now_ms() < deadline, "the simulator did not get ready");
		sleep_ms(2);
	}
	ck_assert_msg(strlen(ready) > 1 && ready[strlen(ready) - 1] == '\n', "ready file '%s'",
		      ready);
	ready[strlen(ready) - 1] = '\0';
	s->path = ready;
	return s;
}

#define sim_start(...) sim_start_v((const char *const[]){ __VA_ARGS__, NULL })

/* Stop with @sig and return the exit status; the simulator must exit. */
static int
sim_stop_with(struct sim *s, int sig)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	int status = 0;

	ck_assert_int_eq(kill(s->pid, sig), 0);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			ck_abort_msg("the simulator did not exit on signal %d", sig);
		}
		sleep_ms(2);
	}
	leftover = NULL;
	ck_assert_msg(WIFEXITED(status), "the simulator died (status 0x%x)", status);
	return WEXITSTATUS(status);
}

static void
sim_stop(struct sim *s)
{
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	sim_free(s);
}

static char *
sim_link(struct sim *s, const char *name)
{
	return strf("%s/serial/by-id/usb-%s_%s_%s-if00", s->dev, name, MCU, SERIAL);
}

/* The same, for a caller that does not free it (kept with the sim). */
static const char *
sim_link_path(struct sim *s, const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/serial/by-id/usb-%s_%s_%s-if00", s->dev, name, MCU, SERIAL);
	return buf;
}

static char *
sim_bypath(struct sim *s)
{
	return strf("%s/serial/by-path/platform-sim-usb-0:1.2:1.0", s->dev);
}

static char *
sim_usbfs(struct sim *s, unsigned devnum)
{
	return strf("%s/bus/usb/001/%03u", s->dev, devnum);
}

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static char *
sim_log_text(struct sim *s)
{
	char *text = kf_test_read_file(s->log);

	return text ? text : strdup("");
}

/* Wait for the exact line in the log. */
static bool
sim_log_wait(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool
sim_log_wait(struct sim *s, const char *fmt, ...)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	va_list ap;
	char *line;
	bool found;

	va_start(ap, fmt);
	ck_assert(vasprintf(&line, fmt, ap) >= 0);
	va_end(ap);
	for (;;) {
		char *text = sim_log_text(s);

		found = has_line(text, line);
		free(text);
		if (found || now_ms() > deadline)
			break;
		sleep_ms(2);
	}
	if (!found) {
		char *text = sim_log_text(s);

		fprintf(stderr, "log line '%s' missing; the log:\n%s", line, text);
		free(text);
	}
	free(line);
	return found;
}

#define assert_log(s, ...) ck_assert_msg(sim_log_wait(s, __VA_ARGS__), "missing log line")

/* How often the exact line is in the log. */
static int
sim_log_lines(struct sim *s, const char *line)
{
	char *text = sim_log_text(s);
	size_t n = strlen(line);
	int count = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			count++;
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return count;
}

/* Wait until the exact line is in the log @count times. */
static void
assert_log_count(struct sim *s, int count, const char *line)
{
	uint64_t deadline = now_ms() + TIMEOUT_MS;

	while (sim_log_lines(s, line) < count && now_ms() < deadline)
		sleep_ms(2);
	ck_assert_msg(sim_log_lines(s, line) == count, "'%s' is in the log %d times, not %d", line,
		      sim_log_lines(s, line), count);
}

/* Lines that start with @prefix. */
static int
sim_log_count(struct sim *s, const char *prefix)
{
	char *text = sim_log_text(s);
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return n;
}

/* The sum of N over the "rx garbage N" lines. */
static unsigned
sim_log_garbage(struct sim *s)
{
	char *text = sim_log_text(s);
	unsigned sum = 0;

	for (const char *p = text; (p = strstr(p, "rx garbage ")); p++)
		sum += (unsigned)strtoul(p + strlen("rx garbage "), NULL, 10);
	free(text);
	return sum;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *
link_target(const char *path)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* @path is a link to a pty slave; returns the slave. */
static char *
assert_pty_link(const char *path)
{
	char *target = link_target(path);
	struct stat st;

	ck_assert_msg(target != NULL, "%s is not a link", path);
	ck_assert_msg(strncmp(target, "/dev/pts/", 9) == 0, "%s points to %s", path, target);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	return target;
}

static void
assert_usbfs(const char *path, uint16_t vid, uint16_t pid)
{
	uint8_t d[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_msg(fd >= 0, "no usbfs node %s", path);
	n = read(fd, d, sizeof(d));
	close(fd);
	ck_assert_int_eq(n, 18);
	ck_assert_uint_eq(d[0], 18); /* bLength */
	ck_assert_uint_eq(d[1], 1);  /* DEVICE */
	ck_assert_uint_ge(d[2] | d[3] << 8, 0x0110);
	ck_assert_uint_eq(d[8] | d[9] << 8, vid);
	ck_assert_uint_eq(d[10] | d[11] << 8, pid);
	ck_assert_uint_eq(d[17], 1); /* bNumConfigurations */
}

/* ---- ports ---- */

static int
port_open(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(tcgetattr(fd, &t), 0);
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	ck_assert_int_eq(tcsetattr(fd, TCSANOW, &t), 0);
	tcflush(fd, TCIOFLUSH);
	return fd;
}

static int
port_open_baud(const char *path, unsigned baud)
{
	int fd = port_open(path);

	ck_assert_int_eq(test_tty_set_speed(fd, baud), 0);
	return fd;
}

/* The 1200-baud touch, with the classic speed code. */
static void
touch_1200(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(tcgetattr(fd, &t), 0);
	cfsetospeed(&t, B1200);
	cfsetispeed(&t, B1200);
	ck_assert_int_eq(tcsetattr(fd, TCSANOW, &t), 0);
	close(fd);
}

/* Touch, and wait for Katapult; returns its port. */
static int
enter_katapult(struct sim *s)
{
	char *link = sim_link(s, "katapult");
	char *line = strf("enumerate katapult %s", link);
	int n = sim_log_lines(s, line);
	int fd;

	touch_1200(sim_link_path(s, "Klipper"));
	assert_log_count(s, n + 1, line);
	fd = port_open(link);
	free(line);
	free(link);
	return fd;
}

/* ---- frames, byte for byte ---- */

START_TEST(test_crc_check_value)
{
	ck_assert_uint_eq(client_crc((const uint8_t *)"123456789", 9), 0x6f91);
}
END_TEST

START_TEST(test_known_frames)
{
	uint8_t buf[64], addr[4];
	size_t n;

	n = encode(buf, CONNECT, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 11 00 f1 7c 99 03"));
	n = encode(buf, SEND_EOF, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 13 00 41 4f 99 03"));
	n = encode(buf, COMPLETE, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 15 00 91 1b 99 03"));
	n = encode(buf, GET_CANBUS_ID, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 16 00 f9 31 99 03"));
	n = encode(buf, 0x90, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 90 00 e5 e9 99 03"));
	put32(addr, 0x08008000);
	n = encode(buf, REQUEST_BLOCK, addr, 4);
	ck_assert(bytes_eq_hex(buf, n, "01 88 14 01 00 80 00 08 8c d1 99 03"));
	n = encode(buf, NACK, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f1 00 68 95 99 03"));
	n = encode(buf, ERROR, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f2 00 00 bf 99 03"));
	n = encode(buf, BUSY, NULL, 0);
	ck_assert(bytes_eq_hex(buf, n, "01 88 f3 00 d8 a6 99 03"));
}
END_TEST

/* A known CONNECT response (stm32f446xx, v0.0.1-abc), byte for byte. */
START_TEST(test_connect_bytes)
{
	struct sim *s = sim_start("--mode", "katapult", "--katapult-version", "v0.0.1-abc");
	char *link = sim_link(s, "katapult");
	int fd;
	struct frame f;
	struct connect_info ci;

	ck_assert_str_eq(s->path, link);
	fd = port_open(s->path);
	write_all(fd, "\x01\x88\x11\x00\xf1\x7c\x99\x03", 8);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len,
				   "01 88 a0 0b | 11 00 00 00 | 00 01 01 00 | 00 80 00 08 | "
				   "40 00 00 00 | 73 74 6d 33 32 66 34 34 36 78 78 00 | "
				   "00 00 00 00 | 76 30 2e 30 2e 31 2d 61 62 63 00 00 | "
				   "32 96 99 03"),
		      "CONNECT response %s", hex(f.raw, f.len));
	parse_connect(&f, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_str_eq(ci.version, "v0.0.1-abc");
	ck_assert(sim_log_wait(s, "rx CONNECT"));
	ck_assert(sim_log_wait(s, "tx ACK CONNECT"));
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* Protocol 1.0 sends the MCU and nothing after it. */
START_TEST(test_connect_protocol_10)
{
	struct sim *s = sim_start("--mode", "katapult", "--protocol", "1.0");
	int fd = port_open(s->path);
	struct frame f;
	uint8_t payload[28] = { 0x11, 0, 0, 0, 0x00, 0x00, 0x01, 0x00 };
	uint8_t want[64];
	size_t n;

	put32(payload + 8, APP);
	put32(payload + 12, BLOCK);
	memcpy(payload + 16, MCU, strlen(MCU) + 1);
	n = encode(want, ACK, payload, 16 + 12);
	transact(fd, CONNECT, NULL, 0, &f);
	ck_assert_msg(f.len == n && memcmp(f.raw, want, n) == 0, "got %s", hex(f.raw, f.len));
	close(fd);
	sim_stop(s);
}
END_TEST

/* Every CONNECT field follows the options. */
START_TEST(test_connect_configured)
{
	struct sim *s =
		sim_start("--mode", "katapult", "--mcu", "rp2040", "--serial", "E66158C4B3522C2A",
			  "--flash-start", "0x10000000", "--app-start", "0x10004000", "--page-size",
			  "4096", "--flash-size", "0x200000", "--block-size", "32",
			  "--katapult-version", "", "--usb-port", "1.4.2");
	char *link = strf("%s/serial/by-id/usb-katapult_rp2040_E66158C4B3522C2A-if00", s->dev);
	char *bypath = strf("%s/serial/by-path/platform-sim-usb-0:1.4.2:1.0", s->dev);
	int fd = port_open(s->path);
	struct connect_info ci;
	char *a, *b;

	ck_assert_str_eq(s->path, link);
	a = assert_pty_link(link);
	b = assert_pty_link(bypath);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	free(bypath);
	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.proto, 0x00010100);
	ck_assert_uint_eq(ci.start, 0x10004000);
	ck_assert_uint_eq(ci.block, 32);
	ck_assert_str_eq(ci.mcu, "rp2040");
	ck_assert_str_eq(ci.version, "");
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* One NACK per burst of garbage, then the next valid frame is served. */
START_TEST(test_garbage_one_nack)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	struct frame f;
	struct connect_info ci;
	const char garbage[] = "This is not a Katapult frame at all.";

	for (int i = 0; i < 3; i++) {
		write_all(fd, garbage, strlen(garbage));
		sleep_ms(30);
	}
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert(bytes_eq_hex(f.raw, f.len, "01 88 f1 00 68 95 99 03"));
	ck_assert_uint_eq(f.skipped, 0);
	expect_quiet(fd);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_int_eq(sim_log_count(s, "tx NACK"), 1);
	ck_assert_uint_eq(sim_log_garbage(s), 3 * strlen(garbage));

	/* the valid frame re-armed the NACK */
	write_all(fd, "xyzzy-xyzzy", 11);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	ck_assert(sim_log_wait(s, "rx garbage 11"));
	ck_assert_int_eq(sim_log_count(s, "tx NACK"), 2);
	close(fd);
	sim_stop(s);
}
END_TEST

/* A frame with a bad CRC is a burst of garbage: one NACK, and the next
 * frame, sent right behind it, is served. */
START_TEST(test_bad_crc_frame)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t bad[8], good[8];
	uint8_t both[16];
	struct frame f;

	encode(bad, CONNECT, NULL, 0);
	bad[4] ^= 0xff;
	encode(good, CONNECT, NULL, 0);
	memcpy(both, bad, 8);
	memcpy(both + 8, good, 8);
	write_all(fd, both, sizeof(both));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_ack(&f, CONNECT);
	ck_assert(sim_log_wait(s, "rx garbage 8"));
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* Unknown commands, the host's 0x90 prime among them, get 0xf2. */
START_TEST(test_unknown_command)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	struct frame f;

	write_all(fd, "\x01\x88\x90\x00\xe5\xe9\x99\x03", 8);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len, "01 88 f2 00 00 bf 99 03"), "got %s",
		      hex(f.raw, f.len));
	/* a serial board has no CAN id */
	transact(fd, GET_CANBUS_ID, NULL, 0, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "rx UNKNOWN 0x90"));
	ck_assert(sim_log_wait(s, "tx ERROR UNKNOWN unknown"));
	ck_assert(sim_log_wait(s, "rx GET_CANBUS_ID"));
	ck_assert(sim_log_wait(s, "tx ERROR GET_CANBUS_ID unknown"));
	close(fd);
	sim_stop(s);
}
END_TEST

/* 128 bytes is the largest frame: 132 is refused with one NACK. */
START_TEST(test_frame_limit)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t payload[124], buf[140];
	struct frame f;
	size_t n;

	memset(payload, 0x55, sizeof(payload));
	/* 30 words: 128 bytes, a frame (of an unknown command) */
	n = encode(buf, 0x42, payload, 120);
	ck_assert_uint_eq(n, 128);
	write_all(fd, buf, n);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "rx UNKNOWN 0x42"));

	/* 31 words: 132 bytes, too long */
	n = encode(buf, CONNECT, payload, 124);
	ck_assert_uint_eq(n, 132);
	write_all(fd, buf, n);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
	expect_type(&f, NACK);
	expect_quiet(fd);
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 0);
	ck_assert_uint_eq(sim_log_garbage(s), 132);

	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	close(fd);
	sim_stop(s);
}
END_TEST

/* ---- the board ---- */

/* The Klipper board, its touch, and Katapult on a fresh pty. */
START_TEST(test_touch_reenumerates)
{
	struct sim *s = sim_start("--mode", "usb");
	char *klipper = sim_link(s, "Klipper"), *katapult = sim_link(s, "katapult");
	char *bypath = sim_bypath(s);
	char *node2 = sim_usbfs(s, 2), *node3 = sim_usbfs(s, 3);
	char *slave, *slave2, *target;
	struct connect_info ci;
	int fd;

	ck_assert_str_eq(s->path, klipper);
	ck_assert(sim_log_wait(s, "start usb %s", klipper));
	ck_assert(sim_log_wait(s, "enumerate klipper %s", klipper));
	slave = assert_pty_link(klipper);
	target = assert_pty_link(bypath);
	ck_assert_str_eq(target, slave);
	free(target);
	assert_usbfs(node2, 0x1d50, 0x614e);
	ck_assert(!exists(katapult));

	touch_1200(klipper);
	assert_log(s, "touch 1200");
	assert_log(s, "remove %s", klipper);
	assert_log(s, "remove %s", node2);
	assert_log(s, "enumerate katapult %s", katapult);
	ck_assert(!exists(klipper));
	ck_assert(!exists(node2));
	slave2 = assert_pty_link(katapult);
	target = assert_pty_link(bypath);
	ck_assert_str_eq(target, slave2);
	assert_usbfs(node3, 0x1d50, 0x6177);

	fd = port_open(katapult);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	ck_assert_str_eq(ci.version, "v0.0.1-sim");
	ck_assert_uint_eq(ci.start, APP);
	ck_assert_uint_eq(ci.block, BLOCK);
	close(fd);

	/* Katapult ignores the touch */
	touch_1200(katapult);
	sleep_ms(100);
	ck_assert_int_eq(sim_log_count(s, "touch"), 1);
	ck_assert(exists(katapult));

	free(target);
	free(slave);
	free(slave2);
	free(klipper);
	free(katapult);
	free(bypath);
	free(node2);
	free(node3);
	sim_stop(s);
}
END_TEST

/* A host that sets 1200 through termios2 (BOTHER) touches just the same. */
START_TEST(test_touch_termios2)
{
	struct sim *s = sim_start("--mode", "usb");
	char *katapult = sim_link(s, "katapult");
	int fd = port_open(s->path);
	unsigned speed = 0;

	ck_assert_int_eq(test_tty_set_speed(fd, 1200), 0);
	ck_assert_int_eq(test_tty_get_speed(fd, &speed), 0);
	ck_assert_uint_eq(speed, 1200);
	close(fd);
	assert_log(s, "touch 1200");
	assert_log(s, "enumerate katapult %s", katapult);
	free(katapult);
	sim_stop(s);
}
END_TEST

static void
flash_cycle(struct sim *s, size_t size, uint32_t seed, uint32_t pages, unsigned round)
{
	char *klipper = sim_link(s, "Klipper"), *katapult = sim_link(s, "katapult");
	uint8_t *data = make_image(size, seed);
	size_t len;
	uint8_t *padded = pad_image(data, size, &len);
	struct connect_info ci;
	int fd;

	free(assert_pty_link(klipper));
	fd = enter_katapult(s);
	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.start, APP);
	flash_image(fd, padded, len, ci.start);
	ck_assert_uint_eq(send_eof(fd), pages);
	assert_log(s, "tx ACK SEND_EOF pages=%u", pages);
	verify_image(fd, padded, len, ci.start);
	send_complete(fd);
	assert_log_count(s, (int)round, "complete");
	assert_log_count(s, (int)round, "boot klipper");
	ck_assert(!exists(katapult));
	free(assert_pty_link(klipper));
	close(fd);

	{
		struct stat st;
		uint8_t *got = malloc(len);
		int ifd = open(s->image, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(ifd, 0);
		ck_assert_int_eq(fstat(ifd, &st), 0);
		ck_assert_uint_eq((size_t)st.st_size, len);
		ck_assert_int_eq(read(ifd, got, len), (ssize_t)len);
		close(ifd);
		ck_assert(memcmp(got, padded, len) == 0);
		free(got);
	}
	free(data);
	free(padded);
	free(klipper);
	free(katapult);
}

/* Touch, write, EOF, verify, COMPLETE, and Klipper again; twice. */
START_TEST(test_full_cycle)
{
	struct sim *s = sim_start("--mode", "usb");

	flash_cycle(s, 3000, 1, 1, 1);
	/* a larger image over two pages, on the same board */
	flash_cycle(s, PAGE + 5000, 2, 2, 2);
	/* and a small one again: the image file is what was written last */
	flash_cycle(s, 100, 3, 1, 3);
	sim_stop(s);
}
END_TEST

/* A known count: 44 512 bytes at 0x8008000 are 696 blocks on 3 pages. */
START_TEST(test_eof_page_count)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *data = make_image(44512, 9);
	size_t len;
	uint8_t *padded = pad_image(data, 44512, &len);

	ck_assert_uint_eq(len / BLOCK, 696);
	flash_image(fd, padded, len, APP);
	ck_assert_uint_eq(send_eof(fd), 3);
	close(fd);
	free(data);
	free(padded);
	sim_stop(s);
}
END_TEST

/* A board started in Katapult boots Klipper after COMPLETE. */
START_TEST(test_katapult_mode_boots_klipper)
{
	struct sim *s = sim_start("--mode", "katapult");
	char *klipper = sim_link(s, "Klipper"), *node2 = sim_usbfs(s, 2), *node3 = sim_usbfs(s, 3);
	int fd = port_open(s->path);

	assert_usbfs(node2, 0x1d50, 0x6177);
	send_complete(fd);
	assert_log(s, "complete");
	assert_log(s, "remove %s", s->path);
	assert_log(s, "enumerate klipper %s", klipper);
	assert_log(s, "boot klipper");
	ck_assert(!exists(s->path));
	ck_assert(!exists(node2));
	assert_usbfs(node3, 0x1d50, 0x614e);
	free(assert_pty_link(klipper));
	close(fd);
	free(klipper);
	free(node2);
	free(node3);
	sim_stop(s);
}
END_TEST

/* A block sent again (its ACK was lost) is ACKed without a second write. */
START_TEST(test_retransmission)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 4), *b = make_image(BLOCK, 5), got[BLOCK];

	write_block(fd, APP, a);
	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, b);
	write_block(fd, APP + BLOCK, b);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, b, BLOCK) == 0);
	/* the retransmitted page start did not count as another page */
	ck_assert_uint_eq(send_eof(fd), 1);
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* The page start sent again after later blocks erases the page again, as
 * on the device: a host retries a block right away, never later. */
START_TEST(test_page_start_again)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 4), *b = make_image(BLOCK, 5), got[BLOCK];

	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, b);
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	read_block(fd, APP + BLOCK, got);
	for (unsigned i = 0; i < BLOCK; i++)
		ck_assert_uint_eq(got[i], 0xff);
	ck_assert_uint_eq(send_eof(fd), 2);
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* A block inside a page that holds other data is refused as out of order. */
START_TEST(test_out_of_order)
{
	struct sim *s = sim_start("--mode", "katapult");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 6), *b = make_image(BLOCK, 7), got[BLOCK];
	struct frame f;

	/* the old firmware is still in the first page */
	send_block(fd, APP + BLOCK, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK order"));

	write_block(fd, APP, a);         /* erases the page */
	write_block(fd, APP + BLOCK, a); /* lands on erased flash */
	send_block(fd, APP + BLOCK, b, &f);
	expect_type(&f, ERROR);
	ck_assert_int_eq(sim_log_count(s, "tx ERROR SEND_BLOCK order"), 2);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);

	/* REQUEST_BLOCK reads any address: erased flash, the bootloader */
	read_block(fd, APP + 2 * PAGE, got);
	for (unsigned i = 0; i < BLOCK; i++)
		ck_assert_uint_eq(got[i], 0xff);
	read_block(fd, 0x8000000, got);
	ck_assert(sim_log_wait(s, "tx ACK REQUEST_BLOCK 0x8000000"));
	close(fd);
	free(a);
	free(b);
	sim_stop(s);
}
END_TEST

/* SEND_BLOCK's checks: arguments, address, alignment, the end of flash. */
START_TEST(test_block_errors)
{
	struct sim *s = sim_start("--mode", "katapult", "--flash-size", "0x10000");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 8), payload[4 + BLOCK];
	struct frame f;

	send_block(fd, APP - BLOCK, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK address"));
	send_block(fd, APP + 4, a, &f);
	expect_type(&f, ERROR);
	ck_assert_int_eq(sim_log_count(s, "tx ERROR SEND_BLOCK address"), 2);
	/* the flash ends at 0x8010000 */
	send_block(fd, 0x8010000, a, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK write"));
	/* 16 data words instead of 16 + 1 */
	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	transact(fd, SEND_BLOCK, payload, BLOCK, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK args"));
	/* REQUEST_BLOCK needs its address */
	transact(fd, REQUEST_BLOCK, NULL, 0, &f);
	expect_type(&f, ERROR);
	ck_assert(sim_log_wait(s, "tx ERROR REQUEST_BLOCK args"));
	write_block(fd, 0x8010000 - BLOCK, a);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

static const char request[] = "~ \x1c Request Serial Bootloader!! ~";

/* A UART board: Klipper until the request string, then Katapult on the
 * same path, and Klipper again after COMPLETE. */
START_TEST(test_uart_request_string)
{
	struct sim *s = sim_start("--mode", "uart");
	char *link = strf("%s/ttyAMA0", s->dev);
	char *slave, *again;
	struct connect_info ci;
	int fd;

	ck_assert_str_eq(s->path, link);
	ck_assert(sim_log_wait(s, "start uart %s", link));
	slave = assert_pty_link(link);
	fd = port_open_baud(link, 250000);
	client_send(fd, CONNECT, NULL, 0);
	expect_quiet(fd); /* Klipper does not speak Katapult */

	write_all(fd, request, strlen(request));
	assert_log(s, "request-string");
	assert_log(s, "enumerate katapult %s", link);
	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, MCU);
	again = assert_pty_link(link);
	ck_assert_str_eq(again, slave);
	free(again);

	send_complete(fd);
	assert_log(s, "complete");
	assert_log(s, "boot klipper");
	client_send(fd, CONNECT, NULL, 0);
	expect_quiet(fd);
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 0);

	/* and again: the request string still works */
	write_all(fd, request, strlen(request));
	for (int i = 0; i < 500 && sim_log_count(s, "request-string") < 2; i++)
		sleep_ms(10);
	ck_assert_int_eq(sim_log_count(s, "request-string"), 2);
	client_connect(fd, &ci);
	ck_assert_int_eq(sim_log_count(s, "remove"), 0);
	close(fd);
	free(slave);
	free(link);
	sim_stop(s);
}
END_TEST

/* A line at another baud still carries bytes (a pty has no baud), but the
 * simulator says so once. */
START_TEST(test_uart_baud_mismatch)
{
	struct sim *s = sim_start("--mode", "uart", "--uart-link", "serial0", "--baud", "115200");
	char *link = strf("%s/serial0", s->dev);
	int fd;

	ck_assert_str_eq(s->path, link);
	fd = port_open_baud(link, 250000);
	write_all(fd, request, 10);
	assert_log(s, "baud-mismatch 250000");
	write_all(fd, request + 10, strlen(request) - 10);
	assert_log(s, "request-string");
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 1);
	ck_assert_int_eq(test_tty_set_speed(fd, 115200), 0);
	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });
	ck_assert_int_eq(sim_log_count(s, "baud-mismatch"), 1);
	close(fd);
	free(link);
	sim_stop(s);
}
END_TEST

/* Exit on each signal: every link and node removed, the slave never held. */
START_TEST(test_clean_exit)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sim *s = sim_start("--mode", "usb");
	char *katapult = sim_link(s, "katapult"), *bypath = sim_bypath(s);
	char *node3 = sim_usbfs(s, 3);
	char *fddir = strf("/proc/%d/fd", (int)s->pid);
	int fds_before = kf_test_count_fds();
	int fd, held = 0;
	char *log, *last;
	struct dirent *e;
	DIR *d;

	fd = enter_katapult(s);
	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });

	/* the simulator holds the pty master, never a slave */
	d = opendir(fddir);
	ck_assert(d != NULL);
	while ((e = readdir(d))) {
		char *p = strf("%s/%s", fddir, e->d_name);
		char *t = link_target(p);

		if (t) {
			ck_assert_msg(strncmp(t, "/dev/pts/", 9) != 0, "the simulator holds %s", t);
			held += strcmp(t, "/dev/ptmx") == 0;
		}
		free(t);
		free(p);
	}
	closedir(d);
	ck_assert_int_eq(held, 1);
	close(fd);
	ck_assert_int_eq(kf_test_count_fds(), fds_before);

	ck_assert_int_eq(sim_stop_with(s, sigs[_i]), 0);
	log = sim_log_text(s);
	ck_assert(sim_log_wait(s, "remove %s", katapult));
	ck_assert(sim_log_wait(s, "remove %s", node3));
	last = strrchr(log, '\n');
	ck_assert(last != NULL);
	*last = '\0';
	last = strrchr(log, '\n');
	ck_assert_str_eq(last ? last + 1 : log, "exit");
	free(log);
	ck_assert(!exists(s->ready));
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	ck_assert(!exists(node3));
	free(katapult);
	free(bypath);
	free(node3);
	free(fddir);
	sim_free(s);
}
END_TEST

static int nondir_count;

static int
count_nondir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_D && type != FTW_DP)
		nondir_count++;
	return 0;
}

/* Nothing but directories is left in the device dir. */
START_TEST(test_exit_leaves_nothing)
{
	struct sim *s = sim_start("--mode", "usb");
	char *dev = strdup(s->dev);
	int fd = enter_katapult(s);

	close(fd);
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	nondir_count = 0;
	ck_assert_int_eq(nftw(dev, count_nondir, 8, FTW_PHYS), 0);
	ck_assert_int_eq(nondir_count, 0);
	free(dev);
	sim_free(s);
}
END_TEST

/* --rate makes the link as slow as a UART: a lower bound, never an upper one. */
START_TEST(test_rate)
{
	struct sim *s = sim_start("--mode", "katapult", "--rate", "1000");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK * 10, 10);
	uint64_t start = now_ms();

	/* 10 frames of 76 bytes are 760 bytes in: at least 0.7 s at 1000 bytes/s */
	flash_image(fd, a, BLOCK * 10, APP);
	ck_assert_uint_ge(now_ms() - start, 600);
	ck_assert_int_eq(sim_log_count(s, "tx ACK SEND_BLOCK"), 10);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* ---- faults ---- */

/* drop: no response; the retry is a retransmission. */
START_TEST(test_fault_drop)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "drop");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 11), got[BLOCK];
	uint8_t payload[4 + BLOCK];

	transact(fd, CONNECT, NULL, 0, &(struct frame){ 0 });
	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	expect_quiet(fd);
	ck_assert(sim_log_wait(s, "fault drop SEND_BLOCK#1"));
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	ck_assert_uint_eq(send_eof(fd), 1);
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* drop:NAME drops every such command. */
START_TEST(test_fault_drop_every)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "drop:CONNECT");
	int fd = port_open(s->path);

	for (int i = 0; i < 3; i++) {
		client_send(fd, CONNECT, NULL, 0);
		expect_quiet(fd);
	}
	ck_assert(sim_log_wait(s, "fault drop CONNECT#3"));
	send_eof(fd);
	close(fd);
	sim_stop(s);
}
END_TEST

/* crc: the response's CRC is wrong; the retry is answered properly. */
START_TEST(test_fault_crc)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "crc");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 12);
	uint8_t payload[4 + BLOCK];
	struct frame f;

	put32(payload, APP);
	memcpy(payload + 4, a, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 0);
	ck_assert_uint_eq(f.type, ACK);
	ck_assert(sim_log_wait(s, "fault crc SEND_BLOCK#1"));
	write_block(fd, APP, a);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* NAME#N: only the Nth command of that name. */
START_TEST(test_fault_crc_nth)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "crc:REQUEST_BLOCK#2");
	int fd = port_open(s->path);
	uint8_t addr[4];
	struct frame f;

	put32(addr, APP);
	request_block(fd, APP, &f);
	client_send(fd, REQUEST_BLOCK, addr, 4);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 0);
	request_block(fd, APP, &f);
	ck_assert(sim_log_wait(s, "fault crc REQUEST_BLOCK#2"));
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* busy: 0xf3 instead of processing. */
START_TEST(test_fault_busy)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "busy");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 13), got[BLOCK];
	struct frame f;

	send_block(fd, APP, a, &f);
	ck_assert_msg(bytes_eq_hex(f.raw, f.len, "01 88 f3 00 d8 a6 99 03"), "got %s",
		      hex(f.raw, f.len));
	ck_assert(sim_log_wait(s, "fault busy SEND_BLOCK#1"));
	ck_assert(sim_log_wait(s, "tx BUSY SEND_BLOCK"));
	/* not processed: the old firmware is still there */
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) != 0);
	write_block(fd, APP, a);
	read_block(fd, APP, got);
	ck_assert(memcmp(got, a, BLOCK) == 0);
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* N: the Nth command frame, once, even though the host retries it. */
START_TEST(test_fault_by_number)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "busy:2");
	int fd = port_open(s->path);
	struct frame f;

	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	transact(fd, CONNECT, NULL, 0, &f);
	expect_type(&f, BUSY);
	transact(fd, CONNECT, NULL, 0, &f);
	expect_ack(&f, CONNECT);
	ck_assert(sim_log_wait(s, "fault busy CONNECT#2"));
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	close(fd);
	sim_stop(s);
}
END_TEST

/* wrong-address: the ACK echoes another address. */
START_TEST(test_fault_wrong_address)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "wrong-address", "--fault",
				  "wrong-address:REQUEST_BLOCK#1");
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 14);
	struct frame f;

	send_block(fd, APP, a, &f);
	expect_ack(&f, SEND_BLOCK);
	ck_assert_uint_ne(get32(f.payload + 4), APP);
	ck_assert(sim_log_wait(s, "fault wrong-address SEND_BLOCK#1"));
	write_block(fd, APP, a);
	request_block(fd, APP, &f);
	expect_ack(&f, REQUEST_BLOCK);
	ck_assert_uint_ne(get32(f.payload + 4), APP);
	ck_assert(sim_log_wait(s, "fault wrong-address REQUEST_BLOCK#1"));
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* bad-cell: stored with one byte flipped, ACKed; the verify catches it. */
START_TEST(test_fault_bad_cell)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "bad-cell");
	int fd = port_open(s->path);
	uint8_t *data = make_image(2 * BLOCK, 15), got[BLOCK];
	char *image;
	int diff = 0;
	struct stat st;

	write_block(fd, APP, data);
	write_block(fd, APP + BLOCK, data + BLOCK);
	ck_assert(sim_log_wait(s, "fault bad-cell SEND_BLOCK#1"));
	read_block(fd, APP, got);
	for (unsigned i = 0; i < BLOCK; i++)
		diff += got[i] != data[i];
	ck_assert_int_eq(diff, 1);
	read_block(fd, APP + BLOCK, got);
	ck_assert(memcmp(got, data + BLOCK, BLOCK) == 0);
	send_eof(fd);
	ck_assert_int_eq(stat(s->image, &st), 0);
	ck_assert_int_eq(st.st_size, 2 * BLOCK);
	image = kf_test_read_file(s->image);
	diff = 0;
	for (unsigned i = 0; i < 2 * BLOCK; i++)
		diff += (uint8_t)image[i] != data[i];
	ck_assert_int_eq(diff, 1);
	ck_assert_int_eq(sim_log_count(s, "fault"), 1);
	free(image);
	close(fd);
	free(data);
	sim_stop(s);
}
END_TEST

/* wrong-mcu: another MCU in CONNECT, by default and by name. */
START_TEST(test_fault_wrong_mcu)
{
	static const char *const specs[] = { "wrong-mcu", "wrong-mcu=rp2040" };
	static const char *const mcus[] = { "stm32f103xe", "rp2040" };
	struct sim *s = sim_start("--mode", "katapult", "--fault", specs[_i]);
	int fd = port_open(s->path);
	struct connect_info ci;

	client_connect(fd, &ci);
	ck_assert_str_eq(ci.mcu, mcus[_i]);
	ck_assert_str_eq(ci.version, "v0.0.1-sim");
	ck_assert(sim_log_wait(s, "fault wrong-mcu CONNECT#1"));
	/* the link keeps the board's own name */
	ck_assert(strstr(s->path, MCU) != NULL);
	close(fd);
	sim_stop(s);
}
END_TEST

/* wrong-start: another application start in CONNECT; storage ignores it. */
START_TEST(test_fault_wrong_start)
{
	static const char *const specs[] = { "wrong-start", "wrong-start=0x8004000" };
	static const uint32_t starts[] = { APP + 0x2000, 0x8004000 };
	struct sim *s = sim_start("--mode", "katapult", "--fault", specs[_i]);
	int fd = port_open(s->path);
	uint8_t *a = make_image(BLOCK, 16);
	struct connect_info ci;
	struct frame f;

	client_connect(fd, &ci);
	ck_assert_uint_eq(ci.start, starts[_i]);
	ck_assert(sim_log_wait(s, "fault wrong-start CONNECT#1"));
	write_block(fd, APP, a);
	if (starts[_i] < APP) {
		send_block(fd, starts[_i], a, &f);
		expect_type(&f, ERROR);
		ck_assert(sim_log_wait(s, "tx ERROR SEND_BLOCK address"));
	}
	close(fd);
	free(a);
	sim_stop(s);
}
END_TEST

/* hangup: by default at the 10th command; the board stays gone. */
START_TEST(test_fault_hangup)
{
	struct sim *s = sim_start("--mode", "usb", "--fault", "hangup");
	char *katapult = sim_link(s, "katapult"), *bypath = sim_bypath(s);
	char *node3 = sim_usbfs(s, 3);
	int fd = enter_katapult(s);
	struct frame f;

	for (int i = 0; i < 9; i++)
		transact(fd, CONNECT, NULL, 0, &f);
	client_send(fd, CONNECT, NULL, 0);
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), -1);
	assert_log(s, "fault hangup CONNECT#10");
	assert_log(s, "hangup");
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	ck_assert(!exists(node3));
	sleep_ms(200);
	ck_assert_int_eq(sim_log_count(s, "enumerate"), 2);
	close(fd);
	free(katapult);
	free(bypath);
	free(node3);
	sim_stop(s);
}
END_TEST

/* hangup:NAME#N in the middle of a transfer. */
START_TEST(test_fault_hangup_mid_transfer)
{
	struct sim *s = sim_start("--mode", "katapult", "--fault", "hangup:SEND_BLOCK#3");
	int fd = port_open(s->path);
	uint8_t *a = make_image(3 * BLOCK, 17);
	uint8_t payload[4 + BLOCK];
	struct frame f;

	write_block(fd, APP, a);
	write_block(fd, APP + BLOCK, a + BLOCK);
	put32(payload, APP + 2 * BLOCK);
	memcpy(payload + 4, a + 2 * BLOCK, BLOCK);
	client_send(fd, SEND_BLOCK, payload, sizeof(payload));
	ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), -1);
	assert_log(s, "fault hangup SEND_BLOCK#3");
	assert_log(s, "hangup");
	ck_assert(!exists(s->path));
	close(fd);

	/* the image is written at exit too: the two blocks that made it */
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	{
		struct stat st;
		char *image = kf_test_read_file(s->image);

		ck_assert(image != NULL);
		ck_assert_int_eq(stat(s->image, &st), 0);
		ck_assert_int_eq(st.st_size, 2 * BLOCK);
		ck_assert(memcmp(image, a, 2 * BLOCK) == 0);
		free(image);
	}
	free(a);
	sim_free(s);
}
END_TEST

/* dfu and bootsel: the touch brings up a ROM bootloader, no tty. */
START_TEST(test_fault_rom_bootloader)
{
	static const char *const kinds[] = { "dfu", "bootsel" };
	static const uint16_t vids[] = { 0x0483, 0x2e8a }, pids[] = { 0xdf11, 0x0003 };
	struct sim *s = sim_start("--mode", "usb", "--fault", kinds[_i]);
	char *node3 = sim_usbfs(s, 3), *bypath = sim_bypath(s), *katapult = sim_link(s, "katapult");
	char *byid = strf("%s/serial/by-id", s->dev);
	DIR *d;
	struct dirent *e;

	touch_1200(s->path);
	assert_log(s, "touch 1200");
	assert_log(s, "enumerate %s %s", kinds[_i], node3);
	assert_usbfs(node3, vids[_i], pids[_i]);
	ck_assert(!exists(s->path));
	ck_assert(!exists(katapult));
	ck_assert(!exists(bypath));
	d = opendir(byid);
	ck_assert(d != NULL);
	while ((e = readdir(d)))
		ck_assert_msg(e->d_name[0] == '.', "unexpected %s", e->d_name);
	closedir(d);
	ck_assert_int_eq(sim_stop_with(s, SIGTERM), 0);
	ck_assert(!exists(node3));
	free(node3);
	free(bypath);
	free(katapult);
	free(byid);
	sim_free(s);
}
END_TEST

/* The numbers of the dropped commands, from the log. */
static char *
dropped_numbers(struct sim *s)
{
	char *text = sim_log_text(s), *out = strdup("");
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "rx CONNECT", 10) == 0)
			n++;
		if (strncmp(p, "fault drop CONNECT#", 19) == 0) {
			char *o = strf("%s %d", out, n);

			free(out);
			out = o;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	free(text);
	return out;
}

static char *
run_percent(unsigned seed, int *responses)
{
	char seedstr[16];
	struct sim *s;
	int fd;
	struct frame f;
	char *numbers;

	snprintf(seedstr, sizeof(seedstr), "%u", seed);
	s = sim_start("--mode", "katapult", "--fault", "drop:50%", "--seed", seedstr);
	fd = port_open(s->path);
	for (int i = 0; i < 40; i++)
		client_send(fd, CONNECT, NULL, 0);
	for (int i = 0; i < 1000; i++) {
		if (sim_log_count(s, "tx ACK CONNECT") + sim_log_count(s, "fault drop") == 40)
			break;
		sleep_ms(5);
	}
	ck_assert_int_eq(sim_log_count(s, "rx CONNECT"), 40);
	*responses = sim_log_count(s, "tx ACK CONNECT");
	ck_assert_int_eq(*responses + sim_log_count(s, "fault drop"), 40);
	for (int i = 0; i < *responses; i++) {
		ck_assert_int_eq(recv_frame(fd, &f, TIMEOUT_MS), 1);
		expect_ack(&f, CONNECT);
	}
	expect_quiet(fd);
	numbers = dropped_numbers(s);
	close(fd);
	sim_stop(s);
	return numbers;
}

/* P%: some commands, chosen by the seed, the same ones each run. */
START_TEST(test_fault_percent)
{
	int r1, r2, r3;
	char *a = run_percent(7, &r1), *b = run_percent(7, &r2), *c = run_percent(8, &r3);

	ck_assert_int_gt(r1, 0);
	ck_assert_int_lt(r1, 40);
	ck_assert_int_eq(r1, r2);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

/* ---- the command line ---- */

struct run_result {
	int status;
	char out[8192];
	char err[8192];
};

static void
slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t k;

	while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
}

static void
run_sim(struct run_result *r, const char *const *args)
{
	const char *argv[32] = { sim_bin() };
	int out[2], err[2];
	size_t n = 1;
	pid_t pid;
	int status;

	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = spawn(argv, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	slurp(out[0], r->out, sizeof(r->out));
	slurp(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	r->status = WEXITSTATUS(status);
}

#define run_args(r, ...) run_sim(r, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_help)
{
	struct run_result r;

	run_args(&r, "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "Usage: kflash-sim --dev-dir DIR") != NULL);
	ck_assert(strstr(r.out, "--fault") != NULL);
	ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(test_usage_errors)
{
	static const struct {
		const char *args[8];
		const char *message;
	} cases[] = {
		{ { "--mode", "usb" }, "--dev-dir DIR is required" },
		{ { "--dev-dir", "/nonexistent", "--mode", "can" }, "--mode is usb, uart or" },
		{ { "--dev-dir", "/x", "--fault", "nope" }, "unknown fault 'nope'" },
		{ { "--dev-dir", "/x", "--fault", "busy:FOO" }, "unknown command 'FOO'" },
		{ { "--dev-dir", "/x", "--fault", "drop:0" }, "bad command number" },
		{ { "--dev-dir", "/x", "--fault", "crc:150%" }, "bad probability" },
		{ { "--dev-dir", "/x", "--fault", "drop:CONNECT#x" }, "bad count" },
		{ { "--dev-dir", "/x", "--fault", "dfu:3" }, "takes no WHEN" },
		{ { "--dev-dir", "/x", "--fault", "busy=1" }, "takes no value" },
		{ { "--dev-dir", "/x", "--fault", "wrong-start=zz" }, "bad address" },
		{ { "--dev-dir", "/x", "--mode", "uart", "--fault", "dfu" }, "needs --mode usb" },
		{ { "--dev-dir", "/x", "--app-start", "0x8001000" }, "page boundary" },
		{ { "--dev-dir", "/x", "--block-size", "30" }, "multiple of 4" },
		{ { "--dev-dir", "/x", "--mcu", "a/b" }, "bad --mcu" },
		{ { "--dev-dir", "/x", "--uart-link", "../tty" }, "bad --uart-link" },
		{ { "--dev-dir", "/x", "--protocol", "2.0" }, "--protocol is 1.0 or 1.1" },
		{ { "--dev-dir", "/x", "--rate" }, "needs a value" },
		{ { "--dev-dir", "/x", "--bogus" }, "unknown option '--bogus'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_result r;

		run_sim(&r, cases[i].args);
		ck_assert_msg(r.status == 64, "case %zu: status %d", i, r.status);
		ck_assert_msg(strstr(r.err, cases[i].message) != NULL, "case %zu: '%s' not in '%s'",
			      i, cases[i].message, r.err);
	}
}
END_TEST

KF_TEST_SUITE(sim)
{
	kf_test_add(test_crc_check_value);
	kf_test_add(test_known_frames);
	kf_test_add(test_connect_bytes);
	kf_test_add(test_connect_protocol_10);
	kf_test_add(test_connect_configured);
	kf_test_add(test_garbage_one_nack);
	kf_test_add(test_bad_crc_frame);
	kf_test_add(test_unknown_command);
	kf_test_add(test_frame_limit);
	kf_test_add(test_touch_reenumerates);
	kf_test_add(test_touch_termios2);
	kf_test_add_timeout(test_full_cycle, 60);
	kf_test_add_timeout(test_eof_page_count, 60);
	kf_test_add(test_katapult_mode_boots_klipper);
	kf_test_add(test_retransmission);
	kf_test_add(test_page_start_again);
	kf_test_add(test_out_of_order);
	kf_test_add(test_block_errors);
	kf_test_add(test_uart_request_string);
	kf_test_add(test_uart_baud_mismatch);
	kf_test_add_loop(test_clean_exit, 3);
	kf_test_add(test_exit_leaves_nothing);
	kf_test_add(test_rate);
	kf_test_add(test_fault_drop);
	kf_test_add(test_fault_drop_every);
	kf_test_add(test_fault_crc);
	kf_test_add(test_fault_crc_nth);
	kf_test_add(test_fault_busy);
	kf_test_add(test_fault_by_number);
	kf_test_add(test_fault_wrong_address);
	kf_test_add(test_fault_bad_cell);
	kf_test_add_loop(test_fault_wrong_mcu, 2);
	kf_test_add_loop(test_fault_wrong_start, 2);
	kf_test_add(test_fault_hangup);
	kf_test_add(test_fault_hangup_mid_transfer);
	kf_test_add_loop(test_fault_rom_bootloader, 2);
	kf_test_add_timeout(test_fault_percent, 30);
	kf_test_add(test_help);
	kf_test_add(test_usage_errors);
}
