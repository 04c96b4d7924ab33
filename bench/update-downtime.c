/* SPDX-License-Identifier: MIT */
/*
 * How long the printer is down during an update of three boards: the time
 * from the stop of Klipper to its start, against the sum of the boards'
 * flash times (entry into Katapult, write, verify, boot). The rest is the
 * orchestration's own cost; the target is a ratio of at most 1.2.
 *
 *   update-downtime KFLASH_SIM FAKE_KLIPPER_DIR FAKES_BIN CONFIGS_DIR
 *
 * (tests/katapult-sim/kflash-sim from the build, tests/fake-klipper,
 * tests/fakes/bin and tests/fixtures/klipper-configs from the source.)
 * The boards' links run at 25000 bytes/s, like a 250000-baud UART.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kflash/kflash.h>

static const struct {
	const char *name, *mcu, *serial, *config, *flash_start, *app_start;
} boards[] = {
	{ "octopus", "stm32f446xx", "1A2B3C4D5E6F708192A3B4C5", "stm32f446_usb", "0x8000000",
	  "0x8008000" },
	{ "ebb", "stm32f446xx", "4E0031000B50415833323520", "stm32f446_can_katapult", "0x8000000",
	  "0x8008000" },
	{ "pico", "rp2040", "E66138935F2A4D28", "rp2040_can_katapult", "0x10000000", "0x10004000" },
};

#define N_BOARDS (sizeof(boards) / sizeof(boards[0]))

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", path[4096], cmd[8192];
	struct kflash_context *ctx;
	struct kflash_update *u;
	pid_t sims[N_BOARDS];
	uint64_t sum = 0, down;

	if (argc < 5) {
		fprintf(stderr, "usage: %s KFLASH_SIM FAKE_KLIPPER_DIR FAKES_BIN CONFIGS_DIR\n",
			argv[0]);
		return 64;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/dev' '%s/state' && cp -r '%s' '%s/klipper' && cd '%s/klipper' && "
		 "git init -q && git -c user.name=b -c user.email=b@b.invalid add -A && "
		 "git -c user.name=b -c user.email=b@b.invalid commit -q -m b && git tag v0.12.0",
		 dir, dir, argv[2], dir, dir);
	if (system(cmd) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s:%s", argv[3], getenv("PATH"));
	setenv("PATH", path, 1);
	snprintf(path, sizeof(path), "%s/calls.log", dir);
	setenv("KF_FAKE_LOG", path, 1);
	snprintf(path, sizeof(path), "%s/state", dir);
	setenv("KF_FAKE_STATE", path, 1);

	for (size_t i = 0; i < N_BOARDS; i++) {
		char dev[4200], ready[4200];

		snprintf(dev, sizeof(dev), "%s/dev", dir);
		snprintf(ready, sizeof(ready), "%s/ready.%zu", dir, i);
		sims[i] = fork();
		if (sims[i] == 0) {
			execl(argv[1], argv[1], "--dev-dir", dev, "--mode", "usb", "--mcu",
			      boards[i].mcu, "--serial", boards[i].serial, "--flash-start",
			      boards[i].flash_start, "--app-start", boards[i].app_start, "--rate",
			      "25000", "--ready-file", ready, (char *)NULL);
			_exit(127);
		}
		for (int t = 0; t < 500 && access(ready, F_OK) != 0; t++)
			usleep(10000);
	}

	if (kflash_context_new(&ctx) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/config", dir);
	kflash_context_set_config_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/config/devices.json", dir);
	kflash_context_set_registry(ctx, path);
	snprintf(path, sizeof(path), "%s/cache", dir);
	kflash_context_set_cache_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/klipper", dir);
	kflash_context_set_klipper_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/dev", dir);
	kflash_context_set_dev_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/klippy.sock", dir);
	kflash_context_set_klippy_socket(ctx, path);

	for (size_t i = 0; i < N_BOARDS; i++) {
		struct kflash_board *b;
		char by_id[4200], config[4200];

		snprintf(by_id, sizeof(by_id), "%s/dev/serial/by-id/usb-Klipper_%s_%s-if00", dir,
			 boards[i].mcu, boards[i].serial);
		snprintf(config, sizeof(config), "%s/%s.config", argv[4], boards[i].config);
		if (kflash_board_new(ctx, boards[i].name, &b) < 0 ||
		    kflash_board_set_serial_path(b, by_id) < 0 ||
		    kflash_registry_add_board(ctx, b) < 0 ||
		    kflash_board_config_seed(ctx, b, config) < 0) {
			fprintf(stderr, "setup: %s\n", kflash_context_last_error(ctx));
			return 1;
		}
		kflash_board_unref(b);
	}
	if (kflash_update_new(ctx, &u) < 0 || kflash_update_add_all_boards(u) < 0 ||
	    kflash_update_run(u) < 0) {
		fprintf(stderr, "update: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	for (size_t i = 0; i < kflash_update_get_board_count(u); i++) {
		printf("%-10s %6.3f s (%s)\n", kflash_update_get_board_name(u, i),
		       (double)kflash_update_get_board_duration_ms(u, i) / 1000,
		       kflash_method_name(kflash_update_get_board_method(u, i)));
		sum += kflash_update_get_board_duration_ms(u, i);
	}
	down = kflash_update_get_downtime_ms(u);
	printf("sum of flash times:    %6.3f s\n", (double)sum / 1000);
	printf("downtime (stop-start): %6.3f s\n", (double)down / 1000);
	printf("ratio:                 %6.2f (target <= 1.2)\n", (double)down / (double)sum);

	kflash_update_unref(u);
	kflash_context_unref(ctx);
	for (size_t i = 0; i < N_BOARDS; i++) {
		kill(sims[i], SIGTERM);
		waitpid(sims[i], NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}
