/* SPDX-License-Identifier: MIT */
/* Klipper's config read as Klipper reads it: includes, comments, merging, bounds, errors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kf-test.h"
#include "klipper/printer-cfg.h"
#include "libkflash-private.h"

static char *dir;
static struct kflash_context *ctx;
static struct kf_printer_cfg *cfg;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
	cfg = NULL;
}

static void
teardown(void)
{
	kf_printer_cfg_free(cfg);
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

/* @dir/@name, created with @content (directories on the way too). */
static const char *
write_cfg(const char *name, const char *content)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
		*slash = '/';
	}
	kf_test_write_file(path, content);
	return path;
}

static const char *
fixture(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/printer-cfg/%s", kf_test_fixtures_dir(), name);
	return path;
}

static int
read_cfg(const char *path)
{
	kf_printer_cfg_free(cfg);
	cfg = NULL;
	return kf_printer_cfg_read(ctx, path, &cfg);
}

/* The value of @key in section @section, which must exist. */
static const char *
value(const char *section, const char *key)
{
	const struct kf_cfg_section *s = kf_printer_cfg_find(cfg, section);
	const struct kf_cfg_option *o;

	ck_assert_msg(s != NULL, "no section [%s]", section);
	o = kf_printer_cfg_get(cfg, s, key);
	ck_assert_msg(o != NULL, "no %s in [%s]", key, section);
	return o->value;
}

static bool
has_option(const char *section, const char *key)
{
	const struct kf_cfg_section *s = kf_printer_cfg_find(cfg, section);

	return s && kf_printer_cfg_get(cfg, s, key);
}

/* The file of @path relative to the fixtures' printer-cfg/ directory. */
static const char *
relative(const char *path)
{
	const char *base = fixture("");

	ck_assert_msg(strncmp(path, base, strlen(base)) == 0, "%s is not under %s", path, base);
	return path + strlen(base);
}

START_TEST(cfg_one_mcu_as_klipper_reads_it)
{
	ck_assert_int_eq(read_cfg(fixture("one-mcu/printer.cfg")), 0);
	ck_assert_str_eq(relative(cfg->path), "one-mcu/printer.cfg");
	ck_assert_uint_eq(kf_strv_length(cfg->files), 1);
	/* A comment after the value is no part of it. */
	ck_assert_str_eq(value("mcu", "serial"),
			 "/dev/serial/by-id/usb-Klipper_stm32f103xe_34FFD8054E4B313830761643-if00");
	ck_assert_str_eq(value("mcu", "restart_method"), "command");
	ck_assert_str_eq(value("extruder", "rotation_distance"), "34.406");
	ck_assert(!has_option("extruder", "pid_kp"));
	/* A macro: comment lines are blank lines of the value, ';' after a blank ends a line. */
	ck_assert_str_eq(value("gcode_macro PRINT_START", "gcode"),
			 "\n\nG28\nM190 S{params.BED|default(60)|float}\n\n"
			 "M109 S{params.EXTRUDER|default(200)|float}\nG92 E0");
	/* The SAVE_CONFIG block is comments: nothing of it is read. */
	ck_assert(!has_option("bltouch", "z_offset"));
	ck_assert_ptr_null(kf_printer_cfg_find(cfg, "bed_mesh default"));
	ck_assert_ptr_null(cfg->defaults);
	ck_assert_uint_eq(cfg->n_sections, 6);
	ck_assert_str_eq(cfg->sections[3].name, "printer");
	ck_assert_uint_eq(kf_printer_cfg_find(cfg, "mcu")->line, 30);
}
END_TEST

