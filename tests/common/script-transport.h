/* SPDX-License-Identifier: MIT */
/*
 * A scripted device behind a transport (lib/katapult/transport.h): what the
 * host reads comes from a queue the test fills, what the host writes is
 * kept for the test to inspect, and a responder may answer each write.
 * Frames are built here, independently of lib/katapult/codec.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "katapult/transport.h"

struct kf_script;

/*
 * Called after each write of the host with the bytes of that write; it may
 * queue an answer with kf_script_queue() or kf_script_queue_frame().
 */
typedef void (*kf_script_responder)(struct kf_script *s,
				    const uint8_t *written,
				    size_t len,
				    void *data);

/* A new script; the test frees it with kf_script_free() after the transport is gone. */
struct kf_script *
kf_script_new(kf_script_responder respond, void *data);

void
kf_script_free(struct kf_script *s);

/* A transport named @name on @s; whoever takes it closes it (the script stays). */
struct kf_transport *
kf_script_transport(struct kflash_context *ctx, struct kf_script *s, const char *name);

/* Queue @len bytes for the host to read. */
void
kf_script_queue(struct kf_script *s, const void *bytes, size_t len);

/* Queue the frame 01 88 TYPE N PAYLOAD CRC 99 03 (@len a multiple of 4). */
void
kf_script_queue_frame(struct kf_script *s, uint8_t type, const void *payload, size_t len);

/* Everything the host wrote so far, in order. */
const uint8_t *
kf_script_written(const struct kf_script *s, size_t *len);

/* How many writes the host made, and whether the transport was closed. */
size_t
kf_script_write_count(const struct kf_script *s);

bool
kf_script_closed(const struct kf_script *s);
