/* SPDX-License-Identifier: MIT */
/*
 * What "no needless rebuilds" saves, and what the no-change check costs.
 *
 *   build-nochange FAKE_KLIPPER_DIR CONFIG_FILE [ROUNDS]
 *   build-nochange --checkout KLIPPER_CHECKOUT CONFIG_FILE [ROUNDS]
 *
 * The first form copies the fake Klipper tree into a git repository and
 * compares a kflash build of an unchanged board with `make clean && make`
 * of the same board. The second uses a real Klipper checkout as it is
 * (read only: the build goes to a temporary cache dir; the first build is a
 * real one and takes minutes): pick a config whose compiler is installed,
 * for example the Linux process's, which builds with the host's gcc.
 *
 * Both print the no-change check twice: "uncached", with the cache of
 * Klipper and compiler versions (<cache dir>/versions/) removed before each
 * round, which is what every check cost before that cache existed, and
 * "cached", the check as it runs from the second time on. The second form
 * also prints what one `git describe --dirty` and one `gcc --version` cost.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <kflash/kflash.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * CPU seconds used so far by this process and its children, which a loaded
 * machine inflates far less than the wall time.
 */
static double
cpu_s(void)
{
	struct rusage self, children;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec +
			children.ru_stime.tv_sec) +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
			children.ru_stime.tv_usec) /
		       1e6;
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

static double
time_command(const char *cmd, int rounds)
{
	double total = 0, t;

	for (int i = 0; i < rounds; i++) {
		t = now_s();
		if (run(cmd) < 0)
			return -1;
		total += now_s() - t;
	}
	return total / rounds;
}

/*
 * The mean time of one no-change check (and its CPU time in *@cpu);
 * uncached removes the cache first.
 */
static double
time_check(struct kflash_context *ctx,
	   struct kflash_board *board,
	   const char *dir,
	   bool uncached,
	   int rounds,
	   double *cpu)
{
	char cmd[8192];
	struct kflash_build *b;
	double total = 0, t, c;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache/versions'", dir);
	for (int i = 0; i < rounds; i++) {
		if (uncached && run(cmd) < 0)
			return -1;
		c = cpu_s();
		t = now_s();
		if (kflash_build_board(ctx, board, 0, &b) < 0 ||
		    kflash_build_get_result(b) != KFLASH_BUILD_UP_TO_DATE) {
			fprintf(stderr, "not up to date: %s\n", kflash_context_last_error(ctx));
			return -1;
		}
		total += now_s() - t;
		*cpu += (cpu_s() - c) / rounds;
		kflash_build_unref(b);
	}
	return total / rounds;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", cmd[8192], path[4096];
	bool checkout = argc > 1 && strcmp(argv[1], "--checkout") == 0;
	const char *tree = argv[checkout ? 2 : 1], *config = argv[checkout ? 3 : 2];
	int rounds = argc > (checkout ? 4 : 3) ? atoi(argv[checkout ? 4 : 3]) : 20;
	struct kflash_context *ctx;
	struct kflash_board *board;
	struct kflash_config *c;
	struct kflash_build *b;
	double uncached, cached, full, describe, gcc, uncached_cpu = 0, cached_cpu = 0;

	if (argc < (checkout ? 4 : 3) || rounds < 1) {
		fprintf(stderr,
			"usage: %s FAKE_KLIPPER_DIR CONFIG_FILE [ROUNDS]\n"
			"       %s --checkout KLIPPER_CHECKOUT CONFIG_FILE [ROUNDS]\n",
			argv[0], argv[0]);
		return 64;
	}
	if (!mkdtemp(dir))
		return 1;
	if (!checkout) {
		snprintf(cmd, sizeof(cmd),
			 "cp -r '%s' '%s/klipper' && cd '%s/klipper' && git init -q && git -c "
			 "user.name=b -c user.email=b@b.invalid add -A && git -c user.name=b -c "
			 "user.email=b@b.invalid commit -q -m b && git tag v0.12.0",
			 tree, dir, dir);
		if (run(cmd) < 0)
			return 1;
	}
	if (kflash_context_new(&ctx) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/config", dir);
	kflash_context_set_config_dir(ctx, path);
	snprintf(path, sizeof(path), "%s/cache", dir);
	kflash_context_set_cache_dir(ctx, path);
	if (checkout) {
		kflash_context_set_klipper_dir(ctx, tree);
	} else {
		snprintf(path, sizeof(path), "%s/klipper", dir);
		kflash_context_set_klipper_dir(ctx, path);
	}
	if (kflash_config_load(ctx, config, &c) < 0 || kflash_board_new(ctx, "bench", &board) < 0 ||
	    kflash_board_set_mcu(board, kflash_config_get_mcu(c)) < 0 ||
	    kflash_board_config_seed(ctx, board, config) < 0) {
		fprintf(stderr, "setup failed: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	kflash_config_unref(c);
	if (checkout)
		fprintf(stderr, "building %s once in %s (minutes)...\n", config, dir);
	if (kflash_build_board(ctx, board, 0, &b) < 0) {
		fprintf(stderr, "the first build failed: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	kflash_build_unref(b);

	/* Interleaved, so that a change in the machine's load hits both. */
	uncached = cached = 0;
	for (int i = 0; i < 4; i++) {
		double u = time_check(ctx, board, dir, true, (rounds + 3) / 4, &uncached_cpu);
		double w = time_check(ctx, board, dir, false, (rounds + 3) / 4, &cached_cpu);

		if (u < 0 || w < 0)
			return 1;
		uncached += u / 4;
		cached += w / 4;
	}
	printf("no-change check, uncached: %8.2f ms (mean of %d; CPU %.2f ms)\n", uncached * 1e3,
	       rounds, uncached_cpu / 4 * 1e3);
	printf("no-change check, cached:   %8.2f ms (mean of %d; CPU %.2f ms)\n", cached * 1e3,
	       rounds, cached_cpu / 4 * 1e3);
	printf("uncached / cached:         %8.2f\n", uncached / cached);
	if (checkout) {
		snprintf(cmd, sizeof(cmd),
			 "git -C '%s' describe --always --tags --long --dirty >/dev/null", tree);
		describe = time_command(cmd, rounds);
		gcc = time_command("gcc --version >/dev/null", rounds);
		printf("one git describe --dirty:  %8.2f ms (with a shell)\n", describe * 1e3);
		printf("one gcc --version:         %8.2f ms (with a shell)\n", gcc * 1e3);
	} else {
		snprintf(cmd, sizeof(cmd),
			 "make -s -C '%s/klipper' KCONFIG_CONFIG='%s/config/configs/bench.config' "
			 "OUT='%s/out/' clean >/dev/null && make -s -C '%s/klipper' "
			 "KCONFIG_CONFIG='%s/config/configs/bench.config' OUT='%s/out/' >/dev/null",
			 dir, dir, dir, dir, dir, dir);
		full = time_command(cmd, rounds);
		if (full < 0)
			return 1;
		printf("make clean && make:        %8.2f ms (fake tree)\n", full * 1e3);
		printf("ratio to the cached check: %8.2f\n", full / cached);
	}
	kflash_board_unref(board);
	kflash_context_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return run(cmd) < 0;
}
