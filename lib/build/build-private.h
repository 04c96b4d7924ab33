/* SPDX-License-Identifier: MIT */
#pragma once

#include "libkflash-private.h"

/* The firmware of the board's last build in its build dir, or NULL. */
char *
kf_build_last_artifact(struct kflash_context *ctx, const char *name);
