/* SPDX-License-Identifier: MIT */
/*
 * kflash flash [NAME...] [--all] [--dry-run] [--force] [--no-build]
 *              [--fail-fast] [--keep-going] [--clean] [--firmware FILE]
 *              [--jobs N]
 *
 * The update: build, stop Klipper once, flash, start it, confirm.
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

enum {
	OPT_ALL = 256,
	OPT_DRY_RUN,
	OPT_FORCE,
	OPT_NO_BUILD,
	OPT_FAIL_FAST,
	OPT_CLEAN,
	OPT_FIRMWARE,
	OPT_WAIT_READY,
	OPT_METHOD,
	OPT_REFLASH,
	OPT_KEEP_GOING,
	OPT_JOBS,
};

/* No names on a terminal: a numbered choice; returns the names chosen. */
static int
choose(struct cli *cli, struct kflash_update *u)
{
	struct kflash_registry *reg;
	struct kflash_discovery *d = NULL;
	char *line = NULL;
	size_t size = 0, n;
	int r = cli_load_registry(cli, &reg), chosen = 0;

	if (r)
		return r;
	n = kflash_registry_get_board_count(reg);
	if (n == 0) {
		kflash_registry_unref(reg);
		return cli_error(cli, KFLASH_ERR_NOT_FOUND,
				 "no boards are registered; add one with kflash add");
	}
	cli_scan(cli, &d);
	fprintf(stderr, "Which boards? (numbers separated by spaces, or 'all')\n");
	for (size_t i = 0; i < n; i++) {
		const struct kflash_board *b = kflash_registry_get_board(reg, i);
		struct json_object *conn = cli_connection_json(cli, d, b);

		fprintf(stderr, "  %zu) %-16s %-14s %s\n", i + 1, kflash_board_get_name(b),
			kflash_board_get_mcu(b),
			conn ? json_object_get_string(json_object_object_get(conn, "state")) : "");
		json_object_put(conn);
	}
	fprintf(stderr, "Boards: ");
	fflush(stderr);
	if (getline(&line, &size, stdin) > 0) {
		char *save = NULL;

		for (char *w = strtok_r(line, " \t\n,", &save); w;
		     w = strtok_r(NULL, " \t\n,", &save)) {
			char *end;
			unsigned long k = strtoul(w, &end, 10);

			if (strcmp(w, "all") == 0) {
				kflash_update_add_all_boards(u);
				chosen++;
			} else if (!*end && k >= 1 && k <= n) {
				kflash_update_add_board(
					u, kflash_board_get_name(
						   kflash_registry_get_board(reg, k - 1)));
				chosen++;
			} else {
				cli_message(cli, "warning:", "'%s' is not a number from the list",
					    w);
			}
		}
	}
	free(line);
	kflash_discovery_unref(d);
	kflash_registry_unref(reg);
	if (!chosen) {
		cli_message(cli, NULL, "No board chosen; nothing was done.");
		return cli_exit_code(KFLASH_ERR_CANCELLED);
	}
	return 0;
}

static double
seconds(uint64_t ms)
{
	return (double)ms / 1000.0;
}

/* The summary's word for a method or a firmware source: "-" for none. */
static const char *
or_dash(const char *name)
{
	return name && strcmp(name, "none") != 0 ? name : "-";
}

/* How a board of the job is reached, for the plan: "CAN node on can0", ... */
static void
print_link(struct kflash_update *u, size_t i)
{
	const char *iface = kflash_update_get_board_can_interface(u, i);

	switch (kflash_update_get_board_link(u, i)) {
	case KFLASH_LINK_CAN:
		printf("CAN node on %s", iface ? iface : "can0");
		break;
	case KFLASH_LINK_CAN_BRIDGE:
		printf("USB-to-CAN bridge of %s, last: it takes that bus down",
		       iface ? iface : "can0");
		break;
	case KFLASH_LINK_HOST:
		printf("host MCU");
		break;
	default:
		printf("serial");
		break;
	}
}