START_TEST(cfg_includes_patterns_relative_paths_and_merging)
{
	static const char *const files[] = {
		"includes/printer.cfg",          "includes/boards/mainboard.cfg",
		"includes/common.cfg",           "includes/hardware/10-toolhead.cfg",
		"includes/hardware/20-fans.cfg", "includes/macros/park.cfg",
		"includes/overrides.cfg",
	};
	const struct kf_cfg_section *mcu;
	const struct kf_cfg_option *serial;

	ck_assert_int_eq(read_cfg(fixture("includes/printer.cfg")), 0);
	/* Every file, in the order Klipper reads them; the optional/ pattern matches none. */
	ck_assert_uint_eq(kf_strv_length(cfg->files), KF_ARRAY_SIZE(files));
	for (size_t i = 0; i < KF_ARRAY_SIZE(files); i++)
		ck_assert_str_eq(relative(cfg->files[i]), files[i]);
	/* [mcu] begins in mainboard.cfg; overrides.cfg changes two options and keeps one. */
	mcu = kf_printer_cfg_find(cfg, "mcu");
	ck_assert_str_eq(relative(mcu->file), "includes/boards/mainboard.cfg");
	ck_assert_uint_eq(mcu->line, 2);
	serial = kf_printer_cfg_get(cfg, mcu, "serial");
	ck_assert_str_eq(serial->value,
			 "/dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00");
	ck_assert_str_eq(relative(serial->file), "includes/overrides.cfg");
	ck_assert_uint_eq(serial->line, 3);
	ck_assert_str_eq(value("mcu", "baud"), "500000");
	ck_assert_str_eq(value("mcu", "restart_method"), "command");
	ck_assert_str_eq(value("mcu sb2040", "canbus_uuid"), "0e0d81e4210c");
	ck_assert_str_eq(value("mcu sb2040", "canbus_interface"), "can1");
	ck_assert_str_eq(value("printer", "kinematics"), "corexy");
	ck_assert_str_eq(value("board_pins", "aliases"),
			 "\nEXP1_1=PE8, EXP1_2=PE7,\nEXP1_3=PE9, EXP1_4=PE10");
	ck_assert_str_eq(value("gcode_macro PARK", "gcode"), "\nG90\nG0 X10 Y10 Z30 F6000");
}
END_TEST

START_TEST(cfg_comments)
{
	ck_assert_int_eq(read_cfg(write_cfg("c.cfg", "[s]\n"
						     "a: x#y\n"
						     "b: x;y\n"
						     "c: x ;y\n"
						     "d: x\t;y\n"
						     "e = \"quoted # not special\"\n"
						     "; a full-line comment\n"
						     "  # an indented one\n"
						     "Mixed_Case: v\n"
						     "f: a: b\n"
						     "g = a = b\n"
						     "h:\n"
						     "i:;x\n"
						     "#[hidden]\n"
						     "[t] ; header comment\n"
						     "j: 1\n")),
			 0);
	ck_assert_str_eq(value("s", "a"), "x");
	ck_assert_str_eq(value("s", "b"), "x;y");
	ck_assert_str_eq(value("s", "c"), "x");
	ck_assert_str_eq(value("s", "d"), "x");
	ck_assert_str_eq(value("s", "e"), "\"quoted");
	ck_assert_str_eq(value("s", "mixed_case"), "v");
	ck_assert_str_eq(value("s", "f"), "a: b");
	ck_assert_str_eq(value("s", "g"), "a = b");
	ck_assert_str_eq(value("s", "h"), "");
	ck_assert_str_eq(value("s", "i"), ";x");
	ck_assert_ptr_null(kf_printer_cfg_find(cfg, "hidden"));
	ck_assert_str_eq(value("t", "j"), "1");
	ck_assert_uint_eq(cfg->n_sections, 2);
}
END_TEST

START_TEST(cfg_continuation_lines)
{
	ck_assert_int_eq(read_cfg(write_cfg("c.cfg", "[s]\n"
						     "k: first\n"
						     "  second\n"
						     "\n"
						     "\tthird\n"
						     " x: y\n"
						     "  [not a section]\n"
						     "\n"
						     "\n"
						     "[u]\n"
						     "  a: 1\n"
						     "  b: 2\n"
						     "    more of b\n"
						     "  ; not a blank line of b\n"
						     "    still b\n")),
			 0);
	/* Deeper than its option continues it, even a header; blank lines are kept inside. */
	ck_assert_str_eq(value("s", "k"), "first\nsecond\n\nthird\nx: y\n[not a section]");
	ck_assert_ptr_null(kf_printer_cfg_find(cfg, "not a section"));
	ck_assert_str_eq(value("u", "a"), "1");
	ck_assert_str_eq(value("u", "b"), "2\nmore of b\nstill b");
}
END_TEST

