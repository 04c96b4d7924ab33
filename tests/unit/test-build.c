/* SPDX-License-Identifier: MIT */
/*
 * Configs and builds against the fake Klipper tree (tests/fake-klipper),
 * with the real configs Klipper's kconfig generated
 * (tests/fixtures/klipper-configs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static char log_path[4200];
static struct kflash_context *ctx;

static void
setup(void)
{
	char path[9000];

	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	kf_test_fake_klipper(dir);
	snprintf(log_path, sizeof(log_path), "%s/make.log", dir);
	setenv("KF_FAKE_KLIPPER_LOG", log_path, 1);
	if (!strstr(getenv("PATH"), getenv("KF_FAKES_BIN"))) {
		snprintf(path, sizeof(path), "%s:%s", getenv("KF_FAKES_BIN"), getenv("PATH"));
		setenv("PATH", path, 1);
	}
	unsetenv("KF_FAKE_KLIPPER_FAIL");
	unsetenv("KF_FAKE_KLIPPER_HANG");
	unsetenv("KF_FAKE_GCC_VERSION");
	unsetenv("KF_FAKE_KLIPPER_DICT_MCU");
	unsetenv("KF_FAKE_KLIPPER_NO_DICT");
	unsetenv("KF_FAKE_KLIPPER_NO_FIRMWARE");
	unsetenv("KF_FAKE_MENUCONFIG_FROM");
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static char *
fixture(const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/klipper-configs/%s.config", kf_test_fixtures_dir(), name) > 0);
	return p;
}

static struct kflash_board *
board(const char *name, const char *mcu)
{
	struct kflash_board *b;

	ck_assert_int_eq(kflash_board_new(ctx, name, &b), 0);
	ck_assert_int_eq(kflash_board_set_mcu(b, mcu), 0);
	return b;
}

static int
log_lines(const char *prefix)
{
	char *text = kf_test_read_file(log_path);
	int n = 0;

	for (char *p = text; p && *p;) {
		char *end = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

static void
seed(struct kflash_board *b, const char *fixture_name)
{
	char *from = fixture(fixture_name);

	ck_assert_msg(kflash_board_config_seed(ctx, b, from) == 0, "%s",
		      kflash_context_last_error(ctx));
	free(from);
}

/* ---- parsing ---- */

static const struct {
	const char *file, *mcu, *dir;
	uint32_t app;
	enum kflash_comm comm;
	uint32_t baud, canbus;
} configs[] = {
	{ "stm32f446_usb", "stm32f446xx", "stm32", 0x8008000, KFLASH_COMM_USB, 0, 1000000 },
	{ "stm32f446_can_katapult", "stm32f446xx", "stm32", 0x8008000, KFLASH_COMM_CAN, 0,
	  1000000 },
	{ "stm32h723_usbcan", "stm32h723xx", "stm32", 0x8020000, KFLASH_COMM_USB_CAN_BRIDGE, 0,
	  1000000 },
	{ "rp2040_usb", "rp2040", "rp2040", 0x10000100, KFLASH_COMM_USB, 0, 1000000 },
	{ "rp2040_can_katapult", "rp2040", "rp2040", 0x10004000, KFLASH_COMM_CAN, 0, 1000000 },
	{ "atmega2560", "atmega2560", "avr", 0, KFLASH_COMM_UART, 250000, 1000000 },
	{ "linux", "linux", "linux", 0, KFLASH_COMM_LINUX, 0, 1000000 },
};

START_TEST(config_parses_real_configs)
{
	struct kflash_config *c;
	char *path = fixture(configs[_i].file);

	setup();
	ck_assert_int_eq(kflash_config_load(ctx, path, &c), 0);
	ck_assert_str_eq(kflash_config_get_mcu(c), configs[_i].mcu);
	ck_assert_str_eq(kflash_config_get_board_directory(c), configs[_i].dir);
	ck_assert_uint_eq(kflash_config_get_application_address(c), configs[_i].app);
	ck_assert_int_eq(kflash_config_get_comm(c), configs[_i].comm);
	ck_assert_uint_eq(kflash_config_get_serial_baud(c), configs[_i].baud);
	ck_assert_uint_eq(kflash_config_get_canbus_frequency(c), configs[_i].canbus);
	ck_assert_str_eq(kflash_config_get_path(c), path);
	ck_assert_ptr_null(kflash_config_get_value(c, "CONFIG_NOT_THERE"));
	ck_assert_ptr_eq(kflash_config_ref(c), c);
	kflash_config_unref(c);
	kflash_config_unref(c);
	free(path);
	teardown();
}
END_TEST

