/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include "libkflash-private.h"
#include "process.h"

#define DEFAULT_KILL_GRACE_MS 2000
/* Poll interval for the exit of a child when pidfd_open() is missing. */
#define WAIT_POLL_MS 20
/* How long to read a dead child's pipes, held open by its descendants. */
#define DRAIN_MS 250
#define MAX_LINE 4096
#define MAX_CAPTURE (4u * 1024 * 1024)

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

extern char **environ;

char *
kf_process_find_program(const char *name, const char *path_env)
{
	const char *p;

	if (!name || !*name) {
		errno = EINVAL;
		return NULL;
	}
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return NULL;
		return strdup(name);
	}

	p = path_env ? path_env : getenv("PATH");
	if (!p)
		p = "/usr/local/bin:/usr/bin:/bin";

	while (*p) {
		const char *end = strchrnul(p, ':');
		char *candidate;

		if (end == p)
			candidate = kf_strdup_printf("./%s", name);
		else
			candidate = kf_strdup_printf("%.*s/%s", (int)(end - p), p, name);
		if (!candidate)
			return NULL;
		if (access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
		p = *end ? end + 1 : end;
	}
	errno = ENOENT;
	return NULL;
}

/* Our environment with the overlay applied; NULL on OOM. */
static char **
build_env(const char *const *overlay)
{
	char **env = NULL;

	for (char **e = environ; e && *e; e++) {
		size_t keylen = strcspn(*e, "=");
		bool replaced = false;

		for (const char *const *o = overlay; o && *o; o++) {
			if (strncmp(*o, *e, keylen) == 0 &&
			    ((*o)[keylen] == '=' || !(*o)[keylen])) {
				replaced = true;
				break;
			}
		}
		if (!replaced && !kf_strv_push(&env, *e))
			goto oom;
	}
	for (const char *const *o = overlay; o && *o; o++)
		if (strchr(*o, '=') && !kf_strv_push(&env, *o))
			goto oom;
	if (!env)
		env = calloc(1, sizeof(*env));
	return env;
oom:
	kf_strv_free(env);
	return NULL;
}

static const char *
env_lookup(char **env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++)
		if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* ---- the child side: only async-signal-safe calls after fork() ---- */

static void __attribute__((noreturn)) child_fail(int errpipe, int err)
{
	ssize_t r = write(errpipe, &err, sizeof(err));

	(void)r;
	_exit(127);
}

static void __attribute__((noreturn)) child_exec(const struct kf_process_opts *opts,
						 const char *path,
						 char **envp,
						 int outfd,
						 int errfd,
						 int errpipe)
{
	sigset_t none;

	/*
	 * An interactive child joins the terminal as its foreground job. Any
	 * other child gets a session of its own, without a terminal: nothing
	 * it runs (sudo inside a Makefile, say) can stop to ask there.
	 */
	if (opts->interactive)
		setpgid(0, 0);
	else
		setsid();

	/* Signals we ignore or block must not leak into the child. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (opts->interactive) {
		/* Become the terminal's foreground job; tcsetpgrp raises SIGTTOU. */
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(STDIN_FILENO, getpid());
		signal(SIGTTOU, SIG_DFL);
	} else {
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
			child_fail(errpipe, errno);
		if (dup2(outfd, STDOUT_FILENO) < 0 || dup2(errfd, STDERR_FILENO) < 0)
			child_fail(errpipe, errno);
	}

	if (opts->nice) {
		errno = 0;
		if (nice(opts->nice) < 0 && errno) {
			/* a lower priority is best effort */
		}
	}
	if (opts->idle_io)
		syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
			IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);

	for (const int *fd = opts->inherit_fds; fd && *fd >= 0; fd++)
		if (fcntl(*fd, F_SETFD, 0) < 0)
			child_fail(errpipe, errno);
	if (opts->cwd && chdir(opts->cwd) < 0)
		child_fail(errpipe, errno);

	execve(path, (char *const *)opts->argv, envp);
	child_fail(errpipe, errno);
}

/* ---- the parent side ---- */

struct stream_state {
	int fd;
	enum kf_stream id;
	char buf[MAX_LINE + 1];
	size_t len;
};

