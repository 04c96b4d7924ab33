/* SPDX-License-Identifier: MIT */
/* What the kernel says about a network interface, for the checks before a CAN flash. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kflash_context;

struct kf_can_link {
	char name[16];
	char kind[16]; /* "can" for a CAN interface */
	bool up;
	uint32_t bitrate;
	uint32_t txqueuelen;
	int state; /* enum can_state (linux/can/netlink.h), -1 when not said */
};

/* One RTM_NEWLINK message of @len bytes; 0, or -EINVAL when it is not one. */
int
kf_can_link_parse(const void *buf, size_t len, struct kf_can_link *l);

/* 0 when @l can carry a flash at @bitrate (0: any), else the error recorded. */
int
kf_can_link_check(struct kflash_context *ctx, const struct kf_can_link *l, uint32_t bitrate);
