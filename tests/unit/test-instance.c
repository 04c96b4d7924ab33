/* SPDX-License-Identifier: MIT */
/* Klipper instances from systemd units: KIAUH's layout, Klipper's own, and what is no instance. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"

static char *dir;
static char units[4200];
static struct kflash_context *ctx;
static struct kflash_instances *list;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	snprintf(units, sizeof(units), "%s/units", dir);
	ck_assert_int_eq(mkdir(units, 0755), 0);
	list = NULL;
}

static void
teardown(void)
{
	kflash_instances_unref(list);
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static void
write_unit(const char *name, const char *text)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", units, name);
	kf_test_write_file(path, text);
}

static void
find(size_t expect)
{
	kflash_instances_unref(list);
	list = NULL;
	ck_assert_int_eq(kflash_instances_find(ctx, &list), 0);
	ck_assert_uint_eq(kflash_instances_get_count(list), expect);
}

/* "@dir" + @suffix, for comparisons. */
static const char *
in_dir(const char *suffix)
{
	static char path[2][4400];
	static int slot;

	slot = !slot;
	snprintf(path[slot], sizeof(path[slot]), "%s%s", dir, suffix);
	return path[slot];
}

START_TEST(instances_as_kiauh_installs_them)
{
	const struct kflash_instance *one, *two;

	kf_test_copy_fixture("printer-cfg/instances", dir);
	find(2);
	one = kflash_instances_get(list, 0);
	two = kflash_instances_get(list, 1);
	ck_assert_ptr_null(kflash_instances_get(list, 2));
	ck_assert_str_eq(kflash_instance_get_name(one), "1");
	ck_assert_str_eq(kflash_instance_get_unit(one), "klipper-1");
	ck_assert_str_eq(kflash_instance_get_unit_file(one), in_dir("/units/klipper-1.service"));
	ck_assert_str_eq(kflash_instance_get_environment_file(one),
			 in_dir("/printer_1_data/systemd/klipper.env"));
	ck_assert_str_eq(kflash_instance_get_config_path(one),
			 in_dir("/printer_1_data/config/printer.cfg"));
	ck_assert_str_eq(kflash_instance_get_klippy_socket(one),
			 in_dir("/printer_1_data/comms/klippy.sock"));
	ck_assert_str_eq(kflash_instance_get_log_path(one),
			 in_dir("/printer_1_data/logs/klippy.log"));
	ck_assert_str_eq(kflash_instance_get_unit(two), "klipper-2");
	ck_assert_str_eq(kflash_instance_get_config_path(two),
			 in_dir("/printer_2_data/config/printer.cfg"));
	ck_assert_str_eq(kflash_instance_get_klippy_socket(two),
			 in_dir("/printer_2_data/comms/klippy.sock"));
	/* klipper-mcu and moonraker-1 are no instances. */
	ck_assert(kf_test_events_contain(ctx, "klipper-mcu.service") == false);
}
END_TEST

START_TEST(instances_lookup)
{
	kf_test_copy_fixture("printer-cfg/instances", dir);
	find(2);
	ck_assert_ptr_eq(kflash_instances_find_name(list, "2"), kflash_instances_get(list, 1));
	ck_assert_ptr_eq(kflash_instances_find_name(list, "klipper-2"),
			 kflash_instances_get(list, 1));
	ck_assert_ptr_eq(kflash_instances_find_name(list, "klipper-2.service"),
			 kflash_instances_get(list, 1));
	ck_assert_ptr_null(kflash_instances_find_name(list, "3"));
	ck_assert_ptr_null(kflash_instances_find_name(list, "klipper"));
	ck_assert_ptr_null(kflash_instances_find_name(list, NULL));
	ck_assert_ptr_eq(kflash_instances_find_unit(list, "klipper-1"),
			 kflash_instances_get(list, 0));
	ck_assert_ptr_eq(kflash_instances_find_unit(list, "klipper-1.service"),
			 kflash_instances_get(list, 0));
	/* A unit is matched whole: "1" is a name, not a unit. */
	ck_assert_ptr_null(kflash_instances_find_unit(list, "1"));
	ck_assert_ptr_null(kflash_instances_find_unit(list, "klipper-1x"));
	ck_assert_ptr_null(kflash_instances_find_unit(NULL, "klipper-1"));
	ck_assert_ptr_null(kflash_instance_get_name(NULL));
}
END_TEST