struct run_state {
	struct kflash_context *ctx;
	const struct kf_process_opts *opts;
	char **tail;
	unsigned int tail_next;
	unsigned int tail_count;
	char *out;
	size_t out_len;
	bool oom;
};

static void
deliver_line(struct run_state *st, enum kf_stream stream, const char *line)
{
	const struct kf_process_opts *o = st->opts;

	if (o->tail_lines > 0) {
		char *copy = strdup(line);

		if (!copy) {
			st->oom = true;
		} else {
			free(st->tail[st->tail_next]);
			st->tail[st->tail_next] = copy;
			st->tail_next = (st->tail_next + 1) % o->tail_lines;
			if (st->tail_count < o->tail_lines)
				st->tail_count++;
		}
	}
	if (o->on_line)
		o->on_line(o->on_line_data, stream, line);
	else if (o->quiet)
		kf_debug(st->ctx, "%s: %s", o->argv[0], line);
	else
		kf_output_line(st->ctx, line);
}

static void
capture(struct run_state *st, const char *data, size_t n)
{
	char *grown;

	if (st->out_len + n > MAX_CAPTURE)
		n = MAX_CAPTURE - st->out_len;
	if (n == 0)
		return;
	grown = realloc(st->out, st->out_len + n + 1);
	if (!grown) {
		st->oom = true;
		return;
	}
	memcpy(grown + st->out_len, data, n);
	st->out_len += n;
	grown[st->out_len] = '\0';
	st->out = grown;
}

/* Split what arrived into lines; a line longer than MAX_LINE is cut. */
static void
feed(struct run_state *st, struct stream_state *s, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (c == '\n' || s->len == MAX_LINE) {
			s->buf[s->len] = '\0';
			kf_strip_newline(s->buf);
			deliver_line(st, s->id, s->buf);
			s->len = 0;
			if (c == '\n')
				continue;
		}
		s->buf[s->len++] = c;
	}
}

static void
flush_partial(struct run_state *st, struct stream_state *s)
{
	if (s->len == 0)
		return;
	s->buf[s->len] = '\0';
	deliver_line(st, s->id, s->buf);
	s->len = 0;
}

