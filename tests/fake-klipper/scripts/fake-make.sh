#!/bin/sh
# SPDX-License-Identifier: MIT
# The fake Klipper build: fake-make.sh TARGET CONFIG OUT [FLASH_DEVICE [CC]]
#
# With CC (given on make's command line), the build compiles each object
# with it: `$CC -c src/NAME.c -o OUT/src/NAME.o`. The log line then ends in
# " CC=<it>", and, when make runs as a job server's client, in
# " jobserver=ok" (or "=closed" when its descriptors did not reach us),
# and " make-jobs=N" when make itself was given -jN.
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
#   KF_FAKE_KLIPPER_TAKE_SLOT  the build takes a job slot and never gives it
#                              back (as a killed make's jobs do), then hangs
set -eu
target=$1
config=$2
out=$3
device=${4:-}
cc=${5:-}
tree=$(cd "$(dirname "$0")/.." && pwd)

# The job server's descriptors, from MAKEFLAGS' --jobserver-auth=R,W.
jobserver=
auth=$(printf '%s\n' "${MAKEFLAGS:-}" | sed -n 's/.*--jobserver-auth=\([0-9]*\),\([0-9]*\).*/\1 \2/p')
if [ -n "$auth" ]; then
	set -- $auth
	if [ -e "/proc/$$/fd/$1" ] && [ -e "/proc/$$/fd/$2" ]; then
		jobserver=ok
	else
		jobserver=closed
	fi
	slot_fd=$1
fi
make_jobs=$(printf '%s\n' " ${MAKEFLAGS:-}" | sed -n 's/.* -j\([0-9][0-9]*\).*/\1/p')

if [ -n "${KF_FAKE_KLIPPER_LOG:-}" ]; then
	echo "make $target KCONFIG_CONFIG=$config OUT=$out${device:+ FLASH_DEVICE=$device}${cc:+ CC=$cc}${jobserver:+ jobserver=$jobserver}${make_jobs:+ make-jobs=$make_jobs}" \
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
	if [ -n "${KF_FAKE_KLIPPER_TAKE_SLOT:-}" ] && [ "$jobserver" = ok ]; then
		# One byte from the job server's pipe, kept.
		dd bs=1 count=1 status=none <"/proc/$$/fd/$slot_fd" >/dev/null
		echo taken >"$KF_FAKE_KLIPPER_TAKE_SLOT.tmp"
		mv "$KF_FAKE_KLIPPER_TAKE_SLOT.tmp" "$KF_FAKE_KLIPPER_TAKE_SLOT"
		sleep 1000 &
		wait
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
		if [ -n "$cc" ]; then
			mkdir -p "${out}src"
			# shellcheck disable=SC2086 # CC is a command line, as in make
			$cc -c "src/$f.c" -o "${out}src/$f.o"
		fi
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
