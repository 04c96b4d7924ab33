/* SPDX-License-Identifier: MIT */
/*
 * Child processes: argv exec (never a shell), found on PATH, in their own
 * process group (and, unless interactive, their own session without a
 * terminal), with an environment overlay, output streamed line by line, a
 * timeout that kills the whole group, and cancellation through the
 * context.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kflash_context;

enum kf_stream {
	KF_STREAM_STDOUT = 1,
	KF_STREAM_STDERR = 2,
};

struct kf_process_opts {
	/* argv[0] is looked up on PATH unless it contains a '/'. */
	const char *const *argv;
	/* Overlay on the environment: "KEY=VALUE" sets, "KEY" removes. */
	const char *const *env;
	/* Descriptors the child inherits (a job server's pipe); -1 ends it. */
	const int *inherit_fds;
	/* Working directory of the child; NULL keeps ours. */
	const char *cwd;
	/* Kill the child's group after this long; 0 means no limit. */
	uint32_t timeout_ms;
	/* Between SIGTERM and SIGKILL on timeout or cancel; 0 means 2 s. */
	uint32_t kill_grace_ms;
	/*
	 * Inherit stdin, stdout and stderr and hand the terminal to the
	 * child's group (menuconfig). Nothing is captured then.
	 */
	bool interactive;
	/* Lower the child's priority: added niceness, and the idle I/O class. */
	int nice;
	bool idle_io;
	/* Collect stdout into kf_process_result.out instead of emitting it. */
	bool capture_stdout;
	/*
	 * Send lines as DEBUG events rather than OUTPUT: for queries (git
	 * describe, systemctl is-active) whose chatter is not the user's
	 * business; tail_lines still keeps them for an error message.
	 */
	bool quiet;
	/*
	 * Called for each line of output (without its newline). NULL sends
	 * each line as an OUTPUT event of the context.
	 */
	void (*on_line)(void *data, enum kf_stream stream, const char *line);
	void *on_line_data;
	/* Keep this many of the last output lines in kf_process_result.tail. */
	unsigned int tail_lines;
	/*
	 * Run even when the context is cancelled, and let the child finish:
	 * for the work that must happen on the way out, such as starting
	 * klipper again. The timeout still applies.
	 */
	bool uncancellable;
};

struct kf_process_result {
	/* The exit code, or -1 when the child was killed by a signal. */
	int exit_code;
	/* The signal that ended the child, or 0. */
	int signal;
	/* The last lines of output joined with '\n', or NULL. */
	char *tail;
	/* stdout when capture_stdout was set, else NULL. */
	char *out;
};

/*
 * Run a child to completion.
 *
 * Returns 0 when it ran and ended (whatever its exit code: see @res),
 * KFLASH_ERR_NOT_FOUND when the program is not on PATH or cannot be
 * executed, KFLASH_ERR_TIMEOUT or KFLASH_ERR_CANCELLED when it was killed
 * (with its whole process group), KFLASH_ERR_NOT_TTY for an interactive
 * run without a terminal on stdin, or KFLASH_ERR_IO / _NO_MEMORY. @res
 * is filled in every case and must be released with
 * kf_process_result_clear().
 */
int
kf_process_run(struct kflash_context *ctx,
	       const struct kf_process_opts *opts,
	       struct kf_process_result *res);

void
kf_process_result_clear(struct kf_process_result *res);

/*
 * The path of @name found on @path_env (a PATH value; NULL means ours).
 * Names with a '/' are returned as they are when executable. NULL when not
 * found, with errno set.
 */
char *
kf_process_find_program(const char *name, const char *path_env);

/*
 * The command line of process @pid, its arguments separated by spaces
 * (at most 255 bytes), for messages; NULL when it cannot be read.
 */
char *
kf_process_cmdline(pid_t pid);