/* Read what is available; closes the fd at EOF. */
static void
read_stream(struct run_state *st, struct stream_state *s)
{
	char data[4096];
	ssize_t n;

	for (;;) {
		n = read(s->fd, data, sizeof(data));
		if (n > 0) {
			if (s->id == KF_STREAM_STDOUT && st->opts->capture_stdout)
				capture(st, data, (size_t)n);
			else
				feed(st, s, data, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF or a hard error: the stream is over. */
		flush_partial(st, s);
		close(s->fd);
		s->fd = -1;
		return;
	}
}

static char *
join_tail(struct run_state *st)
{
	unsigned int n = st->opts->tail_lines;
	size_t len = 1;
	char *s, *p;

	if (!st->tail_count)
		return NULL;
	for (unsigned int i = 0; i < n; i++)
		if (st->tail[i])
			len += strlen(st->tail[i]) + 1;
	s = p = malloc(len);
	if (!s)
		return NULL;
	for (unsigned int i = 0; i < st->tail_count; i++) {
		unsigned int idx = (st->tail_next + n - st->tail_count + i) % n;
		size_t l = strlen(st->tail[idx]);

		memcpy(p, st->tail[idx], l);
		p += l;
		*p++ = '\n';
	}
	p[-1] = '\0';
	return s;
}

static int
pidfd_open_or_fail(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	errno = ENOSYS;
	return -1;
#endif
}

static void
hand_terminal_back(void)
{
	sigset_t block, old;

	if (!isatty(STDIN_FILENO))
		return;
	sigemptyset(&block);
	sigaddset(&block, SIGTTOU);
	sigprocmask(SIG_BLOCK, &block, &old);
	tcsetpgrp(STDIN_FILENO, getpgrp());
	sigprocmask(SIG_SETMASK, &old, NULL);
}

enum stop_reason {
	STOP_NONE,
	STOP_TIMEOUT,
	STOP_CANCEL,
};

static int
supervise(struct run_state *st,
	  pid_t pid,
	  struct stream_state *streams,
	  int nstreams,
	  int *status,
	  bool *reaped)
{
	const struct kf_process_opts *o = st->opts;
	struct kflash_context *ctx = st->ctx;
	uint64_t start = kf_now_ms();
	uint64_t deadline = o->timeout_ms ? start + o->timeout_ms : 0;
	uint64_t kill_at = 0, drain_until = 0;
	uint32_t grace = o->kill_grace_ms ? o->kill_grace_ms : DEFAULT_KILL_GRACE_MS;
	enum stop_reason reason = STOP_NONE;
	bool exited = false;
	_cleanup_close_ int pidfd = pidfd_open_or_fail(pid);

	for (;;) {
		struct pollfd pfd[4];
		int n = 0, timeout = -1, open_streams = 0;
		uint64_t now = kf_now_ms();

		if (!exited) {
			pid_t r = waitpid(pid, status, WNOHANG);

			if (r == pid) {
				exited = *reaped = true;
				drain_until = now + DRAIN_MS;
			} else if (r < 0 && errno != EINTR) {
				return kf_error_errno(ctx, KFLASH_ERR_IO, errno, "waitpid");
			}
		}

		if (reason == STOP_NONE && !exited) {
			if (!o->uncancellable && kflash_context_is_cancelled(ctx))
				reason = STOP_CANCEL;
			else if (deadline && now >= deadline)
				reason = STOP_TIMEOUT;
			if (reason != STOP_NONE) {
				kf_debug(ctx, "stopping %s (pid %d): %s", o->argv[0], (int)pid,
					 reason == STOP_CANCEL ? "cancelled" : "timed out");
				kill(-pid, SIGTERM);
				kill(pid, SIGCONT);
				kill_at = now + grace;
			}
		}
		if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			kill_at = 0;
		}

		for (int i = 0; i < nstreams; i++)
			if (streams[i].fd >= 0)
				open_streams++;
		if (exited && (open_streams == 0 || now >= drain_until)) {
			if (open_streams)
				kill(-pid, SIGKILL); /* descendants still hold our pipes */
			break;
		}

		for (int i = 0; i < nstreams; i++) {
			if (streams[i].fd < 0)
				continue;
			pfd[n].fd = streams[i].fd;
			pfd[n].events = POLLIN;
			n++;
		}
		if (reason == STOP_NONE && !o->uncancellable) {
			pfd[n].fd = kf_cancel_fd(ctx);
			pfd[n].events = POLLIN;
			n++;
		}
		if (!exited && pidfd >= 0) {
			pfd[n].fd = pidfd;
			pfd[n].events = POLLIN;
			n++;
		}

		if (exited)
			timeout = (int)(drain_until - now);
		else if (pidfd < 0)
			timeout = WAIT_POLL_MS;
		if (deadline && reason == STOP_NONE && !exited) {
			int left = (int)(deadline > now ? deadline - now : 0);

			timeout = timeout < 0 || left < timeout ? left : timeout;
		}
		if (kill_at) {
			int left = (int)(kill_at > now ? kill_at - now : 0);

			timeout = timeout < 0 || left < timeout ? left : timeout;
		}

		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return kf_error_errno(ctx, KFLASH_ERR_IO, errno, "poll");

		for (int i = 0; i < nstreams; i++)
			if (streams[i].fd >= 0)
				read_stream(st, &streams[i]);
	}

	if (reason != STOP_NONE) {
		/* Whatever is left of the group goes too. */
		kill(-pid, SIGKILL);
		if (reason == STOP_CANCEL)
			return kf_error(ctx, KFLASH_ERR_CANCELLED, "%s was cancelled", o->argv[0]);
		if (o->timeout_ms < 10000)
			return kf_error(ctx, KFLASH_ERR_TIMEOUT,
					"%s did not finish within %u ms and was killed", o->argv[0],
					o->timeout_ms);
		return kf_error(ctx, KFLASH_ERR_TIMEOUT,
				"%s did not finish within %u s and was killed", o->argv[0],
				o->timeout_ms / 1000);
	}
	return 0;
}

static int
make_pipe(struct kflash_context *ctx, int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return kf_error_errno(ctx, KFLASH_ERR_IO, errno, "cannot create a pipe");
	return 0;
}

int
kf_process_run(struct kflash_context *ctx,
	       const struct kf_process_opts *opts,
	       struct kf_process_result *res)
{
	_cleanup_strv_ char **envp = NULL;
	_cleanup_free_ char *path = NULL;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, execp[2] = { -1, -1 };
	struct stream_state streams[2];
	struct run_state st = { .ctx = ctx, .opts = opts };
	int r, status = 0, exec_errno = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;

	if (!opts->argv || !opts->argv[0])
		return kf_error(ctx, KFLASH_ERR_INVALID, "no program to run");
	r = opts->uncancellable ? 0 : kf_check_cancel(ctx);
	if (r < 0)
		return r;
	if (opts->interactive && !isatty(STDIN_FILENO))
		return kf_error(ctx, KFLASH_ERR_NOT_TTY,
				"%s needs a terminal; run it from an interactive shell",
				opts->argv[0]);

	envp = build_env(opts->env);
	if (!envp)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	path = kf_process_find_program(opts->argv[0], env_lookup(envp, "PATH"));
	if (!path)
		return kf_error(
			ctx, KFLASH_ERR_NOT_FOUND,
			"'%s' was not found on PATH; install it or add its directory to PATH",
			opts->argv[0]);

	if (opts->tail_lines) {
		st.tail = calloc(opts->tail_lines, sizeof(*st.tail));
		if (!st.tail)
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}

	if ((r = make_pipe(ctx, execp)) < 0)
		goto out;
	if (!opts->interactive &&
	    ((r = make_pipe(ctx, outp)) < 0 || (r = make_pipe(ctx, errp)) < 0))
		goto out;

	kf_debug(ctx, "running %s", path);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = kf_error_errno(ctx, KFLASH_ERR_IO, errno, "cannot start %s", opts->argv[0]);
		goto out;
	}
	if (pid == 0)
		child_exec(opts, path, envp, outp[1], errp[1], execp[1]);

	/*
	 * Both sides set the group, so that kill(-pid) works at once; a
	 * non-interactive child has made its session (and group) before the
	 * exec pipe below closes.
	 */
	if (opts->interactive)
		setpgid(pid, pid);
	close(execp[1]);
	execp[1] = -1;
	if (!opts->interactive) {
		close(outp[1]);
		close(errp[1]);
		outp[1] = errp[1] = -1;
	}

	/* The exec pipe closes on a successful exec, or carries errno. */
	while ((r = (int)read(execp[0], &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR) {
	}
	if (r != (int)sizeof(exec_errno))
		exec_errno = 0;

	if (opts->interactive) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		}
		hand_terminal_back();
		r = 0;
	} else {
		bool reaped = false;
		int nstreams = 0;

		streams[nstreams] = (struct stream_state){ .fd = outp[0], .id = KF_STREAM_STDOUT };
		nstreams++;
		streams[nstreams] = (struct stream_state){ .fd = errp[0], .id = KF_STREAM_STDERR };
		nstreams++;
		outp[0] = errp[0] = -1;
		for (int i = 0; i < nstreams; i++)
			fcntl(streams[i].fd, F_SETFL, O_NONBLOCK);
		r = supervise(&st, pid, streams, nstreams, &status, &reaped);
		for (int i = 0; i < nstreams; i++)
			if (streams[i].fd >= 0)
				close(streams[i].fd);
		if (!reaped) {
			/* Only after a failure of poll or waitpid. */
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
			}
		}
	}

	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
	}
	res->tail = join_tail(&st);
	res->out = kf_steal(&st.out);
	if (r == 0 && exec_errno)
		r = kf_error_errno(ctx, KFLASH_ERR_NOT_FOUND, exec_errno, "cannot run %s", path);
	if (r == 0 && st.oom)
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory reading %s", opts->argv[0]);

out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (execp[i] >= 0)
			close(execp[i]);
	}
	for (unsigned int i = 0; st.tail && i < opts->tail_lines; i++)
		free(st.tail[i]);
	free(st.tail);
	free(st.out);
	return r;
}

void
kf_process_result_clear(struct kf_process_result *res)
{
	free(res->tail);
	free(res->out);
	res->tail = NULL;
	res->out = NULL;
}

char *
kf_process_cmdline(pid_t pid)
{
	char path[64], buf[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Arguments are NUL-separated: show them separated by spaces. */
	for (size_t i = 0; n > 0 && i < n - 1; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return n ? strdup(buf) : NULL;
}
