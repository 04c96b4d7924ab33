/* SPDX-License-Identifier: MIT */
/*
 * Tasks of the update on worker threads: each worker has a worker context
 * of its own (kf_context_new_worker()) and takes the next task until none
 * is left. The builds and the flashing use it.
 */
#include <string.h>

#include "update-private.h"

struct pool {
	struct kflash_update *u;
	size_t count;
	size_t next; /* the next task to take, under u->lock */
	kf_update_task task;
	void *data;
};

struct worker {
	pthread_t thread;
	struct pool *pool;
	struct kflash_context *ctx;
	bool started;
};

static void *
work(void *data)
{
	struct worker *w = data;
	struct pool *pool = w->pool;

	for (;;) {
		size_t index;
		bool any;

		pthread_mutex_lock(&pool->u->lock);
		any = pool->next < pool->count;
		index = pool->next++;
		pthread_mutex_unlock(&pool->u->lock);
		if (!any)
			break;
		pool->task(pool->u, w->ctx, index, pool->data);
	}
	return NULL;
}

bool
kf_update_run_parallel(
	struct kflash_update *u, size_t count, size_t jobs, kf_update_task task, void *data)
{
	struct pool pool = { .u = u, .count = count, .task = task, .data = data };
	struct worker *workers = calloc(jobs, sizeof(*workers));
	size_t started = 0;

	if (!workers)
		return false;
	for (size_t i = 0; i < jobs; i++) {
		workers[i].pool = &pool;
		if (kf_context_new_worker(u->ctx, &workers[i].ctx) < 0)
			break;
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0) {
			workers[i].ctx = kflash_context_unref(workers[i].ctx);
			break;
		}
		workers[i].started = true;
		started++;
	}
	/* Fewer workers than asked for still take every task. */
	for (size_t i = 0; i < jobs; i++) {
		if (workers[i].started)
			pthread_join(workers[i].thread, NULL);
		kflash_context_unref(workers[i].ctx);
	}
	free(workers);
	return started > 0;
}
