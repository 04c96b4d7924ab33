/* SPDX-License-Identifier: MIT */
/*
 * List the registered boards and whether each is plugged in, and in which
 * mode, using nothing but <kflash/kflash.h>.
 *
 * Build against an installed libkflash with:
 *     cc boards.c $(pkg-config --cflags --libs libkflash)
 */
#include <stdio.h>

#include <kflash/kflash.h>

/* Print warnings and errors the library reports. */
static void
on_event(struct kflash_context *ctx, const struct kflash_event *ev, void *data)
{
	if (kflash_event_get_type(ev) == KFLASH_EVENT_LOG &&
	    kflash_event_get_level(ev) >= KFLASH_LEVEL_WARNING)
		fprintf(stderr, "%s\n", kflash_event_get_message(ev));
}

static void
print_board(struct kflash_discovery *found, const struct kflash_board *board)
{
	struct kflash_device *dev = NULL;
	int r = kflash_discovery_find_board(found, board, &dev);

	printf("%-16s %-14s ", kflash_board_get_name(board), kflash_board_get_mcu(board));
	if (r == 0)
		printf("%s at %s\n", kflash_device_mode_name(kflash_device_get_mode(dev)),
		       kflash_device_get_path(dev));
	else
		printf("%s\n", kflash_strerror(r));
	kflash_device_unref(dev);
}

int
main(void)
{
	struct kflash_context *ctx;
	struct kflash_registry *reg = NULL;
	struct kflash_discovery *found = NULL;
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
	if (r < 0) {
		fprintf(stderr, "%s\n", kflash_context_last_error(ctx));
		kflash_registry_unref(reg);
		kflash_context_unref(ctx);
		return 1;
	}

	printf("libkflash %s: %zu boards in %s\n", kflash_version(),
	       kflash_registry_get_board_count(reg), kflash_context_get_registry(ctx));
	for (size_t i = 0; i < kflash_registry_get_board_count(reg); i++)
		print_board(found, kflash_registry_get_board(reg, i));

	kflash_discovery_unref(found);
	kflash_registry_unref(reg);
	kflash_context_unref(ctx);
	return 0;
}
