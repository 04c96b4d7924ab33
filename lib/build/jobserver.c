/* SPDX-License-Identifier: MIT */
/*
 * A job server shared by builds: GNU make's protocol (a pipe holding one
 * byte per free job slot, handed to make through MAKEFLAGS), so that
 * builds running at once never run more compile jobs together than there
 * are slots. The library takes one slot for each make it starts (the one
 * make itself runs in) and make takes one more for each further job.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "build-private.h"
#include "libkflash-private.h"

struct kflash_jobserver {
	int refcount; /* atomic: contexts in several threads share one */
	unsigned int slots;
	/* The pipe make inherits: its read end stays blocking for make. */
	int fds[3];
	/* Our own, non-blocking, open file description of the read end. */
	int take_fd;
	pthread_mutex_t lock;
	unsigned int held; /* slots taken by makes of this process */
};

static int
put_tokens(int fd, unsigned int n)
{
	char buf[64];

	memset(buf, '+', sizeof(buf));
	while (n > 0) {
		size_t chunk = n < sizeof(buf) ? n : sizeof(buf);
		ssize_t w = write(fd, buf, chunk);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		n -= (unsigned int)w;
	}
	return 0;
}

KFLASH_EXPORT int
kflash_jobserver_new(struct kflash_context *ctx, unsigned int slots, struct kflash_jobserver **ret)
{
	struct kflash_jobserver *js;
	char path[64];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "kflash_jobserver_new needs a result");
	*ret = NULL;
	if (slots == 0)
		slots = cpus > 0 ? (unsigned int)cpus : 1;
	/* A pipe holds 64 KiB by default: far more slots than any machine. */
	if (slots > 4096)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"a job server of %u slots is more than 4096; give fewer", slots);
	js = calloc(1, sizeof(*js));
	if (!js)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	js->refcount = 1;
	js->slots = slots;
	js->fds[0] = js->fds[1] = js->take_fd = -1;
	js->fds[2] = -1;
	pthread_mutex_init(&js->lock, NULL);
	if (pipe2(js->fds, O_CLOEXEC) < 0) {
		r = kf_error_errno(ctx, KFLASH_ERR_IO, errno, "cannot create a job server pipe");
		goto fail;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", js->fds[0]);
	js->take_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (js->take_fd < 0) {
		r = kf_error_errno(ctx, KFLASH_ERR_IO, errno, "cannot open %s", path);
		goto fail;
	}
	if (put_tokens(js->fds[1], slots) < 0) {
		r = kf_error_errno(ctx, KFLASH_ERR_IO, errno, "cannot fill the job server pipe");
		goto fail;
	}
	*ret = js;
	return 0;
fail:
	kflash_jobserver_unref(js);
	return r;
}

KFLASH_EXPORT struct kflash_jobserver *
kflash_jobserver_ref(struct kflash_jobserver *js)
{
	if (js)
		__atomic_add_fetch(&js->refcount, 1, __ATOMIC_RELAXED);
	return js;
}

KFLASH_EXPORT struct kflash_jobserver *
kflash_jobserver_unref(struct kflash_jobserver *js)
{
	if (!js || __atomic_sub_fetch(&js->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	for (int i = 0; i < 2; i++)
		if (js->fds[i] >= 0)
			close(js->fds[i]);
	if (js->take_fd >= 0)
		close(js->take_fd);
	pthread_mutex_destroy(&js->lock);
	free(js);
	return NULL;
}

KFLASH_EXPORT unsigned int
kflash_jobserver_get_slots(const struct kflash_jobserver *js)
{
	return js ? js->slots : 0;
}

int
kf_jobserver_acquire(struct kflash_context *ctx, struct kflash_jobserver *js)
{
	bool told = false;
	char c;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = js->take_fd, .events = POLLIN },
			{ .fd = kf_cancel_fd(ctx), .events = POLLIN },
		};
		ssize_t n;

		if (kf_check_cancel(ctx) < 0)
			return KFLASH_ERR_CANCELLED;
		/* Taken and counted at once, so that a release never sees one but not the other. */
		pthread_mutex_lock(&js->lock);
		n = read(js->take_fd, &c, 1);
		if (n == 1)
			js->held++;
		pthread_mutex_unlock(&js->lock);
		if (n == 1)
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return kf_error_errno(ctx, KFLASH_ERR_IO, errno,
					      "cannot take a slot of the job server");
		if (!told) {
			kf_debug(ctx, "all %u job slots are busy: waiting for one", js->slots);
			told = true;
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return kf_error_errno(ctx, KFLASH_ERR_IO, errno, "poll");
	}
}

void
kf_jobserver_release(struct kflash_context *ctx, struct kflash_jobserver *js)
{
	int avail = 0;

	pthread_mutex_lock(&js->lock);
	if (put_tokens(js->fds[1], 1) < 0)
		kf_warn(ctx, "cannot give back a slot of the job server: %s", strerror(errno));
	/*
	 * A make that was killed may have taken slots for its jobs and never
	 * given them back. With no make of ours running, every slot must be
	 * in the pipe: put back what is missing.
	 */
	if (--js->held == 0 && ioctl(js->fds[0], FIONREAD, &avail) == 0 &&
	    (unsigned int)avail < js->slots) {
		kf_debug(ctx, "restoring %u job slots that a stopped make kept",
			 js->slots - (unsigned int)avail);
		put_tokens(js->fds[1], js->slots - (unsigned int)avail);
	}
	pthread_mutex_unlock(&js->lock);
}

char *
kf_jobserver_makeflags(const struct kflash_jobserver *js)
{
	/* -j without a number: the slots come from the pipe alone. */
	return kf_strdup_printf("MAKEFLAGS= -j --jobserver-auth=%d,%d", js->fds[0], js->fds[1]);
}

const int *
kf_jobserver_fds(const struct kflash_jobserver *js)
{
	return js->fds;
}

KFLASH_EXPORT int
kflash_context_set_jobserver(struct kflash_context *ctx, struct kflash_jobserver *js)
{
	struct kflash_jobserver **slot;

	if (!ctx)
		return KFLASH_ERR_INVALID;
	slot = kf_context_jobserver(ctx);
	kflash_jobserver_ref(js);
	kflash_jobserver_unref(*slot);
	*slot = js;
	return 0;
}

KFLASH_EXPORT struct kflash_jobserver *
kflash_context_get_jobserver(struct kflash_context *ctx)
{
	return ctx ? *kf_context_jobserver(ctx) : NULL;
}
