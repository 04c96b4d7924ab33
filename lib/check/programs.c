/* SPDX-License-Identifier: MIT */
/* The programs Klipper's build runs, and whether one is there. */
#include <string.h>

#include "check-private.h"
#include "internal/process.h"
#include "libkflash-private.h"

/* Klipper's architectures and the C compiler each one's Makefile names. */
static const struct {
	const char *dir, *compiler;
	bool cpp; /* its linker script is preprocessed */
} arches[] = {
	{ "stm32", "arm-none-eabi-gcc", true },
	{ "rp2040", "arm-none-eabi-gcc", true },
	{ "lpc176x", "arm-none-eabi-gcc", true },
	{ "atsam", "arm-none-eabi-gcc", true },
	{ "atsamd", "arm-none-eabi-gcc", true },
	{ "hc32f460", "arm-none-eabi-gcc", true },
	{ "avr", "avr-gcc", false },
	{ "pru", "pru-gcc", false },
	{ "ar100", "or1k-elf-gcc", false },
	{ "linux", "gcc", false },
	{ "simulator", "gcc", false },
};

KFLASH_EXPORT const char *
kflash_config_get_build_program(const struct kflash_config *config, size_t index)
{
	const char *dir = config ? kflash_config_get_board_directory(config) : NULL;
	const char *list[5];
	size_t n = 0;

	if (!config)
		return NULL;
	/* Without a cross prefix, Klipper's Makefile runs the host's gcc. */
	list[n++] = "gcc";
	for (size_t i = 0; i < KF_ARRAY_SIZE(arches); i++) {
		if (!kf_streq(dir, arches[i].dir))
			continue;
		list[0] = arches[i].compiler;
		if (arches[i].cpp)
			list[n++] = "cpp";
	}
	/* Without a bootloader, an rp2040 build makes a UF2 with a tool it compiles. */
	if (kf_streq(dir, "rp2040") &&
	    !kf_streq(kflash_config_get_value(config, "CONFIG_RPXXXX_HAVE_BOOTLOADER"), "y"))
		list[n++] = "g++";
	list[n++] = "make";
	list[n++] = "python3";
	return index < n ? list[index] : NULL;
}

KFLASH_EXPORT int
kflash_check_program(struct kflash_context *ctx, const char *program, char *version, size_t size)
{
	const char *argv[] = { program, "--version", NULL };
	struct kf_process_opts o = {
		.argv = argv,
		.timeout_ms = kflash_context_get_timeout(ctx, KFLASH_TIMEOUT_COMMAND),
		.capture_stdout = true,
		.quiet = true,
	};
	struct kf_process_result res;
	_cleanup_free_ char *path = NULL;
	const char *search = getenv("PATH");
	int r;

	kf_check_copy(version, size, NULL);
	if (!program || !*program)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no program named");
	path = kf_process_find_program(program, NULL);
	if (!path)
		return kf_error(ctx, KFLASH_ERR_NOT_FOUND, "%s is not on PATH (%s)", program,
				search ? search : "not set");
	r = kf_process_run(ctx, &o, &res);
	if (r == KFLASH_ERR_NOT_FOUND)
		r = kf_error(ctx, KFLASH_ERR_NOT_FOUND, "%s (%s) cannot be run", program, path);
	if (r == 0 && res.exit_code == 0 && res.out) {
		res.out[strcspn(res.out, "\n")] = '\0';
		kf_check_copy(version, size, res.out);
	}
	kf_process_result_clear(&res);
	return r;
}
