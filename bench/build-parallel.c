/* SPDX-License-Identifier: MIT */
/*
 * Building distinct boards at once: BOARDS boards of one config (each in
 * its own build dir, ccache off), clean builds, three ways:
 *
 *   one after the other   today's way: each make runs one job per CPU
 *   at once, job server   one thread and context per board, all sharing a
 *                         kflash_jobserver of one slot per CPU
 *   at once, no server    the same threads, each make one job per CPU
 *                         (what builds at once cost without the server)
 *
 *   build-parallel KLIPPER_CHECKOUT CONFIG_FILE [BOARDS]
 *
 * Pick a config whose compiler is installed (the Linux process's builds
 * with the host's gcc). Every build is a real one and takes minutes.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kflash/kflash.h>

#define MAX_BOARDS 8

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct worker {
	struct kflash_context *ctx;
	struct kflash_board *board;
	int r;
};

static const char *tree, *config;
static char dir[] = "/tmp/kflash-bench.XXXXXX";

static int
worker_new(struct worker *w, int i)
{
	char path[4200], name[16];
	struct kflash_config *c;

	if (kflash_context_new(&w->ctx) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/config", dir);
	kflash_context_set_config_dir(w->ctx, path);
	snprintf(path, sizeof(path), "%s/cache", dir);
	kflash_context_set_cache_dir(w->ctx, path);
	kflash_context_set_klipper_dir(w->ctx, tree);
	kflash_context_set_ccache_enabled(w->ctx, 0);
	snprintf(name, sizeof(name), "board%d", i);
	if (kflash_config_load(w->ctx, config, &c) < 0 ||
	    kflash_board_new(w->ctx, name, &w->board) < 0 ||
	    kflash_board_set_mcu(w->board, kflash_config_get_mcu(c)) < 0 ||
	    kflash_board_config_seed(w->ctx, w->board, config) < 0) {
		fprintf(stderr, "setup failed: %s\n", kflash_context_last_error(w->ctx));
		return -1;
	}
	kflash_config_unref(c);
	return 0;
}

static void *
build_one(void *data)
{
	struct worker *w = data;
	struct kflash_build *b = NULL;

	w->r = kflash_build_board(w->ctx, w->board, KFLASH_BUILD_CLEAN, &b);
	if (w->r < 0)
		fprintf(stderr, "%s: %s\n", kflash_board_get_name(w->board),
			kflash_context_last_error(w->ctx));
	kflash_build_unref(b);
	return NULL;
}

static double
build_all(struct worker *w, int n, bool at_once)
{
	pthread_t t[MAX_BOARDS];
	double start = now_s();

	for (int i = 0; i < n; i++) {
		if (at_once)
			pthread_create(&t[i], NULL, build_one, &w[i]);
		else
			build_one(&w[i]);
	}
	for (int i = 0; at_once && i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < n; i++)
		if (w[i].r < 0)
			return -1;
	return now_s() - start;
}

int
main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 2;
	struct worker w[MAX_BOARDS] = { { 0 } };
	struct kflash_jobserver *js;
	double sequential, shared, unshared;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char cmd[4200];

	if (argc < 3 || n < 1 || n > MAX_BOARDS) {
		fprintf(stderr, "usage: %s KLIPPER_CHECKOUT CONFIG_FILE [BOARDS (1-8)]\n", argv[0]);
		return 64;
	}
	tree = argv[1];
	config = argv[2];
	if (!mkdtemp(dir))
		return 1;
	for (int i = 0; i < n; i++)
		if (worker_new(&w[i], i) < 0)
			return 1;
	if (kflash_jobserver_new(w[0].ctx, 0, &js) < 0)
		return 1;

	fprintf(stderr, "%d boards, %ld CPUs: one after the other...\n", n, cpus);
	sequential = build_all(w, n, false);
	fprintf(stderr, "at once, sharing a job server of %u slots...\n",
		kflash_jobserver_get_slots(js));
	for (int i = 0; i < n; i++)
		kflash_context_set_jobserver(w[i].ctx, js);
	shared = build_all(w, n, true);
	fprintf(stderr, "at once, each make -j%ld...\n", cpus);
	for (int i = 0; i < n; i++)
		kflash_context_set_jobserver(w[i].ctx, NULL);
	unshared = build_all(w, n, true);
	if (sequential < 0 || shared < 0 || unshared < 0)
		return 1;

	printf("%d clean builds, one after the other: %7.1f s\n", n, sequential);
	printf("%d at once, one job server:           %7.1f s (at most %u jobs)\n", n, shared,
	       kflash_jobserver_get_slots(js));
	printf("%d at once, no job server:            %7.1f s (up to %ld jobs)\n", n, unshared,
	       n * cpus);
	printf("one after the other / job server:     %7.2f\n", sequential / shared);
	printf("no job server / job server:           %7.2f\n", unshared / shared);
	for (int i = 0; i < n; i++) {
		kflash_board_unref(w[i].board);
		kflash_context_unref(w[i].ctx);
	}
	kflash_jobserver_unref(js);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}
