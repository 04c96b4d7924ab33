/* SPDX-License-Identifier: MIT */
/*
 * The checks that disturb nothing (include/kflash/check.h, and the unit
 * checks of include/kflash/service.h): the Klipper tree against the fake
 * one, build programs against the real configs Klipper's kconfig made,
 * Katapult's presence, the free-space thresholds, and a unit's load state
 * and sudo against the fake systemctl and sudo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check/check-private.h"
#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static char log_path[4200], state_dir[4200];
static struct kflash_context *ctx;

static void
setup(void)
{
	char path[9000];

	dir = kf_test_mkdtemp();
	/* Another uid writes the fakes' log in the sudo test. */
	chmod(dir, 0777);
	snprintf(log_path, sizeof(log_path), "%s/calls.log", dir);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	ck_assert_int_eq(mkdir(state_dir, 0777), 0);
	chmod(state_dir, 0777);
	if (!strstr(getenv("PATH"), getenv("KF_FAKES_BIN"))) {
		snprintf(path, sizeof(path), "%s:%s", getenv("KF_FAKES_BIN"), getenv("PATH"));
		setenv("PATH", path, 1);
	}
	setenv("KF_FAKE_LOG", log_path, 1);
	setenv("KF_FAKE_STATE", state_dir, 1);
	unsetenv("KF_FAKE_FAIL");
	unsetenv("KF_FAKE_SUDO");
	unsetenv("KF_FAKE_GCC_VERSION");
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static struct kflash_config *
fixture_config(const char *name)
{
	struct kflash_config *c = NULL;
	char path[4400];

	snprintf(path, sizeof(path), "%s/klipper-configs/%s.config", kf_test_fixtures_dir(), name);
	ck_assert_int_eq(kflash_config_load(ctx, path, &c), 0);
	return c;
}

/* A config in the test dir with @text. */
static struct kflash_config *
written_config(const char *text)
{
	struct kflash_config *c = NULL;
	char path[4400];

	snprintf(path, sizeof(path), "%s/written.config", dir);
	kf_test_write_file(path, text);
	ck_assert_int_eq(kflash_config_load(ctx, path, &c), 0);
	return c;
}

/* The build programs of @c, joined with spaces. */
static char *
programs(const struct kflash_config *c)
{
	char *all = strdup(""), *more;
	const char *p;

	for (size_t i = 0; (p = kflash_config_get_build_program(c, i)); i++) {
		ck_assert(asprintf(&more, "%s%s%s", all, *all ? " " : "", p) > 0);
		free(all);
		all = more;
	}
	return all;
}

