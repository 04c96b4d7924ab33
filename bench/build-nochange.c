/* SPDX-License-Identifier: MIT */
/*
 * What "no needless rebuilds" saves: a second kflash build of an unchanged
 * board against `make clean && make` of the same board, on the fake Klipper
 * tree (what a user's make costs is many times more: a real build takes
 * minutes on a Raspberry Pi).
 *
 *   build-nochange FAKE_KLIPPER_DIR CONFIG_FILE [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kflash/kflash.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", cmd[8192], path[4096];
	int rounds = argc > 3 ? atoi(argv[3]) : 20;
	struct kflash_context *ctx;
	struct kflash_board *board;
	struct kflash_build *b;
	double t, nochange = 0, full = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s FAKE_KLIPPER_DIR CONFIG_FILE [ROUNDS]\n", argv[0]);
		return 64;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "cp -r '%s' '%s/klipper' && cd '%s/klipper' && git init -q && git -c "
		 "user.name=b -c user.email=b@b.invalid add -A && git -c user.name=b -c "
		 "user.email=b@b.invalid commit -q -m b && git tag v0.12.0",
		 argv[1], dir, dir);
	if (run(cmd) < 0 || kflash_context_new(&ctx) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/config", dir);
	kflash_context_set_config_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/cache", dir);
	kflash_context_set_cache_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/klipper", dir);
	kflash_context_set_klipper_dir(ctx, path);
	if (kflash_board_new(ctx, "bench", &board) < 0 ||
	    kflash_board_set_mcu(board, "stm32f446xx") < 0 ||
	    kflash_board_config_seed(ctx, board, argv[2]) < 0 ||
	    kflash_build_board(ctx, board, 0, &b) < 0) {
		fprintf(stderr, "setup failed: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	kflash_build_unref(b);

	for (int i = 0; i < rounds; i++) {
		t = now_s();
		if (kflash_build_board(ctx, board, 0, &b) < 0 ||
		    kflash_build_get_result(b) != KFLASH_BUILD_UP_TO_DATE) {
			fprintf(stderr, "not up to date: %s\n", kflash_context_last_error(ctx));
			return 1;
		}
		nochange += now_s() - t;
		kflash_build_unref(b);
	}
	snprintf(cmd, sizeof(cmd),
		 "make -s -C '%s/klipper' KCONFIG_CONFIG='%s/config/configs/bench.config' "
		 "OUT='%s/out/' clean >/dev/null && make -s -C '%s/klipper' "
		 "KCONFIG_CONFIG='%s/config/configs/bench.config' OUT='%s/out/' >/dev/null",
		 dir, dir, dir, dir, dir, dir);
	for (int i = 0; i < rounds; i++) {
		t = now_s();
		if (run(cmd) < 0)
			return 1;
		full += now_s() - t;
	}
	printf("no-change kflash build: %8.2f ms (mean of %d)\n", nochange / rounds * 1e3, rounds);
	printf("make clean && make:     %8.2f ms (fake tree)\n", full / rounds * 1e3);
	printf("ratio:                  %8.2f\n", full / nochange);
	kflash_board_unref(board);
	kflash_context_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return run(cmd) < 0;
}
