#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs every libkflash test three ways: a normal build, a build with
# AddressSanitizer and UndefinedBehaviorSanitizer, and the normal build
# under valgrind. Installs missing build dependencies first.
#
#   ./scripts/test.sh            everything
#   KFLASH_TEST_SETUPS="normal" ./scripts/test.sh     only some of: normal asan valgrind
#
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh"

builddir=${KFLASH_BUILDDIR:-"$top/build"}
setups=${KFLASH_TEST_SETUPS:-"normal asan valgrind"}

setup() {
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	meson compile -C "$dir"
}

status=0
for s in $setups; do
	echo "=== libkflash tests: $s ==="
	case $s in
	normal)
		setup "$builddir/normal"
		meson test -C "$builddir/normal" --print-errorlogs || status=1
		;;
	asan)
		setup "$builddir/asan" -Db_sanitize=address,undefined -Db_lundef=false
		# The Python interpreter is not built with ASan: the ctypes
		# suites run in the normal setup only, as do the package checks,
		# which make release builds of their own.
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			meson test -C "$builddir/asan" --print-errorlogs \
			--no-suite python --no-suite klipper --no-suite package || status=1
		;;
	valgrind)
		setup "$builddir/normal"
		meson test -C "$builddir/normal" --setup=valgrind --print-errorlogs || status=1
		;;
	*)
		echo "unknown test setup '$s' (use: normal asan valgrind)" >&2
		exit 64
		;;
	esac
done

if [ "$status" -eq 0 ]; then
	echo "=== libkflash: all test setups passed ($setups) ==="
else
	echo "=== libkflash: some tests FAILED; see the logs above ===" >&2
fi
exit $status