START_TEST(cfg_sections_merge_and_default)
{
	ck_assert_int_eq(read_cfg(write_cfg("m.cfg", "[DEFAULT]\n"
						     "baud: 115200\n"
						     "[mcu]\n"
						     "serial: /a\n"
						     "[other]\n"
						     "x: 1\n"
						     "[mcu]\n"
						     "serial: /b\n"
						     "restart_method: arduino\n"
						     "[MCU]\n"
						     "serial: /c\n")),
			 0);
	ck_assert_str_eq(value("mcu", "serial"), "/b");
	ck_assert_uint_eq(kf_printer_cfg_get(cfg, kf_printer_cfg_find(cfg, "mcu"), "serial")->line,
			  8);
	ck_assert_uint_eq(kf_printer_cfg_find(cfg, "mcu")->line, 3);
	ck_assert_str_eq(value("mcu", "restart_method"), "arduino");
	/* [DEFAULT] is every section's default; section names keep their case. */
	ck_assert_str_eq(value("mcu", "baud"), "115200");
	ck_assert_str_eq(value("other", "baud"), "115200");
	ck_assert_str_eq(value("MCU", "serial"), "/c");
	ck_assert_ptr_nonnull(cfg->defaults);
}
END_TEST

START_TEST(cfg_crlf_lines)
{
	ck_assert_int_eq(read_cfg(write_cfg("w.cfg", "[mcu]\r\nserial: /dev/x\r\n  /more\r\n")), 0);
	ck_assert_str_eq(value("mcu", "serial"), "/dev/x\n/more");
}
END_TEST

START_TEST(cfg_include_rules)
{
	char abs[4400], text[4600];

	write_cfg("sub/b.cfg", "[b]\nx: 1\n");
	write_cfg("sub/a.cfg", "[a]\nx: 1\n[include ../shared.cfg]\n");
	write_cfg("shared.cfg", "[shared]\nx: 1\n");
	write_cfg("sub/.hidden.cfg", "[hidden]\nx: 1\n");
	snprintf(abs, sizeof(abs), "%s/abs.cfg", dir);
	write_cfg("abs.cfg", "[absolute]\nx: 1\n");
	snprintf(text, sizeof(text),
		 "[include sub/*.cfg]\n"
		 "[include nothing/*.cfg]\n"
		 "[include %s]\n"
		 "[include shared.cfg]\n"
		 "[include   shared.cfg  ]\n"
		 " [include indented.cfg]\n"
		 "x: 1\n",
		 abs);
	ck_assert_int_eq(read_cfg(write_cfg("main.cfg", text)), 0);
	/* Sorted matches, hidden files left out, ../ from the including file, absolute paths. */
	ck_assert_uint_eq(kf_strv_length(cfg->files), 7);
	ck_assert(kf_startswith(cfg->files[1] + strlen(dir), "/sub/a.cfg"));
	ck_assert(kf_startswith(cfg->files[2] + strlen(dir), "/shared.cfg"));
	ck_assert(kf_startswith(cfg->files[3] + strlen(dir), "/sub/b.cfg"));
	ck_assert_str_eq(cfg->files[4], abs);
	ck_assert_ptr_null(kf_printer_cfg_find(cfg, "hidden"));
	ck_assert_ptr_nonnull(kf_printer_cfg_find(cfg, "absolute"));
	/* Indented, it is no include for Klipper: a section named "include indented.cfg". */
	ck_assert_str_eq(value("include indented.cfg", "x"), "1");
}
END_TEST

START_TEST(cfg_missing_include)
{
	kf_assert_error(ctx, read_cfg(fixture("errors/missing-include.cfg")), KFLASH_ERR_NOT_FOUND,
			"missing-include.cfg:4: the included file ");
	ck_assert_ptr_nonnull(
		strstr(kflash_context_last_error(ctx), "errors/not-there.cfg does not exist"));
	ck_assert_ptr_null(cfg);
	kf_assert_error(ctx, read_cfg(write_cfg("x.cfg", "[s]\n[include  ]\n")), KFLASH_ERR_CORRUPT,
			"x.cfg:2: [include] names no file");
	/* Without a space it is a section of that name, for Klipper too. */
	ck_assert_int_eq(read_cfg(write_cfg("x.cfg", "[include]\nx: 1\n")), 0);
	ck_assert_str_eq(value("include", "x"), "1");
	kf_assert_error(ctx, read_cfg(fixture("errors/nothing-here.cfg")), KFLASH_ERR_NOT_FOUND,
			"there is no Klipper config at ");
	kf_assert_error(ctx, kf_printer_cfg_read(ctx, "", &cfg), KFLASH_ERR_INVALID,
			"no Klipper config file given");
	write_cfg("dir.cfg/keep", "");
	kf_assert_error(ctx, read_cfg(write_cfg("y.cfg", "[include dir.cfg]\n")),
			KFLASH_ERR_INVALID, "is not a regular file");
}
END_TEST

