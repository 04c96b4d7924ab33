/* SPDX-License-Identifier: MIT */
/*
 * The service provider: Moonraker when it is there, systemctl otherwise,
 * and the fall back from one to the other, said in INFO events.
 */
#include <string.h>

#include "service-private.h"

#define PROVIDER_ENV "KFLASH_SERVICE_PROVIDER"

static const char *const provider_names[] = {
	[KFLASH_SERVICE_PROVIDER_AUTO] = "auto",
	[KFLASH_SERVICE_PROVIDER_MOONRAKER] = "moonraker",
	[KFLASH_SERVICE_PROVIDER_SYSTEMCTL] = "systemctl",
};

KFLASH_EXPORT const char *
kflash_service_provider_name(int provider)
{
	return provider >= 0 && (size_t)provider < KF_ARRAY_SIZE(provider_names)
		       ? provider_names[provider]
		       : "unknown";
}

int
kf_service_ops_init(struct kf_service_ops *ops)
{
	const char *v = secure_getenv(PROVIDER_ENV);

	if (v && *v && !(ops->provider_env = strdup(v)))
		return KFLASH_ERR_NO_MEMORY;
	return 0;
}

int
kf_service_ops_copy(struct kf_service_ops *dst, const struct kf_service_ops *src)
{
	*dst = *src;
	dst->provider_env = src->provider_env ? strdup(src->provider_env) : NULL;
	return src->provider_env && !dst->provider_env ? KFLASH_ERR_NO_MEMORY : 0;
}

void
kf_service_ops_clear(struct kf_service_ops *ops)
{
	free(ops->provider_env);
	ops->provider_env = NULL;
}

KFLASH_EXPORT int
kflash_context_set_service_provider(struct kflash_context *ctx, int provider)
{
	struct kf_service_ops *ops;

	if (!ctx)
		return KFLASH_ERR_INVALID;
	if (provider < 0 || (size_t)provider >= KF_ARRAY_SIZE(provider_names))
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"%d is not a service provider; use KFLASH_SERVICE_PROVIDER_AUTO, "
				"KFLASH_SERVICE_PROVIDER_MOONRAKER or "
				"KFLASH_SERVICE_PROVIDER_SYSTEMCTL",
				provider);
	ops = kf_context_service_ops(ctx);
	ops->provider = provider;
	ops->provider_set = true;
	return 0;
}

KFLASH_EXPORT int
kflash_context_get_service_provider(struct kflash_context *ctx)
{
	const struct kf_service_ops *ops;

	if (!ctx)
		return KFLASH_ERR_INVALID;
	ops = kf_context_service_ops(ctx);
	if (ops->provider_set)
		return ops->provider;
	if (!ops->provider_env)
		return KFLASH_SERVICE_PROVIDER_AUTO;
	for (size_t i = 0; i < KF_ARRAY_SIZE(provider_names); i++)
		if (strcmp(provider_names[i], ops->provider_env) == 0)
			return (int)i;
	return kf_error(ctx, KFLASH_ERR_INVALID,
			"%s is '%.64s', which is not a service provider: use auto, moonraker "
			"or systemctl",
			PROVIDER_ENV, ops->provider_env);
}

int
kf_service_choose(struct kflash_context *ctx, enum kflash_event_level level, int *via)
{
	const char *sock = kflash_context_get_moonraker_socket(ctx);
	int r, provider = kflash_context_get_service_provider(ctx);

	if (provider < 0)
		return provider;
	if (provider == KFLASH_SERVICE_PROVIDER_SYSTEMCTL) {
		*via = KF_VIA_SYSTEMCTL;
		kf_log(ctx, level, "Klipper's service is controlled with systemctl");
		return 0;
	}
	if (provider == KFLASH_SERVICE_PROVIDER_MOONRAKER) {
		*via = KF_VIA_MOONRAKER_ONLY;
		kf_log(ctx, level, "Klipper's service is controlled through Moonraker on %s", sock);
		return 0;
	}
	r = kf_moonraker_probe(ctx);
	if (r == KFLASH_ERR_CANCELLED || r == KFLASH_ERR_NO_MEMORY)
		return r;
	if (r == 0) {
		*via = KF_VIA_MOONRAKER;
		kf_log(ctx, level, "Klipper's service is controlled through Moonraker on %s", sock);
		return 0;
	}
	*via = KF_VIA_SYSTEMCTL;
	kf_log(ctx, level, "Klipper's service is controlled with systemctl: %s",
	       kflash_context_last_error(ctx));
	return 0;
}

/* Moonraker failed (the last error says how): say what happens instead. */
static void
falling_back(struct kflash_context *ctx, const char *failed, const char *unit, const char *instead)
{
	kf_info(ctx, "Moonraker could not %s %s (%s): %s", failed, unit,
		kflash_context_last_error(ctx), instead);
}

/*
 * After Moonraker itself failed (no socket, no answer in time, a broken
 * answer), rather than an answer that refused one unit, an automatic choice
 * asks it no more: each further request would wait as long again.
 */
static void
give_up_on_moonraker(struct kflash_context *ctx, int *via, int r)
{
	if (*via != KF_VIA_MOONRAKER || r == KFLASH_ERR_SERVICE)
		return;
	*via = KF_VIA_FELL_BACK;
	kf_info(ctx, "Moonraker is not asked again: Klipper's service is controlled with "
		     "systemctl from now on");
}

static bool
asks_moonraker(int via)
{
	return via == KF_VIA_MOONRAKER || via == KF_VIA_MOONRAKER_ONLY;
}

int
kf_service_stop_via(struct kflash_context *ctx, int *via, const char *unit)
{
	int r;

	if (asks_moonraker(*via)) {
		r = kf_moonraker_service_action(ctx, "stop", unit);
		if (r == 0 || *via == KF_VIA_MOONRAKER_ONLY || r == KFLASH_ERR_CANCELLED ||
		    r == KFLASH_ERR_NO_MEMORY)
			return r;
		falling_back(ctx, "stop", unit, "stopping it with systemctl");
		give_up_on_moonraker(ctx, via, r);
	}
	/* Passwordless sudo was checked before a stop only when systemctl was the choice. */
	if (*via != KF_VIA_SYSTEMCTL) {
		r = kf_systemctl_check_sudo(ctx, &unit, 1);
		if (r < 0)
			return r;
	}
	return kf_systemctl_run(ctx, "stop", unit);
}

int
kf_service_start_via(struct kflash_context *ctx, int *via, const char *unit)
{
	int r;

	/* Even with Moonraker alone: systemctl is the last resort to get Klipper back. */
	if (asks_moonraker(*via)) {
		r = kf_moonraker_service_action(ctx, "start", unit);
		if (r == 0)
			return 0;
		falling_back(ctx, "start", unit, "starting it with systemctl");
		give_up_on_moonraker(ctx, via, r);
	}
	return kf_systemctl_run(ctx, "start", unit);
}

int
kf_service_state_via(struct kflash_context *ctx, int *via, const char *unit, int *state)
{
	int r;

	if (asks_moonraker(*via)) {
		r = kf_moonraker_unit_state(ctx, unit, state);
		if (r == 0 || *via == KF_VIA_MOONRAKER_ONLY || r == KFLASH_ERR_CANCELLED ||
		    r == KFLASH_ERR_NO_MEMORY)
			return r;
		falling_back(ctx, "tell the state of", unit, "asking systemctl");
		give_up_on_moonraker(ctx, via, r);
	}
	return kf_systemctl_state(ctx, unit, state);
}
