/* SPDX-License-Identifier: MIT */
/* The default service control: systemctl, through sudo -n when not root. */
#include <string.h>
#include <unistd.h>

#include "internal/process.h"
#include "service-private.h"

#define STATE_MAX_OUTPUT 256

static bool
is_root(void)
{
	return geteuid() == 0;
}

bool
kf_unit_name_is_valid(const char *unit)
{
	size_t n = unit ? strlen(unit) : 0;

	if (n == 0 || n > 255 || unit[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = unit[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("@._-:", c)))
			return false;
	}
	return true;
}

void
kf_systemctl_argv(const char *argv[6], const char *verb, const char *unit)
{
	size_t n = 0;

	if (!is_root()) {
		argv[n++] = "sudo";
		argv[n++] = "-n";
	}
	argv[n++] = "systemctl";
	argv[n++] = verb;
	argv[n++] = unit;
	argv[n] = NULL;
}

/* The absolute path of a program on PATH, for the sudoers line. */
static char *
which(const char *prog)
{
	const char *path = getenv("PATH");

	for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
		size_t len = strcspn(p, ":");
		char *candidate = kf_strdup_printf("%.*s/%s", (int)len, p, prog);

		if (candidate && len > 0 && access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
		p += len;
		p += *p == ':';
	}
	return kf_strdup_printf("/usr/bin/%s", prog);
}

/* 0 when `sudo -n ARGV` succeeds, 1 when it fails, or a negative error. */
static int
sudo_fails(struct kflash_context *ctx, const char *const *argv)
{
	struct kf_process_opts o = { .argv = argv, .timeout_ms = 10000, .quiet = true };
	struct kf_process_result res;
	int r = kf_process_run(ctx, &o, &res);

	if (r == 0)
		r = res.exit_code != 0;
	kf_process_result_clear(&res);
	return r == KFLASH_ERR_CANCELLED ? r : r != 0;
}

/*
 * May sudo run `systemctl stop|start UNIT` without a password? Yes when it
 * may run anything (`sudo -n true`), or when `sudo -n -l` lists each of
 * those commands, as the sudoers line below allows them.
 */
static int
sudo_allows_units(struct kflash_context *ctx, const char *const *units, size_t n_units)
{
	static const char *const all[] = { "sudo", "-n", "true", NULL };
	int r = sudo_fails(ctx, all);

	if (r <= 0)
		return r;
	for (size_t i = 0; i < n_units; i++) {
		const char *stop[] = { "sudo", "-n", "-l", "systemctl", "stop", units[i], NULL };
		const char *start[] = { "sudo", "-n", "-l", "systemctl", "start", units[i], NULL };

		r = sudo_fails(ctx, stop);
		if (r == 0)
			r = sudo_fails(ctx, start);
		if (r != 0)
			return r;
	}
	return 0;
}

KFLASH_EXPORT int
kflash_service_check_sudo(struct kflash_context *ctx, const char *path)
{
	const char *const all[] = { "sudo", "-n", "true", NULL };
	const char *const one[] = { "sudo", "-n", "-l", path, NULL };
	const char *user = getenv("USER");
	int r;

	if (is_root())
		return 0;
	r = sudo_fails(ctx, all);
	if (r == 1)
		r = sudo_fails(ctx, one);
	if (r <= 0)
		return r;
	return kf_error(
		ctx, KFLASH_ERR_PERMISSION,
		"%s must run through sudo, which asks for a password (sudo -n failed), "
		"so nothing was stopped; allow it without a password by adding this line "
		"with 'sudo visudo -f /etc/sudoers.d/kflash':\n    %s ALL=(root) NOPASSWD: %s",
		path, user && *user ? user : "pi", path);
}

int
kf_systemctl_check_sudo(struct kflash_context *ctx, const char *const *units, size_t n_units)
{
	_cleanup_free_ char *systemctl = NULL, *line = NULL;
	const char *user = getenv("USER");
	int r;

	if (is_root())
		return 0;
	r = sudo_allows_units(ctx, units, n_units);
	if (r <= 0)
		return r;

	systemctl = which("systemctl");
	line = kf_strdup_printf("%s ALL=(root) NOPASSWD:", user && *user ? user : "pi");
	for (size_t i = 0; line && systemctl && i < n_units; i++) {
		char *longer = kf_strdup_printf("%s%s %s stop %s, %s start %s", line, i ? "," : "",
						systemctl, units[i], systemctl, units[i]);

		free(line);
		line = longer;
	}
	return kf_error(
		ctx, KFLASH_ERR_PERMISSION,
		"Klipper's service must be stopped and started, and sudo asks for a password "
		"(sudo -n failed), so nothing was stopped; allow these commands "
		"without a password by adding this line with "
		"'sudo visudo -f /etc/sudoers.d/kflash':\n    %s",
		line ? line : "(out of memory)");
}

int
kf_systemctl_run(struct kflash_context *ctx, const char *verb, const char *unit)
{
	const char *argv[6];
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.tail_lines = 5,
		/* Starting klipper again must happen even on the way out of a cancel. */
		.uncancellable = strcmp(verb, "start") == 0,
	};
	struct kf_process_result res;
	int r;

	kf_systemctl_argv(argv, verb, unit);
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.exit_code != 0)
		r = kf_error(ctx, KFLASH_ERR_SERVICE,
			     "'%ssystemctl %s %s' failed with exit status %d%s%s",
			     strcmp(argv[0], "sudo") == 0 ? "sudo -n " : "", verb, unit,
			     res.exit_code, res.tail ? ": " : "", res.tail ? res.tail : "");
	kf_process_result_clear(&res);
	return r;
}

int
kf_systemctl_state(struct kflash_context *ctx, const char *unit, int *state)
{
	const char *const argv[] = { "systemctl", "is-active", unit, NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
		.tail_lines = 2,
	};
	struct kf_process_result res;
	int r, found = -1;

	/* is-active needs no privileges. Its exit code is 0 only when active. */
	r = kf_process_run(ctx, &o, &res);
	if (r == 0 && res.out) {
		kf_strip_newline(res.out);
		found = kf_unit_state_from_name(res.out);
	}
	if (r == 0 && found < 0)
		r = kf_error(ctx, KFLASH_ERR_SERVICE,
			     "cannot tell whether %s runs: 'systemctl is-active %s' said '%.*s' "
			     "(exit status %d%s%s); is systemd running?",
			     unit, unit, STATE_MAX_OUTPUT, res.out ? res.out : "", res.exit_code,
			     res.tail ? ": " : "", res.tail ? res.tail : "");
	if (r == 0)
		*state = found;
	kf_process_result_clear(&res);
	return r;
}