/* How many logged calls start with @prefix, or (@exact) are @prefix. */
static int
count_logged(const char *prefix, bool exact)
{
	char *text = kf_test_read_file(log_path);
	int n = 0;

	for (char *p = text; p && *p;) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		n += strncmp(p, prefix, strlen(prefix)) == 0 && (!exact || len == strlen(prefix));
		p = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

#define count_calls(prefix) count_logged((prefix), false)
#define count_exact(line) count_logged((line), true)

/* ---- names ---- */

START_TEST(names_of_the_check_enums)
{
	ck_assert_str_eq(kflash_tree_state_name(KFLASH_TREE_CLEAN), "clean");
	ck_assert_str_eq(kflash_tree_state_name(KFLASH_TREE_DIRTY), "dirty");
	ck_assert_str_eq(kflash_tree_state_name(KFLASH_TREE_NO_GIT), "no-git");
	ck_assert_str_eq(kflash_tree_state_name(0), "unknown");
	ck_assert_str_eq(kflash_tree_state_name(4), "unknown");
	ck_assert_str_eq(kflash_katapult_presence_name(KFLASH_KATAPULT_UNKNOWN), "unknown");
	ck_assert_str_eq(kflash_katapult_presence_name(KFLASH_KATAPULT_PRESENT), "present");
	ck_assert_str_eq(kflash_katapult_presence_name(KFLASH_KATAPULT_ABSENT), "absent");
	ck_assert_str_eq(kflash_katapult_presence_name(-1), "unknown");
	ck_assert_str_eq(kflash_katapult_presence_name(3), "unknown");
	ck_assert_str_eq(kflash_space_name(KFLASH_SPACE_ENOUGH), "enough");
	ck_assert_str_eq(kflash_space_name(KFLASH_SPACE_LOW), "low");
	ck_assert_str_eq(kflash_space_name(KFLASH_SPACE_TOO_LOW), "too-low");
	ck_assert_str_eq(kflash_space_name(0), "unknown");
	ck_assert_str_eq(kflash_space_name(4), "unknown");
	ck_assert_str_eq(kflash_unit_load_name(KFLASH_UNIT_LOAD_UNKNOWN), "unknown");
	ck_assert_str_eq(kflash_unit_load_name(KFLASH_UNIT_LOADED), "loaded");
	ck_assert_str_eq(kflash_unit_load_name(KFLASH_UNIT_NOT_FOUND), "not-found");
	ck_assert_str_eq(kflash_unit_load_name(KFLASH_UNIT_MASKED), "masked");
	ck_assert_str_eq(kflash_unit_load_name(KFLASH_UNIT_LOAD_ERROR), "error");
	ck_assert_str_eq(kflash_unit_load_name(5), "unknown");
	ck_assert_str_eq(kflash_unit_load_name(-1), "unknown");
}
END_TEST

/* ---- the Klipper tree ---- */

START_TEST(klipper_tree_clean_dirty_and_without_git)
{
	char version[64], tiny[4], path[4400], cmd[9000];
	int state = 0;

	setup();
	kf_test_fake_klipper(dir);
	ck_assert_int_eq(kflash_klipper_check_tree(ctx, &state, version, sizeof(version)), 0);
	ck_assert_int_eq(state, KFLASH_TREE_CLEAN);
	ck_assert_msg(strncmp(version, "v0.12.0-0-g", 11) == 0, "%s", version);
	ck_assert_ptr_null(strstr(version, "dirty"));
	/* Cut to the buffer, and no buffer at all. */
	ck_assert_int_eq(kflash_klipper_check_tree(ctx, &state, tiny, sizeof(tiny)), 0);
	ck_assert_str_eq(tiny, "v0.");
	ck_assert_int_eq(kflash_klipper_check_tree(ctx, &state, NULL, 0), 0);
	ck_assert_int_eq(state, KFLASH_TREE_CLEAN);

	/* A changed tracked file. */
	snprintf(path, sizeof(path), "%s/klipper/Makefile", dir);
	snprintf(cmd, sizeof(cmd), "echo '# a local change' >> '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(kflash_klipper_check_tree(ctx, &state, version, sizeof(version)), 0);
	ck_assert_int_eq(state, KFLASH_TREE_DIRTY);
	ck_assert_msg(strlen(version) > 6 && strcmp(version + strlen(version) - 6, "-dirty") == 0,
		      "%s", version);

	/* No git metadata: the tree is there, its version is not. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/klipper/.git'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(kflash_klipper_check_tree(ctx, &state, version, sizeof(version)), 0);
	ck_assert_int_eq(state, KFLASH_TREE_NO_GIT);
	ck_assert_str_eq(version, "");

	/* No tree. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/klipper'", dir);
	ck_assert_int_eq(system(cmd), 0);
	state = 0;
	kf_assert_error(ctx, kflash_klipper_check_tree(ctx, &state, version, sizeof(version)),
			KFLASH_ERR_NOT_FOUND, "no Klipper source tree at");
	ck_assert_int_eq(kflash_context_last_error_hint(ctx), KFLASH_HINT_SET_KLIPPER_DIR);
	ck_assert_int_eq(state, 0);
	ck_assert_str_eq(version, "");
	kf_assert_error(ctx, kflash_klipper_check_tree(ctx, NULL, NULL, 0), KFLASH_ERR_INVALID,
			"no place to return");
	teardown();
}
END_TEST

/* ---- the programs a build runs ---- */

START_TEST(build_programs_follow_the_architecture)
{
	static const struct {
		const char *config, *programs;
	} cases[] = {
		{ "stm32f446_usb", "arm-none-eabi-gcc cpp make python3" },
		{ "stm32h723_usbcan", "arm-none-eabi-gcc cpp make python3" },
		/* Without a bootloader, a UF2 and the tool that makes it. */
		{ "rp2040_usb", "arm-none-eabi-gcc cpp g++ make python3" },
		{ "rp2040_can_katapult", "arm-none-eabi-gcc cpp make python3" },
		{ "atmega2560", "avr-gcc make python3" },
		{ "linux", "gcc make python3" },
	};
	struct kflash_config *c;
	char *got;

	setup();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = fixture_config(cases[i].config);
		got = programs(c);
		ck_assert_msg(strcmp(got, cases[i].programs) == 0, "%s: %s", cases[i].config, got);
		ck_assert_ptr_null(kflash_config_get_build_program(c, 99));
		free(got);
		kflash_config_unref(c);
	}
	/* PRU, and an architecture this library does not know: no cross prefix. */
	c = written_config("CONFIG_BOARD_DIRECTORY=\"pru\"\n");
	got = programs(c);
	ck_assert_str_eq(got, "pru-gcc make python3");
	free(got);
	kflash_config_unref(c);
	c = written_config("CONFIG_BOARD_DIRECTORY=\"riscv-of-the-future\"\n");
	got = programs(c);
	ck_assert_str_eq(got, "gcc make python3");
	free(got);
	kflash_config_unref(c);
	ck_assert_ptr_null(kflash_config_get_build_program(NULL, 0));
	teardown();
}
END_TEST

START_TEST(check_program_finds_and_runs_it)
{
	char version[128], tiny[10];

	setup();
	/* The fake cross compiler (tests/fakes/bin) tells its version. */
	setenv("KF_FAKE_GCC_VERSION", "arm-none-eabi-gcc (fake) 12.2.1\nsecond line", 1);
	ck_assert_int_eq(kflash_check_program(ctx, "arm-none-eabi-gcc", version, sizeof(version)),
			 0);
	ck_assert_str_eq(version, "arm-none-eabi-gcc (fake) 12.2.1");
	ck_assert_int_eq(kflash_check_program(ctx, "arm-none-eabi-gcc", tiny, sizeof(tiny)), 0);
	ck_assert_str_eq(tiny, "arm-none-");
	ck_assert_int_eq(kflash_check_program(ctx, "arm-none-eabi-gcc", NULL, 0), 0);
	/* One that is there but has no --version: found, without a version. */
	ck_assert_int_eq(kflash_check_program(ctx, "false", version, sizeof(version)), 0);
	ck_assert_str_eq(version, "");

	strcpy(version, "stale");
	kf_assert_error(
		ctx, kflash_check_program(ctx, "kflash-no-such-compiler", version, sizeof(version)),
		KFLASH_ERR_NOT_FOUND, "kflash-no-such-compiler is not on PATH (");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), getenv("KF_FAKES_BIN")));
	ck_assert_str_eq(version, "");
	kf_assert_error(ctx, kflash_check_program(ctx, "", NULL, 0), KFLASH_ERR_INVALID,
			"no program named");
	kf_assert_error(ctx, kflash_check_program(ctx, NULL, NULL, 0), KFLASH_ERR_INVALID,
			"no program named");
	teardown();
}
END_TEST

