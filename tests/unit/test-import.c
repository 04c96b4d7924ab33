/* SPDX-License-Identifier: MIT */
/*
 * Importing boards from printer.cfg: the layouts of the fixtures, the MCU
 * from by-id names and from the running Klipper, idempotency, edits by
 * hand, names, instances, and every way an import is refused.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/fs.h"
#include "kf-test.h"
#include "libkflash-private.h"

#define F446 "/dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00"
#define F446_B "/dev/serial/by-id/usb-Klipper_stm32f446xx_BBBB2222CCCC3333-if00"

static char *dir;
static char reg_path[4200];
static struct kflash_context *ctx;
static struct kflash_import *imp;
static struct kflash_registry *reg;
static pid_t server;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(reg_path, sizeof(reg_path), "%s/config/devices.json", dir);
	imp = NULL;
	reg = NULL;
	server = 0;
}

static void
stop_server(void)
{
	int status;

	if (server <= 0)
		return;
	kill(server, SIGTERM);
	ck_assert_int_eq(waitpid(server, &status, 0), server);
	server = 0;
}

static void
teardown(void)
{
	stop_server();
	kflash_import_unref(imp);
	kflash_registry_unref(reg);
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static const char *
fixture(const char *name)
{
	static char path[2][4200];
	static int slot;

	slot = !slot;
	snprintf(path[slot], sizeof(path[slot]), "%s/printer-cfg/%s", kf_test_fixtures_dir(), name);
	return path[slot];
}

/* @dir/cfg/@name with @content; its path. */
static const char *
write_cfg(const char *name, const char *content)
{
	static char path[4400];
	char cfg_dir[4200];

	snprintf(cfg_dir, sizeof(cfg_dir), "%s/cfg", dir);
	mkdir(cfg_dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", cfg_dir, name);
	kf_test_write_file(path, content);
	return path;
}

/* A new import of @path (for @unit, asking nobody unless @socket). */
static int
import_file(const char *path, const char *unit)
{
	char none[4300];

	kflash_import_unref(imp);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	snprintf(none, sizeof(none), "%s/no-klipper.sock", dir);
	return kflash_import_add_file(imp, path, unit, none);
}

static void
plan_ok(unsigned int flags)
{
	int r = kflash_import_plan(imp, flags);

	ck_assert_msg(r == 0, "plan: %s (%s)", kflash_error_name(r),
		      kflash_context_last_error(ctx));
}

static void
apply_ok(void)
{
	int r = kflash_import_apply(imp);

	ck_assert_msg(r == 0, "apply: %s (%s)", kflash_error_name(r),
		      kflash_context_last_error(ctx));
}

/* Import @path (no unit), plan and apply it. */
static void
import_apply(const char *path)
{
	int r = import_file(path, NULL);

	ck_assert_msg(r == 0, "add: %s", kflash_context_last_error(ctx));
	plan_ok(0);
	apply_ok();
}

static const struct kflash_import_change *
change(const char *name)
{
	for (size_t i = 0; i < kflash_import_get_change_count(imp); i++)
		if (strcmp(kflash_import_change_get_name(kflash_import_get_change(imp, i)), name) ==
		    0)
			return kflash_import_get_change(imp, i);
	ck_abort_msg("no change for board %s", name);
	return NULL;
}

static int
action(const char *name)
{
	return kflash_import_change_get_action(change(name));
}

/* The registered board @name, from a fresh snapshot (NULL when it is not there). */
static struct kflash_board *
board(const char *name)
{
	kflash_registry_unref(reg);
	ck_assert_int_eq(kflash_registry_load(ctx, &reg), 0);
	return kflash_registry_find_board(reg, name);
}

static size_t
board_count(void)
{
	board("-");
	return kflash_registry_get_board_count(reg);
}

/* The index of @field in @c's fields, or -1. */
static ssize_t
field(const struct kflash_import_change *c, const char *key)
{
	for (size_t i = 0; i < kflash_import_change_get_field_count(c); i++)
		if (strcmp(kflash_import_change_get_field(c, i), key) == 0)
			return (ssize_t)i;
	return -1;
}

/* Change one field of a registered board, as `kflash set` does. */
static void
edit(const char *name, int (*set)(struct kflash_board *, const char *), const char *value)
{
	struct kflash_board *b = board(name);

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(set(b, value), 0);
	ck_assert_int_eq(kflash_registry_update_board(ctx, b), 0);
}

static ino_t
registry_inode(void)
{
	struct stat st;

	ck_assert_int_eq(stat(reg_path, &st), 0);
	return st.st_ino;
}

START_TEST(import_one_mcu)
{
	const struct kflash_import_change *c;
	struct kflash_board *b;
	char bak[4300];
	ino_t ino;

	ck_assert_int_eq(import_file(fixture("one-mcu/printer.cfg"), NULL), 0);
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 0);
	plan_ok(0);
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 1);
	c = kflash_import_get_change(imp, 0);
	ck_assert_ptr_null(kflash_import_get_change(imp, 1));
	ck_assert_int_eq(kflash_import_change_get_action(c), KFLASH_IMPORT_ADD);
	ck_assert_str_eq(kflash_import_change_get_name(c), "mcu");
	ck_assert_str_eq(kflash_import_change_get_section(c), "mcu");
	ck_assert_str_eq(kflash_import_change_get_file(c), fixture("one-mcu/printer.cfg"));
	ck_assert_str_eq(kflash_import_change_get_config(c), fixture("one-mcu/printer.cfg"));
	ck_assert_uint_eq(kflash_import_change_get_line(c), 30);
	ck_assert_ptr_null(kflash_import_change_get_unit(c));
	ck_assert_str_eq(kflash_import_change_get_restart_method(c), "command");
	ck_assert_int_eq(kflash_import_change_get_mcu_source(c), KFLASH_MCU_SOURCE_BY_ID);
	ck_assert_ptr_nonnull(
		strstr(kflash_import_change_get_message(c), "a new board from [mcu] ("));
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(c),
				     "MCU stm32f103xe (from its by-id name)"));
	/* Every field a new board gets, from nothing. */
	ck_assert_uint_eq(kflash_import_change_get_field_count(c), 4);
	ck_assert_str_eq(kflash_import_change_get_field(c, 0), "mcu");
	ck_assert_str_eq(kflash_import_change_get_field(c, 1), "serial_path");
	ck_assert_str_eq(kflash_import_change_get_field(c, 2), "usb_serial");
	ck_assert_str_eq(kflash_import_change_get_field(c, 3), "klipper_mcu");
	ck_assert_ptr_null(kflash_import_change_get_field_old(c, 1));
	ck_assert_str_eq(kflash_import_change_get_field_new(c, 2), "34FFD8054E4B313830761643");
	ck_assert_int_eq(kflash_import_change_get_field_conflict(c, 1), 0);
	ck_assert_ptr_null(kflash_import_change_get_field(c, 4));
	/* A plan writes nothing, and creates no directory. */
	ck_assert_int_eq(kf_fs_exists(reg_path), 0);
	snprintf(bak, sizeof(bak), "%s/config", dir);
	ck_assert_int_eq(kf_fs_exists(bak), 0);

	apply_ok();
	b = board("mcu");
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(kflash_board_get_mcu(b), "stm32f103xe");
	ck_assert_str_eq(kflash_board_get_serial_path(b),
			 "/dev/serial/by-id/usb-Klipper_stm32f103xe_34FFD8054E4B313830761643-if00");
	ck_assert_str_eq(kflash_board_get_usb_serial(b), "34FFD8054E4B313830761643");
	ck_assert_str_eq(kflash_board_get_klipper_mcu(b), "mcu");
	ck_assert_ptr_null(kflash_board_get_service(b));
	ck_assert_uint_eq(kflash_board_get_baud(b), 0);
	ck_assert_str_eq(kflash_board_get_import_config(b), fixture("one-mcu/printer.cfg"));
	ck_assert_str_eq(kflash_board_get_import_section(b), "mcu");

	/* Again: unchanged, and the file is not even rewritten (no backup appears). */
	ino = registry_inode();
	ck_assert_int_eq(import_file(fixture("one-mcu/printer.cfg"), NULL), 0);
	plan_ok(0);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UNCHANGED);
	ck_assert_uint_eq(kflash_import_change_get_field_count(change("mcu")), 0);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("mcu")),
			 KFLASH_MCU_SOURCE_BY_ID);
	ck_assert_ptr_nonnull(
		strstr(kflash_import_change_get_message(change("mcu")), "registered as [mcu] ("));
	apply_ok();
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UNCHANGED);
	ck_assert(registry_inode() == ino);
	snprintf(bak, sizeof(bak), "%s.bak", reg_path);
	ck_assert_int_eq(kf_fs_exists(bak), 0);
	ck_assert_uint_eq(board_count(), 1);
}
END_TEST

