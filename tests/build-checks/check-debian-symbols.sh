#!/bin/sh
# SPDX-License-Identifier: MIT
# debian/libkflash0.symbols must be what debian/gen-symbols.sh makes of the
# symbol map (the package build then checks it against the library).
#   check-debian-symbols.sh SOURCE_ROOT
set -eu
src=$1
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

sh "$src/debian/gen-symbols.sh" "$src/lib/libkflash.sym" >"$tmp"
if ! diff -u "$src/debian/libkflash0.symbols" "$tmp"; then
	echo "error: debian/libkflash0.symbols (-) is not made from lib/libkflash.sym (+); regenerate it with:" >&2
	echo "    debian/gen-symbols.sh lib/libkflash.sym >debian/libkflash0.symbols" >&2
	exit 1
fi
echo "debian/libkflash0.symbols lists the $(grep -c '^ kflash_' "$tmp") symbols of lib/libkflash.sym"
