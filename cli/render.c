/* SPDX-License-Identifier: MIT */
/*
 * How library events look on the terminal: "[Phase] board: message"
 * lines on stderr, and a progress bar that redraws itself on a TTY (plain
 * lines at every quarter otherwise).
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"

#define BAR_WIDTH 30

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define RED "\033[31m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define RESET "\033[0m"

/* The progress shown last, to print plain lines only on change. */
static struct {
	char key[256];
	int quarter;
} last_plain;

static const char *
color(const struct cli *cli, const char *code)
{
	return cli->color ? code : "";
}

static void
print_label(const struct cli *cli, enum kflash_phase phase, const char *board)
{
	const char *name = kflash_phase_name(phase);

	if (*name)
		fprintf(stderr, "%s[%s]%s ", color(cli, CYAN), name, color(cli, RESET));
	if (board)
		fprintf(stderr, "%s%s%s: ", color(cli, BOLD), board, color(cli, RESET));
}

void
cli_render_break(struct cli *cli)
{
	if (cli->progress_active) {
		fputc('\n', stderr);
		cli->progress_active = false;
	}
}

static void
render_progress(struct cli *cli, const struct kflash_event *ev)
{
	uint64_t done = kflash_event_get_progress_done(ev);
	uint64_t total = kflash_event_get_progress_total(ev);
	const char *board = kflash_event_get_board(ev);
	const char *msg = kflash_event_get_message(ev);
	int percent = total ? (int)(done * 100 / total) : 0;

	if (percent > 100)
		percent = 100;

	if (!cli->stderr_tty) {
		char key[256];
		int quarter = percent / 25;

		snprintf(key, sizeof(key), "%d|%s|%s", (int)kflash_event_get_phase(ev),
			 board ? board : "", msg);
		if (strcmp(key, last_plain.key) == 0 && quarter == last_plain.quarter)
			return;
		snprintf(last_plain.key, sizeof(last_plain.key), "%s", key);
		last_plain.quarter = quarter;
		print_label(cli, kflash_event_get_phase(ev), board);
		if (total)
			fprintf(stderr, "%s %3d%% (%llu/%llu)\n", msg, percent,
				(unsigned long long)done, (unsigned long long)total);
		else
			fprintf(stderr, "%s %llu\n", msg, (unsigned long long)done);
		return;
	}

	fputs("\r\033[K", stderr);
	print_label(cli, kflash_event_get_phase(ev), board);
	fprintf(stderr, "%s ", msg);
	if (total) {
		int filled = percent * BAR_WIDTH / 100;

		fputc('[', stderr);
		for (int i = 0; i < BAR_WIDTH; i++)
			fputc(i < filled ? '#' : '-', stderr);
		fprintf(stderr, "] %3d%% %llu/%llu", percent, (unsigned long long)done,
			(unsigned long long)total);
	} else {
		fprintf(stderr, "%llu", (unsigned long long)done);
	}
	cli->progress_active = true;
	if (total && done >= total)
		cli_render_break(cli);
	fflush(stderr);
}

void
cli_render_event(struct kflash_context *ctx, const struct kflash_event *ev, void *data)
{
	struct cli *cli = data;
	enum kflash_event_level level = kflash_event_get_level(ev);
	enum kflash_event_type type = kflash_event_get_type(ev);

	if (type == KFLASH_EVENT_PROGRESS) {
		render_progress(cli, ev);
		return;
	}

	cli_render_break(cli);
	print_label(cli, kflash_event_get_phase(ev), kflash_event_get_board(ev));
	if (level >= KFLASH_LEVEL_ERROR)
		fprintf(stderr, "%serror:%s ", color(cli, RED), color(cli, RESET));
	else if (level >= KFLASH_LEVEL_WARNING)
		fprintf(stderr, "%swarning:%s ", color(cli, YELLOW), color(cli, RESET));

	if (type == KFLASH_EVENT_PHASE)
		fprintf(stderr, "%s%s%s\n", color(cli, BOLD), kflash_event_get_message(ev),
			color(cli, RESET));
	else if (type == KFLASH_EVENT_OUTPUT || level < KFLASH_LEVEL_INFO)
		fprintf(stderr, "%s%s%s\n", color(cli, DIM), kflash_event_get_message(ev),
			color(cli, RESET));
	else
		fprintf(stderr, "%s\n", kflash_event_get_message(ev));
}

void
cli_message(struct cli *cli, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	cli_render_break(cli);
	if (prefix)
		fprintf(stderr, "%s%s%s ", color(cli, strcmp(prefix, "error:") == 0 ? RED : YELLOW),
			prefix, color(cli, RESET));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
