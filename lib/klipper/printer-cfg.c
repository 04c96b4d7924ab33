/* SPDX-License-Identifier: MIT */
/* Klipper's config, read as Klipper reads it (see printer-cfg.h for the rules). */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/fs.h"
#include "libkflash-private.h"
#include "printer-cfg.h"

struct reader {
	struct kflash_context *ctx;
	struct kf_printer_cfg *cfg;
	const char *stack[KF_CFG_MAX_DEPTH + 1]; /* the files being read, outermost first */
	size_t depth;
	size_t total; /* bytes read so far */
	size_t n_files;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n';
}

/* Strip whitespace at both ends, in place. */
static char *
strip(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* @path made absolute against the cwd, with ".", ".." and "//" resolved by name. */
static char *
normalize(const char *path)
{
	_cleanup_free_ char *full = NULL;
	char cwd[PATH_MAX], *out, *o;
	const char *p;

	if (path[0] == '/')
		full = strdup(path);
	else if (getcwd(cwd, sizeof(cwd)))
		full = kf_path_join(cwd, path);
	else
		full = kf_strdup_printf("/%s", path);
	if (!full)
		return NULL;
	out = malloc(strlen(full) + 2);
	if (!out)
		return NULL;
	o = out;
	for (p = full; *p;) {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > out && *--o != '/') {
			}
			continue;
		}
		*o++ = '/';
		memcpy(o, seg, n);
		o += n;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

static struct kf_cfg_section *
find_section(struct kf_printer_cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

/* The section @name, created at @file:@line when new; its index in *@index. */
static int
open_section(
	struct reader *rd, const char *name, const char *file, unsigned int line, size_t *index)
{
	struct kf_printer_cfg *cfg = rd->cfg;
	struct kf_cfg_section *s = find_section(cfg, name);

	if (s) {
		*index = (size_t)(s - cfg->sections);
		return 0;
	}
	if (cfg->n_sections >= KF_CFG_MAX_SECTIONS)
		return kf_error(rd->ctx, KFLASH_ERR_INVALID,
				"%s:%u: more than %d sections in all; this is not a Klipper config "
				"that can be read",
				file, line, KF_CFG_MAX_SECTIONS);
	if (!KF_GROW(cfg->sections, cfg->n_sections + 1))
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	s = &cfg->sections[cfg->n_sections];
	*s = (struct kf_cfg_section){ .name = strdup(name), .file = file, .line = line };
	if (!s->name)
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	*index = cfg->n_sections++;
	return 0;
}

/* Set @key of section @sec to @value (replacing an earlier one); its index in *@index. */
static int
set_option(struct reader *rd,
	   size_t sec,
	   const char *key,
	   const char *value,
	   const char *file,
	   unsigned int line,
	   size_t *index)
{
	struct kf_cfg_section *s = &rd->cfg->sections[sec];
	struct kf_cfg_option *o = NULL;
	char *copy = strdup(value);

	if (!copy)
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t i = 0; i < s->n_options; i++)
		if (strcmp(s->options[i].key, key) == 0)
			o = &s->options[i];
	if (!o) {
		if (s->n_options >= KF_CFG_MAX_OPTIONS) {
			free(copy);
			return kf_error(rd->ctx, KFLASH_ERR_INVALID,
					"%s:%u: section [%s] has more than %d options", file, line,
					s->name, KF_CFG_MAX_OPTIONS);
		}
		if (!KF_GROW(s->options, s->n_options + 1)) {
			free(copy);
			return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		o = &s->options[s->n_options];
		*o = (struct kf_cfg_option){ .key = strdup(key) };
		if (!o->key) {
			free(copy);
			return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		s->n_options++;
	}
	free(o->value);
	o->value = copy;
	o->len = o->cap = strlen(copy);
	o->file = file;
	o->line = line;
	*index = (size_t)(o - s->options);
	return 0;
}

/* Append "\n" + @more to an option's value (a continuation line, or an empty one). */
static int
continue_option(struct reader *rd, size_t sec, size_t opt, const char *more)
{
	struct kf_cfg_option *o = &rd->cfg->sections[sec].options[opt];
	size_t add = strlen(more);

	/* Values grow line by line; doubling keeps a long macro linear. */
	if (o->len + add + 2 > o->cap) {
		size_t cap = (o->len + add + 2) * 2;
		char *grown = realloc(o->value, cap);

		if (!grown)
			return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		o->value = grown;
		o->cap = cap;
	}
	o->value[o->len] = '\n';
	memcpy(o->value + o->len + 1, more, add + 1);
	o->len += add + 1;
	return 0;
}

/* The header of a section line ("[name]" at its start, up to the last ']'), or NULL. */
static char *
section_header(char *s)
{
	char *close;

	if (s[0] != '[')
		return NULL;
	close = strrchr(s, ']');
	if (!close || close < s + 2)
		return NULL;
	*close = '\0';
	return s + 1;
}

static int
read_file(struct reader *rd, const char *path, const char *from, unsigned int from_line);

static int
compare_paths(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* [include SPEC] in @file at @line. */
static int
include(struct reader *rd, const char *file, unsigned int line, char *spec)
{
	_cleanup_free_ char *dir = NULL, *pattern = NULL;
	glob_t g = { 0 };
	int r = 0, gr;

	spec = strip(spec);
	if (!*spec)
		return kf_error(rd->ctx, KFLASH_ERR_CORRUPT, "%s:%u: [include] names no file", file,
				line);
	dir = strdup(file);
	if (!dir)
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	*strrchr(dir, '/') = '\0';
	pattern = spec[0] == '/' ? strdup(spec) : kf_strdup_printf("%s/%s", dir, spec);
	if (!pattern)
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");

	/* A plain name must exist; a pattern may match nothing. */
	if (!strpbrk(pattern, "*?[")) {
		_cleanup_free_ char *path = normalize(pattern);
		struct stat st;

		if (!path)
			return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		if (lstat(path, &st) < 0 && errno == ENOENT)
			return kf_error(rd->ctx, KFLASH_ERR_NOT_FOUND,
					"%s:%u: the included file %s does not exist", file, line,
					path);
		return read_file(rd, path, file, line);
	}
	gr = glob(pattern, GLOB_NOESCAPE | GLOB_NOSORT, NULL, &g);
	if (gr == GLOB_NOSPACE) {
		globfree(&g);
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	if (gr == 0) {
		qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), compare_paths);
		for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) {
			_cleanup_free_ char *path = normalize(g.gl_pathv[i]);

			r = path ? read_file(rd, path, file, line)
				 : kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
	} else {
		kf_debug(rd->ctx, "%s:%u: [include %s] matches no file", file, line, spec);
	}
	globfree(&g);
	return r;
}

/* The first ';' that starts a comment: at the start or after whitespace. */
static char *
semicolon_comment(char *line)
{
	for (char *p = strchr(line, ';'); p; p = strchr(p + 1, ';'))
		if (p == line || is_space(p[-1]))
			return p;
	return NULL;
}

static int
parse(struct reader *rd, const char *file, char *text)
{
	ssize_t sec = -1, opt = -1; /* the current section and option */
	size_t indent_level = 0, index = 0;
	unsigned int lineno = 0;
	bool after_include = false;
	char *next;
	int r;

	for (char *line = text; line; line = next) {
		char *hash, *semi, *value, *header;
		size_t n, indent;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = strlen(line);
		if (n > KF_CFG_MAX_LINE)
			return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
					"%s:%u: a line of %zu bytes, longer than the %d a config "
					"line can have",
					file, lineno, n, KF_CFG_MAX_LINE);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';

		/* An include is a header in the first column, and ends the current section. */
		if (line[0] == '[') {
			_cleanup_free_ char *copy = strdup(line);

			if (!copy)
				return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
			header = section_header(copy);
			if (header && strncmp(header, "include ", 8) == 0) {
				r = include(rd, file, lineno, header + 8);
				if (r < 0)
					return r;
				sec = opt = -1;
				after_include = true;
				continue;
			}
		}

		semi = semicolon_comment(line);
		if (semi)
			*semi = '\0';
		value = strip(line);
		if (!*value) {
			/* A blank line belongs to a value that may continue below it. */
			if (!semi && opt >= 0) {
				r = continue_option(rd, (size_t)sec, (size_t)opt, "");
				if (r < 0)
					return r;
			}
			continue;
		}
		indent = (size_t)(value - line);
		if (opt >= 0 && indent > indent_level) {
			r = continue_option(rd, (size_t)sec, (size_t)opt, value);
			if (r < 0)
				return r;
			continue;
		}
		indent_level = indent;
		if (value[0] == '[') {
			header = section_header(value);
			if (!header)
				return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
						"%s:%u: '%s' is not a section header: a section is "
						"[name], with a name and its closing ']'",
						file, lineno, value);
			r = open_section(rd, header, file, lineno, &index);
			if (r < 0)
				return r;
			sec = (ssize_t)index;
			opt = -1;
			continue;
		}
		if (sec < 0)
			return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
					"%s:%u: an option outside any section: put it under a "
					"[section] header%s",
					file, lineno,
					after_include
						? " (after an [include], as Klipper reads it, "
						  "no section is open)"
						: "");
		n = strcspn(value, ":=");
		if (!value[n])
			return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
					"%s:%u: '%s' is neither a [section] header nor an option "
					"(key: value, or key = value)",
					file, lineno, value);
		{
			char delimiter = value[n], *key, *val;

			value[n] = '\0';
			key = strip(value);
			val = strip(value + n + 1);
			if (!*key)
				return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
						"%s:%u: an option without a name before its '%c'",
						file, lineno, delimiter);
			for (char *k = key; *k; k++)
				*k = (char)tolower((unsigned char)*k);
			r = set_option(rd, (size_t)sec, key, val, file, lineno, &index);
			if (r < 0)
				return r;
			opt = (ssize_t)index;
		}
	}
	return 0;
}

