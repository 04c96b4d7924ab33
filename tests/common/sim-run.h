/* SPDX-License-Identifier: MIT */
/*
 * Run kflash-sim (tests/katapult-sim) from a library or CLI test: a
 * simulated board in its own device dir, with its log and image files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kf_sim {
	pid_t pid;
	char *dir;   /* a temporary directory holding the rest */
	char *dev;   /* the device dir the board publishes its links in */
	char *log;   /* its log, one line per command and response */
	char *image; /* the flashed image, written as it exits */
	char *path;  /* the first path it published */
};

/*
 * Start the simulator with @args (NULL-terminated) after the common ones,
 * in a new temporary dir, or in @dev_dir when it is not NULL (several
 * boards in one device dir). Returns once it is ready.
 */
struct kf_sim *
kf_sim_start(const char *dev_dir, const char *const *args);

#define kf_sim_startl(dev_dir, ...)                                                                \
	kf_sim_start(dev_dir, (const char *const[]){ __VA_ARGS__, NULL })

/* End it (SIGTERM) and check that it exited cleanly; its files stay. */
void
kf_sim_end(struct kf_sim *s);

/* End it if it still runs, and free @s and its files. */
void
kf_sim_stop(struct kf_sim *s);

/* How many log lines start with @prefix. */
int
kf_sim_log_count(const struct kf_sim *s, const char *prefix);

/* Wait up to a generous bound for a log line starting with @prefix. */
bool
kf_sim_log_wait(const struct kf_sim *s, const char *prefix);

/* The whole log (free it). */
char *
kf_sim_log_text(const struct kf_sim *s);
