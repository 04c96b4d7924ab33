/* SPDX-License-Identifier: MIT */
/*
 * The sentinel: a process in a session of its own that holds one end of a
 * socket pair. When kflash ends its guard it writes "done"; when kflash dies
 * (SIGKILL, OOM, a dropped SSH session) the pipe closes without it, and the
 * sentinel starts the units that were stopped: through Moonraker when the
 * guard uses it, and with systemctl when that fails or is the provider.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service-private.h"

#define DONE "done"

#define MAX_UNITS 16

/* Everything the child needs, prepared before fork(). */
struct plan {
	const char *argv[MAX_UNITS][6];
	struct kf_moonraker_start moonraker[MAX_UNITS];
	bool use_moonraker;
	size_t count;
	int devnull;
	int pipe_rd;
};

static void
close_from(int lowest)
{
	long max = sysconf(_SC_OPEN_MAX);

#ifdef SYS_close_range
	if (syscall(SYS_close_range, lowest, ~0U, 0) == 0)
		return;
#endif
	for (int fd = lowest; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close(fd);
}

static void
set_signals(void (*action)(int))
{
	struct sigaction sa = { .sa_handler = action };
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGQUIT };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < KF_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void __attribute__((noreturn)) sentinel_main(const struct plan *p)
{
	char buf[sizeof(DONE)];
	size_t got = 0;
	sigset_t none;

	setsid();
	set_signals(SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(p->devnull, STDIN_FILENO);
	dup2(p->devnull, STDOUT_FILENO);
	dup2(p->devnull, STDERR_FILENO);
	if (dup2(p->pipe_rd, 3) < 0)
		_exit(1);
	close_from(4);

	for (;;) {
		ssize_t n = read(3, buf + got, got < sizeof(buf) ? sizeof(buf) - got : 1);

		if (n > 0) {
			got = got + (size_t)n > sizeof(buf) ? sizeof(buf) : got + (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break; /* EOF: kflash is gone, or said done and closed */
	}
	if (got == strlen(DONE) && memcmp(buf, DONE, got) == 0)
		_exit(0);

	for (size_t i = 0; i < p->count; i++) {
		pid_t pid;

		if (p->use_moonraker && p->moonraker[i].len &&
		    kf_moonraker_start_raw(&p->moonraker[i]) == 0)
			continue;
		pid = fork();
		if (pid == 0) {
			set_signals(SIG_DFL);
			close(3);
			execvp(p->argv[i][0], (char *const *)p->argv[i]);
			_exit(127);
		}
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
			}
	}
	_exit(0);
}

/* The Moonraker starts of @p, when @via uses Moonraker and its socket path fits. */
static void
plan_moonraker(struct kflash_context *ctx, struct plan *p, const char *const *units, int via)
{
	const char *sock = kflash_context_get_moonraker_socket(ctx);
	uint32_t timeout = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND);

	if ((via != KF_VIA_MOONRAKER && via != KF_VIA_MOONRAKER_ONLY) || !sock ||
	    strlen(sock) >= sizeof(p->moonraker[0].addr.sun_path))
		return;
	p->use_moonraker = true;
	for (size_t i = 0; i < p->count; i++) {
		struct kf_moonraker_start *m = &p->moonraker[i];

		m->addr.sun_family = AF_UNIX;
		strcpy(m->addr.sun_path, sock);
		m->id = i + 1;
		m->timeout_ms = timeout;
		m->len =
			kf_moonraker_start_request(m->request, sizeof(m->request), units[i], m->id);
	}
}

int
kf_sentinel_arm(struct kflash_context *ctx,
		const char *const *units,
		size_t n_units,
		int via,
		struct kf_sentinel *s)
{
	struct plan p = { .count = n_units };
	int fds[2];
	pid_t pid;

	s->pid = -1;
	s->fd = -1;
	if (n_units > KF_ARRAY_SIZE(p.argv))
		return kf_error(ctx, KFLASH_ERR_INVALID, "too many units to guard (%zu)", n_units);
	for (size_t i = 0; i < n_units; i++)
		kf_systemctl_argv(p.argv[i], "start", units[i]);
	plan_moonraker(ctx, &p, units, via);
	p.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (p.devnull < 0)
		return kf_error_sys(ctx, errno, "cannot open /dev/null");
	/*
	 * Only one end stays with kflash, and never passes to its children. A
	 * socket pair rather than a pipe: send() with MSG_NOSIGNAL cannot kill
	 * a caller with SIGPIPE if the sentinel is gone.
	 */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		close(p.devnull);
		return kf_error_sys(ctx, errno, "cannot create the sentinel's pipe");
	}
	p.pipe_rd = fds[0];
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		close(p.devnull);
		return kf_error_sys(ctx, e, "cannot start the sentinel");
	}
	if (pid == 0)
		sentinel_main(&p);
	close(fds[0]);
	close(p.devnull);
	s->pid = pid;
	s->fd = fds[1];
	kf_debug(ctx, "sentinel %d armed: it starts the stopped units%s if kflash dies", (int)pid,
		 p.use_moonraker ? " through Moonraker (or systemctl)" : "");
	return 0;
}

void
kf_sentinel_dismiss(struct kf_sentinel *s)
{
	if (s->fd >= 0) {
		ssize_t n;

		do {
			n = send(s->fd, DONE, strlen(DONE), MSG_NOSIGNAL);
		} while (n < 0 && errno == EINTR);
		close(s->fd);
		s->fd = -1;
	}
	if (s->pid > 0) {
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
		}
		s->pid = -1;
	}
}