/* The order a run would flash the planned boards in. */
static void
print_order(struct kflash_update *u)
{
	size_t n = 0;

	for (size_t i = 0; i < kflash_update_get_board_count(u); i++) {
		if (kflash_update_get_board_result(u, i) != KFLASH_RESULT_PLANNED)
			continue;
		if (n++ == 0)
			printf("\nFlash order, inside one stop of Klipper:\n");
		printf("  %zu. %-16s ", n, kflash_update_get_board_name(u, i));
		print_link(u, i);
		printf("\n");
	}
}

static void
print_summary(struct cli *cli, struct kflash_update *u, bool dry)
{
	int state = kflash_update_get_klipper_state(u);

	cli_render_break(cli);
	printf("\n%-16s %-9s %-9s %-11s %7s  %s\n", "BOARD", "RESULT", "METHOD", "FIRMWARE", "TIME",
	       "VERSION");
	for (size_t i = 0; i < kflash_update_get_board_count(u); i++) {
		const char *version = kflash_update_get_board_version(u, i);
		const char *message = kflash_update_get_board_message(u, i);
		char *hint = cli_hint_text(cli, kflash_update_get_board_hint(u, i),
					   kflash_update_get_board_name(u, i));

		printf("%-16s %-9s %-9s %-11s %6.1fs  %s\n", kflash_update_get_board_name(u, i),
		       kflash_board_result_name(kflash_update_get_board_result(u, i)),
		       or_dash(kflash_method_name(kflash_update_get_board_method(u, i))),
		       or_dash(kflash_firmware_source_name(kflash_update_get_board_source(u, i))),
		       seconds(kflash_update_get_board_duration_ms(u, i)), version ? version : "-");
		if (message)
			printf("    %s\n", message);
		if (hint)
			printf("    hint: %s\n", hint);
		free(hint);
	}
	if (dry) {
		print_order(u);
		printf("\nDry run: nothing was built, stopped or flashed.\n");
		return;
	}
	printf("\nKlipper: %s, %s",
	       kflash_update_get_klipper_stopped(u) ? "stopped" : "not stopped",
	       kflash_update_get_klipper_restarted(u) ? "started again"
	       : kflash_update_get_klipper_stopped(u) ? "NOT STARTED AGAIN"
						      : "left as it was");
	if (kflash_update_get_klipper_stopped(u))
		printf(" (down %.1f s)", seconds(kflash_update_get_downtime_ms(u)));
	if (state != KFLASH_KLIPPER_UNKNOWN)
		printf(", %s", kflash_klipper_state_name(state));
	printf("\n");
	if (kflash_update_get_klipper_message(u))
		printf("    %s\n", kflash_update_get_klipper_message(u));
}

/* A name for JSON, or null for the "none" value. */
static struct json_object *
name_or_null(const char *name)
{
	return name && strcmp(name, "none") != 0 ? json_object_new_string(name) : NULL;
}

static struct json_object *
board_json(struct kflash_update *u, size_t i)
{
	struct json_object *o = json_object_new_object();
	int error = kflash_update_get_board_error(u, i);

	json_object_object_add(o, "name",
			       json_object_new_string(kflash_update_get_board_name(u, i)));
	json_object_object_add(o, "result",
			       json_object_new_string(kflash_board_result_name(
				       kflash_update_get_board_result(u, i))));
	json_object_object_add(
		o, "method",
		name_or_null(kflash_method_name(kflash_update_get_board_method(u, i))));
	json_object_object_add(
		o, "seconds",
		json_object_new_double(seconds(kflash_update_get_board_duration_ms(u, i))));
	json_object_object_add(o, "version",
			       cli_json_string(kflash_update_get_board_version(u, i)));
	json_object_object_add(
		o, "build",
		name_or_null(kflash_firmware_source_name(kflash_update_get_board_source(u, i))));
	json_object_object_add(o, "came_back",
			       json_object_new_boolean(kflash_update_get_board_came_back(u, i)));
	json_object_object_add(
		o, "link",
		json_object_new_string(kflash_link_name(kflash_update_get_board_link(u, i))));
	json_object_object_add(o, "can_interface",
			       cli_json_string(kflash_update_get_board_can_interface(u, i)));
	json_object_object_add(o, "error",
			       error ? json_object_new_string(kflash_error_name(error)) : NULL);
	json_object_object_add(o, "message",
			       cli_json_string(kflash_update_get_board_message(u, i)));
	json_object_object_add(o, "hint",
			       name_or_null(kflash_hint_name(kflash_update_get_board_hint(u, i))));
	return o;
}

