/* SPDX-License-Identifier: MIT */
/*
 * kflash doctor: one line for each thing a flash needs, ok, warning or
 * fail, with what fixes it. Nothing is changed or disturbed: no build, no
 * service stopped, no board sent to its bootloader, and no CAN bus queried
 * while Klipper runs. The exit status says whether a flash would fail.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* A CAN query waits this long for the nodes' answers, as kflash scan does. */
#define CAN_QUERY_WINDOW_MS 1000

enum check_status {
	CHECK_OK,
	CHECK_WARNING,
	CHECK_FAIL,
};

static const char *const status_names[] = { "ok", "warning", "fail" };

struct check {
	const char *name; /* what kind of check: "board", "service", ... */
	char *subject;    /* what it is about (a board, a unit, a program), or NULL */
	enum check_status status;
	char *message;
	char *fix; /* NULL when nothing needs fixing */
};

/* A CAN interface's answers to one query. */
struct can_answers {
	char *interface;
	struct kflash_can_query *query; /* NULL when the query failed */
	char *error;
};

struct board_state {
	struct kflash_board *board;   /* owned by the registry */
	struct kflash_config *config; /* NULL without a config */
	int mode;                     /* enum kflash_device_mode; UNKNOWN when not known */
	bool found;                   /* it was found, in @mode */
	bool looked; /* it was looked for (a CAN node is not, while Klipper runs) */
};

struct doctor {
	struct cli *cli;
	struct kflash_context *ctx;
	struct check *checks;
	size_t n_checks;
	bool oom;
	struct kflash_registry *reg;
	struct board_state *boards;
	size_t n_boards;
	char **units;                 /* every unit a flash may stop */
	bool units_known;             /* the state of every unit was told */
	bool units_run;               /* some unit runs */
	bool host_mcu;                /* a board is Klipper's host MCU */
	struct kflash_klippy *klippy; /* Klipper answered: its MCUs are known */
	struct can_answers *can;
	size_t n_can;
};

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Add a check; @message and @fix are taken (NULL @message: out of memory). */
static void
add(struct doctor *d,
    const char *name,
    const char *subject,
    enum check_status status,
    char *message,
    char *fix)
{
	char *copy = subject ? strdup(subject) : NULL;
	struct check *grown = realloc(d->checks, (d->n_checks + 1) * sizeof(*grown));

	if (grown)
		d->checks = grown;
	if (!grown || !message || (subject && !copy)) {
		d->oom = true;
		free(copy);
		free(message);
		free(fix);
		return;
	}
	d->checks[d->n_checks++] = (struct check){
		.name = name,
		.subject = copy,
		.status = status,
		.message = message,
		.fix = fix,
	};
}

/* The library's message about what just failed, as a new string. */
static char *
lib_message(struct doctor *d)
{
	return strdup(kflash_context_last_error(d->ctx));
}

/* What the library's hint about what just failed means here, or NULL. */
static char *
lib_fix(struct doctor *d)
{
	return cli_hint_text(d->cli, kflash_context_last_error_hint(d->ctx),
			     kflash_context_last_error_subject(d->ctx));
}

/* Put @s on the list @*list ("a, b"); false on OOM. */
static bool
append_name(char **list, const char *s)
{
	char *longer = *list ? fmt("%s, %s", *list, s) : strdup(s);

	if (!longer)
		return false;
	free(*list);
	*list = longer;
	return true;
}

/* ---- the Klipper tree ---- */

static void
check_tree(struct doctor *d)
{
	const char *dir = kflash_context_get_klipper_dir(d->ctx);
	char version[256];
	int state = 0;
	int r = kflash_klipper_check_tree(d->ctx, &state, version, sizeof(version));
	char *hint;

	if (r < 0) {
		hint = lib_fix(d);
		add(d, "klipper-tree", NULL, CHECK_FAIL, lib_message(d),
		    fmt("%s%sor clone Klipper there: git clone "
			"https://github.com/Klipper3d/klipper %s",
			hint ? hint : "", hint ? "; " : "", dir));
		free(hint);
	} else if (state == KFLASH_TREE_DIRTY) {
		add(d, "klipper-tree", NULL, CHECK_WARNING,
		    fmt("%s is %s: its tracked files have local changes, so its builds say "
			"-dirty, and Moonraker's update manager will not update it",
			dir, version),
		    fmt("git -C %s status shows the changes; commit them, or put them aside with "
			"git -C %s stash",
			dir, dir));
	} else if (state == KFLASH_TREE_NO_GIT) {
		add(d, "klipper-tree", NULL, CHECK_WARNING,
		    fmt("%s is not a git checkout (or git is not on PATH): its version cannot be "
			"told, so kflash status cannot compare the boards' firmware with it",
			dir),
		    fmt("use a git clone of Klipper: git clone "
			"https://github.com/Klipper3d/klipper "
			"%s (and install git, if it is missing)",
			dir));
	} else {
		add(d, "klipper-tree", NULL, CHECK_OK,
		    fmt("%s is %s, without local changes", dir, version), NULL);
	}
}

/* ---- the registry and each board's config ---- */

