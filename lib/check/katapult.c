/* SPDX-License-Identifier: MIT */
/* Katapult on a board, as far as its mode and its config tell. */
#include <stdlib.h>

#include "check-private.h"
#include "libkflash-private.h"

static const char *const presence_names[] = {
	[KFLASH_KATAPULT_UNKNOWN] = "unknown",
	[KFLASH_KATAPULT_PRESENT] = "present",
	[KFLASH_KATAPULT_ABSENT] = "absent",
};

KFLASH_EXPORT const char *
kflash_katapult_presence_name(int presence)
{
	return presence >= 0 && (size_t)presence < KF_ARRAY_SIZE(presence_names)
		       ? presence_names[presence]
		       : "unknown";
}

/* The architectures Katapult has a port for. */
static bool
katapult_runs_on(const char *dir)
{
	return kf_streq(dir, "stm32") || kf_streq(dir, "rp2040") || kf_streq(dir, "lpc176x");
}

KFLASH_EXPORT int
kflash_katapult_presence(const struct kflash_config *config, int mode)
{
	const char *boot;
	char *end;
	unsigned long long at;

	if (mode == KFLASH_MODE_KATAPULT)
		return KFLASH_KATAPULT_PRESENT;
	if (!config)
		return KFLASH_KATAPULT_UNKNOWN;
	if (!katapult_runs_on(kflash_config_get_board_directory(config)))
		return KFLASH_KATAPULT_ABSENT;
	/* Klipper where the chip boots leaves no room for a bootloader before it. */
	boot = kflash_config_get_value(config, "CONFIG_FLASH_BOOT_ADDRESS");
	if (!boot || !kflash_config_get_application_address(config))
		return KFLASH_KATAPULT_UNKNOWN;
	at = strtoull(boot, &end, 0);
	if (end == boot || *end)
		return KFLASH_KATAPULT_UNKNOWN;
	return at == kflash_config_get_application_address(config) ? KFLASH_KATAPULT_ABSENT
								   : KFLASH_KATAPULT_UNKNOWN;
}
