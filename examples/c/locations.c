/* SPDX-License-Identifier: MIT */
/*
 * Print where libkflash looks for its files, as resolved from the defaults
 * and the KFLASH_* environment variables.
 *
 * Build against an installed libkflash with:
 *     cc locations.c $(pkg-config --cflags --libs libkflash)
 */
#include <stdio.h>

#include <kflash/kflash.h>

int
main(void)
{
	struct kflash_context *ctx;
	int r;

	r = kflash_context_new(&ctx);
	if (r < 0) {
		fprintf(stderr, "kflash_context_new: %s\n", kflash_strerror(r));
		return 1;
	}

	printf("libkflash %s\n", kflash_version());
	printf("config dir:    %s\n", kflash_context_get_config_dir(ctx));
	printf("registry:      %s\n", kflash_context_get_registry(ctx));
	printf("cache dir:     %s\n", kflash_context_get_cache_dir(ctx));
	printf("klipper dir:   %s\n", kflash_context_get_klipper_dir(ctx));
	printf("service:       %s\n", kflash_context_get_service(ctx));
	printf("klippy socket: %s\n", kflash_context_get_klippy_socket(ctx));
	printf("device dir:    %s\n", kflash_context_get_dev_dir(ctx));

	kflash_context_unref(ctx);
	return 0;
}
