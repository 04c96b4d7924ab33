/* SPDX-License-Identifier: MIT */
/* A Klipper .config: KEY=value lines, "# KEY is not set", comments. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "internal/fs.h"
#include "libkflash-private.h"

#define CONFIG_MAX (1024 * 1024)

struct entry {
	char *key, *value;
};

struct kflash_config {
	int refcount;
	char *path;
	struct entry *entries;
	size_t count;
};

static const char *const comm_names[] = {
	[KFLASH_COMM_UNKNOWN] = "unknown",
	[KFLASH_COMM_USB] = "usb",
	[KFLASH_COMM_UART] = "uart",
	[KFLASH_COMM_CAN] = "can",
	[KFLASH_COMM_USB_CAN_BRIDGE] = "usb-can-bridge",
	[KFLASH_COMM_LINUX] = "linux",
};

KFLASH_EXPORT const char *
kflash_comm_name(enum kflash_comm comm)
{
	return (unsigned)comm < KF_ARRAY_SIZE(comm_names) ? comm_names[comm] : "unknown";
}

KFLASH_EXPORT int
kflash_mcu_matches(const char *a, const char *b)
{
	size_t n;

	if (!a || !b || !*a || !*b)
		return 0;
	n = strlen(a) < strlen(b) ? strlen(a) : strlen(b);
	return strncasecmp(a, b, n) == 0;
}

KFLASH_EXPORT struct kflash_config *
kflash_config_ref(struct kflash_config *c)
{
	if (c)
		c->refcount++;
	return c;
}

KFLASH_EXPORT struct kflash_config *
kflash_config_unref(struct kflash_config *c)
{
	if (!c || --c->refcount > 0)
		return NULL;
	for (size_t i = 0; i < c->count; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
	}
	free(c->entries);
	free(c->path);
	free(c);
	return NULL;
}

/* One "KEY=value" line; quoted values lose their quotes and escapes. */
static int
parse_line(struct kflash_config *c, char *line)
{
	char *eq = strchr(line, '=');
	struct entry *grown;
	char *value;
	size_t len;

	if (!eq || strncmp(line, "CONFIG_", 7) != 0)
		return 0;
	*eq = '\0';
	value = eq + 1;
	len = strlen(value);
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		char *w = value;

		value[len - 1] = '\0';
		for (char *r = value + 1; *r; r++) {
			if (*r == '\\' && r[1])
				r++;
			*w++ = *r;
		}
		*w = '\0';
	}
	grown = realloc(c->entries, (c->count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	c->entries = grown;
	grown[c->count].key = strdup(line);
	grown[c->count].value = strdup(value);
	if (!grown[c->count].key || !grown[c->count].value) {
		free(grown[c->count].key);
		free(grown[c->count].value);
		return -1;
	}
	c->count++;
	return 0;
}

KFLASH_EXPORT int
kflash_config_load(struct kflash_context *ctx, const char *path, struct kflash_config **ret)
{
	_cleanup_free_ char *text = NULL;
	struct kflash_config *c;
	char *save = NULL;
	int r;

	if (!ret || !path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no config file given");
	*ret = NULL;
	r = kf_fs_read_file(ctx, path, CONFIG_MAX, 0, &text, NULL);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	c->refcount = 1;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);

		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (parse_line(c, line) < 0) {
			kflash_config_unref(c);
			return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
		}
	}
	if (!kflash_config_get_board_directory(c)) {
		kflash_config_unref(c);
		return kf_error(ctx, KFLASH_ERR_CORRUPT,
				"%s is not a Klipper config (it has no CONFIG_BOARD_DIRECTORY); "
				"make one with Klipper's menuconfig",
				path);
	}
	*ret = c;
	return 0;
}

KFLASH_EXPORT const char *
kflash_config_get_value(const struct kflash_config *c, const char *key)
{
	/* The last assignment wins, as in kconfig. */
	for (size_t i = c ? c->count : 0; i-- > 0;)
		if (strcmp(c->entries[i].key, key) == 0)
			return c->entries[i].value;
	return NULL;
}

static bool
is_set(const struct kflash_config *c, const char *key)
{
	return kf_streq(kflash_config_get_value(c, key), "y");
}

static uint32_t
number(const struct kflash_config *c, const char *key)
{
	const char *v = kflash_config_get_value(c, key);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return 0;
	n = strtoul(v, &end, 0);
	return *end || n > UINT32_MAX ? 0 : (uint32_t)n;
}

KFLASH_EXPORT const char *
kflash_config_get_path(const struct kflash_config *c)
{
	return c ? c->path : NULL;
}

KFLASH_EXPORT const char *
kflash_config_get_mcu(const struct kflash_config *c)
{
	const char *mcu = kflash_config_get_value(c, "CONFIG_MCU");

	if (mcu && *mcu)
		return mcu;
	/* The Linux process has no CONFIG_MCU; its MCU constant is "linux". */
	return is_set(c, "CONFIG_MACH_LINUX") ? "linux" : NULL;
}

KFLASH_EXPORT const char *
kflash_config_get_board_directory(const struct kflash_config *c)
{
	return kflash_config_get_value(c, "CONFIG_BOARD_DIRECTORY");
}

KFLASH_EXPORT uint32_t
kflash_config_get_application_address(const struct kflash_config *c)
{
	return number(c, "CONFIG_FLASH_APPLICATION_ADDRESS");
}

KFLASH_EXPORT enum kflash_comm
kflash_config_get_comm(const struct kflash_config *c)
{
	if (is_set(c, "CONFIG_MACH_LINUX"))
		return KFLASH_COMM_LINUX;
	if (is_set(c, "CONFIG_USBCANBUS"))
		return KFLASH_COMM_USB_CAN_BRIDGE;
	if (is_set(c, "CONFIG_CANSERIAL"))
		return KFLASH_COMM_CAN;
	if (is_set(c, "CONFIG_USBSERIAL"))
		return KFLASH_COMM_USB;
	if (is_set(c, "CONFIG_SERIAL"))
		return KFLASH_COMM_UART;
	return KFLASH_COMM_UNKNOWN;
}

KFLASH_EXPORT uint32_t
kflash_config_get_serial_baud(const struct kflash_config *c)
{
	return number(c, "CONFIG_SERIAL_BAUD");
}

KFLASH_EXPORT uint32_t
kflash_config_get_canbus_frequency(const struct kflash_config *c)
{
	return number(c, "CONFIG_CANBUS_FREQUENCY");
}
