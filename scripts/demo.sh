#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The main job of libkflash, end to end, on a fresh machine, without a
# printer: it builds everything, then sets up a sandbox with a fake Klipper
# tree, four simulated boards (a mainboard that is the host's CAN interface
# as a USB-to-CAN bridge, a CAN toolhead behind it, an Octopus on USB
# running Klipper, and an STM32 on a Pi UART), a fake systemctl and sudo,
# and a stand-in for Klipper's API socket. It registers the boards and runs
# the real `kflash flash --all` against them, then `kflash status`.
#
#   ./scripts/demo.sh
#
# KFLASH_DEMO_BUILDDIR=DIR uses an existing build instead of building (the
# tests do this). Everything the demo starts is stopped on exit, on Ctrl+C,
# and when its output goes away (a closed pipe or terminal).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${KFLASH_DEMO_BUILDDIR:-}" ]; then
	builddir=$KFLASH_DEMO_BUILDDIR
else
	"$top/scripts/deps.sh"
	builddir=${KFLASH_BUILDDIR:-"$top/build"}/normal
	if [ -f "$builddir/build.ninja" ]; then
		meson setup --reconfigure "$builddir" >/dev/null
	else
		meson setup "$builddir" >/dev/null
	fi
	meson compile -C "$builddir" >/dev/null
fi

kflash="$builddir/cli/kflash"
sim="$builddir/tests/katapult-sim/kflash-sim"
klippy="$builddir/tests/klippy-server"
configs="$top/tests/fixtures/klipper-configs"

sandbox=$(mktemp -d "${TMPDIR:-/tmp}/kflash-demo.XXXXXX")
pids=""
cleanup() {
	trap - EXIT HUP INT PIPE TERM
	for pid in $pids; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$sandbox"
}
trap cleanup EXIT
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 141' PIPE
trap 'cleanup; exit 143' TERM

bold="" plain=""
if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
fi
step() {
	printf '\n%s== %s%s\n' "$bold" "$*" "$plain"
}