/* ---- Katapult ---- */

START_TEST(katapult_presence_from_mode_and_config)
{
	struct kflash_config *c;

	setup();
	/* What runs now says it all; without that, only a config can tell. */
	ck_assert_int_eq(kflash_katapult_presence(NULL, KFLASH_MODE_KATAPULT),
			 KFLASH_KATAPULT_PRESENT);
	ck_assert_int_eq(kflash_katapult_presence(NULL, KFLASH_MODE_KLIPPER),
			 KFLASH_KATAPULT_UNKNOWN);

	/* Klipper 32 KiB above the boot address: room for one, maybe Katapult. */
	c = fixture_config("stm32f446_usb");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_UNKNOWN);
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_UNKNOWN), KFLASH_KATAPULT_UNKNOWN);
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KATAPULT),
			 KFLASH_KATAPULT_PRESENT);
	kflash_config_unref(c);
	c = fixture_config("rp2040_can_katapult");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_UNKNOWN);
	kflash_config_unref(c);

	/* Klipper where the chip boots: no room. */
	c = fixture_config("rp2040_usb");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_ABSENT);
	kflash_config_unref(c);
	c = written_config("CONFIG_BOARD_DIRECTORY=\"stm32\"\n"
			   "CONFIG_FLASH_BOOT_ADDRESS=0x8000000\n"
			   "CONFIG_FLASH_APPLICATION_ADDRESS=0x8000000\n");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_ABSENT);
	kflash_config_unref(c);
	/* Without the addresses, nothing can be told. */
	c = written_config("CONFIG_BOARD_DIRECTORY=\"lpc176x\"\n");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_UNKNOWN);
	kflash_config_unref(c);
	c = written_config("CONFIG_BOARD_DIRECTORY=\"stm32\"\n"
			   "CONFIG_FLASH_BOOT_ADDRESS=junk\n"
			   "CONFIG_FLASH_APPLICATION_ADDRESS=0x8008000\n");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_KLIPPER), KFLASH_KATAPULT_UNKNOWN);
	kflash_config_unref(c);

	/* Katapult has no port for these. */
	c = fixture_config("atmega2560");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_SERIAL_ADAPTER),
			 KFLASH_KATAPULT_ABSENT);
	kflash_config_unref(c);
	c = fixture_config("linux");
	ck_assert_int_eq(kflash_katapult_presence(c, KFLASH_MODE_UNKNOWN), KFLASH_KATAPULT_ABSENT);
	kflash_config_unref(c);
	teardown();
}
END_TEST

