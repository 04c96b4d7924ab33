/* SPDX-License-Identifier: MIT */
/*
 * Klipper instances from their systemd unit files: the unit's ExecStart=
 * after systemd's word splitting and variable expansion (Environment= and
 * EnvironmentFile=), and klippy.py's own arguments in it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/fs.h"
#include "libkflash-private.h"

#define UNIT_MAX (64 * 1024)
#define ENV_FILE_MAX (64 * 1024)
#define MAX_INSTANCES 64
#define MAX_WORDS 256
#define MAX_VARS 256

struct kflash_instance {
	char *name, *unit, *unit_file, *env_file;
	char *config, *socket, *log;
};

struct kflash_instances {
	int refcount;
	struct kflash_instance *items;
	size_t n;
};

/* Variables as NULL-terminated "NAME=VALUE" strings; later ones win. */
struct env {
	char **vars;
	bool missing; /* a variable was used that no assignment set */
};

static const char *
env_get(struct env *env, const char *name, size_t len)
{
	for (size_t i = kf_strv_length(env->vars); i-- > 0;)
		if (strncmp(env->vars[i], name, len) == 0 && env->vars[i][len] == '=')
			return env->vars[i] + len + 1;
	env->missing = true;
	return NULL;
}

static bool
env_set(struct env *env, const char *assignment)
{
	const char *eq = strchr(assignment, '=');

	if (!eq || eq == assignment || kf_strv_length(env->vars) >= MAX_VARS)
		return true; /* not an assignment: systemd ignores it too */
	return kf_strv_push(&env->vars, assignment);
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_var_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *grown = realloc(b->s, cap);

		if (!grown) {
			b->oom = true;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Push the finished word of @b onto @words (an empty word too when @quoted). */
static bool
push_word(char ***words, struct buf *b)
{
	bool ok = !b->oom && kf_strv_length(*words) < MAX_WORDS &&
		  kf_strv_push(words, b->s ? b->s : "");

	free(b->s);
	*b = (struct buf){ 0 };
	return ok;
}

/* Append the words of @value, split at whitespace only. */
static bool
split_value(const char *value, char ***words)
{
	while (*value) {
		size_t n;

		while (is_blank(*value))
			value++;
		n = 0;
		while (value[n] && !is_blank(value[n]))
			n++;
		if (n && (kf_strv_length(*words) >= MAX_WORDS ||
			  !kf_strv_pushf(words, "%.*s", (int)n, value)))
			return false;
		value += n;
	}
	return true;
}

/*
 * Split a command line into words as systemd does for ExecStart=: quotes,
 * backslash escapes; with @env, "${NAME}" is substituted anywhere, "$NAME"
 * alone as a word is replaced by its value split at whitespace, "$$" is a
 * dollar. Without @env (Environment= lines), '$' is no special character.
 */
static bool
split_command(const char *line, struct env *env, char ***words)
{
	const char *p = line;

	while (*p) {
		struct buf b = { 0 };
		bool started = false;

		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		/* "$NAME" as a word of its own: the value's words. */
		if (env && p[0] == '$' && is_var_char(p[1])) {
			const char *name = p + 1, *end = name;

			while (is_var_char(*end))
				end++;
			if (!*end || is_blank(*end)) {
				const char *value = env_get(env, name, (size_t)(end - name));

				p = end;
				if (value && !split_value(value, words))
					return false;
				continue;
			}
		}
		while (*p && !is_blank(*p)) {
			started = true;
			if (*p == '"' || *p == '\'') {
				char quote = *p++;

				while (*p && *p != quote) {
					if (quote == '"' && *p == '\\' && p[1])
						p++;
					buf_addc(&b, *p++);
				}
				if (*p)
					p++;
				if (!b.s)
					buf_add(&b, "", 0);
			} else if (*p == '\\' && p[1]) {
				buf_addc(&b, p[1]);
				p += 2;
			} else if (env && p[0] == '$' && p[1] == '$') {
				buf_addc(&b, '$');
				p += 2;
			} else if (env && p[0] == '$' && p[1] == '{' && strchr(p + 2, '}')) {
				const char *name = p + 2, *end = strchr(name, '}');
				const char *value = env_get(env, name, (size_t)(end - name));

				if (value)
					buf_add(&b, value, strlen(value));
				p = end + 1;
			} else {
				buf_addc(&b, *p++);
			}
		}
		if (started && !push_word(words, &b))
			return false;
		free(b.s);
	}
	return true;
}

/*
 * Read an environment file as systemd does: NAME=VALUE lines, '#' and ';'
 * comments, values in double quotes (with backslash escapes) or single
 * quotes, a backslash at the end of a line continuing it.
 */
static int
read_env_file(struct kflash_context *ctx, const char *path, struct env *env)
{
	_cleanup_free_ char *text = NULL;
	int r = kf_fs_read_file(ctx, path, ENV_FILE_MAX, 0, &text, NULL);
	const char *p;

	if (r < 0)
		return r;
	for (p = text; *p;) {
		struct buf b = { 0 };
		const char *name;
		size_t name_len = 0;
		bool ok;

		while (is_blank(*p))
			p++;
		if (*p == '#' || *p == ';') {
			p += strcspn(p, "\n");
			continue;
		}
		if (!*p)
			break;
		name = p;
		while (*p && *p != '=' && *p != '\n')
			p++;
		name_len = (size_t)(p - name);
		while (name_len > 0 && is_blank(name[name_len - 1]))
			name_len--;
		if (*p != '=') {
			p += strcspn(p, "\n");
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		buf_add(&b, name, name_len);
		buf_addc(&b, '=');
		while (*p && *p != '\n') {
			if (*p == '"' || *p == '\'') {
				char quote = *p++;

				while (*p && *p != quote) {
					if (quote == '"' && *p == '\\' && p[1] == '\n')
						p += 2;
					else if (quote == '"' && *p == '\\' && p[1])
						p++, buf_addc(&b, *p++);
					else
						buf_addc(&b, *p++);
				}
				if (*p)
					p++;
			} else if (*p == '\\' && p[1] == '\n') {
				p += 2;
			} else if (*p == '\\' && p[1]) {
				buf_addc(&b, p[1]);
				p += 2;
			} else {
				buf_addc(&b, *p++);
			}
		}
		/* Unquoted trailing blanks are not part of the value. */
		while (!b.oom && b.len > name_len + 1 && is_blank(b.s[b.len - 1]) &&
		       b.s[b.len - 2] != '\\')
			b.s[--b.len] = '\0';
		ok = !b.oom && env_set(env, b.s);
		free(b.s);
		if (!ok)
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	return 0;
}

/* What a unit file says about the process it runs. */
struct unit {
	char *exec_start;   /* the last ExecStart= */
	char *working_dir;  /* WorkingDirectory=, or NULL */
	char **environment; /* the words of every Environment= */
	char **env_files;   /* EnvironmentFile= values, '-' kept */
};

static void
unit_clear(struct unit *u)
{
	free(u->exec_start);
	free(u->working_dir);
	kf_strv_free(u->environment);
	kf_strv_free(u->env_files);
}

/* Parse the [Service] section of a unit file's text (changed in place). */
static int
parse_unit(struct kflash_context *ctx, char *text, struct unit *u)
{
	bool in_service = false;
	char *next;

	for (char *line = text; line; line = next) {
		char *eq, *key, *value, *end;

		/* A backslash at the end of a line joins the next one, with a space. */
		next = line;
		for (;;) {
			next = strchr(next, '\n');
			if (!next || next == line || next[-1] != '\\')
				break;
			next[-1] = ' ';
			*next = ' ';
		}
		if (next)
			*next++ = '\0';
		while (is_blank(*line))
			line++;
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			in_service = strncmp(line, "[Service]", 9) == 0;
			continue;
		}
		eq = strchr(line, '=');
		if (!in_service || !eq)
			continue;
		*eq = '\0';
		key = line;
		for (end = eq; end > key && is_blank(end[-1]);)
			*--end = '\0';
		value = eq + 1;
		while (is_blank(*value))
			value++;
		for (end = value + strlen(value); end > value && is_blank(end[-1]);)
			*--end = '\0';

		if (strcmp(key, "ExecStart") == 0) {
			free(u->exec_start);
			u->exec_start = *value ? strdup(value) : NULL;
			if (*value && !u->exec_start)
				goto oom;
		} else if (strcmp(key, "WorkingDirectory") == 0) {
			free(u->working_dir);
			u->working_dir = strdup(value + (*value == '-'));
			if (!u->working_dir)
				goto oom;
		} else if (strcmp(key, "Environment") == 0) {
			if (!split_command(value, NULL, &u->environment))
				goto oom;
		} else if (strcmp(key, "EnvironmentFile") == 0) {
			if (!*value)
				kf_strv_free(kf_steal(&u->env_files));
			else if (!kf_strv_push(&u->env_files, value))
				goto oom;
		}
	}
	return 0;
oom:
	return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* klippy.py's options that take a value, short and long. */
static const struct {
	char short_name;
	const char *long_name;
	bool has_value;
} klippy_options[] = {
	{ 'i', "--debuginput", true },  { 'I', "--input-tty", true },
	{ 'a', "--api-server", true },  { 'l', "--logfile", true },
	{ 'o', "--debugoutput", true }, { 'd', "--dictionary", true },
	{ 'v', NULL, false },           { 0, "--import-test", false },
};

/* Record the value of option @c (a short name) where we want it. */
static bool
take_option(char c, const char *value, char **socket, char **log)
{
	char **slot = c == 'a' ? socket : c == 'l' ? log : NULL;

	if (!slot)
		return true;
	free(*slot);
	*slot = strdup(value);
	return *slot != NULL;
}

/* The config, API socket and log from klippy.py's arguments (after klippy.py). */
static bool
parse_klippy_args(char **args, char **config, char **socket, char **log)
{
	for (size_t i = 0; args[i]; i++) {
		const char *w = args[i];

		if (strcmp(w, "--") == 0) {
			if (args[i + 1] && !*config)
				*config = strdup(args[i + 1]);
			return args[i + 1] == NULL || *config;
		}
		if (strncmp(w, "--", 2) == 0) {
			for (size_t k = 0; k < KF_ARRAY_SIZE(klippy_options); k++) {
				const char *ln = klippy_options[k].long_name;
				size_t n = ln ? strlen(ln) : 0;
				const char *value = NULL;

				if (!ln || strncmp(w, ln, n) != 0 || (w[n] && w[n] != '='))
					continue;
				if (!klippy_options[k].has_value)
					break;
				value = w[n] == '=' ? w + n + 1 : args[i + 1] ? args[++i] : NULL;
				if (value &&
				    !take_option(klippy_options[k].short_name, value, socket, log))
					return false;
				break;
			}
			continue;
		}
		if (w[0] == '-' && w[1]) {
			/* A cluster of short options: "-v", "-a SOCK", "-aSOCK", "-va SOCK". */
			for (const char *c = w + 1; *c; c++) {
				bool has_value = false;

				for (size_t k = 0; k < KF_ARRAY_SIZE(klippy_options); k++)
					if (klippy_options[k].short_name == *c)
						has_value = klippy_options[k].has_value;
				if (!has_value)
					continue;
				if (c[1]) {
					if (!take_option(*c, c + 1, socket, log))
						return false;
				} else if (args[i + 1]) {
					if (!take_option(*c, args[++i], socket, log))
						return false;
				}
				break;
			}
			continue;
		}
		if (!*config && !(*config = strdup(w)))
			return false;
	}
	return true;
}

/* @path made absolute against the unit's working directory ("/" without one). */
static char *
absolute(const char *path, const char *working_dir)
{
	if (!path)
		return NULL;
	if (path[0] == '/')
		return strdup(path);
	if (!working_dir || working_dir[0] != '/' || strcmp(working_dir, "/") == 0)
		return kf_strdup_printf("/%s", path);
	return kf_path_join(working_dir, path);
}

static void
instance_clear(struct kflash_instance *in)
{
	free(in->name);
	free(in->unit);
	free(in->unit_file);
	free(in->env_file);
	free(in->config);
	free(in->socket);
	free(in->log);
}

/*
 * Read unit @file (named @unit, without ".service") into @in. Returns 1
 * for an instance, 0 for a unit that is none, < 0 on error.
 */
static int
read_instance(struct kflash_context *ctx,
	      const char *file,
	      const char *unit,
	      struct kflash_instance *in)
{
	_cleanup_free_ char *text = NULL, *config = NULL, *socket = NULL, *log = NULL;
	_cleanup_strv_ char **words = NULL;
	struct unit u = { 0 };
	struct env env = { 0 };
	const char *env_file = NULL;
	char target[16];
	ssize_t n;
	size_t k;
	int r;

	/* A masked unit is a link to /dev/null. */
	n = readlink(file, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strcmp(target, "/dev/null") == 0) {
			kf_debug(ctx, "%s is masked: not a Klipper instance", file);
			return 0;
		}
	}
	r = kf_fs_read_file(ctx, file, UNIT_MAX, 0, &text, NULL);
	if (r < 0) {
		kf_warn(ctx, "%s cannot be read, so it is not taken as a Klipper instance: %s",
			file, kflash_context_last_error(ctx));
		return 0;
	}
	r = parse_unit(ctx, text, &u);
	for (size_t i = 0; r == 0 && u.environment && u.environment[i]; i++)
		if (!env_set(&env, u.environment[i]))
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (size_t i = 0; r == 0 && u.env_files && u.env_files[i]; i++) {
		const char *path = u.env_files[i] + (u.env_files[i][0] == '-');
		bool optional = u.env_files[i][0] == '-';

		r = read_env_file(ctx, path, &env);
		if (r == KFLASH_ERR_NO_MEMORY)
			break;
		if (r < 0 && !(optional && r == KFLASH_ERR_NOT_FOUND))
			kf_warn(ctx, "%s names the environment file %s, which cannot be read: %s",
				file, path, kflash_context_last_error(ctx));
		else if (r == 0)
			env_file = u.env_files[i] + optional;
		r = 0;
	}
	if (r == 0 && u.exec_start) {
		/* ExecStart=-@/usr/bin/python ...: the prefixes are not the program. */
		const char *cmd = u.exec_start + strspn(u.exec_start, "-@:+!");

		if (!split_command(cmd, &env, &words))
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	for (k = 0; r == 0 && words && words[k]; k++)
		if (ends_with(words[k], "/klippy.py") || strcmp(words[k], "klippy.py") == 0)
			break;
	if (r == 0 && (!words || !words[k])) {
		if (env.missing)
			kf_warn(ctx,
				"%s runs no klippy.py that can be told: its command uses a "
				"variable that none of its environment (files) sets",
				file);
		else
			kf_debug(ctx, "%s does not run klippy.py: not a Klipper instance", file);
		goto out;
	}
	if (r == 0 && !parse_klippy_args(words + k + 1, &config, &socket, &log))
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r == 0 && !config) {
		kf_warn(ctx, "%s runs klippy.py without a config file: not taken as an instance",
			file);
		goto out;
	}
	if (r == 0) {
		in->unit = strdup(unit);
		in->name = strdup(strncmp(unit, "klipper-", 8) == 0 ? unit + 8 : unit);
		in->unit_file = strdup(file);
		in->env_file = kf_strdup(env_file);
		in->config = absolute(config, u.working_dir);
		in->socket = absolute(socket, u.working_dir);
		in->log = absolute(log, u.working_dir);
		if (!in->unit || !in->name || !in->unit_file || (env_file && !in->env_file) ||
		    !in->config || (socket && !in->socket) || (log && !in->log)) {
			instance_clear(in);
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		} else {
			kf_debug(ctx, "%s: Klipper instance %s, config %s, API socket %s", file,
				 in->name, in->config, in->socket ? in->socket : "(none)");
			r = 1;
		}
	}
out:
	unit_clear(&u);
	kf_strv_free(env.vars);
	return r;
}

/* "klipper.service" or "klipper-NAME.service" (not klipper-mcu): the unit, else NULL. */
static char *
instance_unit(const char *file_name)
{
	size_t n = strlen(file_name);
	const char *name;

	if (!ends_with(file_name, ".service") || strncmp(file_name, "klipper", 7) != 0)
		return NULL;
	n -= strlen(".service");
	if (n == 7)
		return strdup("klipper");
	if (file_name[7] != '-' || n == 8 || n > 7 + 1 + 64)
		return NULL;
	name = file_name + 8;
	if (strncmp(name, "mcu.", 4) == 0)
		return NULL;
	for (const char *c = name; c < file_name + n; c++)
		if (!is_var_char(*c) && *c != '-' && *c != '.')
			return NULL;
	return strndup(file_name, n);
}

static int
compare_instances(const void *a, const void *b)
{
	const struct kflash_instance *x = a, *y = b;

	if (strcmp(x->unit, "klipper") == 0 || strcmp(y->unit, "klipper") == 0)
		return strcmp(x->unit, "klipper") == 0 ? -1 : 1;
	return strverscmp(x->unit, y->unit);
}

KFLASH_EXPORT int
kflash_instances_find(struct kflash_context *ctx, struct kflash_instances **ret)
{
	const char *dir = kflash_context_get_units_dir(ctx);
	struct kflash_instances *list;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!ret)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no place to return the instances");
	*ret = NULL;
	if (!dir)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	list = calloc(1, sizeof(*list));
	if (!list)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	list->refcount = 1;
	d = opendir(dir);
	if (!d && errno == ENOENT) {
		kf_debug(ctx, "no units directory %s: no Klipper instances", dir);
		*ret = list;
		return 0;
	}
	if (!d) {
		r = kf_error_sys(ctx, errno, "cannot read the units directory %s", dir);
		kflash_instances_unref(list);
		return r;
	}
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *unit = instance_unit(de->d_name), *file = NULL;
		struct kflash_instance in = { 0 };

		if (!unit)
			continue;
		if (list->n >= MAX_INSTANCES) {
			kf_warn(ctx, "more than %d Klipper units in %s; the others are left out",
				MAX_INSTANCES, dir);
			break;
		}
		file = kf_path_join(dir, de->d_name);
		r = file ? read_instance(ctx, file, unit, &in)
			 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		if (r == 1 && !KF_GROW(list->items, list->n + 1)) {
			instance_clear(&in);
			r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		} else if (r == 1) {
			list->items[list->n++] = in;
			r = 0;
		}
	}
	closedir(d);
	if (r < 0) {
		kflash_instances_unref(list);
		return r;
	}
	if (list->n > 1)
		qsort(list->items, list->n, sizeof(*list->items), compare_instances);
	*ret = list;
	return 0;
}

KFLASH_EXPORT struct kflash_instances *
kflash_instances_ref(struct kflash_instances *instances)
{
	if (instances)
		instances->refcount++;
	return instances;
}

KFLASH_EXPORT struct kflash_instances *
kflash_instances_unref(struct kflash_instances *instances)
{
	if (!instances || --instances->refcount > 0)
		return NULL;
	for (size_t i = 0; i < instances->n; i++)
		instance_clear(&instances->items[i]);
	free(instances->items);
	free(instances);
	return NULL;
}

KFLASH_EXPORT size_t
kflash_instances_get_count(const struct kflash_instances *instances)
{
	return instances ? instances->n : 0;
}

KFLASH_EXPORT const struct kflash_instance *
kflash_instances_get(const struct kflash_instances *instances, size_t index)
{
	return instances && index < instances->n ? &instances->items[index] : NULL;
}

/* Does @unit name the unit @have ("klipper-2" or "klipper-2.service")? */
static bool
unit_matches(const char *have, const char *unit)
{
	size_t n = strlen(have);

	return strncmp(have, unit, n) == 0 && (!unit[n] || strcmp(unit + n, ".service") == 0);
}

KFLASH_EXPORT const struct kflash_instance *
kflash_instances_find_unit(const struct kflash_instances *instances, const char *unit)
{
	for (size_t i = 0; unit && instances && i < instances->n; i++)
		if (unit_matches(instances->items[i].unit, unit))
			return &instances->items[i];
	return NULL;
}

KFLASH_EXPORT const struct kflash_instance *
kflash_instances_find_name(const struct kflash_instances *instances, const char *name)
{
	const struct kflash_instance *in = kflash_instances_find_unit(instances, name);

	for (size_t i = 0; !in && name && instances && i < instances->n; i++)
		if (strcmp(instances->items[i].name, name) == 0)
			in = &instances->items[i];
	return in;
}

KFLASH_EXPORT const char *
kflash_instance_get_name(const struct kflash_instance *instance)
{
	return instance ? instance->name : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_unit(const struct kflash_instance *instance)
{
	return instance ? instance->unit : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_unit_file(const struct kflash_instance *instance)
{
	return instance ? instance->unit_file : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_environment_file(const struct kflash_instance *instance)
{
	return instance ? instance->env_file : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_config_path(const struct kflash_instance *instance)
{
	return instance ? instance->config : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_klippy_socket(const struct kflash_instance *instance)
{
	return instance ? instance->socket : NULL;
}

KFLASH_EXPORT const char *
kflash_instance_get_log_path(const struct kflash_instance *instance)
{
	return instance ? instance->log : NULL;
}
