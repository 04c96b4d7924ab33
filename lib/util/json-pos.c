/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json-pos.h"

static size_t
skip_ws(const char *t, size_t i)
{
	while (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')
		i++;
	return i;
}

/* @i is at the opening quote; returns the offset after the closing one. */
static size_t
skip_string(const char *t, size_t i)
{
	for (i++; t[i] && t[i] != '"'; i++)
		if (t[i] == '\\' && t[i + 1])
			i++;
	return t[i] ? i + 1 : i;
}

static size_t
skip_value(const char *t, size_t i)
{
	unsigned int depth = 0;

	do {
		switch (t[i]) {
		case '"':
			i = skip_string(t, i);
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return i;
			depth--;
			break;
		case ',':
			if (depth == 0)
				return i;
			break;
		case '\0':
			return i;
		}
		i++;
	} while (depth > 0 || (t[i] && !strchr(",}] \t\r\n", t[i])));
	return i;
}

/* The key at @i (a quote) equals @key, escapes compared raw. */
static bool
key_equals(const char *t, size_t i, const char *key)
{
	size_t n = strlen(key);

	return strncmp(t + i + 1, key, n) == 0 && t[i + 1 + n] == '"';
}

/* After a member or element: past the comma, or 0 at the container's end. */
static size_t
next_item(const char *t, size_t i)
{
	i = skip_ws(t, skip_value(t, i));
	return t[i] == ',' ? skip_ws(t, i + 1) : 0;
}

size_t
kf_json_locate(const char *text, const char *const *path)
{
	size_t i = skip_ws(text, 0), found = 0;

	for (; *path; path++) {
		size_t container = i;
		bool ok = false;

		if (text[i] == '{') {
			for (i = skip_ws(text, i + 1); text[i] == '"'; i = next_item(text, i)) {
				size_t key = i;

				i = skip_ws(text, skip_string(text, i));
				if (text[i] != ':')
					break;
				i = skip_ws(text, i + 1);
				if (key_equals(text, key, *path)) {
					found = key;
					ok = true;
					break;
				}
			}
		} else if (text[i] == '[') {
			char *end;
			unsigned long want = strtoul(*path, &end, 10);

			if (*end)
				return container;
			i = skip_ws(text, i + 1);
			for (unsigned long n = 0; i && text[i] && text[i] != ']'; n++) {
				if (n == want) {
					found = i;
					ok = true;
					break;
				}
				i = next_item(text, i);
			}
		}
		if (!ok)
			return container;
	}
	return found;
}

void
kf_json_line_col(const char *text, size_t offset, unsigned int *line, unsigned int *col)
{
	size_t line_start = 0;

	*line = 1;
	for (size_t i = 0; i < offset && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			line_start = i + 1;
		}
	}
	*col = (unsigned int)(offset - line_start + 1);
}