static void
check_registry(struct doctor *d)
{
	const char *file = kflash_context_get_registry(d->ctx);
	size_t n;
	int r = kflash_registry_load(d->ctx, &d->reg);

	if (r < 0) {
		add(d, "registry", NULL, CHECK_FAIL, lib_message(d),
		    lib_fix(d)
			    ?: fmt("repair %s by hand, or restore the previous version: cp "
				   "%s.bak %s",
				   file, file, file));
		return;
	}
	n = kflash_registry_get_board_count(d->reg);
	if (n == 0) {
		add(d, "registry", NULL, CHECK_WARNING, fmt("no boards are registered in %s", file),
		    cli_hint_text(d->cli, KFLASH_HINT_ADD_BOARD, NULL));
		return;
	}
	d->boards = calloc(n, sizeof(*d->boards));
	if (!d->boards) {
		d->oom = true;
		return;
	}
	d->n_boards = n;
	for (size_t i = 0; i < n; i++) {
		struct kflash_board *b = kflash_registry_get_board(d->reg, i);

		d->boards[i].board = b;
		if (kflash_board_is_host_mcu(b))
			d->host_mcu = true;
	}
	add(d, "registry", NULL, CHECK_OK,
	    fmt("%zu board%s registered in %s", n, n == 1 ? "" : "s", file), NULL);
}

static void
check_configs(struct doctor *d)
{
	for (size_t i = 0; i < d->n_boards; i++) {
		struct board_state *bs = &d->boards[i];
		const char *name = kflash_board_get_name(bs->board);
		int r = kflash_board_config_load(d->ctx, bs->board, &bs->config);

		if (r < 0)
			add(d, "config", name, CHECK_FAIL, lib_message(d),
			    lib_fix(d) ?: fmt("run kflash config %s", name));
		else
			add(d, "config", name, CHECK_OK,
			    fmt("%s: %s, %s", kflash_config_get_path(bs->config),
				kflash_config_get_mcu(bs->config),
				kflash_comm_name(kflash_config_get_comm(bs->config))),
			    NULL);
	}
}

/* ---- the programs the builds run ---- */

/* Where Debian has each program, for the fix. */
static const struct {
	const char *program, *packages;
} debian_packages[] = {
	{ "arm-none-eabi-gcc", "gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi" },
	{ "avr-gcc", "gcc-avr binutils-avr avr-libc" },
	{ "gcc", "gcc" },
	{ "cpp", "cpp" },
	{ "g++", "g++" },
	{ "make", "make" },
	{ "python3", "python3" },
};

static char *
install_fix(const char *program)
{
	for (size_t i = 0; i < sizeof(debian_packages) / sizeof(debian_packages[0]); i++)
		if (strcmp(debian_packages[i].program, program) == 0)
			return fmt("install it: sudo apt-get install %s",
				   debian_packages[i].packages);
	return fmt("install %s and put its directory on PATH (Klipper's documentation of the "
		   "board says where it comes from)",
		   program);
}

static bool
is_compiler(const char *program)
{
	size_t n = strlen(program);

	return (n >= 3 && strcmp(program + n - 3, "gcc") == 0) || strcmp(program, "g++") == 0 ||
	       strcmp(program, "cpp") == 0;
}

static void
check_programs(struct doctor *d)
{
	const char **programs = NULL;
	char **users = NULL; /* the boards whose builds run each program */
	size_t n = 0;

	for (size_t i = 0; i < d->n_boards && !d->oom; i++) {
		const struct board_state *bs = &d->boards[i];
		const char *p;

		for (size_t k = 0;
		     bs->config && (p = kflash_config_get_build_program(bs->config, k)); k++) {
			size_t j = 0;

			while (j < n && strcmp(programs[j], p) != 0)
				j++;
			if (j == n) {
				const char **more = realloc(programs, (n + 1) * sizeof(*more));
				char **more_users =
					more ? realloc(users, (n + 1) * sizeof(*users)) : NULL;

				if (more)
					programs = more;
				if (!more_users) {
					d->oom = true;
					break;
				}
				users = more_users;
				programs[n] = p;
				users[n++] = NULL;
			}
			if (!append_name(&users[j], kflash_board_get_name(bs->board))) {
				d->oom = true;
				break;
			}
		}
	}
	for (size_t j = 0; j < n && !d->oom; j++) {
		const char *name = is_compiler(programs[j]) ? "compiler" : "program";
		char version[256];
		int r = kflash_check_program(d->ctx, programs[j], version, sizeof(version));

		if (r < 0)
			add(d, name, programs[j], CHECK_FAIL,
			    fmt("%s; the builds of %s need it", kflash_context_last_error(d->ctx),
				users[j]),
			    install_fix(programs[j]));
		else
			add(d, name, programs[j], CHECK_OK,
			    fmt("%s, for the builds of %s", *version ? version : programs[j],
				users[j]),
			    NULL);
	}
	for (size_t j = 0; j < n; j++)
		free(users[j]);
	free(users);
	free(programs);
}

/* ---- sudo, and the services ---- */

static void
collect_units(struct doctor *d)
{
	bool ok = cli_strv_add_once(&d->units, kflash_context_get_service(d->ctx));

	for (size_t i = 0; ok && i < d->n_boards; i++) {
		const char *own = kflash_board_get_service(d->boards[i].board);

		if (own)
			ok = cli_strv_add_once(&d->units, own);
	}
	if (ok && d->host_mcu)
		ok = cli_strv_add_once(&d->units, "klipper-mcu");
	if (!ok)
		d->oom = true;
}

