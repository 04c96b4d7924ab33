/* SPDX-License-Identifier: MIT */
/*
 * The simulator as a process, for its tests: start it with options, find
 * its links, read its log, stop it and check that it left nothing behind.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sim {
	pid_t pid;
	char *dir;
	char *dev;
	char *log;
	char *image;
	char *ready;
	char *path; /* what the ready file names */
};

#define sim_start(...) sim_start_v((const char *const[]){ __VA_ARGS__, NULL })
#define sim_add(...) sim_add_v((const char *const[]){ __VA_ARGS__, NULL })
#define sim_add_nowait(...) sim_add_nowait_v((const char *const[]){ __VA_ARGS__, NULL })
#define assert_log(s, ...) ck_assert_msg(sim_log_wait(s, __VA_ARGS__), "missing log line")

char *
strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *
sim_bin(void);

void
sim_free(struct sim *s);

pid_t
spawn(const char *const *argv, int out_fd, int err_fd);

/* The first simulator of a test: kills those a failed test left behind. */
struct sim *
sim_start_v(const char *const *extra);

/* Another one beside it, once ready; or at once, without waiting. */
struct sim *
sim_add_v(const char *const *extra);

struct sim *
sim_add_nowait_v(const char *const *extra);

void
sim_wait_ready(struct sim *s);

int
sim_stop_with(struct sim *s, int sig);

void
sim_stop(struct sim *s);

char *
sim_link(struct sim *s, const char *name);

const char *
sim_link_path(struct sim *s, const char *name);

char *
sim_bypath(struct sim *s);

char *
sim_usbfs(struct sim *s, unsigned devnum);

bool
has_line(const char *text, const char *line);

char *
sim_log_text(struct sim *s);

bool
sim_log_wait(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int
sim_log_lines(struct sim *s, const char *line);

void
assert_log_count(struct sim *s, int count, const char *line);

int
sim_log_count(struct sim *s, const char *prefix);

unsigned
sim_log_garbage(struct sim *s);

bool
exists(const char *path);

char *
link_target(const char *path);

char *
assert_pty_link(const char *path);

void
assert_usbfs(const char *path, uint16_t vid, uint16_t pid);

int
enter_katapult(struct sim *s);