START_TEST(cfg_include_loops)
{
	kf_assert_error(ctx, read_cfg(fixture("errors/loop-a.cfg")), KFLASH_ERR_INVALID,
			"loop-b.cfg:2: an include loop: ");
	ck_assert_ptr_nonnull(strstr(kflash_context_last_error(ctx), "loop-a.cfg -> "));
	kf_assert_error(ctx, read_cfg(write_cfg("self.cfg", "[s]\nx: 1\n[include self.cfg]\n")),
			KFLASH_ERR_INVALID, "self.cfg:3: an include loop: ");
	/* Through a pattern that matches the file itself, as Klipper sees it too. */
	kf_assert_error(ctx, read_cfg(write_cfg("p/all.cfg", "[include *.cfg]\n")),
			KFLASH_ERR_INVALID, "an include loop");
	/* The same file twice, one after the other, is no loop. */
	write_cfg("twice/t.cfg", "[t]\nx: 1\n");
	ck_assert_int_eq(
		read_cfg(write_cfg("twice/main.cfg", "[include t.cfg]\n[include t.cfg]\n")), 0);
	ck_assert_uint_eq(kf_strv_length(cfg->files), 3);
}
END_TEST

START_TEST(cfg_include_depth)
{
	char name[64], text[128];

	/* d0 includes d1 includes ... d40: deeper than 32. */
	for (int i = 0; i <= 40; i++) {
		snprintf(name, sizeof(name), "deep/d%d.cfg", i);
		snprintf(text, sizeof(text), "[s%d]\nx: 1\n[include d%d.cfg]\n", i, i + 1);
		write_cfg(name, i < 40 ? text : "[end]\nx: 1\n");
	}
	kf_assert_error(ctx, read_cfg(write_cfg("deep/d0.cfg", "[s0]\n[include d1.cfg]\n")),
			KFLASH_ERR_INVALID, "d31.cfg:3: includes nested more than 32 deep");
	/* 31 levels of includes below the main file are fine. */
	ck_assert_int_eq(read_cfg(write_cfg("deep/d9.cfg", "[s9]\n[include d10.cfg]\n")), 0);
	ck_assert_uint_eq(kf_strv_length(cfg->files), 32);
}
END_TEST

START_TEST(cfg_too_many_files)
{
	char name[64];

	for (int i = 0; i < 513; i++) {
		snprintf(name, sizeof(name), "many/f%03d.cfg", i);
		write_cfg(name, "[s]\nx: 1\n");
	}
	kf_assert_error(ctx, read_cfg(write_cfg("main.cfg", "[include many/*.cfg]\n")),
			KFLASH_ERR_INVALID, "main.cfg:1: more than 512 included files in all");
}
END_TEST

START_TEST(cfg_too_large)
{
	size_t n = KF_CFG_MAX_FILE + 1;
	char *big = malloc(n + 1), name[64];

	/* One file too large. */
	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	for (size_t i = 1000; i < n; i += 1000)
		big[i] = '\n';
	big[n] = '\0';
	kf_assert_error(ctx, read_cfg(write_cfg("big.cfg", big)), KFLASH_ERR_CORRUPT,
			"big.cfg is 1048577 bytes, more than");
	/* Files of 1 MiB each, more than 16 MiB together. */
	big[n - 1] = '\0';
	for (int i = 0; i < 17; i++) {
		snprintf(name, sizeof(name), "parts/p%02d.cfg", i);
		write_cfg(name, big);
	}
	free(big);
	kf_assert_error(ctx, read_cfg(write_cfg("all.cfg", "[include parts/*.cfg]\n")),
			KFLASH_ERR_INVALID, "all.cfg:1: the config and its includes are more than");
}
END_TEST

START_TEST(cfg_huge_line)
{
	char *line = malloc(KF_CFG_MAX_LINE + 64);

	ck_assert_ptr_nonnull(line);
	strcpy(line, "[s]\nx: ");
	memset(line + 7, 'a', KF_CFG_MAX_LINE - 3);
	strcpy(line + 7 + KF_CFG_MAX_LINE - 3, "\n");
	/* 16384 bytes is the longest line. */
	ck_assert_int_eq(read_cfg(write_cfg("ok.cfg", line)), 0);
	ck_assert_uint_eq(strlen(value("s", "x")), KF_CFG_MAX_LINE - 3);
	strcpy(line + 7 + KF_CFG_MAX_LINE - 3, "a\n");
	kf_assert_error(ctx, read_cfg(write_cfg("long.cfg", line)), KFLASH_ERR_CORRUPT,
			"long.cfg:2: a line of 16385 bytes, longer than the 16384");
	free(line);
}
END_TEST

