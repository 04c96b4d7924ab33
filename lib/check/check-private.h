/* SPDX-License-Identifier: MIT */
/* The check module's insides, for its tests. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The enum kflash_space of @available bytes for @boards builds. */
int
kf_space_judge(uint64_t available, size_t boards);

/* Copy @s (NULL: "") into @buf of @size bytes, cut and NUL-terminated; nothing when @buf is NULL.
 */
static inline void
kf_check_copy(char *buf, size_t size, const char *s)
{
	if (buf && size)
		snprintf(buf, size, "%s", s ? s : "");
}