/* ---- free space ---- */

#define MIB (1024ULL * 1024)

START_TEST(space_thresholds)
{
	uint64_t build = KFLASH_SPACE_PER_BUILD, margin = KFLASH_SPACE_MARGIN;

	/* The numbers the header promises. */
	ck_assert_uint_eq(build, 32 * MIB);
	ck_assert_uint_eq(margin, 256 * MIB);
	/* One board: too low below one build, low below one build and the margin. */
	ck_assert_int_eq(kf_space_judge(0, 1), KFLASH_SPACE_TOO_LOW);
	ck_assert_int_eq(kf_space_judge(build - 1, 1), KFLASH_SPACE_TOO_LOW);
	ck_assert_int_eq(kf_space_judge(build, 1), KFLASH_SPACE_LOW);
	ck_assert_int_eq(kf_space_judge(build + margin - 1, 1), KFLASH_SPACE_LOW);
	ck_assert_int_eq(kf_space_judge(build + margin, 1), KFLASH_SPACE_ENOUGH);
	/* No board counts as one. */
	ck_assert_int_eq(kf_space_judge(build - 1, 0), KFLASH_SPACE_TOO_LOW);
	ck_assert_int_eq(kf_space_judge(build + margin, 0), KFLASH_SPACE_ENOUGH);
	/* Every board is built before Klipper stops: their builds add up. */
	ck_assert_int_eq(kf_space_judge(3 * build - 1, 3), KFLASH_SPACE_TOO_LOW);
	ck_assert_int_eq(kf_space_judge(3 * build, 3), KFLASH_SPACE_LOW);
	ck_assert_int_eq(kf_space_judge(3 * build + margin - 1, 3), KFLASH_SPACE_LOW);
	ck_assert_int_eq(kf_space_judge(3 * build + margin, 3), KFLASH_SPACE_ENOUGH);
	ck_assert_int_eq(kf_space_judge(UINT64_MAX, 5), KFLASH_SPACE_ENOUGH);
}
END_TEST