static struct json_object *
summary_json(struct kflash_update *u)
{
	struct json_object *doc = json_object_new_object(), *boards = json_object_new_array();
	struct json_object *klipper = json_object_new_object();
	int state = kflash_update_get_klipper_state(u);

	for (size_t i = 0; i < kflash_update_get_board_count(u); i++)
		json_object_array_add(boards, board_json(u, i));
	json_object_object_add(doc, "boards", boards);
	json_object_object_add(klipper, "stopped",
			       json_object_new_boolean(kflash_update_get_klipper_stopped(u)));
	json_object_object_add(klipper, "restarted",
			       json_object_new_boolean(kflash_update_get_klipper_restarted(u)));
	json_object_object_add(klipper, "state",
			       state == KFLASH_KLIPPER_UNKNOWN
				       ? NULL
				       : json_object_new_string(kflash_klipper_state_name(state)));
	json_object_object_add(klipper, "message",
			       cli_json_string(kflash_update_get_klipper_message(u)));
	json_object_object_add(klipper, "gate",
			       kflash_update_get_gate(u) ? json_object_new_string(kflash_gate_name(
								   kflash_update_get_gate(u)))
							 : NULL);
	json_object_object_add(klipper, "downtime_seconds",
			       json_object_new_double(seconds(kflash_update_get_downtime_ms(u))));
	json_object_object_add(doc, "klipper", klipper);
	return doc;
}

/* Did the job fail because of a board, whose error was said as it happened? */
static bool
failed_on_a_board(struct kflash_update *u, int r)
{
	for (size_t i = 0; i < kflash_update_get_board_count(u); i++)
		if (kflash_update_get_board_result(u, i) == KFLASH_RESULT_FAILED &&
		    kflash_update_get_board_error(u, i) == r)
			return true;
	return false;
}

/* What the command line asks for. */
struct flash_args {
	bool all;
	unsigned int flags, jobs;
	const char *firmware, *method;
};

/* A number option from 1 to @max, for --jobs; false when it is not one. */
static bool
parse_count(const char *arg, unsigned long max, unsigned long *ret)
{
	char *end;

	*ret = strtoul(arg, &end, 10);
	return *arg && !*end && *ret <= max;
}