START_TEST(instances_klippers_own_unit_and_order)
{
	char path[4400];

	/* Klipper's own install script: no environment file, no API socket. */
	write_unit("klipper.service",
		   "# Klipper run directly, no environment file\n[Unit]\nDescription=Klipper\n\n"
		   "[Service]\nType=simple\nUser=pi\n"
		   "ExecStart=/home/pi/klippy-env/bin/python /home/pi/klipper/klippy/klippy.py "
		   "/home/pi/printer.cfg -l /tmp/klippy.log\n");
	write_unit("klipper-10.service", "[Service]\nExecStart=/py /k/klippy.py /c10.cfg\n");
	write_unit("klipper-2.service", "[Service]\nExecStart=/py /k/klippy.py /c2.cfg\n");
	write_unit("klipper-voron.service", "[Service]\nExecStart=/py /k/klippy.py /cv.cfg\n");
	/* None of these is an instance. */
	write_unit("klipper-mcu.service", "[Service]\nExecStart=/usr/local/bin/klipper_mcu -r\n");
	write_unit("klipper-backup.service", "[Service]\nExecStart=/usr/bin/rsync -a a b\n");
	write_unit("klipper@.service", "[Service]\nExecStart=/py /k/klippy.py /t.cfg\n");
	write_unit("klipper-3.service.bak", "[Service]\nExecStart=/py /k/klippy.py /b.cfg\n");
	write_unit("klipper-.service", "[Service]\nExecStart=/py /k/klippy.py /e.cfg\n");
	write_unit("Klipper-4.service", "[Service]\nExecStart=/py /k/klippy.py /u.cfg\n");
	write_unit("klipper-empty.service", "");
	write_unit("klipper-other.service",
		   "[Unit]\nExecStart=/py /k/klippy.py /wrong-section.cfg\n");
	snprintf(path, sizeof(path), "%s/klipper-masked.service", units);
	ck_assert_int_eq(symlink("/dev/null", path), 0);
	snprintf(path, sizeof(path), "%s/klipper.service.d", units);
	ck_assert_int_eq(mkdir(path, 0755), 0);

	find(4);
	ck_assert_str_eq(kflash_instance_get_unit(kflash_instances_get(list, 0)), "klipper");
	ck_assert_str_eq(kflash_instance_get_name(kflash_instances_get(list, 0)), "klipper");
	ck_assert_str_eq(kflash_instance_get_unit(kflash_instances_get(list, 1)), "klipper-2");
	ck_assert_str_eq(kflash_instance_get_unit(kflash_instances_get(list, 2)), "klipper-10");
	ck_assert_str_eq(kflash_instance_get_unit(kflash_instances_get(list, 3)), "klipper-voron");
	ck_assert_str_eq(kflash_instance_get_name(kflash_instances_get(list, 3)), "voron");
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_get(list, 0)),
			 "/home/pi/printer.cfg");
	ck_assert_ptr_null(kflash_instance_get_klippy_socket(kflash_instances_get(list, 0)));
	ck_assert_ptr_null(kflash_instance_get_environment_file(kflash_instances_get(list, 0)));
	ck_assert_str_eq(kflash_instance_get_log_path(kflash_instances_get(list, 0)),
			 "/tmp/klippy.log");
	ck_assert(kf_test_events_contain(ctx, "klipper-masked.service is masked"));
	ck_assert(kf_test_events_contain(ctx, "klipper-backup.service does not run klippy.py"));
}
END_TEST

START_TEST(instances_command_lines)
{
	char text[8800], env[4400];

	/* Environment= with quotes, ${NAME} inside words, options in every form. */
	write_unit("klipper-a.service",
		   "[Service]\n"
		   "Environment=\"ARGS=/k/klippy.py /a/printer.cfg -a /a/klippy.sock\" OTHER=1\n"
		   "ExecStart=-/py $ARGS\n");
	write_unit("klipper-b.service",
		   "[Service]\n"
		   "Environment=CFG=/b/printer.cfg SOCK=/b/klippy.sock\n"
		   "ExecStart=/py /k/klippy.py -v ${CFG} -a${SOCK} --logfile /b/log\n");
	write_unit("klipper-c.service",
		   "[Service]\n"
		   "WorkingDirectory=/home/pi/printer_c\n"
		   "ExecStart=/py /k/klippy.py --api-server=comms/klippy.sock \\\n"
		   "   config/printer.cfg -I /tmp/printer\n");
	write_unit("klipper-d.service", "[Service]\n"
					"ExecStart=/py /k/klippy.py -la.log -- -strange.cfg\n");
	/* An environment file: comments, single quotes, a continued line; optional ones missing. */
	snprintf(env, sizeof(env), "%s/e.env", dir);
	kf_test_write_file(env, "# KIAUH-like\n"
				"; another comment\n"
				"UNUSED=x\n"
				"KLIPPER_ARGS='/k/klippy.py /e/my printer.cfg' \n"
				"MORE=\"-a /e/klippy.sock \\\n"
				"-l /e/klippy.log\"\n");
	snprintf(text, sizeof(text),
		 "[Service]\nEnvironmentFile=-/nonexistent/x.env\nEnvironmentFile=%s\n"
		 "ExecStart=/py $KLIPPER_ARGS $MORE\n",
		 env);
	write_unit("klipper-e.service", text);

	find(5);
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_find_name(list, "a")),
			 "/a/printer.cfg");
	ck_assert_str_eq(kflash_instance_get_klippy_socket(kflash_instances_find_name(list, "a")),
			 "/a/klippy.sock");
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_find_name(list, "b")),
			 "/b/printer.cfg");
	ck_assert_str_eq(kflash_instance_get_klippy_socket(kflash_instances_find_name(list, "b")),
			 "/b/klippy.sock");
	ck_assert_str_eq(kflash_instance_get_log_path(kflash_instances_find_name(list, "b")),
			 "/b/log");
	/* Relative paths are the working directory's. */
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_find_name(list, "c")),
			 "/home/pi/printer_c/config/printer.cfg");
	ck_assert_str_eq(kflash_instance_get_klippy_socket(kflash_instances_find_name(list, "c")),
			 "/home/pi/printer_c/comms/klippy.sock");
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_find_name(list, "d")),
			 "/-strange.cfg");
	ck_assert_str_eq(kflash_instance_get_log_path(kflash_instances_find_name(list, "d")),
			 "/a.log");
	/* $NAME is its value split at whitespace, the quoted space too (as systemd does). */
	ck_assert_str_eq(kflash_instance_get_config_path(kflash_instances_find_name(list, "e")),
			 "/e/my");
	ck_assert_str_eq(kflash_instance_get_klippy_socket(kflash_instances_find_name(list, "e")),
			 "/e/klippy.sock");
	ck_assert_str_eq(kflash_instance_get_log_path(kflash_instances_find_name(list, "e")),
			 "/e/klippy.log");
	ck_assert_str_eq(
		kflash_instance_get_environment_file(kflash_instances_find_name(list, "e")), env);
}
END_TEST