START_TEST(config_names_and_matching)
{
	ck_assert_str_eq(kflash_comm_name(KFLASH_COMM_USB_CAN_BRIDGE), "usb-can-bridge");
	ck_assert_str_eq(kflash_comm_name((enum kflash_comm)42), "unknown");
	ck_assert_int_eq(kflash_mcu_matches("stm32h723", "stm32h723xx"), 1);
	ck_assert_int_eq(kflash_mcu_matches("STM32F446XX", "stm32f446"), 1);
	ck_assert_int_eq(kflash_mcu_matches("stm32f446xx", "stm32f446xx"), 1);
	ck_assert_int_eq(kflash_mcu_matches("stm32f446xx", "stm32f407xx"), 0);
	ck_assert_int_eq(kflash_mcu_matches("rp2040", "rp2350"), 0);
	ck_assert_int_eq(kflash_mcu_matches("", "rp2040"), 0);
	ck_assert_int_eq(kflash_mcu_matches(NULL, "rp2040"), 0);
}
END_TEST

START_TEST(config_load_errors)
{
	struct kflash_config *c = NULL;
	char other[4300];

	setup();
	snprintf(other, sizeof(other), "%s/notes.txt", dir);
	kf_test_write_file(other, "CONFIG_MCU=\"rp2040\"\n# just some text\n");
	kf_assert_error(ctx, kflash_config_load(ctx, other, &c), KFLASH_ERR_CORRUPT,
			"is not a Klipper config");
	ck_assert_ptr_null(c);
	kf_assert_error(ctx, kflash_config_load(ctx, "/nonexistent/.config", &c),
			KFLASH_ERR_NOT_FOUND, "/nonexistent/.config");
	kf_assert_error(ctx, kflash_config_load(ctx, NULL, &c), KFLASH_ERR_INVALID, "no config");
	teardown();
}
END_TEST

/* ---- a board's cached config ---- */