START_TEST(cache_space_asks_the_file_system)
{
	struct statvfs st;
	uint64_t available = 0, expect;
	int space = 0;
	char path[4400];

	setup();
	/* The cache dir does not exist yet: its nearest parent's file system counts. */
	ck_assert_int_eq(kflash_check_cache_space(ctx, 2, &space, &available), 0);
	ck_assert_int_eq(statvfs(dir, &st), 0);
	expect = (uint64_t)st.f_bavail * st.f_frsize;
	/* Other tests write meanwhile: the same file system, give or take 64 MiB. */
	ck_assert_msg(available + 64 * MIB > expect && available < expect + 64 * MIB,
		      "%llu against %llu", (unsigned long long)available,
		      (unsigned long long)expect);
	ck_assert_int_eq(space, kf_space_judge(available, 2));
	ck_assert_int_eq(kflash_check_cache_space(ctx, 2, &space, NULL), 0);

	/* A parent that is not a directory cannot hold the cache. */
	snprintf(path, sizeof(path), "%s/file", dir);
	kf_test_write_file(path, "x");
	snprintf(path, sizeof(path), "%s/file/cache", dir);
	ck_assert_int_eq(kflash_context_set_cache_dir(ctx, path), 0);
	kf_assert_error(ctx, kflash_check_cache_space(ctx, 1, &space, &available),
			KFLASH_ERR_NOT_FOUND, "cannot tell the free space of");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), path));
	kf_assert_error(ctx, kflash_check_cache_space(ctx, 1, NULL, NULL), KFLASH_ERR_INVALID,
			"no place to return");
	teardown();
}
END_TEST

/* ---- a unit: there, and may sudo stop and start it ---- */

static void
write_load(const char *unit, const char *word)
{
	char path[9000];

	snprintf(path, sizeof(path), "%s/%s.load", state_dir, unit);
	kf_test_write_file(path, word);
}

static int
injected_query(struct kflash_context *c, const char *unit, void *data)
{
	return 1;
}

static int
injected_control(struct kflash_context *c, const char *unit, void *data)
{
	return 0;
}

START_TEST(unit_load_state_from_systemctl)
{
	static const struct {
		const char *word;
		int load;
	} words[] = {
		{ "loaded\n", KFLASH_UNIT_LOADED },    { "not-found\n", KFLASH_UNIT_NOT_FOUND },
		{ "masked\n", KFLASH_UNIT_MASKED },    { "bad-setting\n", KFLASH_UNIT_LOAD_ERROR },
		{ "error\n", KFLASH_UNIT_LOAD_ERROR }, { "stub\n", KFLASH_UNIT_LOAD_UNKNOWN },
	};
	int load = -1;

	setup();
	/* The fake says loaded for a unit it has no word for. */
	ck_assert_int_eq(kflash_service_get_load_state(ctx, "klipper", &load), 0);
	ck_assert_int_eq(load, KFLASH_UNIT_LOADED);
	ck_assert_int_eq(count_exact("systemctl show --property=LoadState --value klipper"), 1);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		write_load("klipper-2", words[i].word);
		load = -1;
		ck_assert_int_eq(kflash_service_get_load_state(ctx, "klipper-2", &load), 0);
		ck_assert_msg(load == words[i].load, "%s: %d", words[i].word, load);
	}
	/* show runs without sudo, also for an ordinary user. */
	ck_assert_int_eq(count_calls("sudo"), 0);

	setenv("KF_FAKE_FAIL", "show klipper", 1);
	kf_assert_error(ctx, kflash_service_get_load_state(ctx, "klipper", &load),
			KFLASH_ERR_SERVICE, "cannot tell whether klipper is there");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "the fake was told to fail"));
	ck_assert_int_eq(load, KFLASH_UNIT_LOAD_UNKNOWN);
	unsetenv("KF_FAKE_FAIL");
	kf_assert_error(ctx, kflash_service_get_load_state(ctx, "-bad name", &load),
			KFLASH_ERR_INVALID, "is not a systemd unit name");
	kf_assert_error(ctx, kflash_service_get_load_state(ctx, "klipper", NULL),
			KFLASH_ERR_INVALID, "no place to return");

	/* An injected query has no load state: unknown, and systemctl is not asked. */
	kflash_context_set_service_query_func(ctx, injected_query, NULL);
	ck_assert_int_eq(kflash_service_get_load_state(ctx, "klipper", &load), 0);
	ck_assert_int_eq(load, KFLASH_UNIT_LOAD_UNKNOWN);
	ck_assert_int_eq(count_exact("systemctl show --property=LoadState --value klipper"), 2);
	teardown();
}
END_TEST

