/* SPDX-License-Identifier: MIT */
/*
 * How long the printer is down during an update of four boards on
 * independent USB ports: the time from the stop of Klipper to its start.
 * Flashed one after the other (--jobs 1), the downtime is the sum of the
 * boards' flash times (entry into Katapult, write, verify, boot) plus the
 * orchestration's own cost: target ratio at most 1.2. Flashed at once (the
 * default), it is close to the slowest board's flash: target at most 1.3
 * times that.
 *
 *   update-downtime KFLASH_SIM FAKE_KLIPPER_DIR FAKES_BIN CONFIGS_DIR
 *
 * (tests/katapult-sim/kflash-sim from the build, tests/fake-klipper,
 * tests/fakes/bin and tests/fixtures/klipper-configs from the source.)
 * The simulated boards take as long as real ones: 1 s to re-enumerate
 * after the touch and after COMPLETE, and 100000 bytes/s on their link,
 * about a millisecond per Katapult round trip.
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
	const char *name, *mcu, *serial, *config, *flash_start, *app_start, *port;
} boards[] = {
	{ "octopus", "stm32f446xx", "1A2B3C4D5E6F708192A3B4C5", "stm32f446_usb", "0x8000000",
	  "0x8008000", "1.1" },
	{ "ebb", "stm32f446xx", "4E0031000B50415833323520", "stm32f446_can_katapult", "0x8000000",
	  "0x8008000", "1.2" },
	{ "pico", "rp2040", "E66138935F2A4D28", "rp2040_can_katapult", "0x10000000", "0x10004000",
	  "1.3" },
	{ "mmu", "stm32f446xx", "3B0042001851303439363932", "stm32f446_usb", "0x8000000",
	  "0x8008000", "1.4" },
};

#define N_BOARDS (sizeof(boards) / sizeof(boards[0]))

struct times {
	uint64_t sum, slowest, down;
};

/* One update of every board with @jobs at once (0: the default); its times in *@t. */
static int
run(struct kflash_context *ctx, unsigned int jobs, struct times *t)
{
	struct kflash_update *u;

	*t = (struct times){ 0 };
	if (kflash_update_new(ctx, &u) < 0 || kflash_update_add_all_boards(u) < 0 ||
	    /* No Klipper answers here: the print gate is forced past its absent socket. */
	    kflash_update_set_flags(u, KFLASH_UPDATE_REFLASH | KFLASH_UPDATE_FORCE) < 0 ||
	    kflash_update_set_jobs(u, jobs) < 0 || kflash_update_run(u) < 0) {
		fprintf(stderr, "update: %s\n", kflash_context_last_error(ctx));
		kflash_update_unref(u);
		return -1;
	}
	printf("%s:\n", jobs == 1 ? "--jobs 1" : "default jobs");
	for (size_t i = 0; i < kflash_update_get_board_count(u); i++) {
		uint64_t ms = kflash_update_get_board_duration_ms(u, i);

		printf("  %-10s %6.3f s (%s)\n", kflash_update_get_board_name(u, i),
		       (double)ms / 1000, kflash_method_name(kflash_update_get_board_method(u, i)));
		t->sum += ms;
		if (ms > t->slowest)
			t->slowest = ms;
	}
	t->down = kflash_update_get_downtime_ms(u);
	kflash_update_unref(u);
	return 0;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", path[4096], cmd[8192];
	struct kflash_context *ctx = NULL;
	struct times seq, par;
	pid_t sims[N_BOARDS] = { 0 };
	int status = 0;

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
			      "100000", "--reenumerate-ms", "1000", "--usb-port", boards[i].port,
			      "--ready-file", ready, (char *)NULL);
			_exit(127);
		}
		for (int t = 0; t < 500 && access(ready, F_OK) != 0; t++)
			usleep(10000);
	}

	if (kflash_context_new(&ctx) < 0) {
		status = 1;
		goto out;
	}
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
			kflash_board_unref(b);
			status = 1;
			goto out;
		}
		kflash_board_unref(b);
	}
	/* One after the other, then at once; both flash every board (they run it already). */
	if (run(ctx, 1, &seq) < 0 || run(ctx, 0, &par) < 0) {
		status = 1;
		goto out;
	}
	printf("one after the other: downtime %6.3f s, sum of flash times %6.3f s: ratio %.2f "
	       "(target <= 1.2)\n",
	       (double)seq.down / 1000, (double)seq.sum / 1000, (double)seq.down / (double)seq.sum);
	printf("at once:             downtime %6.3f s, slowest board %6.3f s: ratio %.2f "
	       "(target <= 1.3)\n",
	       (double)par.down / 1000, (double)par.slowest / 1000,
	       (double)par.down / (double)par.slowest);
	printf("downtime at once / one after the other: %.2f\n",
	       (double)par.down / (double)seq.down);

out:
	kflash_context_unref(ctx);
	for (size_t i = 0; i < N_BOARDS; i++) {
		if (sims[i] <= 0)
			continue;
		kill(sims[i], SIGTERM);
		waitpid(sims[i], NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0 ? 1 : status;
}
