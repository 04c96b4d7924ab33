#!/bin/sh
# SPDX-License-Identifier: MIT
# The symbols libkflash.so exports must be exactly those of its symbol map,
# and all of them must start with kflash_.
set -eu
lib=$1
map=$2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Version nodes show up as absolute ("A") symbols; they are not functions.
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort >"$tmp/exported"
sed -n 's/^[[:space:]]*\(kflash_[a-z0-9_]*\);.*/\1/p' "$map" | sort >"$tmp/mapped"

status=0
if grep -v '^kflash_' "$tmp/exported"; then
	echo "error: symbols above are exported but do not start with kflash_" >&2
	status=1
fi
if ! diff -u "$tmp/mapped" "$tmp/exported"; then
	echo "error: the exported symbols (+) differ from $map (-)" >&2
	status=1
fi
[ "$status" -eq 0 ] && echo "$(wc -l <"$tmp/exported") symbols exported, all in the map"
exit $status