START_TEST(import_can_toolhead_and_host_mcu)
{
	struct kflash_board *b;

	import_apply(fixture("can-toolhead/printer.cfg"));
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 3);
	ck_assert_str_eq(kflash_import_change_get_name(kflash_import_get_change(imp, 0)), "mcu");
	ck_assert_str_eq(kflash_import_change_get_name(kflash_import_get_change(imp, 1)), "ebbcan");
	ck_assert_str_eq(kflash_import_change_get_name(kflash_import_get_change(imp, 2)), "host");

	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_mcu(b), "stm32h723xx");
	ck_assert_int_eq(kflash_board_get_link(b), KFLASH_LINK_SERIAL);
	/* The CAN node: its UUID (lower case) on can0, which Klipper uses when none is set. */
	b = board("ebbcan");
	ck_assert_int_eq(kflash_board_get_link(b), KFLASH_LINK_CAN);
	ck_assert_str_eq(kflash_board_get_can_uuid(b), "61755fe321ac");
	ck_assert_str_eq(kflash_board_get_can_interface(b), "can0");
	ck_assert_str_eq(kflash_board_get_klipper_mcu(b), "mcu EBBCan");
	ck_assert_ptr_null(kflash_board_get_serial_path(b));
	/* Nothing tells its MCU: its config will. */
	ck_assert_ptr_null(kflash_board_get_mcu(b));
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("ebbcan")),
			 KFLASH_MCU_SOURCE_NONE);
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(change("ebbcan")),
				     "MCU unknown until the board's config names it"));
	/* Klipper's host MCU. */
	b = board("host");
	ck_assert(kflash_board_is_host_mcu(b));
	ck_assert_int_eq(kflash_board_get_link(b), KFLASH_LINK_HOST);
	ck_assert_str_eq(kflash_board_get_serial_path(b), KFLASH_HOST_MCU_SERIAL_PATH);
	ck_assert_uint_eq(kflash_board_get_baud(b), 0);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("host")),
			 KFLASH_MCU_SOURCE_HOST);

	/* Idempotent. */
	ck_assert_int_eq(import_file(fixture("can-toolhead/printer.cfg"), NULL), 0);
	plan_ok(0);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(kflash_import_change_get_action(kflash_import_get_change(imp, i)),
				 KFLASH_IMPORT_UNCHANGED);
}
END_TEST