static const char sudoers_fix[] = "add that line with sudo visudo -f /etc/sudoers.d/kflash, or "
				  "run scripts/install.sh from kflash's clone, which writes every "
				  "line kflash needs";

/* @program on PATH, for its sudoers line; /usr/bin/PROGRAM when it is not there. */
static char *
find_on_path(const char *program)
{
	const char *path = getenv("PATH");

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");
		char *candidate = fmt("%.*s/%s", (int)len, p, program);

		if (candidate && len > 0 && access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
		p += len;
		p += *p == ':';
	}
	return fmt("/usr/bin/%s", program);
}

static void
check_sudo(struct doctor *d)
{
	const char *klipper = kflash_context_get_klipper_dir(d->ctx);
	char *module, *program;
	int r;

	if (geteuid() == 0) {
		add(d, "sudo", NULL, CHECK_OK,
		    strdup("kflash runs as root: it runs systemctl and Klipper's scripts without "
			   "sudo"),
		    NULL);
		return;
	}
	for (size_t i = 0; d->units && d->units[i]; i++) {
		r = kflash_service_check_unit_sudo(d->ctx, d->units[i]);
		if (r < 0)
			add(d, "sudo", d->units[i], CHECK_FAIL, lib_message(d),
			    r == KFLASH_ERR_PERMISSION ? strdup(sudoers_fix) : lib_fix(d));
		else
			add(d, "sudo", d->units[i], CHECK_OK,
			    fmt("sudo -n systemctl stop %s and sudo -n systemctl start %s run "
				"without "
				"a password",
				d->units[i], d->units[i]),
			    NULL);
	}
	if (d->host_mcu) {
		program = fmt("%s/scripts/flash-linux.sh", klipper);
		r = program ? kflash_service_check_sudo(d->ctx, program) : KFLASH_ERR_NO_MEMORY;
		if (r < 0)
			add(d, "sudo", "flash-linux.sh", CHECK_FAIL, lib_message(d),
			    strdup(sudoers_fix));
		else
			add(d, "sudo", "flash-linux.sh", CHECK_OK,
			    fmt("sudo -n %s (make flash of the host MCU) runs without a password",
				program),
			    NULL);
		free(program);
	}
	/* The Klipper module starts kflash flash --all with sudo -n systemd-run. */
	module = fmt("%s/klippy/extras/kflash.py", klipper);
	if (module && access(module, F_OK) == 0) {
		program = find_on_path("systemd-run");
		r = program ? kflash_service_check_sudo(d->ctx, program) : KFLASH_ERR_NO_MEMORY;
		if (r < 0)
			add(d, "sudo", "systemd-run", CHECK_WARNING,
			    fmt("%s; the Klipper module (%s) needs it for KFLASH_UPDATE",
				kflash_context_last_error(d->ctx), module),
			    strdup(sudoers_fix));
		else
			add(d, "sudo", "systemd-run", CHECK_OK,
			    fmt("sudo -n %s (the Klipper module's KFLASH_UPDATE) runs without a "
				"password",
				program),
			    NULL);
		free(program);
	}
	free(module);
}

/* The board whose own unit @unit is, or NULL. */
static const char *
unit_board(const struct doctor *d, const char *unit)
{
	for (size_t i = 0; i < d->n_boards; i++) {
		const char *own = kflash_board_get_service(d->boards[i].board);

		if (own && strcmp(own, unit) == 0)
			return kflash_board_get_name(d->boards[i].board);
	}
	return NULL;
}

/* The fix for a unit systemd does not know. */
static char *
missing_unit_fix(const struct doctor *d, const char *unit)
{
	const char *board = unit_board(d, unit);

	if (strcmp(unit, "klipper-mcu") == 0)
		return fmt("install Klipper's host MCU service: sudo cp "
			   "%s/scripts/klipper-mcu.service "
			   "/etc/systemd/system/ && sudo systemctl enable klipper-mcu",
			   kflash_context_get_klipper_dir(d->ctx));
	if (board)
		return fmt("systemctl list-units 'klipper*' lists Klipper's units; name board %s's "
			   "with kflash set %s --unit UNIT",
			   board, board);
	return fmt("systemctl list-units 'klipper*' lists Klipper's units; name it with "
		   "--service UNIT or KFLASH_SERVICE");
}