/* The options into @a; -1 to go on, else the exit status. */
static int
parse_args(struct cli *cli, int argc, char **argv, struct flash_args *a)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "no-build", no_argument, NULL, OPT_NO_BUILD },
		{ "fail-fast", no_argument, NULL, OPT_FAIL_FAST },
		{ "clean", no_argument, NULL, OPT_CLEAN },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "wait-ready", required_argument, NULL, OPT_WAIT_READY },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "reflash", no_argument, NULL, OPT_REFLASH },
		{ "keep-going", no_argument, NULL, OPT_KEEP_GOING },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		int opt;
		unsigned int flag;
	} flag_opts[] = {
		{ OPT_DRY_RUN, KFLASH_UPDATE_DRY_RUN },
		{ OPT_FORCE, KFLASH_UPDATE_FORCE },
		{ OPT_NO_BUILD, KFLASH_UPDATE_NO_BUILD },
		{ OPT_FAIL_FAST, KFLASH_UPDATE_FAIL_FAST },
		{ OPT_CLEAN, KFLASH_UPDATE_CLEAN },
		{ OPT_REFLASH, KFLASH_UPDATE_REFLASH },
		{ OPT_KEEP_GOING, KFLASH_UPDATE_KEEP_GOING },
	};
	unsigned long n;
	int c;

	*a = (struct flash_args){ 0 };
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++)
			if (c == flag_opts[i].opt)
				a->flags |= flag_opts[i].flag;
		switch (c) {
		case OPT_ALL:
			a->all = true;
			break;
		case OPT_FIRMWARE:
			a->firmware = optarg;
			break;
		case OPT_METHOD:
			a->method = optarg;
			break;
		case OPT_JOBS:
			if (!parse_count(optarg, KFLASH_UPDATE_JOBS_MAX, &n) || n < 1)
				return cli_usage_error(cli,
						       "--jobs takes a number of boards, 1 to %d",
						       KFLASH_UPDATE_JOBS_MAX);
			a->jobs = (unsigned int)n;
			break;
		case OPT_WAIT_READY:
			if (!parse_count(optarg, 3600, &n))
				return cli_usage_error(cli,
						       "--wait-ready takes seconds, 0 to 3600");
			kflash_context_set_timeout(cli->ctx, KFLASH_TIMEOUT_READY,
						   (uint32_t)n * 1000);
			break;
		case 'h':
			return cli_command_help(cli);
		case '?':
			return CLI_EXIT_USAGE;
		default:
			break;
		}
	}
	if (a->all && optind < argc)
		return cli_usage_error(cli, "give board names or --all, not both");
	if (a->firmware && (a->all || argc - optind != 1))
		return cli_usage_error(cli, "--firmware goes with exactly one board name");
	return -1;
}

/* The job the arguments describe; -1 with *@ret set to go on, else the exit status. */
static int
make_job(struct cli *cli,
	 int argc,
	 char **argv,
	 const struct flash_args *a,
	 struct kflash_update **ret)
{
	struct kflash_update *u;
	int r;

	*ret = NULL;
	r = kflash_update_new(cli->ctx, &u);
	if (r < 0)
		return cli_fail(cli, r);
	r = kflash_update_set_flags(u, a->flags);
	if (r == 0)
		r = kflash_update_set_jobs(u, a->jobs);
	if (r == 0 && a->method) {
		enum kflash_method m;

		if (kflash_method_from_name(a->method, &m) < 0) {
			kflash_update_unref(u);
			return cli_usage_error(
				cli,
				"unknown flash method '%s': use auto, katapult, make "
				"or sdcard",
				a->method);
		}
		r = kflash_update_set_method(u, m);
	}
	if (r == 0 && a->all)
		r = kflash_update_add_all_boards(u);
	for (int i = optind; i < argc && r == 0; i++)
		r = a->firmware ? kflash_update_set_firmware(u, argv[i], a->firmware)
				: kflash_update_add_board(u, argv[i]);
	if (r < 0) {
		kflash_update_unref(u);
		return cli_fail(cli, r);
	}
	if (!a->all && optind >= argc) {
		if (!cli->stdin_tty) {
			kflash_update_unref(u);
			return cli_error(
				cli, KFLASH_ERR_NOT_TTY,
				"name the boards to flash (kflash flash NAME...), or give --all; "
				"stdin is not a terminal, so kflash cannot ask");
		}
		r = choose(cli, u);
		if (r) {
			kflash_update_unref(u);
			return r;
		}
	}
	*ret = u;
	return -1;
}

int
cmd_flash(struct cli *cli, int argc, char **argv)
{
	struct kflash_update *u;
	struct flash_args a;
	int r;

	r = parse_args(cli, argc, argv, &a);
	if (r < 0)
		r = make_job(cli, argc, argv, &a, &u);
	if (r >= 0)
		return r;

	r = kflash_update_run(u);
	/* A board's failure was said as it happened, and the summary says it again. */
	if (r < 0 && failed_on_a_board(u, r))
		cli_note_failure(cli, r);
	else if (r < 0)
		cli_fail(cli, r);
	if (cli->json)
		cli_print_json(cli, summary_json(u));
	else if (kflash_update_get_board_count(u) > 0)
		print_summary(cli, u, a.flags & KFLASH_UPDATE_DRY_RUN);
	kflash_update_unref(u);
	return cli_exit_code(r);
}
