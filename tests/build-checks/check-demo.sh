#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's main command, non-interactively, on this build: it must show
# every phase, the progress, the summary, and leave nothing behind.
#   check-demo.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT

KFLASH_DEMO_BUILDDIR=$build TMPDIR=${TMPDIR:-/tmp} sh "$src/scripts/demo.sh" >"$out" 2>&1 || {
	cat "$out"
	echo "the demo failed" >&2
	exit 1
}
status=0
for want in '[Discovery] octopus:' '[Config] toolhead:' '[Build] octopus: built' \
	'[Service] stopping klipper' '[Flash] octopus: writing 100%' \
	'[Flash] toolhead: verifying 100%' '[Service] Klipper is ready' \
	'octopus          flashed   katapult  built' 'Klipper: stopped, started again' \
	'Every board is up to date.' 'up-to-date'; do
	if ! grep -qF -- "$want" "$out"; then
		echo "the demo's output lacks: $want" >&2
		status=1
	fi
done
sandbox=$(sed -n 's/^== a sandbox in \([^:]*\):.*/\1/p' "$out")
if [ -z "$sandbox" ] || [ -e "$sandbox" ]; then
	echo "the demo left its sandbox behind: '$sandbox'" >&2
	status=1
fi
if pgrep -f "kflash-sim --dev-dir $sandbox" >/dev/null 2>&1; then
	echo "the demo left simulated boards running" >&2
	status=1
fi
[ $status -eq 0 ] || cat "$out"
exit $status
