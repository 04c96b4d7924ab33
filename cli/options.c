/* SPDX-License-Identifier: MIT */
/* Global options, and merging them into each command's own. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_JSON = 1000,
	OPT_VERSION,
	OPT_CONFIG_DIR,
	OPT_REGISTRY,
	OPT_CACHE_DIR,
	OPT_KLIPPER_DIR,
	OPT_SERVICE,
	OPT_KLIPPY_SOCKET,
	OPT_DEV_DIR,
	OPT_SYS_DIR,
	OPT_CAN_SOCKET_DIR,
	OPT_MOONRAKER_SOCKET,
	OPT_SERVICE_PROVIDER,
	OPT_UNITS_DIR,
};

static const struct option global_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
	{ "registry", required_argument, NULL, OPT_REGISTRY },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "klipper-dir", required_argument, NULL, OPT_KLIPPER_DIR },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "klippy-socket", required_argument, NULL, OPT_KLIPPY_SOCKET },
	{ "dev-dir", required_argument, NULL, OPT_DEV_DIR },
	{ "sys-dir", required_argument, NULL, OPT_SYS_DIR },
	{ "can-socket-dir", required_argument, NULL, OPT_CAN_SOCKET_DIR },
	{ "moonraker-socket", required_argument, NULL, OPT_MOONRAKER_SOCKET },
	{ "service-provider", required_argument, NULL, OPT_SERVICE_PROVIDER },
	{ "units-dir", required_argument, NULL, OPT_UNITS_DIR },
};

#define GLOBAL_SHORTOPTS "vqh"

/* --service-provider NAME: one of the words of kflash_service_provider_name(). */
static int
set_service_provider(struct cli *cli, const char *name)
{
	for (int p = 0; strcmp(kflash_service_provider_name(p), "unknown") != 0; p++)
		if (strcmp(kflash_service_provider_name(p), name) == 0)
			return kflash_context_set_service_provider(cli->ctx, p);
	cli_usage_error(cli,
			"invalid value '%s' for --service-provider: use auto, moonraker or "
			"systemctl",
			name);
	return -1;
}

/* Apply a global option; returns 1 when handled, 0 when not global, <0 on error. */
static int
apply_global(struct cli *cli, int c, const char *arg)
{
	int r = 0;

	switch (c) {
	case OPT_JSON:
		cli->json = true;
		return 1;
	case 'v':
		cli->verbosity = cli->verbosity < 0 ? 1 : cli->verbosity + 1;
		break;
	case 'q':
		cli->verbosity = -1;
		break;
	case OPT_VERSION:
		cli->version_requested = true;
		return 1;
	case OPT_CONFIG_DIR:
		r = kflash_context_set_config_dir(cli->ctx, arg);
		break;
	case OPT_REGISTRY:
		r = kflash_context_set_registry(cli->ctx, arg);
		break;
	case OPT_CACHE_DIR:
		r = kflash_context_set_cache_dir(cli->ctx, arg);
		break;
	case OPT_KLIPPER_DIR:
		r = kflash_context_set_klipper_dir(cli->ctx, arg);
		break;
	case OPT_SERVICE:
		r = kflash_context_set_service(cli->ctx, arg);
		break;
	case OPT_KLIPPY_SOCKET:
		r = kflash_context_set_klippy_socket(cli->ctx, arg);
		break;
	case OPT_DEV_DIR:
		r = kflash_context_set_dev_dir(cli->ctx, arg);
		break;
	case OPT_SYS_DIR:
		r = kflash_context_set_sys_dir(cli->ctx, arg);
		break;
	case OPT_CAN_SOCKET_DIR:
		r = kflash_context_set_can_socket_dir(cli->ctx, arg);
		break;
	case OPT_MOONRAKER_SOCKET:
		r = kflash_context_set_moonraker_socket(cli->ctx, arg);
		break;
	case OPT_SERVICE_PROVIDER:
		if (set_service_provider(cli, arg) < 0)
			return -1;
		break;
	case OPT_UNITS_DIR:
		r = kflash_context_set_units_dir(cli->ctx, arg);
		break;
	default:
		return 0;
	}
	if (r < 0) {
		cli_usage_error(cli, "invalid value '%s': %s", arg,
				kflash_context_last_error(cli->ctx));
		return -1;
	}
	if (c == 'v' || c == 'q')
		kflash_context_set_event_level(cli->ctx, cli->verbosity > 0   ? KFLASH_LEVEL_DEBUG
							 : cli->verbosity < 0 ? KFLASH_LEVEL_WARNING
									      : KFLASH_LEVEL_INFO);
	return 1;
}

int
cli_getopt(struct cli *cli,
	   int argc,
	   char **argv,
	   const char *shortopts,
	   const struct option *longopts)
{
	size_t ncmd = 0, nglobal = sizeof(global_options) / sizeof(global_options[0]);
	struct option *merged;
	char *shorts;
	int c;

	while (longopts && longopts[ncmd].name)
		ncmd++;
	merged = calloc(ncmd + nglobal + 1, sizeof(*merged));
	shorts = malloc(strlen(shortopts) + sizeof(GLOBAL_SHORTOPTS) + 2);
	if (!merged || !shorts) {
		fprintf(stderr, "kflash: out of memory\n");
		exit(-KFLASH_ERR_NO_MEMORY);
	}
	if (ncmd)
		memcpy(merged, longopts, ncmd * sizeof(*merged));
	memcpy(merged + ncmd, global_options, nglobal * sizeof(*merged));
	/* '+' (stop at the first non-option) must come first, then ':'. */
	if (shortopts[0] == '+')
		sprintf(shorts, "+:%s%s", shortopts + 1, GLOBAL_SHORTOPTS);
	else
		sprintf(shorts, ":%s%s", shortopts, GLOBAL_SHORTOPTS);

	opterr = 0;
	for (;;) {
		int r;

		c = getopt_long(argc, argv, shorts, merged, NULL);
		if (c == -1 || c == 'h')
			break;
		if (c == '?' || c == ':') {
			const char *what = argv[optind - 1];

			if (c == ':')
				cli_usage_error(cli, "option '%s' needs a value", what);
			else if (optopt && optopt < 256)
				cli_usage_error(cli, "unknown option '-%c'", optopt);
			else
				cli_usage_error(cli, "unknown option '%s'", what);
			c = '?';
			break;
		}
		r = apply_global(cli, c, optarg);
		if (r < 0) {
			c = '?';
			break;
		}
		if (r == 0)
			break; /* the command's own option */
	}
	free(merged);
	free(shorts);
	/* --version answers once every option before the command is known (--json too). */
	if (c == -1 && cli->version_requested) {
		if (cli->json) {
			struct json_object *doc = json_object_new_object();

			json_object_object_add(doc, "name", json_object_new_string("kflash"));
			cli_print_json(cli, doc);
		} else {
			printf("kflash %s\n", kflash_version());
		}
		kflash_context_unref(cli->ctx);
		exit(0);
	}
	return c;
}

int
cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;

	cli_render_break(cli);
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);
	fprintf(stderr, "kflash%s%s: %s\nTry 'kflash%s%s --help'.\n", cli->command ? " " : "",
		cli->command ? cli->command : "", message ? message : "usage error",
		cli->command ? " " : "", cli->command ? cli->command : "");
	cli_usage_failed(cli, message);
	free(message);
	return CLI_EXIT_USAGE;
}
