/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), for firmware hashes and build fingerprints. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct kf_sha256 {
	uint32_t h[8];
	uint64_t length; /* bytes hashed so far */
	uint8_t block[64];
	size_t used;
};

void
kf_sha256_init(struct kf_sha256 *s);

void
kf_sha256_update(struct kf_sha256 *s, const void *data, size_t len);

/* The digest as 64 lower-case hex digits and a NUL. */
void
kf_sha256_hex(struct kf_sha256 *s, char out[65]);