/* Become an ordinary user: uid 65534 when root, or stay the one the tests run as. */
static int
drop_root(void)
{
	if (geteuid() != 0)
		return 0;
	return setgid(65534) < 0 || setuid(65534) < 0 ? -1 : 0;
}

/* kflash_service_check_unit_sudo(@unit) as an ordinary user: "code message". */
static char *
check_sudo_as_user(const char *unit, bool inject)
{
	char buf[4096];
	int p[2], status;
	ssize_t n, total = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kflash_context *c;
		char msg[2048];
		int r;

		close(p[0]);
		if (drop_root() < 0 || kflash_context_new(&c) < 0)
			_exit(99);
		if (inject) {
			kflash_context_set_service_stop_func(c, injected_control, NULL);
			kflash_context_set_service_start_func(c, injected_control, NULL);
		}
		r = kflash_service_check_unit_sudo(c, unit);
		snprintf(msg, sizeof(msg), "%d %s", r, r < 0 ? kflash_context_last_error(c) : "");
		if (write(p[1], msg, strlen(msg)) < 0)
			_exit(97);
		kflash_context_unref(c);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	buf[total] = '\0';
	return strdup(buf);
}

START_TEST(unit_sudo_as_root_and_as_a_user)
{
	char *result, expect[32];

	setup();
	/* Root needs no sudo: nothing is asked. */
	if (geteuid() == 0) {
		ck_assert_int_eq(kflash_service_check_unit_sudo(ctx, "klipper"), 0);
		ck_assert_int_eq(count_calls("sudo"), 0);
	}
	kf_assert_error(ctx, kflash_service_check_unit_sudo(ctx, "bad name"), KFLASH_ERR_INVALID,
			"is not a systemd unit name");

	/* sudo asks for a password: the line to add names both commands of the unit. */
	setenv("KF_FAKE_SUDO", "none", 1);
	result = check_sudo_as_user("klipper-2", false);
	snprintf(expect, sizeof(expect), "%d ", KFLASH_ERR_PERMISSION);
	ck_assert_msg(strncmp(result, expect, strlen(expect)) == 0, "%s", result);
	ck_assert_ptr_nonnull(strstr(result, "sudo asks for a password"));
	ck_assert_ptr_nonnull(strstr(result, "systemctl stop klipper-2, "));
	ck_assert_ptr_nonnull(strstr(result, "systemctl start klipper-2"));
	ck_assert_ptr_nonnull(strstr(result, "sudo visudo -f /etc/sudoers.d/kflash"));
	free(result);
	/* Nothing was stopped or started to find out. */
	ck_assert_int_eq(count_calls("systemctl stop"), 0);
	ck_assert_int_eq(count_calls("systemctl start"), 0);

	/* The sudoers line kflash suggests is enough. */
	setenv("KF_FAKE_SUDO", "systemctl", 1);
	result = check_sudo_as_user("klipper-2", false);
	ck_assert_str_eq(result, "0 ");
	free(result);
	/* One -l of the stop with each setting, one of the start once the stop may run. */
	ck_assert_int_eq(count_exact("sudo -n -l systemctl stop klipper-2"), 2);
	ck_assert_int_eq(count_exact("sudo -n -l systemctl start klipper-2"), 1);
	ck_assert_int_eq(count_calls("systemctl stop"), 0);

	/* Injected stop and start functions need no sudo at all. */
	setenv("KF_FAKE_SUDO", "none", 1);
	result = check_sudo_as_user("klipper-2", true);
	ck_assert_str_eq(result, "0 ");
	free(result);
	teardown();
}
END_TEST

KF_TEST_SUITE(check)
{
	kf_test_add(names_of_the_check_enums);
	kf_test_add_timeout(klipper_tree_clean_dirty_and_without_git, 30);
	kf_test_add(build_programs_follow_the_architecture);
	kf_test_add(check_program_finds_and_runs_it);
	kf_test_add(katapult_presence_from_mode_and_config);
	kf_test_add(space_thresholds);
	kf_test_add(cache_space_asks_the_file_system);
	kf_test_add_timeout(unit_load_state_from_systemctl, 30);
	kf_test_add_timeout(unit_sudo_as_root_and_as_a_user, 30);
}
