#!/bin/sh
# SPDX-License-Identifier: MIT
# The fake Klipper build: fake-make.sh TARGET CONFIG OUT [FLASH_DEVICE]
#
#   KF_FAKE_KLIPPER_LOG        append one line per invocation here
#   KF_FAKE_MENUCONFIG_FROM    menuconfig copies this file over the config
#                              (it still needs a terminal, as the real one)
#   KF_FAKE_KLIPPER_FAIL       the build fails with compiler-like errors
#   KF_FAKE_KLIPPER_HANG       the build hangs; a child's pid goes to this file
#   KF_FAKE_FLASH_FAIL         make flash fails
#   KF_FAKE_KLIPPER_DICT_MCU   klipper.dict names this MCU, whatever the config says
#   KF_FAKE_KLIPPER_NO_DICT    the build writes no klipper.dict
#   KF_FAKE_KLIPPER_NO_FIRMWARE  the build succeeds but writes no firmware
set -eu
target=$1
config=$2
out=$3
device=${4:-}
tree=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${KF_FAKE_KLIPPER_LOG:-}" ]; then
	echo "make $target KCONFIG_CONFIG=$config OUT=$out${device:+ FLASH_DEVICE=$device}" \
		>>"$KF_FAKE_KLIPPER_LOG"
fi
version=$(git -c safe.directory="$tree" -C "$tree" describe --always --tags --long --dirty \
	2>/dev/null || echo "?")

config_mcu() {
	if grep -q '^CONFIG_MACH_LINUX=y' "$1"; then
		echo linux
	else
		sed -n 's/^CONFIG_MCU="\(.*\)"$/\1/p' "$1"
	fi
}

case $target in
menuconfig)
	if [ ! -t 0 ]; then
		echo "menuconfig: standard input is not a terminal" >&2
		exit 1
	fi
	if [ -n "${KF_FAKE_MENUCONFIG_FROM:-}" ]; then
		cp "$KF_FAKE_MENUCONFIG_FROM" "$config"
	else
		printf 'Fake menuconfig for %s. Press Enter to save and exit. ' "$config"
		read -r _answer
	fi
	echo "Configuration saved to '$config'"
	;;
olddefconfig)
	if [ ! -f "$config" ]; then
		echo "olddefconfig: no $config" >&2
		exit 1
	fi
	grep -q '^CONFIG_FAKE_REFRESHED=y' "$config" || echo 'CONFIG_FAKE_REFRESHED=y' >>"$config"
	echo "Configuration saved to '$config'"
	;;
clean)
	echo "  Cleaning $out"
	rm -rf "$out"
	;;
build)
	if [ -n "${KF_FAKE_KLIPPER_FAIL:-}" ]; then
		echo "  Compiling ${out}src/sched.o"
		echo "src/sched.c:42:5: error: 'timer' undeclared (a fake failure)" >&2
		echo "make: *** [Makefile:104: ${out}src/sched.o] Error 1" >&2
		exit 2
	fi
	if [ -n "${KF_FAKE_KLIPPER_HANG:-}" ]; then
		sleep 1000 &
		# Written whole: a reader never sees an empty file.
		echo $! >"$KF_FAKE_KLIPPER_HANG.tmp"
		mv "$KF_FAKE_KLIPPER_HANG.tmp" "$KF_FAKE_KLIPPER_HANG"
		wait
	fi
	mkdir -p "$out"
	for f in sched basecmd command stepper; do
		echo "  Compiling ${out}src/$f.o"
	done
	mcu=$(config_mcu "$config")
	[ -n "${KF_FAKE_KLIPPER_NO_DICT:-}" ] ||
		printf '{"app": "Klipper", "version": "%s", "config": {"MCU": "%s", "CLOCK_FREQ": 12000000}}' \
			"$version" "${KF_FAKE_KLIPPER_DICT_MCU:-$mcu}" >"${out}klipper.dict"
	if [ -n "${KF_FAKE_KLIPPER_NO_FIRMWARE:-}" ]; then
		:
	elif [ "$mcu" = linux ]; then
		printf '\177ELF fake klipper for linux\n' >"${out}klipper.elf"
		echo "  Linking ${out}klipper.elf"
	else
		# A few KiB that change with the config and the version.
		{
			printf 'FAKEKLIPPER %s %s\n' "$mcu" "$version"
			cksum <"$config"
			i=0
			while [ $i -lt 96 ]; do
				echo "code block $i of a firmware built from $config"
				i=$((i + 1))
			done
		} >"${out}klipper.bin"
		echo "  Creating bin file ${out}klipper.bin"
	fi
	;;
flash)
	if [ -n "${KF_FAKE_FLASH_FAIL:-}" ]; then
		echo "Flashing failed: no device at '$device'" >&2
		exit 1
	fi
	echo "  Flashing ${out}klipper.bin to $device"
	;;
*)
	echo "fake-make.sh: unknown target '$target'" >&2
	exit 2
	;;
esac