START_TEST(import_includes)
{
	const struct kflash_import_change *c;
	struct kflash_board *b;

	import_apply(fixture("includes/printer.cfg"));
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 2);
	/* [mcu] begins in mainboard.cfg, and overrides.cfg moved it to USB. */
	c = change("mcu");
	ck_assert_str_eq(kflash_import_change_get_file(c),
			 fixture("includes/boards/mainboard.cfg"));
	ck_assert_uint_eq(kflash_import_change_get_line(c), 2);
	ck_assert_str_eq(kflash_import_change_get_config(c), fixture("includes/printer.cfg"));
	ck_assert_str_eq(kflash_import_change_get_restart_method(c), "command");
	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_serial_path(b), F446);
	ck_assert_str_eq(kflash_board_get_mcu(b), "stm32f446xx");
	ck_assert_uint_eq(kflash_board_get_baud(b), 500000);
	b = board("sb2040");
	ck_assert_str_eq(kflash_board_get_can_interface(b), "can1");
	ck_assert_str_eq(kflash_board_get_can_uuid(b), "0e0d81e4210c");
}
END_TEST

/* Start the fake Klipper API server on @dir/klippy.sock with @args. */
static void
start_server_v(const char *const *args)
{
	const char *argv[32];
	char ready[4300], sock[4300];
	size_t n = 0;

	snprintf(ready, sizeof(ready), "%s/server.ready", dir);
	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	unlink(ready);
	argv[n++] = getenv("KF_KLIPPY_SERVER_BIN");
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; access(ready, F_OK) != 0; i++) {
		ck_assert_msg(i < 5000, "the fake klippy server did not start");
		usleep(1000);
	}
}

#define start_server(...) start_server_v((const char *const[]){ __VA_ARGS__, NULL })

/* A new import of @path, asking the context's Klipper. */
static void
import_asking(const char *path, unsigned int flags)
{
	kflash_import_unref(imp);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	ck_assert_int_eq(kflash_import_add_file(imp, path, NULL, NULL), 0);
	plan_ok(flags);
}

START_TEST(import_mcu_from_running_klipper)
{
	const char *cfg = fixture("can-toolhead/printer.cfg");
	char log[4300], *requests;

	snprintf(log, sizeof(log), "%s/requests.log", dir);
	start_server("--config-file", cfg, "--log", log, "--mcu", "mcu=v0.12.0-1=stm32h723xx",
		     "--mcu", "mcu EBBCan=v0.12.0-1=stm32g0b1xx", "--mcu",
		     "mcu host=v0.12.0-1=linux");
	import_asking(cfg, 0);
	ck_assert_str_eq(kflash_board_get_mcu(kflash_import_change_get_board(change("ebbcan"))),
			 "stm32g0b1xx");
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("ebbcan")),
			 KFLASH_MCU_SOURCE_KLIPPER);
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(change("ebbcan")),
				     "MCU stm32g0b1xx (as the running Klipper reports it)"));
	/* What the by-id name and the host tell is not asked over. */
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("mcu")),
			 KFLASH_MCU_SOURCE_BY_ID);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("host")),
			 KFLASH_MCU_SOURCE_HOST);
	/* Asked once per import: plan and apply share the answer. */
	apply_ok();
	ck_assert_str_eq(kflash_board_get_mcu(board("ebbcan")), "stm32g0b1xx");
	requests = kf_test_read_file(log);
	ck_assert_ptr_nonnull(requests);
	ck_assert_ptr_null(strstr(strstr(requests, "\"info\"") + 1, "\"info\""));
	free(requests);

	/* Not asked at all when told not to. */
	unlink(log);
	import_asking(cfg, KFLASH_IMPORT_NO_KLIPPY);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("ebbcan")),
			 KFLASH_MCU_SOURCE_BOARD);
	ck_assert_int_eq(kf_fs_exists(log), 0);
}
END_TEST

START_TEST(import_mcu_not_from_another_klipper)
{
	/* The Klipper on the socket runs another config: its MCUs are not these. */
	start_server("--config-file", "/home/pi/printer_data/config/printer.cfg", "--mcu",
		     "mcu EBBCan=v0.12.0-1=stm32g0b1xx");
	import_asking(fixture("can-toolhead/printer.cfg"), 0);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("ebbcan")),
			 KFLASH_MCU_SOURCE_NONE);
	ck_assert(
		kf_test_events_contain(ctx, "runs /home/pi/printer_data/config/printer.cfg, not "));
	stop_server();
	/* A Klipper that fails to answer is no error either. */
	start_server("--misbehave", "malformed");
	import_asking(fixture("can-toolhead/printer.cfg"), 0);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("ebbcan")),
			 KFLASH_MCU_SOURCE_NONE);
	stop_server();
	/* Nor one that is not running. */
	import_asking(fixture("can-toolhead/printer.cfg"), 0);
	ck_assert(
		kf_test_events_contain(ctx, "are not asked from Klipper: Klipper is not running"));
}
END_TEST