static void
check_services(struct doctor *d)
{
	d->units_known = true;
	for (size_t i = 0; d->units && d->units[i]; i++) {
		const char *unit = d->units[i];
		int load = KFLASH_UNIT_LOAD_UNKNOWN, state = KFLASH_UNIT_UNKNOWN;
		int r = kflash_service_get_load_state(d->ctx, unit, &load);

		if (r == 0 && load == KFLASH_UNIT_NOT_FOUND) {
			add(d, "service", unit, CHECK_FAIL,
			    fmt("there is no unit %s (systemctl show says not-found), so a flash "
				"would not stop the Klipper that holds the boards' ports",
				unit),
			    missing_unit_fix(d, unit));
			continue;
		}
		if (r == 0 && load == KFLASH_UNIT_MASKED) {
			add(d, "service", unit, CHECK_FAIL,
			    fmt("%s is masked: it cannot be started after a flash", unit),
			    fmt("sudo systemctl unmask %s", unit));
			d->units_known = false;
			continue;
		}
		if (r == 0 && load == KFLASH_UNIT_LOAD_ERROR) {
			add(d, "service", unit, CHECK_FAIL,
			    fmt("systemd cannot use the unit file of %s", unit),
			    fmt("systemctl status %s says why", unit));
			d->units_known = false;
			continue;
		}
		if (r == 0)
			r = kflash_service_get_state(d->ctx, unit, &state);
		if (r < 0) {
			add(d, "service", unit, CHECK_FAIL, lib_message(d),
			    lib_fix(d)
				    ?: strdup("kflash stops and starts Klipper with systemctl: run "
					      "it on the printer host, where systemd runs "
					      "Klipper"));
			d->units_known = false;
		} else if (kflash_unit_state_is_running(state)) {
			add(d, "service", unit, CHECK_OK,
			    fmt("%s is %s", unit, kflash_unit_state_name(state)), NULL);
			d->units_run = true;
		} else {
			add(d, "service", unit, CHECK_WARNING,
			    fmt("%s is %s: it does not run now, and a flash leaves it so", unit,
				kflash_unit_state_name(state)),
			    state == KFLASH_UNIT_FAILED
				    ? fmt("journalctl -u %s says why it failed; kflash service "
					  "start %s starts it",
					  unit, unit)
				    : fmt("kflash service start %s starts it", unit));
		}
	}
}

/* ---- Klipper's API socket ---- */

static void
check_klippy(struct doctor *d)
{
	const char *sock = kflash_context_get_klippy_socket(d->ctx);
	const char *unit = kflash_context_get_service(d->ctx);
	const char *message, *version;
	int gate = 0, r = kflash_klippy_check_idle(d->ctx, 0, &gate), state;

	if (r == 0 && gate == KFLASH_GATE_NOT_RUNNING) {
		add(d, "klippy-socket", NULL, CHECK_WARNING,
		    fmt("Klipper is not running: nothing answers at %s, and its service %s does "
			"not run",
			sock, unit),
		    fmt("kflash service start %s starts it", unit));
		return;
	}
	if (r == KFLASH_ERR_PRINTING) {
		add(d, "klippy-socket", NULL, CHECK_WARNING, lib_message(d),
		    strdup("wait until the print is done: kflash flash does not stop Klipper "
			   "during a print (unless given --force)"));
	} else if (r < 0) {
		add(d, "klippy-socket", NULL, CHECK_FAIL, lib_message(d), lib_fix(d));
		return;
	}
	r = kflash_klippy_connect(d->ctx, &d->klippy);
	if (r == 0)
		r = kflash_klippy_query_info(d->klippy);
	if (r == 0)
		r = kflash_klippy_query_status(d->klippy);
	/* While it prints, the print is what there was to say. */
	if (r < 0 && gate != 0)
		add(d, "klippy-socket", NULL, CHECK_FAIL, lib_message(d), lib_fix(d));
	if (r < 0)
		d->klippy = kflash_klippy_unref(d->klippy);
	if (r < 0 || gate == 0)
		return;
	state = kflash_klippy_get_state(d->klippy);
	message = kflash_klippy_get_state_message(d->klippy);
	version = kflash_klippy_get_software_version(d->klippy);
	if (state == KFLASH_KLIPPER_READY)
		add(d, "klippy-socket", NULL, CHECK_OK,
		    fmt("%s: Klipper %s is ready, and the printer is %s", sock,
			version ? version : "(version unknown)",
			kflash_print_state_name(kflash_klippy_get_print_state(d->klippy))),
		    NULL);
	else if (state == KFLASH_KLIPPER_STARTUP)
		add(d, "klippy-socket", NULL, CHECK_WARNING,
		    fmt("%s: Klipper is still starting%s%s", sock, message ? ": " : "",
			message ? message : ""),
		    strdup("wait a moment, and run kflash doctor again"));
	else
		add(d, "klippy-socket", NULL, CHECK_WARNING,
		    fmt("%s: Klipper is in state '%s'%s%s", sock, kflash_klipper_state_name(state),
			message ? ": " : "", message ? message : ""),
		    strdup("kflash status shows the boards that run older firmware (an \"MCU "
			   "Protocol error\"), and kflash flash --all updates them; otherwise fix "
			   "what Klipper says and send FIRMWARE_RESTART"));
}

/* ---- the boards ---- */

/* The version Klipper reports for its MCU @section ("mcu ebb"), or NULL when none. */
static const char *
klipper_mcu_version(const struct doctor *d, const char *section, bool *reported)
{
	*reported = false;
	for (size_t i = 0; d->klippy && section && i < kflash_klippy_get_mcu_count(d->klippy);
	     i++) {
		const char *name = kflash_klippy_get_mcu_name(d->klippy, i);

		if (name && strcmp(name, section) == 0) {
			*reported = true;
			return kflash_klippy_get_mcu_version(d->klippy, i);
		}
	}
	return NULL;
}

