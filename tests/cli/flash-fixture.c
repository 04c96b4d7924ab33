/* SPDX-License-Identifier: MIT */
/*
 * The set-up the kflash flash tests share: simulated boards (kflash-sim),
 * the fake Klipper tree, fake systemctl and sudo, and the fake Klipper API
 * server. One log (calls.log) receives both the systemctl calls and the
 * make runs, in order, so the tests can tell what happened before the stop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flash-fixture.h"

struct flash_fixture fx;

void
fx_setup(void)
{
	const char *const *base;
	size_t n = 0;
	char path[4400];

	fx.dir = kf_test_mkdtemp();
	kf_test_fake_klipper(fx.dir);
	snprintf(fx.dev, sizeof(fx.dev), "%s/dev", fx.dir);
	snprintf(fx.calls, sizeof(fx.calls), "%s/calls.log", fx.dir);
	snprintf(path, sizeof(path), "%s/state", fx.dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	base = kf_cli_env(fx.dir);
	for (; base[n]; n++)
		fx.env[n] = base[n];
	snprintf(fx.values[0], sizeof(fx.values[0]), "PATH=%s:%s", getenv("KF_FAKES_BIN"),
		 getenv("PATH"));
	snprintf(fx.values[1], sizeof(fx.values[1]), "KF_FAKE_KLIPPER_LOG=%s", fx.calls);
	snprintf(fx.values[2], sizeof(fx.values[2]), "KF_FAKE_LOG=%s", fx.calls);
	snprintf(fx.values[3], sizeof(fx.values[3]), "KF_FAKE_STATE=%s/state", fx.dir);
	for (int i = 0; i < 4; i++)
		fx.env[n++] = fx.values[i];
	fx.env[n] = NULL;
	memset(fx.sims, 0, sizeof(fx.sims));
	fx.bus = NULL;
	fx.klippy = 0;
	/* A printer has Klipper running, idle, with its API socket. */
	fx_start_klippy("standby", "ready", "Printer is ready");
}

/* Extra environment for one run: @extra is "KEY=VALUE" or NULL. */
const char *const *
fx_env_with(const char *extra)
{
	static const char *more[26];
	size_t n = 0;

	for (; fx.env[n]; n++)
		more[n] = fx.env[n];
	if (extra)
		more[n++] = extra;
	more[n] = NULL;
	return more;
}

void
fx_stop_klippy(void)
{
	if (fx.klippy > 0) {
		kill(fx.klippy, SIGTERM);
		waitpid(fx.klippy, NULL, 0);
		fx.klippy = 0;
	}
}

void
fx_teardown(void)
{
	fx_stop_klippy();
	for (int i = 0; i < FX_SLOTS; i++)
		if (fx.sims[i])
			kf_sim_stop(fx.sims[i]);
	if (fx.bus)
		kf_sim_stop(fx.bus);
	fx.bus = NULL;
	kf_test_rmtree(fx.dir);
	free(fx.dir);
}

/*
 * The fake Klipper API server, with @print_state and @state, in place of
 * the one running. Its socket is there while the fake systemctl says
 * Klipper's unit is active, as Klipper's is.
 */