START_TEST(import_conflict_with_a_hand_edit)
{
	const struct kflash_import_change *c;
	struct kflash_board *b;
	ssize_t i;

	write_cfg("printer.cfg", "[mcu]\nserial: " F446 "\n");
	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: " F446 "\n"));
	/* By hand, the serial path changes; then the config changes it too. */
	edit("mcu", kflash_board_set_serial_path, "/dev/ttyACM0");
	ck_assert_int_eq(import_file(write_cfg("printer.cfg", "[mcu]\nserial: " F446_B "\n"), NULL),
			 0);
	plan_ok(0);
	c = change("mcu");
	ck_assert_int_eq(kflash_import_change_get_action(c), KFLASH_IMPORT_CONFLICT);
	i = field(c, "serial_path");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(kflash_import_change_get_field_conflict(c, (size_t)i), 1);
	ck_assert_str_eq(kflash_import_change_get_field_old(c, (size_t)i), "/dev/ttyACM0");
	ck_assert_str_eq(kflash_import_change_get_field_new(c, (size_t)i), F446_B);
	/* The USB serial number was not edited: it would just follow the config. */
	i = field(c, "usb_serial");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(kflash_import_change_get_field_conflict(c, (size_t)i), 0);
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(c),
				     "edited since its import, and [mcu] ("));
	ck_assert_ptr_nonnull(
		strstr(kflash_import_change_get_message(c), "serial path /dev/ttyACM0 -> " F446_B));
	/* The board shown is the board as it is. */
	ck_assert_str_eq(kflash_board_get_serial_path(kflash_import_change_get_board(c)),
			 "/dev/ttyACM0");

	/* Applied, the conflict is left alone and said. */
	kf_assert_error(ctx, kflash_import_apply(imp), KFLASH_ERR_EXISTS,
			"board mcu was edited since its import");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_FORCE);
	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_serial_path(b), "/dev/ttyACM0");
	ck_assert_str_eq(kflash_board_get_usb_serial(b), "1A2B3C4D5E6F708192A3B4C5");

	/* Forced, the config wins; the field is still marked as an edit overwritten. */
	plan_ok(KFLASH_IMPORT_FORCE);
	c = change("mcu");
	ck_assert_int_eq(kflash_import_change_get_action(c), KFLASH_IMPORT_UPDATE);
	ck_assert_int_eq(
		kflash_import_change_get_field_conflict(c, (size_t)field(c, "serial_path")), 1);
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(c), "(over an edit)"));
	apply_ok();
	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_serial_path(b), F446_B);
	ck_assert_str_eq(kflash_board_get_usb_serial(b), "BBBB2222CCCC3333");
	/* And after that, nothing is left to do. */
	plan_ok(0);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UNCHANGED);
}
END_TEST

START_TEST(import_keeps_edits_the_config_did_not_change)
{
	const struct kflash_import_change *c;
	struct kflash_board *b;

	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\nbaud: 250000\n"));
	edit("mcu", kflash_board_set_notes, "my notes");
	b = board("mcu");
	ck_assert_int_eq(kflash_board_set_baud(b, 115200), 0);
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_KATAPULT), 0);
	ck_assert_int_eq(kflash_registry_update_board(ctx, b), 0);

	/* The config moves the board; the baud rate it did not change stays as edited. */
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyS0\nbaud: 250000\n"),
			    NULL),
		0);
	plan_ok(0);
	c = change("mcu");
	ck_assert_int_eq(kflash_import_change_get_action(c), KFLASH_IMPORT_UPDATE);
	ck_assert_uint_eq(kflash_import_change_get_field_count(c), 1);
	ck_assert_str_eq(kflash_import_change_get_field(c, 0), "serial_path");
	ck_assert_ptr_nonnull(strstr(kflash_import_change_get_message(c),
				     "changed: serial path /dev/ttyAMA0 -> /dev/ttyS0"));
	apply_ok();
	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_serial_path(b), "/dev/ttyS0");
	ck_assert_uint_eq(kflash_board_get_baud(b), 115200);
	ck_assert_int_eq(kflash_board_get_method(b), KFLASH_METHOD_KATAPULT);
	ck_assert_str_eq(kflash_board_get_notes(b), "my notes");
	/* An edit to what the config now says is no conflict: the record catches up. */
	edit("mcu", kflash_board_set_serial_path, "/dev/ttyUSB0");
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyUSB0\nbaud: 250000\n"),
			    NULL),
		0);
	plan_ok(0);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UNCHANGED);
	apply_ok();
	ck_assert_str_eq(kflash_board_get_serial_path(board("mcu")), "/dev/ttyUSB0");
}
END_TEST

START_TEST(import_follows_config_changes)
{
	struct kflash_board *b;

	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: " F446 "\n"
					      "[mcu tool]\ncanbus_uuid: aabbccddeeff\n"));
	/* From USB to a UART: the USB serial number the import set goes with the by-id path. */
	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\nbaud: 115200\n"
					      "[mcu tool]\ncanbus_uuid: aabbccddeeff\n"
					      "canbus_interface: can1\n"));
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UPDATE);
	ck_assert_int_eq(action("tool"), KFLASH_IMPORT_UPDATE);
	b = board("mcu");
	ck_assert_str_eq(kflash_board_get_serial_path(b), "/dev/ttyAMA0");
	ck_assert_ptr_null(kflash_board_get_usb_serial(b));
	ck_assert_uint_eq(kflash_board_get_baud(b), 115200);
	/* The MCU is not told any more, but it did not change: it stays. */
	ck_assert_str_eq(kflash_board_get_mcu(b), "stm32f446xx");
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("mcu")),
			 KFLASH_MCU_SOURCE_BOARD);
	ck_assert_str_eq(kflash_board_get_can_interface(board("tool")), "can1");
	/* A section that is gone leaves its board alone. */
	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\nbaud: 115200\n"));
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 1);
	ck_assert_ptr_nonnull(board("tool"));
}
END_TEST