START_TEST(board_config_seed_checks_the_mcu)
{
	struct kflash_board *b;
	struct kflash_config *c = NULL;
	char *wrong = fixture("rp2040_usb"), path[4300], *first;
	struct stat st;

	setup();
	b = board("octopus", "stm32f446xx");
	kf_assert_error(ctx, kflash_board_config_load(ctx, b, &c), KFLASH_ERR_NOT_FOUND,
			"create it with Klipper's menuconfig, or seed it from a .config file");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_CONFIGURE_BOARD);
	ck_assert_str_eq(kflash_context_last_error_subject(ctx), "octopus");
	kf_assert_error(ctx, kflash_board_config_seed(ctx, b, wrong), KFLASH_ERR_MCU_MISMATCH,
			"board octopus is a stm32f446xx");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "is for a rp2040"));
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), wrong));
	snprintf(path, sizeof(path), "%s/config/configs/octopus.config", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	{
		/* A Klipper config that names no MCU, and is not the Linux process's. */
		char *text = kf_test_read_file(wrong), *line = strstr(text, "CONFIG_MCU=");
		char nomcu[4300];

		ck_assert_ptr_nonnull(line);
		line[0] = '#';
		snprintf(nomcu, sizeof(nomcu), "%s/nomcu.config", dir);
		kf_test_write_file(nomcu, text);
		free(text);
		kf_assert_error(ctx, kflash_board_config_seed(ctx, b, nomcu), KFLASH_ERR_CORRUPT,
				"names no MCU (no CONFIG_MCU); configure the board again");
		ck_assert_int_eq(access(path, F_OK), -1);
	}

	seed(b, "stm32f446_usb");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	first = kf_test_read_file(path);
	seed(b, "stm32f446_can_katapult");
	{
		char old[4400], *kept;

		snprintf(old, sizeof(old), "%s.old", path);
		kept = kf_test_read_file(old);
		ck_assert_str_eq(kept, first);
		free(kept);
	}
	ck_assert_int_eq(kflash_board_config_load(ctx, b, &c), 0);
	ck_assert_int_eq(kflash_config_get_comm(c), KFLASH_COMM_CAN);
	kflash_config_unref(c);

	/* A config that does not match any more is refused on load. */
	kflash_board_unref(b);
	b = board("octopus", "stm32h723xx");
	kf_assert_error(ctx, kflash_board_config_load(ctx, b, &c), KFLASH_ERR_MCU_MISMATCH,
			"is for a stm32f446xx");
	free(first);
	free(wrong);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(board_config_refresh_and_menuconfig)
{
	struct kflash_board *b;
	char path[4300], *text;
	int saved_stdin;

	setup();
	b = board("pico", "rp2040");
	kf_assert_error(ctx, kflash_board_config_refresh(ctx, b), KFLASH_ERR_NOT_FOUND,
			"no config to refresh");
	seed(b, "rp2040_usb");
	ck_assert_msg(kflash_board_config_refresh(ctx, b) == 0, "%s",
		      kflash_context_last_error(ctx));
	ck_assert_int_eq(log_lines("make olddefconfig KCONFIG_CONFIG="), 1);
	snprintf(path, sizeof(path), "%s/config/configs/pico.config", dir);
	text = kf_test_read_file(path);
	ck_assert_ptr_nonnull(strstr(text, "CONFIG_FAKE_REFRESHED=y"));
	free(text);

	/* menuconfig needs a terminal. */
	saved_stdin = dup(STDIN_FILENO);
	ck_assert(freopen("/dev/null", "r", stdin) != NULL);
	kf_assert_error(ctx, kflash_board_config_menuconfig(ctx, b), KFLASH_ERR_NOT_TTY,
			"menuconfig for board pico needs a terminal; without one, seed the "
			"config from a .config file, or refresh the one it has");
	dup2(saved_stdin, STDIN_FILENO);
	close(saved_stdin);
	ck_assert_int_eq(log_lines("make menuconfig"), 0);
	kflash_board_unref(b);
	teardown();
}
END_TEST

/* ---- builds ---- */

static struct kflash_build *
build_ok(struct kflash_board *b, unsigned int flags)
{
	struct kflash_build *out = NULL;

	ck_assert_msg(kflash_build_board(ctx, b, flags, &out) == 0, "%s",
		      kflash_context_last_error(ctx));
	return out;
}

START_TEST(build_once_then_up_to_date)
{
	struct kflash_board *b;
	struct kflash_build *r;
	char artifact[4300];
	uint64_t start;

	setup();
	b = board("octopus", "stm32f446xx");
	seed(b, "stm32f446_usb");
	r = build_ok(b, 0);
	snprintf(artifact, sizeof(artifact), "%s/cache/build/octopus/klipper.bin", dir);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_BUILT);
	ck_assert_str_eq(kflash_build_get_artifact(r), artifact);
	ck_assert_str_eq(kflash_firmware_get_mcu(kflash_build_get_firmware(r)), "stm32f446xx");
	ck_assert_ptr_nonnull(
		strstr(kflash_firmware_get_version(kflash_build_get_firmware(r)), "v0.12.0-0-g"));
	ck_assert_uint_eq(strlen(kflash_build_get_fingerprint(r)), 64);
	ck_assert_int_eq(log_lines("make clean"), 1);
	ck_assert_int_eq(log_lines("make build"), 1);
	ck_assert(kf_test_events_contain(ctx, "Compiling"));
	kflash_build_unref(r);

	/* Nothing changed: make does not run at all. */
	start = kf_now_ms();
	r = build_ok(b, 0);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_UP_TO_DATE);
	ck_assert_int_eq(log_lines("make "), 2);
	ck_assert_uint_lt(kf_now_ms() - start, 30000); /* only catches hangs */
	kflash_build_unref(r);

	/* --clean forces a clean build. */
	r = build_ok(b, KFLASH_BUILD_CLEAN);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(log_lines("make clean"), 2);
	kflash_build_unref(r);

	/* A damaged artifact is rebuilt, without a clean. */
	kf_test_write_file(artifact, "damaged");
	r = build_ok(b, 0);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(log_lines("make clean"), 2);
	ck_assert_int_eq(log_lines("make build"), 3);
	kflash_build_unref(r);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_again_when_the_config_or_compiler_changes)
{
	struct kflash_board *b;
	struct kflash_build *r;

	setup();
	b = board("octopus", "stm32f446xx");
	seed(b, "stm32f446_usb");
	kflash_build_unref(build_ok(b, 0));
	seed(b, "stm32f446_can_katapult");
	r = build_ok(b, 0);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(log_lines("make clean"), 2);
	kflash_build_unref(r);

	/*
	 * A new compiler (the version is read again when the program changes:
	 * a copy of the fake, first on PATH, telling another version).
	 */
	{
		char cmd[9000], path[9000];

		snprintf(cmd, sizeof(cmd),
			 "mkdir -p '%s/bin' && cp '%s/arm-none-eabi-gcc' '%s/bin/'", dir,
			 getenv("KF_FAKES_BIN"), dir);
		ck_assert_int_eq(system(cmd), 0);
		snprintf(path, sizeof(path), "%s/bin:%s", dir, getenv("PATH"));
		setenv("PATH", path, 1);
	}
	setenv("KF_FAKE_GCC_VERSION", "arm-none-eabi-gcc 13.2.1", 1);
	r = build_ok(b, 0);
	ck_assert_int_eq(kflash_build_get_result(r), KFLASH_BUILD_BUILT);
	ck_assert_int_eq(log_lines("make clean"), 3);
	kflash_build_unref(r);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_linux_process)
{
	struct kflash_board *b;
	struct kflash_build *r;

	setup();
	b = board("host", "linux");
	seed(b, "linux");
	r = build_ok(b, 0);
	ck_assert_ptr_nonnull(strstr(kflash_build_get_artifact(r), "/klipper.elf"));
	ck_assert_str_eq(kflash_firmware_get_mcu(kflash_build_get_firmware(r)), "linux");
	kflash_build_unref(r);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_errors)
{
	struct kflash_board *b;
	struct kflash_build *r = NULL;

	setup();
	b = board("octopus", "stm32f446xx");
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_NOT_FOUND,
			"has no Klipper config yet");
	seed(b, "stm32f446_usb");

	setenv("KF_FAKE_KLIPPER_FAIL", "1", 1);
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_BUILD,
			"failed with exit status 2");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "'timer' undeclared"));
	ck_assert_ptr_null(r);
	unsetenv("KF_FAKE_KLIPPER_FAIL");

	/* The firmware comes out for another MCU than the board's. */
	setenv("KF_FAKE_KLIPPER_DICT_MCU", "stm32f407xx", 1);
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_MCU_MISMATCH,
			"is for a stm32f407xx");
	unsetenv("KF_FAKE_KLIPPER_DICT_MCU");

	/* Without klipper.dict the MCU cannot be checked: a clean build is the fix. */
	setenv("KF_FAKE_KLIPPER_NO_DICT", "1", 1);
	kf_assert_error(ctx, kflash_build_board(ctx, b, KFLASH_BUILD_CLEAN, &r), KFLASH_ERR_BUILD,
			"has no Klipper data dictionary (klipper.dict)");
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx), "build it again from scratch"));
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_CLEAN_BUILD);
	unsetenv("KF_FAKE_KLIPPER_NO_DICT");

	/* make said yes, but left nothing to flash. */
	setenv("KF_FAKE_KLIPPER_NO_FIRMWARE", "1", 1);
	kf_assert_error(ctx, kflash_build_board(ctx, b, KFLASH_BUILD_CLEAN, &r), KFLASH_ERR_BUILD,
			"make succeeded but left no firmware (klipper.bin");
	unsetenv("KF_FAKE_KLIPPER_NO_FIRMWARE");

	/* No Klipper tree. */
	ck_assert_int_eq(kflash_context_set_klipper_dir(ctx, "/nonexistent/klipper"), 0);
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_NOT_FOUND,
			"no Klipper source tree at /nonexistent/klipper");
	kf_assert_error(ctx, kflash_build_board(ctx, NULL, 0, &r), KFLASH_ERR_INVALID, "no board");
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_refuses_a_config_for_another_mcu_before_make)
{
	struct kflash_board *b;
	struct kflash_build *r = NULL;
	char path[4300], *text;

	setup();
	b = board("octopus", "stm32f446xx");
	seed(b, "stm32f446_usb");
	/* Edited by hand for another MCU since. */
	snprintf(path, sizeof(path), "%s/config/configs/octopus.config", dir);
	text = kf_test_read_file(path);
	strstr(text, "stm32f446xx")[7] = '0';
	strstr(text, "stm32f406xx")[8] = '7';
	kf_test_write_file(path, text);
	free(text);
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_MCU_MISMATCH,
			"is for a stm32f407xx");
	ck_assert_int_eq(log_lines("make"), 0);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_refuses_a_board_without_its_mcu)
{
	struct kflash_board *b;
	struct kflash_build *r = NULL;

	/* A board imported from printer.cfg before its config named the MCU. */
	setup();
	ck_assert_int_eq(kflash_board_new(ctx, "toolhead", &b), 0);
	seed(b, "rp2040_usb");
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_INVALID,
			"board toolhead has no MCU yet");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_CONFIGURE_BOARD);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(log_lines("make"), 0);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_hang_is_killed_with_its_group)
{
	struct kflash_board *b;
	struct kflash_build *r = NULL;
	char pid_file[4300], *pid_text;
	pid_t child;

	setup();
	b = board("octopus", "stm32f446xx");
	seed(b, "stm32f446_usb");
	snprintf(pid_file, sizeof(pid_file), "%s/hang.pid", dir);
	setenv("KF_FAKE_KLIPPER_HANG", pid_file, 1);
	kflash_context_set_timeout(ctx, KFLASH_TIMEOUT_BUILD,
				   kf_test_under_valgrind() ? 5000 : 1000);
	kf_assert_error(ctx, kflash_build_board(ctx, b, 0, &r), KFLASH_ERR_TIMEOUT,
			"did not finish within");
	unsetenv("KF_FAKE_KLIPPER_HANG");
	pid_text = kf_test_read_file(pid_file);
	ck_assert_ptr_nonnull(pid_text);
	child = (pid_t)atoi(pid_text);
	/* make's grandchild went with the group. */
	for (int i = 0; i < 200 && kill(child, 0) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(kill(child, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	free(pid_text);
	kflash_board_unref(b);
	teardown();
}
END_TEST

START_TEST(build_leaves_the_klipper_tree_as_it_was)
{
	struct kflash_board *b;
	char cmd[9000], *before, *after, out[4400];

	setup();
	snprintf(out, sizeof(out), "%s/status", dir);
	snprintf(cmd, sizeof(cmd), "cd '%s/klipper' && git status --porcelain --ignored > '%s'",
		 dir, out);
	ck_assert_int_eq(system(cmd), 0);
	before = kf_test_read_file(out);
	b = board("octopus", "stm32f446xx");
	seed(b, "stm32f446_usb");
	ck_assert_int_eq(kflash_board_config_refresh(ctx, b), 0);
	kflash_build_unref(build_ok(b, 0));
	ck_assert_int_eq(system(cmd), 0);
	after = kf_test_read_file(out);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	kflash_board_unref(b);
	teardown();
}
END_TEST

KF_TEST_SUITE(build)
{
	kf_test_add_loop(config_parses_real_configs, (int)KF_ARRAY_SIZE(configs));
	kf_test_add(config_names_and_matching);
	kf_test_add(config_load_errors);
	kf_test_add(board_config_seed_checks_the_mcu);
	kf_test_add_timeout(board_config_refresh_and_menuconfig, 30);
	kf_test_add_timeout(build_once_then_up_to_date, 60);
	kf_test_add_timeout(build_again_when_the_config_or_compiler_changes, 60);
	kf_test_add_timeout(build_linux_process, 30);
	kf_test_add_timeout(build_errors, 60);
	kf_test_add_timeout(build_refuses_a_config_for_another_mcu_before_make, 30);
	kf_test_add_timeout(build_refuses_a_board_without_its_mcu, 30);
	kf_test_add_timeout(build_hang_is_killed_with_its_group, 60);
	kf_test_add_timeout(build_leaves_the_klipper_tree_as_it_was, 60);
}
