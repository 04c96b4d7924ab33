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
	'[Flash] ebb: asking node 61755fe321ac on can0 to enter Katapult' \
	'ebb              flashed   katapult  built' \
	'4. mainboard        USB-to-CAN bridge of can0, last' '[Flash] mainboard: asking bridge mainboard (c1980e2023a1)' \
	'bridge mainboard is back, with its CAN interface can0' \
	'mainboard        flashed   katapult  built' \
	'octopus          current   -         up-to-date' 'Klipper: not stopped, left as it was' \
	'Every board is up to date.'; do
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

# left_behind FILE WHAT: fails when the sandbox named in FILE, or one of its
# simulated boards, is still there.
left_behind() {
	box=$(sed -n 's/^== a sandbox in \([^:]*\):.*/\1/p' "$1")
	if [ -z "$box" ]; then
		echo "$2: the demo did not say where its sandbox is" >&2
		cat "$1" >&2
		return 0
	fi
	i=0
	while pgrep -f "kflash-sim --dev-dir $box" >/dev/null 2>&1 && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -e "$box" ] || pgrep -f "kflash-sim --dev-dir $box" >/dev/null 2>&1; then
		echo "$2: the demo left $box or its boards behind" >&2
		return 0
	fi
	return 1
}

# Its output going away (| head) ends it, and it cleans up.
KFLASH_DEMO_BUILDDIR=$build sh "$src/scripts/demo.sh" 2>&1 | head -n 3 >"$out" || true
if left_behind "$out" "after a closed pipe"; then
	status=1
fi

# Ctrl+C in the middle of the flash: the whole foreground group gets SIGINT.
: >"$out"
setsid env KFLASH_DEMO_BUILDDIR="$build" sh "$src/scripts/demo.sh" >"$out" 2>&1 &
demo=$!
i=0
while ! grep -q '^\[Flash\]' "$out" && [ $i -lt 600 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -INT -- "-$demo" 2>/dev/null || true
wait "$demo" || true
if left_behind "$out" "after Ctrl+C"; then
	status=1
fi
exit $status