START_TEST(import_adopts_a_board_registered_by_hand)
{
	struct kflash_board *b;

	ck_assert_int_eq(kflash_board_new(ctx, "octopus", &b), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(b, F446), 0);
	ck_assert_int_eq(kflash_board_set_method(b, KFLASH_METHOD_KATAPULT), 0);
	ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
	kflash_board_unref(b);

	/* The same device: the board gets what it lacked, and keeps its name. */
	import_apply(fixture("includes/printer.cfg"));
	ck_assert_int_eq(action("octopus"), KFLASH_IMPORT_UPDATE);
	ck_assert_uint_eq(board_count(), 2);
	b = board("octopus");
	ck_assert_str_eq(kflash_board_get_klipper_mcu(b), "mcu");
	ck_assert_uint_eq(kflash_board_get_baud(b), 500000);
	ck_assert_int_eq(kflash_board_get_method(b), KFLASH_METHOD_KATAPULT);
	ck_assert_str_eq(kflash_board_get_import_section(b), "mcu");
	plan_ok(0);
	ck_assert_int_eq(action("octopus"), KFLASH_IMPORT_UNCHANGED);
}
END_TEST

START_TEST(import_hand_registered_board_disagrees)
{
	struct kflash_board *b;

	/* Linked by hand to [mcu], on another port than the config says. */
	ck_assert_int_eq(kflash_board_new(ctx, "pi-uart", &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, "stm32f446xx"), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(b, "/dev/ttyAMA0"), 0);
	ck_assert_int_eq(kflash_board_set_klipper_mcu(b, "mcu"), 0);
	ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
	kflash_board_unref(b);
	ck_assert_int_eq(import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyS0\n"), NULL),
			 0);
	plan_ok(0);
	ck_assert_int_eq(action("pi-uart"), KFLASH_IMPORT_CONFLICT);
	ck_assert_int_eq(kflash_import_apply(imp), KFLASH_ERR_EXISTS);
	ck_assert_str_eq(kflash_board_get_serial_path(board("pi-uart")), "/dev/ttyAMA0");
	plan_ok(KFLASH_IMPORT_FORCE);
	apply_ok();
	ck_assert_str_eq(kflash_board_get_serial_path(board("pi-uart")), "/dev/ttyS0");
}
END_TEST

START_TEST(import_names)
{
	/* A name from a section with odd characters, made valid. */
	import_apply(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\n"
					      "[mcu EBB36_Tool-Head]\ncanbus_uuid: aabbccddeeff\n"
					      "[mcu __x__]\ncanbus_uuid: 112233445566\n"));
	ck_assert_ptr_nonnull(board("ebb36_tool-head"));
	ck_assert_ptr_nonnull(board("x__"));
	/* Sections that give one name are refused, naming both. */
	kf_assert_error(ctx, import_file(fixture("errors/collision.cfg"), NULL), KFLASH_ERR_INVALID,
			"[mcu Tool_Head] (");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), ") and [mcu tool_head] ("));
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx), "both give the board name tool_head"));
	kf_assert_error(ctx,
			import_file(write_cfg("bad.cfg", "[mcu]\nserial: /a\n[mcu --]\n"
							 "serial: /b\n"),
				    NULL),
			KFLASH_ERR_INVALID, "bad.cfg:3: [mcu --] gives no board name");
	kf_assert_error(ctx,
			import_file(write_cfg("bad.cfg", "[mcu]\nserial: /a\n[mcu my board]\n"
							 "serial: /b\n"),
				    NULL),
			KFLASH_ERR_INVALID, "bad.cfg:3: [mcu my board] cannot be imported");
}
END_TEST

START_TEST(import_name_taken_by_another_board)
{
	struct kflash_board *b;

	/* A board named mcu that is not this one (another device, no link). */
	ck_assert_int_eq(kflash_board_new(ctx, "mcu", &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, "rp2040"), 0);
	ck_assert_int_eq(kflash_board_set_serial_path(b, "/dev/ttyUSB7"), 0);
	ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
	kflash_board_unref(b);
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\n"), NULL), 0);
	kf_assert_error(ctx, kflash_import_plan(imp, 0), KFLASH_ERR_EXISTS, "[mcu] (");
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx),
		       "would be board mcu, but another registered board has that name"));
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_EDIT_BOARD);
	kf_assert_error(ctx, kflash_import_apply(imp), KFLASH_ERR_EXISTS, "would be board mcu");
	ck_assert_uint_eq(board_count(), 1);
	/* From an instance, the instance's name makes it another. */
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\n"), "klipper"),
		0);
	plan_ok(0);
	ck_assert_int_eq(action("klipper-mcu"), KFLASH_IMPORT_ADD);
	apply_ok();
	ck_assert_str_eq(kflash_board_get_service(board("klipper-mcu")), "klipper");
}
END_TEST