START_TEST(cfg_bad_lines)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "[mcu]\nserial: /a\n\n[mcu toolhead\n",
		  "x.cfg:4: '[mcu toolhead' is not a section header" },
		{ "[]\n", "x.cfg:1: '[]' is not a section header" },
		{ "[s]\nnoeq\n", "x.cfg:2: 'noeq' is neither a [section] header nor an option" },
		{ "[s]\n= v\n", "x.cfg:2: an option without a name before its '='" },
		{ "[s]\n  : v\n", "x.cfg:2: an option without a name before its ':'" },
		{ "x: 1\n[s]\n",
		  "x.cfg:1: an option outside any section: put it under a [section] header" },
		{ "[s]\nx: 1\0\n", "x.cfg:2: a NUL byte" },
	};

	for (size_t i = 0; i < KF_ARRAY_SIZE(cases); i++) {
		char path[4200];
		FILE *f;

		/* Written with its length, for the NUL byte. */
		snprintf(path, sizeof(path), "%s/x.cfg", dir);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fwrite(cases[i].text, 1,
		       strlen(cases[i].text) + (strstr(cases[i].message, "NUL") ? 2 : 0), f);
		fclose(f);
		kf_assert_error(ctx, read_cfg(path), KFLASH_ERR_CORRUPT, cases[i].message);
	}
	kf_assert_error(ctx, read_cfg(fixture("errors/bad-section.cfg")), KFLASH_ERR_CORRUPT,
			"bad-section.cfg:4: '[mcu toolhead' is not a section header");
	kf_assert_error(ctx, read_cfg(fixture("errors/option-after-include.cfg")),
			KFLASH_ERR_CORRUPT,
			"option-after-include.cfg:4: an option outside any section: put it under a "
			"[section] header (after an [include]");
}
END_TEST

START_TEST(cfg_too_many_sections_and_options)
{
	size_t size = (KF_CFG_MAX_SECTIONS + 1) * 16 + 1, n = 0;
	char *text = malloc(size);

	ck_assert_ptr_nonnull(text);
	for (int i = 0; i <= KF_CFG_MAX_SECTIONS; i++)
		n += (size_t)snprintf(text + n, size - n, "[s%d]\n", i);
	kf_assert_error(ctx, read_cfg(write_cfg("s.cfg", text)), KFLASH_ERR_INVALID,
			"s.cfg:4097: more than 4096 sections in all");
	n = (size_t)snprintf(text, size, "[s]\n");
	for (int i = 0; i <= KF_CFG_MAX_OPTIONS; i++)
		n += (size_t)snprintf(text + n, size - n, "k%d: v\n", i);
	kf_assert_error(ctx, read_cfg(write_cfg("o.cfg", text)), KFLASH_ERR_INVALID,
			"o.cfg:1026: section [s] has more than 1024 options");
	/* The same option again is no new one. */
	n = (size_t)snprintf(text, size, "[s]\n");
	for (int i = 0; i <= KF_CFG_MAX_OPTIONS; i++)
		n += (size_t)snprintf(text + n, size - n, "k: %d\n", i);
	ck_assert_int_eq(read_cfg(write_cfg("o.cfg", text)), 0);
	ck_assert_str_eq(value("s", "k"), "1024");
	free(text);
}
END_TEST

KF_TEST_SUITE(printer_cfg)
{
	kf_test_fixture(setup, teardown);
	kf_test_add(cfg_one_mcu_as_klipper_reads_it);
	kf_test_add(cfg_includes_patterns_relative_paths_and_merging);
	kf_test_add(cfg_comments);
	kf_test_add(cfg_continuation_lines);
	kf_test_add(cfg_sections_merge_and_default);
	kf_test_add(cfg_crlf_lines);
	kf_test_add(cfg_include_rules);
	kf_test_add(cfg_missing_include);
	kf_test_add(cfg_include_loops);
	kf_test_add(cfg_include_depth);
	kf_test_add_timeout(cfg_too_many_files, 30);
	kf_test_add_timeout(cfg_too_large, 60);
	kf_test_add(cfg_huge_line);
	kf_test_add(cfg_bad_lines);
	kf_test_add(cfg_too_many_sections_and_options);
}