static int
read_file(struct reader *rd, const char *path, const char *from, unsigned int from_line)
{
	_cleanup_free_ char *text = NULL, *chain = NULL;
	const char *file;
	size_t len;
	int r;

	for (size_t i = 0; i < rd->depth; i++) {
		if (strcmp(rd->stack[i], path) != 0)
			continue;
		/* "a.cfg -> b.cfg -> a.cfg", for the message. */
		for (size_t j = i; j < rd->depth; j++) {
			char *longer =
				kf_strdup_printf("%s%s -> ", chain ? chain : "", rd->stack[j]);

			free(chain);
			chain = longer;
			if (!chain)
				return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
		return kf_error(rd->ctx, KFLASH_ERR_INVALID,
				"%s:%u: an include loop: %s%s; Klipper refuses it too", from,
				from_line, chain, path);
	}
	if (rd->depth >= KF_CFG_MAX_DEPTH)
		return kf_error(rd->ctx, KFLASH_ERR_INVALID,
				"%s:%u: includes nested more than %d deep (at %s)", from, from_line,
				KF_CFG_MAX_DEPTH, path);
	if (rd->n_files >= KF_CFG_MAX_FILES)
		return kf_error(rd->ctx, KFLASH_ERR_INVALID,
				"%s:%u: more than %d included files in all", from, from_line,
				KF_CFG_MAX_FILES);

	r = kf_fs_read_file(rd->ctx, path, KF_CFG_MAX_FILE, 0, &text, &len);
	if (r < 0)
		return r;
	if (memchr(text, '\0', len)) {
		unsigned int line = 1;

		for (const char *c = text; *c; c++)
			line += *c == '\n';
		return kf_error(rd->ctx, KFLASH_ERR_CORRUPT,
				"%s:%u: a NUL byte; this is not a text file", path, line);
	}
	rd->total += len;
	if (rd->total > KF_CFG_MAX_TOTAL)
		return kf_error(rd->ctx, KFLASH_ERR_INVALID,
				"%s:%u: the config and its includes are more than %d bytes in all",
				from, from_line, KF_CFG_MAX_TOTAL);
	if (!kf_strv_push(&rd->cfg->files, path))
		return kf_error(rd->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	file = rd->cfg->files[rd->n_files++];
	rd->stack[rd->depth++] = file;
	r = parse(rd, file, text);
	rd->depth--;
	return r;
}

int
kf_printer_cfg_read(struct kflash_context *ctx, const char *path, struct kf_printer_cfg **ret)
{
	struct reader rd = { .ctx = ctx };
	int r;

	*ret = NULL;
	if (!path || !*path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no Klipper config file given");
	rd.cfg = calloc(1, sizeof(*rd.cfg));
	if (!rd.cfg || !(rd.cfg->path = normalize(path))) {
		kf_printer_cfg_free(rd.cfg);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	if (kf_fs_exists(rd.cfg->path) == 0) {
		r = kf_error(ctx, KFLASH_ERR_NOT_FOUND, "there is no Klipper config at %s",
			     rd.cfg->path);
		kf_printer_cfg_free(rd.cfg);
		return r;
	}
	r = read_file(&rd, rd.cfg->path, rd.cfg->path, 0);
	if (r < 0) {
		kf_printer_cfg_free(rd.cfg);
		return r;
	}
	/* Values end where their last non-blank line ends. */
	for (size_t i = 0; i < rd.cfg->n_sections; i++) {
		struct kf_cfg_section *s = &rd.cfg->sections[i];

		for (size_t j = 0; j < s->n_options; j++) {
			size_t n = strlen(s->options[j].value);

			while (n > 0 && is_space(s->options[j].value[n - 1]))
				s->options[j].value[--n] = '\0';
		}
	}
	rd.cfg->defaults = find_section(rd.cfg, "DEFAULT");
	*ret = rd.cfg;
	return 0;
}

void
kf_printer_cfg_free(struct kf_printer_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_sections; i++) {
		for (size_t j = 0; j < cfg->sections[i].n_options; j++) {
			free(cfg->sections[i].options[j].key);
			free(cfg->sections[i].options[j].value);
		}
		free(cfg->sections[i].options);
		free(cfg->sections[i].name);
	}
	free(cfg->sections);
	kf_strv_free(cfg->files);
	free(cfg->path);
	free(cfg);
}

const struct kf_cfg_section *
kf_printer_cfg_find(const struct kf_printer_cfg *cfg, const char *name)
{
	return find_section((struct kf_printer_cfg *)cfg, name);
}

const struct kf_cfg_option *
kf_printer_cfg_get(const struct kf_printer_cfg *cfg,
		   const struct kf_cfg_section *section,
		   const char *key)
{
	const struct kf_cfg_section *in[] = { section, cfg->defaults };

	for (size_t k = 0; k < KF_ARRAY_SIZE(in); k++)
		for (size_t i = 0; in[k] && i < in[k]->n_options; i++)
			if (strcmp(in[k]->options[i].key, key) == 0)
				return &in[k]->options[i];
	return NULL;
}
