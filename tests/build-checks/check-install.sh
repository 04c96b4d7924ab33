#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a staging directory, then build an example program against
# the installed header, library and pkg-config file, and run it.
set -eu
build=$1
example=$2
extra_cflags=${3:-}

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --quiet --destdir "$dest"

pc=$(find "$dest" -name libkflash.pc | head -n 1)
[ -n "$pc" ] || { echo "error: libkflash.pc was not installed" >&2; exit 1; }

export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags libkflash)
libs=$(pkg-config --libs libkflash)
echo "pkg-config: $cflags $libs"

# shellcheck disable=SC2086
${CC:-cc} -Wall -Werror $extra_cflags -o "$dest/example" "$example" $cflags $libs

libdir=$(dirname "$(find "$dest" -name 'libkflash.so.*' | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$dest/example" >"$dest/out"
grep -q '^libkflash ' "$dest/out" || { echo "error: the example printed:" >&2; cat "$dest/out" >&2; exit 1; }
# The installed library, not the build tree's, was used.
LD_LIBRARY_PATH="$libdir" ldd "$dest/example" | grep -q "$dest" || { echo "error: the example did not link the installed library" >&2; exit 1; }
echo "installed library, header and libkflash.pc work"