/* The answers of CAN interface @iface to one query (made once, when first asked). */
static const struct can_answers *
can_answers(struct doctor *d, const char *iface)
{
	struct can_answers *grown, *a;
	struct kflash_can_bus *bus = NULL;
	int r;

	for (size_t i = 0; i < d->n_can; i++)
		if (strcmp(d->can[i].interface, iface) == 0)
			return &d->can[i];
	grown = realloc(d->can, (d->n_can + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	d->can = grown;
	a = &d->can[d->n_can];
	*a = (struct can_answers){ .interface = strdup(iface) };
	if (!a->interface)
		return NULL;
	d->n_can++;
	r = kflash_can_bus_open(d->ctx, iface, &bus);
	if (r == 0)
		r = kflash_can_bus_query(bus, CAN_QUERY_WINDOW_MS, &a->query);
	if (r < 0)
		a->error = lib_message(d);
	kflash_can_bus_unref(bus);
	return a;
}

static void
check_can_node(struct doctor *d, struct board_state *bs)
{
	const char *name = kflash_board_get_name(bs->board);
	const char *uuid = kflash_board_get_can_uuid(bs->board);
	const char *iface = kflash_board_get_can_interface(bs->board) ?: "can0";
	const char *section = kflash_board_get_klipper_mcu(bs->board);
	const struct can_answers *a;
	bool reported;
	const char *version = klipper_mcu_version(d, section, &reported);
	int app;

	if (reported) {
		add(d, "board", name, CHECK_OK,
		    fmt("node %s on %s: Klipper talks to it as [%s]%s%s", uuid, iface, section,
			version ? ", firmware " : "", version ? version : ""),
		    NULL);
		bs->mode = KFLASH_MODE_KLIPPER;
		bs->found = bs->looked = true;
		return;
	}
	/* A query reaches only nodes without an id, and Klipper gives its nodes one. */
	if (!d->units_known || d->units_run) {
		add(d, "board", name, CHECK_WARNING,
		    fmt("node %s on %s is not seen: a CAN node answers a query only while "
			"Klipper is stopped, and kflash doctor neither stops Klipper nor queries a "
			"CAN bus while it runs%s",
			uuid, iface,
			section ? "; Klipper does not report its MCU either"
				: "; Klipper's MCUs cannot name it, since it has no Klipper MCU "
				  "section"),
		    section ? fmt("check that [%s] in printer.cfg has canbus_uuid: %s; or stop "
				  "Klipper (kflash service stop) and run kflash doctor again",
				  section, uuid)
			    : fmt("name its section in printer.cfg with kflash set %s "
				  "--klipper-mcu "
				  "'mcu NAME'; or stop Klipper (kflash service stop) and run "
				  "kflash "
				  "doctor again",
				  name));
		return;
	}
	a = can_answers(d, iface);
	bs->looked = true;
	if (!a) {
		d->oom = true;
		return;
	}
	if (!a->query) {
		add(d, "board", name, CHECK_FAIL,
		    fmt("node %s on %s cannot be asked: %s", uuid, iface,
			a->error ? a->error : "?"),
		    fmt("see the can-interface check of %s", iface));
		return;
	}
	app = kflash_can_query_find(a->query, uuid);
	if (app == KFLASH_CAN_APP_UNKNOWN) {
		add(d, "board", name, CHECK_WARNING,
		    fmt("node %s did not answer a query on %s: only a node without a node id "
			"answers, and a node keeps the id Klipper gave it until it is reset",
			uuid, iface),
		    strdup("power the toolhead off and on, and run kflash doctor again; if it "
			   "still does not answer, check its wiring, its 120-ohm termination and "
			   "the bitrate of its firmware"));
		return;
	}
	bs->mode = app == KFLASH_CAN_APP_KATAPULT ? KFLASH_MODE_KATAPULT : KFLASH_MODE_KLIPPER;
	bs->found = true;
	add(d, "board", name, CHECK_OK,
	    fmt("node %s on %s runs %s (it answered a query, as Klipper is stopped)", uuid, iface,
		app == KFLASH_CAN_APP_KATAPULT ? "Katapult" : "Klipper"),
	    NULL);
}

static void
check_device(struct doctor *d, struct board_state *bs, struct kflash_discovery *disc)
{
	const char *name = kflash_board_get_name(bs->board);
	struct kflash_device *dev = NULL;
	const char *path;
	int r = kflash_discovery_find_board(disc, bs->board, &dev);

	bs->looked = true;
	if (r == KFLASH_ERR_NOT_FOUND) {
		add(d, "board", name, CHECK_FAIL, lib_message(d),
		    lib_fix(d)
			    ?: fmt("kflash scan lists what is plugged in; a board shown there "
				   "under "
				   "another path: kflash set %s --serial PATH",
				   name));
		return;
	}
	if (r == KFLASH_ERR_AMBIGUOUS) {
		add(d, "board", name, CHECK_FAIL, lib_message(d),
		    fmt("unplug one of them, or tell them apart with kflash set %s --usb-serial "
			"SERIAL",
			name));
		return;
	}
	if (r < 0) {
		add(d, "board", name, CHECK_FAIL, lib_message(d), lib_fix(d));
		return;
	}
	bs->mode = kflash_device_get_mode(dev);
	bs->found = true;
	path = kflash_device_get_path(dev);
	switch (bs->mode) {
	case KFLASH_MODE_DFU:
	case KFLASH_MODE_RP2_BOOT:
		add(d, "board", name, CHECK_WARNING,
		    fmt("in its ROM bootloader (%s) at %s: it runs no Klipper now",
			kflash_device_mode_name(bs->mode), path),
		    fmt("kflash flash %s goes on with Klipper's make flash, whose flash tool "
			"runs through sudo; see \"A board came back as DFU\" in kflash's README "
			"for flashing it by hand, and for Katapult",
			name));
		break;
	case KFLASH_MODE_UNKNOWN:
		add(d, "board", name, CHECK_OK,
		    fmt("at %s, a serial port that does not say what runs on it", path), NULL);
		break;
	case KFLASH_MODE_CAN_BRIDGE:
		add(d, "board", name, CHECK_OK,
		    fmt("klipper mode, as a USB-to-CAN bridge%s%s (%s)",
			kflash_device_get_net_interface(dev) ? " for " : "",
			kflash_device_get_net_interface(dev) ?: "", path),
		    NULL);
		break;
	default:
		add(d, "board", name, CHECK_OK,
		    fmt("%s mode at %s", kflash_device_mode_name(bs->mode), path), NULL);
		break;
	}
	kflash_device_unref(dev);
}

static void
check_boards(struct doctor *d)
{
	struct kflash_discovery *disc = NULL;
	int scanned = 1; /* not scanned yet */

	for (size_t i = 0; i < d->n_boards && !d->oom; i++) {
		struct board_state *bs = &d->boards[i];
		const char *name = kflash_board_get_name(bs->board);

		switch (kflash_board_get_link(bs->board)) {
		case KFLASH_LINK_HOST:
			add(d, "board", name, CHECK_OK,
			    strdup("Klipper's host MCU, the Linux process: make flash installs it, "
				   "with klipper-mcu stopped around it"),
			    NULL);
			continue;
		case KFLASH_LINK_CAN:
			check_can_node(d, bs);
			continue;
		default:
			break;
		}
		if (scanned > 0)
			scanned = kflash_discovery_scan(d->ctx, &disc);
		if (scanned < 0)
			add(d, "board", name, CHECK_FAIL,
			    fmt("cannot tell which boards are plugged in: %s",
				kflash_context_last_error(d->ctx)),
			    lib_fix(d));
		else
			check_device(d, bs, disc);
	}
	kflash_discovery_unref(disc);
}

/* ---- Katapult on the boards that use it ---- */

/* Why a board cannot have Katapult, for @config. */
static char *
absent_reason(const struct kflash_config *config)
{
	const char *dir = kflash_config_get_board_directory(config);

	if (strcmp(dir, "stm32") != 0 && strcmp(dir, "rp2040") != 0 && strcmp(dir, "lpc176x") != 0)
		return fmt("Katapult has no port for %s (only stm32, rp2040 and lpc176x)", dir);
	return fmt("its config puts Klipper at 0x%08x, where the chip boots, which leaves no "
		   "room for a bootloader",
		   kflash_config_get_application_address(config));
}

/* What is known of a board that may or may not have Katapult. */
static char *
unknown_message(const struct board_state *bs, bool make_fallback)
{
	const char *boot = kflash_config_get_value(bs->config, "CONFIG_FLASH_BOOT_ADDRESS");
	unsigned long at = boot ? strtoul(boot, NULL, 0) : 0;
	unsigned long app = kflash_config_get_application_address(bs->config);
	char *now, *room, *text;

	if (!bs->looked)
		now = strdup("what the board runs is not known");
	else if (!bs->found)
		now = strdup("the board was not found");
	else if (bs->mode == KFLASH_MODE_KLIPPER)
		now = strdup("the board runs Klipper");
	else
		now = fmt("the board is in %s mode", kflash_device_mode_name(bs->mode));
	/* The room below Klipper: 0x8000 bytes from 0x08000000. */
	if (at && app > at)
		room = fmt("; its config leaves 0x%lx bytes from 0x%08lx for a bootloader",
			   app - at, at);
	else
		room = strdup("");
	text = now && room ? fmt("unknown: %s, and kflash doctor does not send a board to its "
				 "bootloader to look%s%s",
				 now, room,
				 make_fallback ? "; without Katapult, kflash flash uses make flash"
					       : "")
			   : NULL;
	free(now);
	free(room);
	return text;
}

static void
check_katapult(struct doctor *d)
{
	for (size_t i = 0; i < d->n_boards && !d->oom; i++) {
		const struct board_state *bs = &d->boards[i];
		const char *name = kflash_board_get_name(bs->board);
		enum kflash_method method = kflash_board_get_method(bs->board);
		/* A CAN node has only Katapult; a serial board falls back to make flash. */
		bool fallback = method == KFLASH_METHOD_AUTO &&
				kflash_board_get_link(bs->board) != KFLASH_LINK_CAN;
		char *why;
		int presence;

		if (!bs->config || kflash_board_is_host_mcu(bs->board) ||
		    (method != KFLASH_METHOD_KATAPULT && method != KFLASH_METHOD_AUTO))
			continue;
		presence = kflash_katapult_presence(bs->config,
						    bs->found ? bs->mode : KFLASH_MODE_UNKNOWN);
		if (presence == KFLASH_KATAPULT_PRESENT) {
			add(d, "katapult", name, CHECK_OK, strdup("present: the board runs it now"),
			    NULL);
		} else if (presence == KFLASH_KATAPULT_UNKNOWN) {
			add(d, "katapult", name, CHECK_OK, unknown_message(bs, fallback), NULL);
		} else if (fallback) {
			why = absent_reason(bs->config);
			add(d, "katapult", name, CHECK_OK,
			    why ? fmt("absent: %s; kflash flash uses make flash for it", why)
				: NULL,
			    NULL);
			free(why);
		} else if (method == KFLASH_METHOD_KATAPULT &&
			   kflash_board_get_link(bs->board) != KFLASH_LINK_CAN) {
			why = absent_reason(bs->config);
			add(d, "katapult", name, CHECK_FAIL,
			    why ? fmt("absent: %s, but its method is katapult", why) : NULL,
			    fmt("kflash set %s --method auto (make flash without Katapult); or "
				"install Katapult on it, and kflash config %s for its space",
				name, name));
			free(why);
		} else {
			why = absent_reason(bs->config);
			add(d, "katapult", name, CHECK_FAIL,
			    why ? fmt("absent: %s, but a CAN node is flashed with Katapult only",
				      why)
				: NULL,
			    fmt("install Katapult on it, then build Klipper for the space "
				"Katapult leaves: kflash config %s",
				name));
			free(why);
		}
	}
}

/* ---- the CAN interfaces ---- */

static void
check_can_interfaces(struct doctor *d)
{
	char **names = NULL;

	for (size_t i = 0; i < d->n_boards; i++) {
		int link = kflash_board_get_link(d->boards[i].board);

		if ((link == KFLASH_LINK_CAN || link == KFLASH_LINK_CAN_BRIDGE) &&
		    !cli_strv_add_once(&names, kflash_board_get_can_interface(d->boards[i].board)
						       ?: "can0"))
			d->oom = true;
	}
	for (size_t k = 0; names && names[k] && !d->oom; k++) {
		const char *iface = names[k];
		uint32_t bitrate = 0;
		char *who = NULL, *says = NULL;
		bool disagree = false;
		int r;

		/* The bitrate every config of a board on this interface names. */
		for (size_t i = 0; i < d->n_boards; i++) {
			const struct board_state *bs = &d->boards[i];
			uint32_t own =
				bs->config ? kflash_config_get_canbus_frequency(bs->config) : 0;
			char *entry;

			if (strcmp(kflash_board_get_can_interface(bs->board) ?: "can0", iface) !=
				    0 ||
			    !own)
				continue;
			if (bitrate && own != bitrate)
				disagree = true;
			if (!bitrate)
				bitrate = own;
			entry = fmt("%s %u", kflash_board_get_name(bs->board), own);
			if (!entry || !append_name(&says, entry))
				d->oom = true;
			free(entry);
			if (!append_name(&who, kflash_board_get_name(bs->board)))
				d->oom = true;
		}
		if (disagree) {
			add(d, "can-interface", iface, CHECK_FAIL,
			    fmt("the boards' configs disagree about the bitrate of %s (%s): every "
				"node and the host must use one",
				iface, says),
			    strdup("kflash config NAME, for each board whose CAN bus frequency "
				   "differs"));
		} else if ((r = kflash_can_check_interface(d->ctx, iface, bitrate)) < 0) {
			add(d, "can-interface", iface, CHECK_FAIL, lib_message(d),
			    r == KFLASH_ERR_NOT_FOUND
				    ? fmt("plug in the USB-to-CAN adapter (or the bridge board), "
					  "and "
					  "bring %s up: sudo ip link set %s up type can bitrate %u",
					  iface, iface, bitrate ? bitrate : 1000000)
			    : r == KFLASH_ERR_INVALID
				    ? strdup("name the boards' CAN interface with kflash set NAME "
					     "--can-interface IF")
				    : fmt("sudo ip link set %s down && sudo ip link set %s type "
					  "can "
					  "bitrate %u && sudo ip link set %s txqueuelen 128 up",
					  iface, iface, bitrate ? bitrate : 1000000, iface));
		} else if (kflash_context_get_can_socket_dir(d->ctx)) {
			add(d, "can-interface", iface, CHECK_OK,
			    fmt("%s answers, as a socket in %s (which has no bitrate to check)",
				iface, kflash_context_get_can_socket_dir(d->ctx)),
			    NULL);
		} else if (bitrate) {
			add(d, "can-interface", iface, CHECK_OK,
			    fmt("%s is up at %u bit/s, as the configs of %s say", iface, bitrate,
				who),
			    NULL);
		} else {
			add(d, "can-interface", iface, CHECK_OK, fmt("%s is up", iface), NULL);
		}
		free(who);
		free(says);
	}
	cli_strv_free(names);
}

/* ---- the cache's free space ---- */

static char *
bytes_text(uint64_t bytes)
{
	if (bytes >= 1024ULL * 1024 * 1024)
		return fmt("%.1f GiB", (double)bytes / (1024.0 * 1024 * 1024));
	return fmt("%.0f MiB", (double)bytes / (1024.0 * 1024));
}

static void
check_space(struct doctor *d)
{
	const char *dir = kflash_context_get_cache_dir(d->ctx);
	size_t n = d->n_boards ? d->n_boards : 1;
	uint64_t available = 0;
	int space = 0, r = kflash_check_cache_space(d->ctx, n, &space, &available);
	char *free_text, *need;

	if (r < 0) {
		add(d, "cache-space", NULL, CHECK_FAIL, lib_message(d), lib_fix(d));
		return;
	}
	free_text = bytes_text(available);
	need = bytes_text(n * KFLASH_SPACE_PER_BUILD);
	if (space == KFLASH_SPACE_ENOUGH)
		add(d, "cache-space", NULL, CHECK_OK,
		    fmt("%s: %s free, room for the builds of %zu board%s", dir, free_text, n,
			n == 1 ? "" : "s"),
		    NULL);
	else
		add(d, "cache-space", NULL,
		    space == KFLASH_SPACE_TOO_LOW ? CHECK_FAIL : CHECK_WARNING,
		    fmt("%s: only %s free; the builds of %zu board%s take up to %s%s", dir,
			free_text, n, n == 1 ? "" : "s", need,
			space == KFLASH_SPACE_TOO_LOW ? ", so a build would fail"
						      : ", and the file system is nearly full"),
		    strdup("free space there (old G-code files, logs, sudo apt-get clean), or "
			   "move the cache with --cache-dir DIR or KFLASH_CACHE_DIR"));
	free(free_text);
	free(need);
}

/* ---- output ---- */

/* @text with every line after the first indented by @indent spaces. */
static void
print_indented(const char *text, int indent)
{
	for (const char *p = text; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%*s", indent, "");
	}
}

static void
print_text(const struct doctor *d, const size_t counts[3])
{
	for (size_t i = 0; i < d->n_checks; i++) {
		const struct check *c = &d->checks[i];

		printf("%-8s %s%s%s: ", status_names[c->status], c->name, c->subject ? " " : "",
		       c->subject ? c->subject : "");
		print_indented(c->message, 9);
		putchar('\n');
		if (c->fix) {
			printf("%9sfix: ", "");
			print_indented(c->fix, 14);
			putchar('\n');
		}
	}
	printf("\n%zu checks: %zu ok, %zu warning%s, %zu failed", d->n_checks, counts[CHECK_OK],
	       counts[CHECK_WARNING], counts[CHECK_WARNING] == 1 ? "" : "s", counts[CHECK_FAIL]);
	if (counts[CHECK_FAIL])
		printf(": a flash would fail; fix what says fail first\n");
	else
		printf(": nothing would make a flash fail\n");
}

static struct json_object *
doctor_json(const struct doctor *d, const size_t counts[3])
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	struct json_object *summary = json_object_new_object();

	for (size_t i = 0; i < d->n_checks; i++) {
		const struct check *c = &d->checks[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(c->name));
		json_object_object_add(o, "subject", cli_json_string(c->subject));
		json_object_object_add(o, "status",
				       json_object_new_string(status_names[c->status]));
		json_object_object_add(o, "message", json_object_new_string(c->message));
		json_object_object_add(o, "fix", cli_json_string(c->fix));
		json_object_array_add(list, o);
	}
	json_object_object_add(doc, "checks", list);
	for (int s = CHECK_OK; s <= CHECK_FAIL; s++)
		json_object_object_add(summary, status_names[s],
				       json_object_new_int64((int64_t)counts[s]));
	json_object_object_add(doc, "summary", summary);
	return doc;
}

static void
doctor_clear(struct doctor *d)
{
	for (size_t i = 0; i < d->n_checks; i++) {
		free(d->checks[i].subject);
		free(d->checks[i].message);
		free(d->checks[i].fix);
	}
	free(d->checks);
	for (size_t i = 0; i < d->n_boards; i++)
		kflash_config_unref(d->boards[i].config);
	free(d->boards);
	for (size_t i = 0; i < d->n_can; i++) {
		free(d->can[i].interface);
		free(d->can[i].error);
		kflash_can_query_unref(d->can[i].query);
	}
	free(d->can);
	cli_strv_free(d->units);
	kflash_klippy_unref(d->klippy);
	kflash_registry_unref(d->reg);
}

int
cmd_doctor(struct cli *cli, int argc, char **argv)
{
	struct doctor d = { .cli = cli, .ctx = cli->ctx };
	size_t counts[3] = { 0 };
	int c = cli_getopt(cli, argc, argv, "", NULL), r = 0;

	if (c == 'h')
		return cli_command_help(cli);
	if (c != -1)
		return CLI_EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	/* Each check says its own outcome; the library's progress is no news here. */
	if (cli->verbosity <= 0)
		kflash_context_set_event_level(cli->ctx, KFLASH_LEVEL_ERROR);

	check_tree(&d);
	check_registry(&d);
	check_configs(&d);
	check_programs(&d);
	collect_units(&d);
	check_sudo(&d);
	check_services(&d);
	check_klippy(&d);
	check_boards(&d);
	check_katapult(&d);
	check_can_interfaces(&d);
	check_space(&d);

	if (d.oom) {
		doctor_clear(&d);
		return cli_fail(cli, KFLASH_ERR_NO_MEMORY);
	}
	for (size_t i = 0; i < d.n_checks; i++)
		counts[d.checks[i].status]++;
	if (counts[CHECK_FAIL]) {
		char *why = fmt("%zu of %zu checks failed: a flash would fail", counts[CHECK_FAIL],
				d.n_checks);

		cli_outcome_failed(cli, CLI_EXIT_CHECK_FAILED, "checks-failed", why);
		free(why);
	}
	if (cli->json)
		r = cli_print_json(cli, doctor_json(&d, counts));
	else
		print_text(&d, counts);
	doctor_clear(&d);
	if (r == 0 && counts[CHECK_FAIL])
		r = CLI_EXIT_CHECK_FAILED;
	return r;
}
