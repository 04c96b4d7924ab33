/* SPDX-License-Identifier: MIT */
/*
 * The set-up the kflash flash tests share (see flash-fixture.c): call
 * fx_setup() first and fx_teardown() last in each test.
 */
#pragma once

#include <sys/types.h>

#include <json-c/json.h>

#include "cli-run.h"
#include "kf-test.h"
#include "sim-run.h"

#define OCTOPUS "1A2B3C4D5E6F708192A3B4C5"
#define EBB "4E0031000B50415833323520"
#define PICO "E66138935F2A4D28"
/* A USB-to-CAN bridge's chip id, and the CAN UUID it gives (from the reference vectors). */
#define BRIDGE "140028000951313339373836"
#define BRIDGE_UUID "c1980e2023a1"

#define FX_SLOTS 6

struct flash_fixture {
	char *dir;                     /* the test's temporary dir */
	char dev[4200];                /* the device dir the simulated boards publish in */
	char calls[4200];              /* calls.log: systemctl and make, in order */
	const char *env[24];           /* kflash's environment */
	char values[6][9000];          /* storage for some of env */
	struct kf_sim *sims[FX_SLOTS]; /* the simulated boards, by slot */
	struct kf_sim *bus;            /* the simulated CAN bus can0, or NULL */
	char can[4200];                /* the CAN socket dir */
	pid_t klippy;                  /* the fake Klipper API server, or 0 */
};

extern struct flash_fixture fx;

/* A fresh sandbox: the fake Klipper tree, the fakes first on PATH. */
void
fx_setup(void);

/* Stop every simulated board and the API server; remove the sandbox. */
void
fx_teardown(void);

/* fx.env with one more "KEY=VALUE" (or none, for NULL), for one run. */
const char *const *
fx_env_with(const char *extra);

/* The fake Klipper API server, reporting @print_state and @state with @message. */
void
fx_start_klippy(const char *print_state, const char *state, const char *message);

void
fx_stop_klippy(void);

/* Wait until the fake Klipper's API socket is there (after its unit started). */
void
fx_wait_klippy(void);

/* Run kflash with @argv in environment @e, and require success. */
void
fx_cli_ok(const char *const *e, const char *const *argv);

/*
 * A simulated USB board of @mcu with @serial in slot @slot (extra
 * simulator arguments in @sim_extra, NULL-terminated, or NULL), added as
 * @name with the fixture config @config (a file name without .config).
 */
void
fx_board(int slot,
	 const char *name,
	 const char *mcu,
	 const char *serial,
	 const char *config,
	 const char *const *sim_extra);

/*
 * The simulated CAN bus can0 in the CAN socket dir, which kflash's
 * environment then names (KFLASH_CAN_SOCKET_DIR).
 */
void
fx_can_bus(void);

/*
 * A simulated CAN node (stm32f446, running Klipper) with @uuid in slot
 * @slot on can0 (extra simulator arguments in @sim_extra, or NULL), added
 * as @name with the CAN fixture config.
 */
void
fx_can_node(int slot, const char *name, const char *uuid, const char *const *sim_extra);

/*
 * A simulated USB-to-CAN bridge (stm32h723, serial BRIDGE) in slot @slot:
 * it is the CAN bus can0 in the CAN socket dir, which kflash's environment
 * then names, and it publishes its USB side in the device and sys dirs.
 * Added as @name with its interface, UUID and serial number (when @name
 * is not NULL) and the USB-to-CAN fixture config.
 */
void
fx_bridge(int slot, const char *name, const char *const *sim_extra);

/*
 * A simulated UART board (stm32f446 at 250000 baud, on DEV/ttyAMA0) in
 * slot @slot, added as @name with the USB fixture config switched to the
 * UART as menuconfig would.
 */
void
fx_uart_board(int slot, const char *name);

/* octopus (stm32f446, USB), ebb (stm32f446, CAN config), pico (rp2040) in slots 0-2. */
void
fx_three_boards(void);

/* Lines of calls.log starting with @prefix: how many, the first and the last (-1: none). */
int
fx_scan_calls(const char *prefix, int *first, int *last);

int
fx_count(const char *prefix);

int
fx_first_line(const char *prefix);

int
fx_last_line(const char *prefix);

/* The member @key of the JSON object @o; the test fails when it is missing. */
struct json_object *
fx_member(struct json_object *o, const char *key);

/* kflash flash octopus, with @extra arguments (NULL-terminated, or NULL). */
struct kf_cli_result
fx_flash_one(const char *const *extra);
