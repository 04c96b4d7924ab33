/* SPDX-License-Identifier: MIT */
/*
 * List the registered boards: whether each is plugged in, in which mode,
 * and whether it needs a reflash, using nothing but <kflash/kflash.h>.
 *
 * Build against an installed libkflash with:
 *     cc boards.c $(pkg-config --cflags --libs libkflash)
 */
#include <stdio.h>
#include <string.h>

#include <kflash/kflash.h>

/* Print warnings and errors the library reports. */
static void
on_event(struct kflash_context *ctx, const struct kflash_event *ev, void *data)
{
	if (kflash_event_get_type(ev) == KFLASH_EVENT_LOG &&
	    kflash_event_get_level(ev) >= KFLASH_LEVEL_WARNING)
		fprintf(stderr, "%s\n", kflash_event_get_message(ev));
}

/* Why board @name needs a reflash, or "current". */
static const char *
reflash_reason(const struct kflash_status *status, const char *name)
{
	for (size_t i = 0; i < kflash_status_get_board_count(status); i++) {
		const char *reason;

		if (strcmp(kflash_status_get_board_name(status, i), name) != 0)
			continue;
		reason = kflash_status_get_board_message(status, i);
		return reason ? reason : "current";
	}
	return "?";
}

static void
print_board(struct kflash_discovery *found,
	    const struct kflash_status *status,
	    const struct kflash_board *board)
{
	struct kflash_device *dev = NULL;
	int r = kflash_discovery_find_board(found, board, &dev);
	char where[512];

	if (r == 0)
		snprintf(where, sizeof(where), "%s at %s",
			 kflash_device_mode_name(kflash_device_get_mode(dev)),
			 kflash_device_get_path(dev));
	else
		snprintf(where, sizeof(where), "%s", kflash_strerror(r));
	printf("%-16s %-14s %-40s %s\n", kflash_board_get_name(board), kflash_board_get_mcu(board),
	       reflash_reason(status, kflash_board_get_name(board)), where);
	kflash_device_unref(dev);
}

int
main(void)
{
	struct kflash_context *ctx;
	struct kflash_registry *reg = NULL;
	struct kflash_discovery *found = NULL;
	struct kflash_status *status = NULL;
	int r;

	r = kflash_context_new(&ctx);
	if (r < 0) {
		fprintf(stderr, "kflash_context_new: %s\n", kflash_strerror(r));
		return 1;
	}
	kflash_context_set_event_handler(ctx, on_event, NULL);

	r = kflash_registry_load(ctx, &reg);
	if (r == 0)
		r = kflash_discovery_scan(ctx, &found);
	if (r == 0)
		r = kflash_status_query(ctx, &status);
	if (r < 0) {
		fprintf(stderr, "%s\n", kflash_context_last_error(ctx));
		kflash_discovery_unref(found);
		kflash_registry_unref(reg);
		kflash_context_unref(ctx);
		return 1;
	}

	printf("libkflash %s: %zu boards in %s; Klipper here is %s\n", kflash_version(),
	       kflash_registry_get_board_count(reg), kflash_context_get_registry(ctx),
	       kflash_status_get_host_version(status));
	for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++)
		print_board(found, status, kflash_registry_get_board(reg, i));

	kflash_status_unref(status);
	kflash_discovery_unref(found);
	kflash_registry_unref(reg);
	kflash_context_unref(ctx);
	return 0;
}