START_TEST(import_two_instances)
{
	struct kflash_instances *list;
	struct kflash_board *b;
	const char *names[] = { "1-mcu", "2-mcu", "2-toolhead" };

	kf_test_copy_fixture("printer-cfg/instances", dir);
	ck_assert_int_eq(kflash_instances_find(ctx, &list), 0);
	ck_assert_uint_eq(kflash_instances_get_count(list), 2);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(kflash_import_add_instance(imp, kflash_instances_get(list, i)), 0);
	/* An instance twice is refused. */
	kf_assert_error(ctx, kflash_import_add_instance(imp, kflash_instances_get(list, 0)),
			KFLASH_ERR_INVALID, "is in this import already");
	plan_ok(0);
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(kflash_import_change_get_name(kflash_import_get_change(imp, i)),
				 names[i]);
	ck_assert_str_eq(kflash_import_change_get_unit(change("2-toolhead")), "klipper-2");
	apply_ok();
	b = board("1-mcu");
	ck_assert_str_eq(kflash_board_get_service(b), "klipper-1");
	ck_assert_str_eq(kflash_board_get_mcu(b), "rp2040");
	ck_assert_str_eq(kflash_board_get_service(board("2-mcu")), "klipper-2");
	ck_assert_str_eq(kflash_board_get_service(board("2-toolhead")), "klipper-2");

	/* One instance on its own finds its boards by section and unit. */
	kflash_import_unref(imp);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	ck_assert_int_eq(kflash_import_add_instance(imp, kflash_instances_find_name(list, "2")), 0);
	plan_ok(0);
	ck_assert_int_eq(action("2-mcu"), KFLASH_IMPORT_UNCHANGED);
	ck_assert_int_eq(action("2-toolhead"), KFLASH_IMPORT_UNCHANGED);
	kflash_instances_unref(list);
	kf_assert_error(ctx, kflash_import_add_instance(imp, NULL), KFLASH_ERR_INVALID,
			"no Klipper instance to import");
}
END_TEST

START_TEST(import_instances_beside_the_default)
{
	struct kflash_instances *list;

	/* The context's own instance keeps the plain names. */
	kf_test_copy_fixture("printer-cfg/instances", dir);
	ck_assert_int_eq(kflash_context_set_service(ctx, "klipper-2"), 0);
	ck_assert_int_eq(kflash_instances_find(ctx, &list), 0);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(kflash_import_add_instance(imp, kflash_instances_get(list, i)), 0);
	kflash_instances_unref(list);
	plan_ok(0);
	ck_assert_int_eq(action("1-mcu"), KFLASH_IMPORT_ADD);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_ADD);
	ck_assert_int_eq(action("toolhead"), KFLASH_IMPORT_ADD);
}
END_TEST

START_TEST(import_ambiguous_and_shared_boards)
{
	struct kflash_board *b;
	const char *names[] = { "a", "b" };

	/* Two boards linked to [mcu] of the same unit. */
	for (size_t i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/ttyUSB%zu", i);
		ck_assert_int_eq(kflash_board_new(ctx, names[i], &b), 0);
		ck_assert_int_eq(kflash_board_set_mcu(b, "rp2040"), 0);
		ck_assert_int_eq(kflash_board_set_serial_path(b, path), 0);
		ck_assert_int_eq(kflash_board_set_klipper_mcu(b, "mcu"), 0);
		ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
		kflash_board_unref(b);
	}
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\n"), NULL), 0);
	kf_assert_error(ctx, kflash_import_plan(imp, 0), KFLASH_ERR_AMBIGUOUS,
			"could be board a or board b");
	/* Two sections that are one board: a's device, and a's link. */
	ck_assert_int_eq(kflash_registry_remove_board(ctx, "b"), 0);
	ck_assert_int_eq(import_file(write_cfg("printer.cfg", "[mcu x]\nserial: /dev/ttyUSB0\n"
							      "[mcu]\nserial: /dev/ttyUSB1\n"),
				     NULL),
			 0);
	kf_assert_error(ctx, kflash_import_plan(imp, 0), KFLASH_ERR_INVALID, "[mcu x] (");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), ") are both board a"));
	/* A new board on a port another board has. */
	ck_assert_int_eq(import_file(write_cfg("printer.cfg", "[mcu]\nserial: /dev/ttyAMA0\n"
							      "[mcu z]\nserial: /dev/ttyAMA0\n"),
				     "klipper-9"),
			 0);
	kf_assert_error(ctx, kflash_import_plan(imp, 0), KFLASH_ERR_EXISTS,
			"board z has serial path /dev/ttyAMA0, which belongs to board mcu already");
	ck_assert_uint_eq(board_count(), 1);
}
END_TEST

