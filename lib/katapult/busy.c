/* SPDX-License-Identifier: MIT */
/* Who holds a serial port: a scan of /proc/<pid>/fd. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/process.h"
#include "libkflash-private.h"
#include "transport.h"
#include "util/util.h"

static bool
same_device(const struct stat *a, const struct stat *b)
{
	if (S_ISCHR(a->st_mode) && S_ISCHR(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static bool
process_holds(const char *pid_name, const struct stat *target)
{
	char dir[300];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid_name);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char fd_path[600];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir, de->d_name);
		found = stat(fd_path, &st) == 0 && same_device(&st, target);
	}
	closedir(d);
	return found;
}

int
kf_tty_find_holder(const char *path, pid_t *pid, char **comm)
{
	struct stat target;
	struct dirent *de;
	pid_t self = getpid();
	int found = 0;
	DIR *proc;

	if (stat(path, &target) < 0 || !(proc = opendir("/proc")))
		return 0;
	while (!found && (de = readdir(proc))) {
		char *end;
		long n = strtol(de->d_name, &end, 10);

		if (*end || n <= 0 || n == self || !process_holds(de->d_name, &target))
			continue;
		*pid = (pid_t)n;
		*comm = kf_process_cmdline(*pid);
		found = 1;
	}
	closedir(proc);
	return found;
}

int
kf_tty_refuse_if_held(struct kflash_context *ctx, const char *path)
{
	_cleanup_free_ char *holder = NULL;
	pid_t pid;

	if (!kf_tty_find_holder(path, &pid, &holder))
		return 0;
	return kf_error_hint(ctx, KFLASH_ERR_BUSY, KFLASH_HINT_SET_SERVICE, NULL,
			     "%s is in use by process %d (%s); stop it first (is Klipper still "
			     "running, under another service name?)",
			     path, (int)pid, holder ? holder : "unknown command");
}