START_TEST(instances_unreadable_or_incomplete)
{
	/* Its environment file is missing (and not optional): its arguments are unknown. */
	write_unit("klipper-1.service", "[Service]\nEnvironmentFile=/nonexistent/"
					"klipper.env\nExecStart=/py $KLIPPER_ARGS\n");
	/* klippy.py without its config. */
	write_unit("klipper-2.service", "[Service]\nExecStart=/py /k/klippy.py -l /x.log\n");
	find(0);
	ck_assert(kf_test_events_contain(ctx,
					 "names the environment file /nonexistent/klipper.env, "
					 "which cannot be read"));
	ck_assert(kf_test_events_contain(ctx,
					 "klipper-1.service runs no klippy.py that can be told"));
	ck_assert(kf_test_events_contain(ctx, "klipper-2.service runs klippy.py without a config"));
}
END_TEST

START_TEST(instances_units_dir)
{
	struct kflash_context *plain;
	char path[4400];

	/* No directory: no instances. */
	snprintf(path, sizeof(path), "%s/none", dir);
	ck_assert_int_eq(kflash_context_set_units_dir(ctx, path), 0);
	find(0);
	/* Not a directory: an error that names it. */
	snprintf(path, sizeof(path), "%s/file", dir);
	kf_test_write_file(path, "");
	ck_assert_int_eq(kflash_context_set_units_dir(ctx, path), 0);
	list = kflash_instances_unref(list);
	ck_assert_int_lt(kflash_instances_find(ctx, &list), 0);
	ck_assert_ptr_null(list);
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx), "cannot read the units directory"));
	ck_assert_int_eq(kflash_instances_find(ctx, NULL), KFLASH_ERR_INVALID);

	/* The default, and the environment's. */
	unsetenv("KFLASH_UNITS_DIR");
	ck_assert_int_eq(kflash_context_new(&plain), 0);
	ck_assert_str_eq(kflash_context_get_units_dir(plain), "/etc/systemd/system");
	kflash_context_unref(plain);
	setenv("KFLASH_UNITS_DIR", units, 1);
	ck_assert_int_eq(kflash_context_new(&plain), 0);
	ck_assert_str_eq(kflash_context_get_units_dir(plain), units);
	kflash_context_unref(plain);
	unsetenv("KFLASH_UNITS_DIR");
}
END_TEST

START_TEST(instances_refcount)
{
	kf_test_copy_fixture("printer-cfg/instances", dir);
	find(2);
	ck_assert_ptr_eq(kflash_instances_ref(list), list);
	ck_assert_ptr_null(kflash_instances_unref(list));
	ck_assert_uint_eq(kflash_instances_get_count(list), 2);
	ck_assert_ptr_null(kflash_instances_ref(NULL));
	ck_assert_uint_eq(kflash_instances_get_count(NULL), 0);
}
END_TEST

KF_TEST_SUITE(instance)
{
	kf_test_fixture(setup, teardown);
	kf_test_add(instances_as_kiauh_installs_them);
	kf_test_add(instances_lookup);
	kf_test_add(instances_klippers_own_unit_and_order);
	kf_test_add(instances_command_lines);
	kf_test_add(instances_unreadable_or_incomplete);
	kf_test_add(instances_units_dir);
	kf_test_add(instances_refcount);
}
