/* SPDX-License-Identifier: MIT */
/*
 * kflash-sim's command line: --help and every usage error.
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
#include "sim-client.h"
#include "sim-process.h"
#include "test-sim-tty.h"

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
	ck_assert(strstr(r.out, "--mode bridge --can-dir DIR --dev-dir DEV --sys-dir SYS") != NULL);
	ck_assert(strstr(r.out, "lost-frame") != NULL);
	ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(test_usage_errors)
{
	static const struct {
		const char *args[12];
		const char *message;
	} cases[] = {
		{ { "--mode", "usb" }, "--dev-dir DIR is required" },
		{ { "--dev-dir", "/nonexistent", "--mode", "serial" },
		  "--mode is usb, uart, katapult" },
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
		/* CAN and the bridge */
		{ { "--mode", "bus" }, "--mode bus needs --can-dir DIR" },
		{ { "--mode", "can" }, "--mode can needs --can-dir DIR" },
		{ { "--mode", "bridge", "--can-dir", "/x" }, "--dev-dir DIR is required" },
		{ { "--mode", "bridge", "--can-dir", "/x", "--dev-dir", "/x" },
		  "--mode bridge needs --sys-dir SYS" },
		{ { "--mode", "can", "--can-dir", "/x", "--serial", "XYZ" },
		  "is no chip id in hex" },
		{ { "--mode", "bridge", "--can-dir", "/x", "--dev-dir", "/x", "--sys-dir", "/x",
		    "--serial", "ABC" },
		  "is no chip id in hex" },
		{ { "--mode", "can", "--can-dir", "/x", "--can-uuid", "12345" }, "bad --can-uuid" },
		{ { "--mode", "can", "--can-dir", "/x", "--can-uuid", "0123456789ag" },
		  "bad --can-uuid" },
		{ { "--mode", "can", "--can-dir", "/x", "--can-node-id", "256" },
		  "--can-node-id is 0 to 255" },
		{ { "--mode", "can", "--can-dir", "/x", "--can-interface", "a/b" },
		  "bad --can-interface" },
		{ { "--mode", "can", "--can-dir", "/x", "--can-start", "dfu" },
		  "--can-start is klipper or katapult" },
		{ { "--dev-dir", "/x", "--can-dir", "/y" },
		  "--can-dir needs --mode bus, can or bridge" },
		{ { "--dev-dir", "/x", "--can-start", "katapult" },
		  "--can-start needs --mode can" },
		{ { "--dev-dir", "/x", "--can-node-id", "1" }, "--can-node-id needs --mode can" },
		{ { "--mode", "bridge", "--can-dir", "/x", "--dev-dir", "/x", "--sys-dir", "/x",
		    "--can-uuid", "0123456789ab" },
		  "--can-uuid needs --mode can" },
		{ { "--mode", "uart", "--dev-dir", "/x", "--sys-dir", "/x" }, "--sys-dir needs" },
		{ { "--mode", "can", "--can-dir", "/x", "--rate", "100" }, "--rate needs a board" },
		{ { "--dev-dir", "/x", "--fault", "lost-frame" },
		  "--fault lost-frame needs --mode can" },
		{ { "--mode", "bus", "--can-dir", "/x", "--fault", "drop" }, "a bus relay has no" },
		{ { "--mode", "can", "--can-dir", "/x", "--fault", "dfu" },
		  "needs --mode usb or bridge" },
		{ { "--mode", "can", "--can-dir", "/x", "--fault", "no-katapult:3" },
		  "takes no WHEN" },
		{ { "--mode", "can", "--can-dir", "/x", "--fault", "lost-frame=0" },
		  "bad frame number" },
		{ { "--mode", "can", "--can-dir", "/x", "--fault", "error-passive=xx" },
		  "error-passive=rx or =tx" },
		{ { "--mode", "can", "--can-dir", "/x", "--fault", "bus-off=1" },
		  "takes no value" },
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

KF_TEST_SUITE(sim_cli)
{
	kf_test_add(test_help);
	kf_test_add(test_usage_errors);
}