# start READY_FILE PROGRAM ARGS...: a background helper, once it is ready.
start() {
	ready=$1
	shift
	"$@" &
	pids="$pids $!"
	i=0
	while [ ! -e "$ready" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

dev="$sandbox/dev"
can="$sandbox/can"
sys="$sandbox/sys"
mkdir -p "$dev" "$sandbox/state" "$can" "$sys"
export KFLASH_CONFIG_DIR="$sandbox/config" KFLASH_CACHE_DIR="$sandbox/cache"
export KFLASH_DEV_DIR="$dev" KFLASH_SYS_DIR="$sys" KFLASH_KLIPPER_DIR="$sandbox/klipper"
export KFLASH_KLIPPY_SOCKET="$sandbox/klippy.sock"
# CAN interfaces are UNIX sockets here (this host may have no CAN at all).
export KFLASH_CAN_SOCKET_DIR="$can"
# The fakes: systemctl and sudo log to calls.log; the build logs there too.
export PATH="$top/tests/fakes/bin:$PATH"
export KF_FAKE_LOG="$sandbox/calls.log" KF_FAKE_STATE="$sandbox/state"
export KF_FAKE_KLIPPER_LOG="$sandbox/calls.log"

step "a sandbox in $sandbox: a Klipper tree, four boards, Klipper's API socket"
cp -r "$top/tests/fake-klipper" "$sandbox/klipper"
(
	cd "$sandbox/klipper"
	git init -q
	git -c user.name=demo -c user.email=demo@kflash.invalid add -A
	git -c user.name=demo -c user.email=demo@kflash.invalid commit -q -m "Klipper"
	git tag v0.12.0
)
# An Octopus (STM32F446, Katapult at 32 KiB) on USB, running Klipper ...
start "$sandbox/octopus.ready" "$sim" --dev-dir "$dev" --mode usb --mcu stm32f446xx \
	--serial 1A2B3C4D5E6F708192A3B4C5 --usb-port 1.2 --rate 200000 \
	--ready-file "$sandbox/octopus.ready"
# ... a toolboard on the Pi's UART at 250000 baud, as slow as a real one ...
start "$sandbox/uart.ready" "$sim" --dev-dir "$dev" --mode uart --uart-link ttyAMA0 \
	--mcu stm32f446xx --baud 250000 --rate 25000 --ready-file "$sandbox/uart.ready"
# ... a mainboard (STM32H723, Katapult at 128 KiB) that is the host's CAN
# interface can0 as a USB-to-CAN bridge: no tty while it runs Klipper ...
start "$sandbox/bridge.ready" "$sim" --dev-dir "$dev" --sys-dir "$sys" --mode bridge \
	--can-dir "$can" --can-interface can0 --mcu stm32h723xx --app-start 0x8020000 \
	--serial 140028000951313339373836 --usb-port 1.4 --rate 200000 \
	--ready-file "$sandbox/bridge.ready"
# ... and a CAN toolhead with Katapult, running Klipper, behind it on can0.
start "$sandbox/ebb.ready" "$sim" --dev-dir "$dev" --mode can --can-dir "$can" \
	--can-interface can0 --can-uuid 61755fe321ac --mcu stm32f446xx \
	--ready-file "$sandbox/ebb.ready"
# Klipper's API socket, there while its service runs, with every MCU still
# on the firmware of an older Klipper.
start_klippy() {
	rm -f "$sandbox/klippy.ready"
	start "$sandbox/klippy.ready" "$klippy" --socket "$KFLASH_KLIPPY_SOCKET" \
		--unit-state "$sandbox/state/klipper" --ready-file "$sandbox/klippy.ready" \
		--mcu "mcu=$1" --mcu "mcu toolhead=$1" --mcu "mcu ebb=$1" \
		--mcu "mcu octopus=$1"
	klippy_pid=$!
}
start_klippy v0.11.0-271-g5f0d252
ls -l "$dev/serial/by-id" "$dev/ttyAMA0" | sed 's/^/    /'

step "kflash scan: what is plugged in"
"$kflash" scan

step "kflash add: register the four boards, as scan suggests"
"$kflash" add mainboard --can-interface can0 --can-uuid c1980e2023a1 \
	--usb-serial 140028000951313339373836 --mcu stm32h723xx --klipper-mcu mcu
"$kflash" add octopus --serial "$dev/serial/by-id/usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00" \
	--klipper-mcu "mcu octopus"
"$kflash" add toolhead --serial "$dev/ttyAMA0" --mcu stm32f446xx --baud 250000 \
	--klipper-mcu "mcu toolhead"
"$kflash" add ebb --can-interface can0 --can-uuid 61755fe321ac --mcu stm32f446xx \
	--klipper-mcu "mcu ebb"

step "kflash config: each board gets its own Klipper config"
"$kflash" config mainboard --from "$configs/stm32h723_usbcan.config"
"$kflash" config octopus --from "$configs/stm32f446_usb.config"
sed -e 's/^CONFIG_USBSERIAL=y$/# CONFIG_USBSERIAL is not set\nCONFIG_SERIAL=y\nCONFIG_SERIAL_BAUD=250000/' \
	"$configs/stm32f446_usb.config" >"$sandbox/uart.config"
"$kflash" config toolhead --from "$sandbox/uart.config"
"$kflash" config ebb --from "$configs/stm32f446_can_katapult.config"

step "kflash list: a bridge, a CAN node behind it, a USB board and a UART board"
"$kflash" list

step "kflash status: after a Klipper update, every board runs old firmware"
"$kflash" status || echo "(exit status $?: something needs a reflash)"

step "kflash flash --all --dry-run: the plan, the bridge last, after the node behind it"
"$kflash" flash --all --dry-run

step "kflash flash --all: build all four, stop Klipper once, flash them, start it, confirm"
"$kflash" flash --all

step "what the fake systemctl and the fake Klipper build saw"
sed 's/^/    /' "$sandbox/calls.log"

step "kflash flash --all again: nothing changed, so nothing is rebuilt, and Klipper is not stopped"
"$kflash" flash --all

step "kflash status: everything current now"
# The stand-in for Klipper restarts as the real one would: its MCUs now
# report the firmware just flashed.
kill "$klippy_pid"
wait "$klippy_pid" 2>/dev/null || true
start_klippy "$(git -C "$sandbox/klipper" describe --always --tags --long --dirty)"
"$kflash" status

cat <<EOF

Done. To try kflash by hand in a sandbox of your own, run these in one shell:

    export KFLASH_DEV_DIR=/tmp/kflash-try/dev KFLASH_CONFIG_DIR=/tmp/kflash-try/config
    mkdir -p \$KFLASH_DEV_DIR
    $sim --dev-dir \$KFLASH_DEV_DIR &
    $kflash scan
    $kflash --help

EOF
