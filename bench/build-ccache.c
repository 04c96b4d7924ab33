/* SPDX-License-Identifier: MIT */
/*
 * What ccache saves after a Klipper update: one board built at an older
 * commit, the tree moved forward, and the board built again (a clean
 * build, since its fingerprint changed), with ccache and without.
 *
 *   build-ccache KLIPPER_CHECKOUT CONFIG_FILE [COMMITS]
 *
 * The checkout is cloned into a temporary directory (it is left as it is),
 * set COMMITS (default 100) commits back, and built twice: into a cache dir
 * that uses ccache and into one that does not. Then the clone goes forward to
 * the checkout's HEAD, and both build again. Pick a config whose compiler is
 * installed, such as the Linux process's (the host's gcc); ccache must be on
 * PATH. Each build is a real one and takes minutes.
 */
#include <stdbool.h>
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

struct side {
	struct kflash_context *ctx;
	struct kflash_board *board;
};

static int
side_new(struct side *s, const char *dir, const char *name, const char *config, bool ccache)
{
	char path[4200];
	struct kflash_config *c;

	if (kflash_context_new(&s->ctx) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/config", dir, name);
	kflash_context_set_config_dir(s->ctx, path);
	snprintf(path, sizeof(path), "%s/%s/cache", dir, name);
	kflash_context_set_cache_dir(s->ctx, path);
	snprintf(path, sizeof(path), "%s/klipper", dir);
	kflash_context_set_klipper_dir(s->ctx, path);
	kflash_context_set_ccache_enabled(s->ctx, ccache);
	if (kflash_config_load(s->ctx, config, &c) < 0 ||
	    kflash_board_new(s->ctx, "bench", &s->board) < 0 ||
	    kflash_board_set_mcu(s->board, kflash_config_get_mcu(c)) < 0 ||
	    kflash_board_config_seed(s->ctx, s->board, config) < 0) {
		fprintf(stderr, "setup failed: %s\n", kflash_context_last_error(s->ctx));
		return -1;
	}
	kflash_config_unref(c);
	return 0;
}

/* One build, which must run make; its wall time in seconds, or -1. */
static double
timed_build(struct side *s)
{
	struct kflash_build *b;
	double t = now_s();

	if (kflash_build_board(s->ctx, s->board, 0, &b) < 0 ||
	    kflash_build_get_result(b) != KFLASH_BUILD_BUILT) {
		fprintf(stderr, "build failed: %s\n", kflash_context_last_error(s->ctx));
		return -1;
	}
	kflash_build_unref(b);
	return now_s() - t;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", cmd[16384];
	int commits = argc > 3 ? atoi(argv[3]) : 100;
	struct side with = { 0 }, without = { 0 };
	double first_with, first_without, again_with, again_without;

	if (argc < 3 || commits < 1) {
		fprintf(stderr, "usage: %s KLIPPER_CHECKOUT CONFIG_FILE [COMMITS]\n", argv[0]);
		return 64;
	}
	if (run("command -v ccache >/dev/null") < 0 || !mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "git clone -q '%s' '%s/klipper' && git -C '%s/klipper' checkout -q --detach "
		 "HEAD~%d",
		 argv[1], dir, dir, commits);
	if (run(cmd) < 0 || side_new(&with, dir, "with", argv[2], true) < 0 ||
	    side_new(&without, dir, "without", argv[2], false) < 0)
		return 1;

	fprintf(stderr, "building at HEAD~%d, with and without ccache...\n", commits);
	first_without = timed_build(&without);
	first_with = timed_build(&with);
	snprintf(cmd, sizeof(cmd), "git -C '%s/klipper' checkout -q --detach origin/HEAD", dir);
	if (first_with < 0 || first_without < 0 || run(cmd) < 0)
		return 1;
	fprintf(stderr, "building again %d commits later...\n", commits);
	again_without = timed_build(&without);
	again_with = timed_build(&with);
	if (again_with < 0 || again_without < 0)
		return 1;

	printf("first build, without ccache:   %7.1f s\n", first_without);
	printf("first build, with ccache:      %7.1f s (filling the cache)\n", first_with);
	printf("%3d commits later, without:    %7.1f s\n", commits, again_without);
	printf("%3d commits later, with:       %7.1f s\n", commits, again_with);
	printf("without / with ccache:         %7.2f\n", again_without / again_with);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd),
		 "CCACHE_DIR='%s/with/cache/boards/bench/ccache' ccache -s | "
		 "grep -Ei 'hits|misses|cache size' ; du -sh '%s/with/cache/boards/bench/ccache'",
		 dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "no ccache statistics\n");
	kflash_board_unref(with.board);
	kflash_board_unref(without.board);
	kflash_context_unref(with.ctx);
	kflash_context_unref(without.ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return run(cmd) < 0;
}
