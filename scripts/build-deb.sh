#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Builds the Debian packages libkflash0, libkflash-dev and kflash from this
# tree, in a copy of it, so that the tree stays as it was:
#
#   ./scripts/build-deb.sh [OUTDIR]     (default: build/debs)
#
# OUTDIR gets the .deb files (and the .changes and .buildinfo); the last
# lines of the output are the paths of the three packages. The test suite
# does not run in the package build (CI runs it: scripts/test.sh).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd -P)
out=${1:-"$src/build/debs"}

die() {
	printf 'build-deb.sh: error: %s\n' "$*" >&2
	exit 1
}

command -v dpkg-buildpackage >/dev/null 2>&1 ||
	die "dpkg-buildpackage not found: install it with: sudo apt-get install dpkg-dev debhelper"
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
case $out/ in
"$src"/build/* | "$src"/builddir/*) ;;
"$src"/*) die "$out is inside the source tree; use a directory under $src/build/ or outside it" ;;
esac

version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ -n "$version" ] || die "cannot read the version from $src/debian/changelog"
copy=$out/libkflash-$version

# The files of the tree: git's view of it (uncommitted changes included,
# ignored files such as build/ left out), or everything but build/.
rm -rf "$copy"
mkdir -p "$copy"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# shellcheck disable=SC2016 # the inner sh expands "$f"
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] || continue; printf "%s\0" "$f"; done' sh |
		xargs -0 cp -P --parents -t "$copy")
else
	(cd "$src" && find . -path ./build -prune -o -path ./builddir -prune -o -type f -print0 -o -type l -print0 |
		xargs -0 cp -P --parents -t "$copy")
fi

if ! (cd "$copy" && dpkg-checkbuilddeps) 2>"$out/builddeps.log"; then
	cat "$out/builddeps.log" >&2
	die "build dependencies are missing (above); install them with: sudo apt-get build-dep $src"
fi
rm -f "$out/builddeps.log"

rm -f "$out"/*_"$version"_*.deb "$out"/*_"$version"_*.changes "$out"/*_"$version"_*.buildinfo
log=$out/dpkg-buildpackage.log
echo "build-deb.sh: building the packages of libkflash $version in $copy (log: $log)" >&2
if ! (cd "$copy" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	die "dpkg-buildpackage failed; the whole log is $log"
fi
rm -rf "$copy"

arch=$(dpkg --print-architecture)
for p in libkflash0 libkflash-dev kflash; do
	deb=$out/${p}_${version}_$arch.deb
	[ -f "$deb" ] || die "dpkg-buildpackage did not make $deb (log: $log)"
	echo "$deb"
done