START_TEST(import_refused_configs)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "[printer]\nkinematics: none\n", "has no [mcu] section" },
		{ "[mcu]\nserial: ttyAMA0\n",
		  "c.cfg:2: serial 'ttyAMA0' of [mcu] cannot be imported: use an absolute path" },
		{ "[mcu]\nserial: /a\n[mcu t]\ncanbus_uuid: 61755fe321\n",
		  "c.cfg:4: canbus_uuid '61755fe321' of [mcu t] cannot be imported: use 12 "
		  "hexadecimal digits" },
		{ "[mcu]\nserial: /a\n[mcu t]\ncanbus_uuid: 61755fe321ac\ncanbus_interface: c a "
		  "n\n",
		  "c.cfg:5: canbus_interface 'c a n' of [mcu t] cannot be imported" },
		{ "[mcu]\nbaud: 250000\n", "c.cfg:1: [mcu] has neither serial nor canbus_uuid" },
		{ "[mcu]\nserial: /dev/ttyAMA0\nbaud: fast\n",
		  "c.cfg:3: baud 'fast' of [mcu] cannot be imported: use a number from 1200" },
		{ "[mcu]\nserial: /dev/ttyAMA0\nbaud: 99\n", "baud '99' of [mcu]" },
		{ "[mcu]\nserial: /dev/ttyAMA0\nrestart_method: reboot\n",
		  "c.cfg:3: restart_method 'reboot' of [mcu] cannot be imported: use arduino, "
		  "cheetah, command or rpi_usb" },
		{ "[mcu]\nserial: /dev/ttyAMA0\n  /dev/ttyS0\n",
		  "c.cfg:2: serial of [mcu] spans several lines" },
	};

	for (size_t i = 0; i < KF_ARRAY_SIZE(cases); i++)
		kf_assert_error(ctx, import_file(write_cfg("c.cfg", cases[i].text), NULL),
				KFLASH_ERR_INVALID, cases[i].message);
	/* The fixtures' refused configs, and the reader's errors. */
	kf_assert_error(ctx, import_file(fixture("errors/no-mcu.cfg"), NULL), KFLASH_ERR_INVALID,
			"no-mcu.cfg has no [mcu] section");
	kf_assert_error(ctx, import_file(fixture("errors/relative-serial.cfg"), NULL),
			KFLASH_ERR_INVALID, "relative-serial.cfg:2: serial 'ttyAMA0'");
	kf_assert_error(ctx, import_file(fixture("errors/bad-uuid.cfg"), NULL), KFLASH_ERR_INVALID,
			"bad-uuid.cfg:5: canbus_uuid");
	kf_assert_error(ctx, import_file(fixture("errors/no-serial.cfg"), NULL), KFLASH_ERR_INVALID,
			"neither serial nor canbus_uuid");
	kf_assert_error(ctx, import_file(fixture("errors/missing-include.cfg"), NULL),
			KFLASH_ERR_NOT_FOUND, "missing-include.cfg:4: the included file");
	kf_assert_error(ctx, import_file(fixture("errors/loop-a.cfg"), NULL), KFLASH_ERR_INVALID,
			"an include loop");
	kf_assert_error(ctx, import_file(fixture("errors/bad-section.cfg"), NULL),
			KFLASH_ERR_CORRUPT, "bad-section.cfg:4:");
	/* Nothing was added by any of them. */
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 0);
	kf_assert_error(ctx, kflash_import_plan(imp, 0), KFLASH_ERR_INVALID, "nothing to import");
	kf_assert_error(ctx, kflash_import_apply(imp), KFLASH_ERR_INVALID, "nothing to import");
	/* Units a board cannot have, configs twice. */
	kf_assert_error(ctx, import_file(fixture("one-mcu/printer.cfg"), "bad unit"),
			KFLASH_ERR_INVALID, "'bad unit' is not a systemd unit");
	ck_assert_int_eq(import_file(fixture("one-mcu/printer.cfg"), "klipper-1"), 0);
	kf_assert_error(
		ctx,
		kflash_import_add_file(imp, fixture("can-toolhead/printer.cfg"), "klipper-1", NULL),
		KFLASH_ERR_INVALID, "the unit klipper-1 has a config in this import");
	kf_assert_error(ctx,
			kflash_import_add_file(imp, fixture("one-mcu/printer.cfg"), NULL, NULL),
			KFLASH_ERR_INVALID, "is in this import already");
	kf_assert_error(ctx, kflash_import_add_file(imp, NULL, NULL, NULL), KFLASH_ERR_INVALID,
			"no Klipper config to import");
	ck_assert_int_eq(kf_fs_exists(reg_path), 0);
}
END_TEST

START_TEST(import_apply_plans_again_under_the_lock)
{
	struct kflash_board *b;

	ck_assert_int_eq(import_file(fixture("one-mcu/printer.cfg"), NULL), 0);
	plan_ok(0);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_ADD);
	/* Meanwhile the board is registered by hand. */
	ck_assert_int_eq(kflash_board_new(ctx, "skr", &b), 0);
	ck_assert_int_eq(
		kflash_board_set_serial_path(
			b,
			"/dev/serial/by-id/usb-Klipper_stm32f103xe_34FFD8054E4B313830761643-if00"),
		0);
	ck_assert_int_eq(kflash_registry_add_board(ctx, b), 0);
	kflash_board_unref(b);
	apply_ok();
	ck_assert_uint_eq(kflash_import_get_change_count(imp), 1);
	ck_assert_int_eq(action("skr"), KFLASH_IMPORT_UPDATE);
	ck_assert_uint_eq(board_count(), 1);
	ck_assert_str_eq(kflash_board_get_klipper_mcu(board("skr")), "mcu");
}
END_TEST

START_TEST(import_keeps_old_records)
{
	char *text;

	/* A record of another version: a field this one does not know, no "imported". */
	char config_dir[4200];

	snprintf(config_dir, sizeof(config_dir), "%s/config", dir);
	ck_assert_int_eq(mkdir(config_dir, 0700), 0);
	kf_test_write_file(reg_path, "{\"version\": 1, \"boards\": [{\"name\": \"old\", \"mcu\": "
				     "\"rp2040\", \"serial_path\": \"/dev/ttyACM5\", \"future\": "
				     "{\"x\": 1}, \"imported\": \"not an object\"}]}\n");
	import_apply(fixture("one-mcu/printer.cfg"));
	ck_assert_uint_eq(board_count(), 2);
	text = kf_test_read_file(reg_path);
	ck_assert_ptr_nonnull(strstr(text, "\"future\": {"));
	ck_assert_ptr_nonnull(strstr(text, "\"imported\": \"not an object\""));
	free(text);
	ck_assert_ptr_null(kflash_board_get_import_config(board("old")));
	ck_assert_ptr_null(kflash_board_get_import_section(board("old")));
	ck_assert_ptr_null(kflash_board_get_import_config(NULL));
}
END_TEST

