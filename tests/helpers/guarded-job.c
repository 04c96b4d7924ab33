/* SPDX-License-Identifier: MIT */
/*
 * A guarded job for the service tests: it stops the units given on its
 * command line through a guard, pretends to work, and ends the guard, as
 * kflash does. At each phase it prints a marker line and waits for a line
 * on stdin before it goes on, so a test can kill it exactly there:
 *
 *   stopping   the guard is about to begin
 *   stopped    the units are stopped
 *   working    in the middle of the job
 *   ending     the guard is about to end
 *   ended      done; the exit status follows the guard's end
 *
 * SIGINT, SIGTERM and SIGHUP cancel the context, as the kflash CLI does,
 * and the job unwinds through the guard.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kflash/kflash.h>

static struct kflash_context *ctx;

static void
on_signal(int sig)
{
	kflash_context_cancel(ctx);
}

/* Print @marker and wait for a line on stdin, or for a cancel. */
static void
phase(const char *marker)
{
	char c;

	printf("%s\n", marker);
	fflush(stdout);
	while (!kflash_context_is_cancelled(ctx)) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

		if (poll(&p, 1, 10) > 0) {
			while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
			}
			return;
		}
	}
}

int
main(int argc, char **argv)
{
	struct kflash_service_guard *guard;
	struct sigaction sa = { .sa_handler = on_signal };
	int r;

	if (kflash_context_new(&ctx) < 0)
		return 2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (kflash_service_guard_new(ctx, &guard) < 0)
		return 2;
	for (int i = 1; i < argc; i++)
		if (kflash_service_guard_add_unit(guard, argv[i]) < 0)
			return 2;
	phase("stopping");
	r = kflash_service_guard_begin(guard);
	if (r == 0) {
		phase("stopped");
		phase("working");
		phase("ending");
		r = kflash_service_guard_end(guard);
		printf("ended\n");
	}
	if (r < 0)
		fprintf(stderr, "%s\n", kflash_context_last_error(ctx));
	kflash_service_guard_unref(guard);
	kflash_context_unref(ctx);
	return r < 0 ? 1 : 0;
}
