/* SPDX-License-Identifier: MIT */
/*
 * How library events look on the terminal: "[Phase] board: message"
 * lines on stderr, and a progress bar for each board that redraws itself
 * on a TTY, all on one line when several boards are flashed at once (plain
 * lines at every quarter of each otherwise).
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 30

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define RED "\033[31m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define RESET "\033[0m"

/*
 * The progress of each board that shows one now: several boards are
 * flashed at once, and each has its bar (on a TTY, all on one line) or its
 * plain lines at every quarter.
 */
#define MAX_BARS 16

struct bar {
	bool used;
	int phase; /* enum kflash_phase */
	char board[64];
	char msg[64];
	int percent;
	uint64_t done, total;
};

static struct bar bars[MAX_BARS];

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

/* The bar of @board (or of no board), made when new; NULL when every slot is taken. */
static struct bar *
bar_of(const char *board)
{
	struct bar *free_slot = NULL;

	for (size_t i = 0; i < MAX_BARS; i++) {
		if (bars[i].used && strcmp(bars[i].board, board ? board : "") == 0)
			return &bars[i];
		if (!bars[i].used && !free_slot)
			free_slot = &bars[i];
	}
	if (free_slot) {
		*free_slot = (struct bar){ .used = true, .percent = -1 };
		snprintf(free_slot->board, sizeof(free_slot->board), "%s", board ? board : "");
	}
	return free_slot;
}

/* A board's progress is over once something else is said about it. */
static void
drop_bar(const char *board)
{
	for (size_t i = 0; i < MAX_BARS; i++)
		if (bars[i].used && strcmp(bars[i].board, board ? board : "") == 0)
			bars[i].used = false;
}

static size_t
bar_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < MAX_BARS; i++)
		n += bars[i].used;
	return n;
}

static int
terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

static void
draw_bar(int width, int percent)
{
	int filled = percent * width / 100;

	fputc('[', stderr);
	for (int i = 0; i < width; i++)
		fputc(i < filled ? '#' : '-', stderr);
	fputc(']', stderr);
}

/* The one progress line on a TTY: one full bar, or a short one for each board. */
static void
redraw(struct cli *cli)
{
	size_t n = bar_count();
	int width = terminal_width();

	fputs("\r\033[K", stderr);
	for (size_t i = 0, shown = 0; i < MAX_BARS; i++) {
		const struct bar *b = &bars[i];

		if (!b->used)
			continue;
		if (n == 1) {
			print_label(cli, (enum kflash_phase)b->phase, *b->board ? b->board : NULL);
			fprintf(stderr, "%s ", b->msg);
			if (b->total) {
				draw_bar(BAR_WIDTH, b->percent);
				fprintf(stderr, " %3d%% %llu/%llu", b->percent,
					(unsigned long long)b->done, (unsigned long long)b->total);
			} else {
				fprintf(stderr, "%llu", (unsigned long long)b->done);
			}
			break;
		}
		/* "octopus writing [####------]  40%", side by side, as far as they fit. */
		if ((int)((shown + 1) * (strlen(b->board) + 30)) > width) {
			fprintf(stderr, " ...");
			break;
		}
		if (shown++ == 0)
			print_label(cli, (enum kflash_phase)b->phase, NULL);
		else
			fputs(" | ", stderr);
		fprintf(stderr, "%s%s%s %s ", color(cli, BOLD), b->board, color(cli, RESET),
			b->msg);
		draw_bar(10, b->percent < 0 ? 0 : b->percent);
		fprintf(stderr, " %3d%%", b->percent < 0 ? 0 : b->percent);
	}
	cli->progress_active = n > 0;
	fflush(stderr);
}

static void
render_progress(struct cli *cli, const struct kflash_event *ev)
{
	uint64_t done = kflash_event_get_progress_done(ev);
	uint64_t total = kflash_event_get_progress_total(ev);
	const char *board = kflash_event_get_board(ev);
	const char *msg = kflash_event_get_message(ev);
	int percent = total ? (int)(done * 100 / total) : 0;
	struct bar *b = bar_of(board);
	bool same;

	if (percent > 100)
		percent = 100;
	if (!b)
		return; /* more boards at once than bars: the others still show theirs */
	same = strcmp(b->msg, msg) == 0 && b->phase == (int)kflash_event_get_phase(ev);
	if (!cli->stderr_tty) {
		/* Plain lines: at every quarter of each board's step. */
		if (same && percent / 25 == b->percent / 25)
			return;
	}
	b->phase = (int)kflash_event_get_phase(ev);
	snprintf(b->msg, sizeof(b->msg), "%s", msg);
	b->percent = percent;
	b->done = done;
	b->total = total;
	if (!cli->stderr_tty) {
		print_label(cli, kflash_event_get_phase(ev), board);
		if (total)
			fprintf(stderr, "%s %3d%% (%llu/%llu)\n", msg, percent,
				(unsigned long long)done, (unsigned long long)total);
		else
			fprintf(stderr, "%s %llu\n", msg, (unsigned long long)done);
		if (total && done >= total)
			b->used = false;
		return;
	}
	redraw(cli);
	if (total && done >= total) {
		b->used = false;
		/* The finished bar stays on its line; the others go on below it. */
		cli_render_break(cli);
	}
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
	if (kflash_event_get_board(ev))
		drop_bar(kflash_event_get_board(ev));
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
