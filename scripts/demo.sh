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
sims=""
cleanup() {
	for pid in $sims; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$sandbox"
}
trap cleanup EXIT INT TERM

kflash="$builddir/cli/kflash"
sim="$builddir/tests/katapult-sim/kflash-sim"
dev="$sandbox/dev"
mkdir -p "$dev"
export KFLASH_CONFIG_DIR="$sandbox/config" KFLASH_CACHE_DIR="$sandbox/cache"
export KFLASH_DEV_DIR="$dev"

bold="" plain=""
if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
fi
step() {
	printf '\n%s== %s%s\n' "$bold" "$*" "$plain"
}

# start_board ARGS...: a simulated board; waits until its links exist.
start_board() {
	ready=$(mktemp -u "$sandbox/ready.XXXXXX")
	"$sim" --dev-dir "$dev" --ready-file "$ready" "$@" &
	sims="$sims $!"
	i=0
	while [ ! -e "$ready" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

step "three simulated boards: an Octopus and an EBB36 over USB running Klipper, a Pico in Katapult"
start_board --mode usb --mcu stm32f446xx --serial 1A2B3C4D5E6F708192A3B4C5 --usb-port 1.2
start_board --mode usb --mcu stm32g0b1xx --serial 4E0031000B50415833323520 --usb-port 1.3
start_board --mode katapult --mcu rp2040 --serial E66138935F2A4D28 --usb-port 1.4
ls "$dev/serial/by-id"

step "kflash scan: what is plugged in, and how to add it"
"$kflash" scan

step "kflash add: register two of them"
"$kflash" add octopus --serial "$dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00" --klipper-mcu mcu
"$kflash" add ebb36 --serial "$dev/serial/by-id/usb-Klipper_stm32g0b1xx_4E0031000B50415833323520-if00" --klipper-mcu "mcu toolhead"

step "kflash list: the Pico is registered from its Klipper name, but shows up in Katapult"
"$kflash" add pico --serial "$dev/serial/by-id/usb-Klipper_rp2040_E66138935F2A4D28-if00"
"$kflash" list

step "kflash list --json: the contract scripts rely on"
"$kflash" list --json

step "a hand-corrupted registry is refused with its position, and never rewritten"
cp "$KFLASH_CONFIG_DIR/devices.json" "$sandbox/good.json"
sed -i 's/"mcu": "rp2040"/"mcu": 2040/' "$KFLASH_CONFIG_DIR/devices.json"
"$kflash" list || echo "(exit status $?)"
cp "$sandbox/good.json" "$KFLASH_CONFIG_DIR/devices.json"

step "kflash paths: where everything lives in this sandbox"
"$kflash" paths