void
fx_start_klippy(const char *print_state, const char *state, const char *message)
{
	char sock[4400], ready[4400], unit[4400];

	fx_stop_klippy();
	snprintf(sock, sizeof(sock), "%s/klippy.sock", fx.dir);
	snprintf(ready, sizeof(ready), "%s/klippy.ready", fx.dir);
	snprintf(unit, sizeof(unit), "%s/state/klipper", fx.dir);
	unlink(ready);
	fx.klippy = fork();
	ck_assert_int_ge(fx.klippy, 0);
	if (fx.klippy == 0) {
		execl(getenv("KF_KLIPPY_SERVER_BIN"), "klippy-server", "--socket", sock,
		      "--ready-file", ready, "--print-state", print_state, "--state", state,
		      "--state-message", message, "--unit-state", unit, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert(i < 5000);
		usleep(1000);
	}
}

void
fx_wait_klippy(void)
{
	char sock[4400];

	snprintf(sock, sizeof(sock), "%s/klippy.sock", fx.dir);
	for (int i = 0; access(sock, F_OK) != 0; i++) {
		ck_assert_msg(i < 5000, "the fake Klipper made no API socket");
		usleep(1000);
	}
}

void
fx_cli_ok(const char *const *e, const char *const *argv)
{
	struct kf_cli_result r = kf_cli_run(e, argv);

	ck_assert_msg(r.status == 0, "kflash %s: %d\n%s", argv[0], r.status, r.err);
	kf_cli_result_free(&r);
}

/* A simulated USB board registered as @name, with its config. */
void
fx_board(int slot,
	 const char *name,
	 const char *mcu,
	 const char *serial,
	 const char *config,
	 const char *const *sim_extra)
{
	const char *args[24];
	char by_id[4400], from[4400];
	size_t n = 0;

	args[n++] = "--mode";
	args[n++] = "usb";
	args[n++] = "--mcu";
	args[n++] = mcu;
	args[n++] = "--serial";
	args[n++] = serial;
	args[n++] = "--reenumerate-ms";
	args[n++] = "50";
	for (; sim_extra && *sim_extra; sim_extra++)
		args[n++] = *sim_extra;
	args[n] = NULL;
	fx.sims[slot] = kf_sim_start(fx.dev, args);
	snprintf(by_id, sizeof(by_id), "%s/serial/by-id/usb-Klipper_%s_%s-if00", fx.dev, mcu,
		 serial);
	fx_cli_ok(fx.env, (const char *const[]){ "add", name, "--serial", by_id, "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/%s.config", kf_test_fixtures_dir(),
		 config);
	fx_cli_ok(fx.env, (const char *const[]){ "config", name, "--from", from, "-q", NULL });
}

void
fx_can_bus(void)
{
	size_t n = 0;

	snprintf(fx.can, sizeof(fx.can), "%s/can", fx.dir);
	ck_assert_int_eq(mkdir(fx.can, 0700), 0);
	fx.bus = kf_sim_startl(NULL, "--mode", "bus", "--can-dir", fx.can);
	snprintf(fx.values[4], sizeof(fx.values[4]), "KFLASH_CAN_SOCKET_DIR=%s", fx.can);
	while (fx.env[n])
		n++;
	fx.env[n++] = fx.values[4];
	fx.env[n] = NULL;
}

void
fx_can_node(int slot, const char *name, const char *uuid, const char *const *sim_extra)
{
	const char *args[24] = { "--mode",           "can", "--can-dir", fx.can,
				 "--can-uuid",       uuid,  "--mcu",     "stm32f446xx",
				 "--reenumerate-ms", "50" };
	char from[4400];
	size_t n = 10;

	for (; sim_extra && *sim_extra; sim_extra++)
		args[n++] = *sim_extra;
	args[n] = NULL;
	fx.sims[slot] = kf_sim_start(NULL, args);
	fx_cli_ok(fx.env,
		  (const char *const[]){ "add", name, "--can-interface", "can0", "--can-uuid", uuid,
					 "--mcu", "stm32f446xx", "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/stm32f446_can_katapult.config",
		 kf_test_fixtures_dir());
	fx_cli_ok(fx.env, (const char *const[]){ "config", name, "--from", from, "-q", NULL });
}

void
fx_bridge(int slot, const char *name, const char *const *sim_extra)
{
	char sys[4400], from[4400];
	const char *args[32] = { "--mode",
				 "bridge",
				 "--can-dir",
				 fx.can,
				 "--sys-dir",
				 sys,
				 "--serial",
				 BRIDGE,
				 "--mcu",
				 "stm32h723xx",
				 "--app-start",
				 "0x8020000",
				 "--reenumerate-ms",
				 "50",
				 "--usb-port",
				 "1.4" };
	size_t n = 16;

	snprintf(fx.can, sizeof(fx.can), "%s/can", fx.dir);
	ck_assert_int_eq(mkdir(fx.can, 0700), 0);
	snprintf(sys, sizeof(sys), "%s/sys", fx.dir);
	for (; sim_extra && *sim_extra; sim_extra++)
		args[n++] = *sim_extra;
	args[n] = NULL;
	fx.sims[slot] = kf_sim_start(fx.dev, args);
	snprintf(fx.values[4], sizeof(fx.values[4]), "KFLASH_CAN_SOCKET_DIR=%s", fx.can);
	for (n = 0; fx.env[n];)
		n++;
	fx.env[n++] = fx.values[4];
	fx.env[n] = NULL;
	if (!name)
		return;
	fx_cli_ok(fx.env, (const char *const[]){ "add", name, "--can-interface", "can0",
						 "--can-uuid", BRIDGE_UUID, "--usb-serial", BRIDGE,
						 "--mcu", "stm32h723xx", "-q", NULL });
	snprintf(from, sizeof(from), "%s/klipper-configs/stm32h723_usbcan.config",
		 kf_test_fixtures_dir());
	fx_cli_ok(fx.env, (const char *const[]){ "config", name, "--from", from, "-q", NULL });
}

void
fx_uart_board(int slot, const char *name)
{
	char link[4400], from[4400], cmd[13000];

	fx.sims[slot] = kf_sim_startl(fx.dev, "--mode", "uart", "--mcu", "stm32f446xx", "--baud",
				      "250000", "--rate", "25000");
	snprintf(link, sizeof(link), "%s/ttyAMA0", fx.dev);
	fx_cli_ok(fx.env, (const char *const[]){ "add", name, "--serial", link, "--mcu",
						 "stm32f446xx", "--baud", "250000", "-q", NULL });
	snprintf(from, sizeof(from), "%s/uart.config", fx.dir);
	snprintf(cmd, sizeof(cmd),
		 "sed -e 's/^CONFIG_USBSERIAL=y$/CONFIG_SERIAL=y\\nCONFIG_SERIAL_BAUD=250000/' "
		 "'%s/klipper-configs/stm32f446_usb.config' > '%s'",
		 kf_test_fixtures_dir(), from);
	ck_assert_int_eq(system(cmd), 0);
	fx_cli_ok(fx.env, (const char *const[]){ "config", name, "--from", from, "-q", NULL });
}

void
fx_three_boards(void)
{
	static const char *const rp[] = { "--flash-start", "0x10000000", "--app-start",
					  "0x10004000", NULL };

	fx_board(0, "octopus", "stm32f446xx", OCTOPUS, "stm32f446_usb", NULL);
	fx_board(1, "ebb", "stm32f446xx", EBB, "stm32f446_can_katapult", NULL);
	fx_board(2, "pico", "rp2040", PICO, "rp2040_can_katapult", rp);
}

/* Lines of calls.log starting with @prefix: how many, the first and the last (-1: none). */
int
fx_scan_calls(const char *prefix, int *first, int *last)
{
	char *text = kf_test_read_file(fx.calls);
	int n = 0, line = 0;

	*first = *last = -1;
	for (char *p = text; p && *p; line++) {
		char *end = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			n++;
			if (*first < 0)
				*first = line;
			*last = line;
		}
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

int
fx_count(const char *prefix)
{
	int first, last;

	return fx_scan_calls(prefix, &first, &last);
}

int
fx_first_line(const char *prefix)
{
	int first, last;

	fx_scan_calls(prefix, &first, &last);
	return first;
}

int
fx_last_line(const char *prefix)
{
	int first, last;

	fx_scan_calls(prefix, &first, &last);
	return last;
}

struct json_object *
fx_member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return v;
}

struct kf_cli_result
fx_flash_one(const char *const *extra)
{
	const char *argv[16] = { "flash", "octopus" };
	size_t n = 2;

	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	return kf_cli_run(fx.env, argv);
}
