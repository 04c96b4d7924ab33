/* SPDX-License-Identifier: MIT */
/*
 * SIGINT, SIGTERM and SIGHUP do not kill kflash: they cancel the running
 * operation, which unwinds through the library (so a stopped klipper
 * service is started again) and then exits non-zero.
 */
#include <signal.h>
#include <string.h>

#include "cli.h"

static struct kflash_context *signal_ctx;
static volatile sig_atomic_t caught;

static void
on_signal(int sig)
{
	if (!caught)
		caught = sig;
	kflash_context_cancel(signal_ctx);
}

void
cli_install_signal_handlers(struct cli *cli)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	signal_ctx = cli->ctx;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/*
	 * Installed whatever the inherited disposition: a non-interactive
	 * shell starts background jobs with SIGINT ignored.
	 */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);

	/* A closed stdout must be a write error, not death mid-flash. */
	signal(SIGPIPE, SIG_IGN);
}

int
cli_caught_signal(void)
{
	return caught;
}
