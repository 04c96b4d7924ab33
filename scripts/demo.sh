#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The main job of libkflash, end to end, on a fresh machine: builds
# everything, then runs kflash in a sandbox of its own.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"

builddir=${KFLASH_BUILDDIR:-"$top/build"}/normal
if [ -f "$builddir/build.ninja" ]; then
	meson setup --reconfigure "$builddir" >/dev/null
else
	meson setup "$builddir" >/dev/null
fi
meson compile -C "$builddir" >/dev/null

sandbox=$(mktemp -d "${TMPDIR:-/tmp}/kflash-demo.XXXXXX")
trap 'rm -rf "$sandbox"' EXIT INT TERM

kflash="$builddir/cli/kflash"
export KFLASH_CONFIG_DIR="$sandbox/config" KFLASH_CACHE_DIR="$sandbox/cache"

echo "== kflash $("$kflash" --version | cut -d' ' -f2): where it keeps its files in this sandbox"
"$kflash" paths
echo
echo "== the same as JSON, for scripts"
"$kflash" paths --json