START_TEST(import_mcu_required_unless_imported)
{
	struct kflash_board *b;

	/* A board added by hand still needs its MCU. */
	ck_assert_int_eq(kflash_board_new(ctx, "nomcu", &b), 0);
	ck_assert_int_eq(kflash_board_set_can_uuid(b, "aabbccddeeff"), 0);
	kf_assert_error(ctx, kflash_registry_add_board(ctx, b), KFLASH_ERR_INVALID,
			"board nomcu has no MCU");
	kflash_board_unref(b);
	/* One imported may wait for its config, and is registered. */
	import_apply(write_cfg("printer.cfg", "[mcu]\ncanbus_uuid: aabbccddeeff\n"));
	b = board("mcu");
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(kflash_board_get_mcu(b));
	/* Its MCU set later (by its config) is no conflict with a later import. */
	edit("mcu", kflash_board_set_mcu, "stm32g0b1xx");
	ck_assert_int_eq(
		import_file(write_cfg("printer.cfg", "[mcu]\ncanbus_uuid: aabbccddeeff\n"), NULL),
		0);
	plan_ok(0);
	ck_assert_int_eq(action("mcu"), KFLASH_IMPORT_UNCHANGED);
	ck_assert_int_eq(kflash_import_change_get_mcu_source(change("mcu")),
			 KFLASH_MCU_SOURCE_BOARD);
}
END_TEST

START_TEST(import_names_of_enums_and_null_safety)
{
	ck_assert_str_eq(kflash_import_action_name(KFLASH_IMPORT_ADD), "add");
	ck_assert_str_eq(kflash_import_action_name(KFLASH_IMPORT_UPDATE), "update");
	ck_assert_str_eq(kflash_import_action_name(KFLASH_IMPORT_UNCHANGED), "unchanged");
	ck_assert_str_eq(kflash_import_action_name(KFLASH_IMPORT_CONFLICT), "conflict");
	ck_assert_ptr_null(kflash_import_action_name(4));
	ck_assert_ptr_null(kflash_import_action_name(-1));
	ck_assert_str_eq(kflash_mcu_source_name(KFLASH_MCU_SOURCE_NONE), "none");
	ck_assert_str_eq(kflash_mcu_source_name(KFLASH_MCU_SOURCE_BOARD), "board");
	ck_assert_str_eq(kflash_mcu_source_name(KFLASH_MCU_SOURCE_BY_ID), "by-id");
	ck_assert_str_eq(kflash_mcu_source_name(KFLASH_MCU_SOURCE_KLIPPER), "klipper");
	ck_assert_str_eq(kflash_mcu_source_name(KFLASH_MCU_SOURCE_HOST), "host");
	ck_assert_ptr_null(kflash_mcu_source_name(5));
	ck_assert_int_eq(kflash_import_new(ctx, NULL), KFLASH_ERR_INVALID);
	ck_assert_ptr_null(kflash_import_ref(NULL));
	ck_assert_ptr_null(kflash_import_unref(NULL));
	ck_assert_int_eq(kflash_import_add_file(NULL, "/x", NULL, NULL), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_import_plan(NULL, 0), KFLASH_ERR_INVALID);
	ck_assert_int_eq(kflash_import_apply(NULL), KFLASH_ERR_INVALID);
	ck_assert_uint_eq(kflash_import_get_change_count(NULL), 0);
	ck_assert_ptr_null(kflash_import_get_change(NULL, 0));
	ck_assert_ptr_null(kflash_import_change_get_name(NULL));
	ck_assert_ptr_null(kflash_import_change_get_message(NULL));
	ck_assert_uint_eq(kflash_import_change_get_field_count(NULL), 0);
	ck_assert_ptr_null(kflash_import_change_get_field_old(NULL, 0));
	ck_assert_int_eq(kflash_import_change_get_field_conflict(NULL, 0), 0);
	ck_assert_int_eq(kflash_import_new(ctx, &imp), 0);
	ck_assert_ptr_eq(kflash_import_ref(imp), imp);
	ck_assert_ptr_null(kflash_import_unref(imp));
}
END_TEST

KF_TEST_SUITE(import)
{
	kf_test_fixture(setup, teardown);
	kf_test_add(import_one_mcu);
	kf_test_add(import_can_toolhead_and_host_mcu);
	kf_test_add(import_includes);
	kf_test_add(import_mcu_from_running_klipper);
	kf_test_add(import_mcu_not_from_another_klipper);
	kf_test_add(import_conflict_with_a_hand_edit);
	kf_test_add(import_keeps_edits_the_config_did_not_change);
	kf_test_add(import_follows_config_changes);
	kf_test_add(import_adopts_a_board_registered_by_hand);
	kf_test_add(import_hand_registered_board_disagrees);
	kf_test_add(import_names);
	kf_test_add(import_name_taken_by_another_board);
	kf_test_add(import_two_instances);
	kf_test_add(import_instances_beside_the_default);
	kf_test_add(import_ambiguous_and_shared_boards);
	kf_test_add(import_refused_configs);
	kf_test_add(import_apply_plans_again_under_the_lock);
	kf_test_add(import_keeps_old_records);
	kf_test_add(import_mcu_required_unless_imported);
	kf_test_add(import_names_of_enums_and_null_safety);
}
