#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs what libkflash needs to build, test and run its demo on Debian.
# As root it uses apt-get; otherwise it tries `sudo -n apt-get`; when neither
# works it prints the command to run and fails.

set -eu

PACKAGES="meson ninja-build gcc g++ make pkg-config git
check libjson-c-dev libudev-dev zlib1g-dev
umockdev libumockdev-dev valgrind python3
bash-completion man-db groff-base
dpkg-dev debhelper lintian sudo"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

echo "libkflash: installing build dependencies:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	apt_get="apt-get"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	apt_get="sudo -n apt-get"
else
	echo "libkflash: cannot install packages (not root, and no passwordless sudo)." >&2
	echo "Run this as root, then try again:" >&2
	echo "    apt-get install -y$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $apt_get install -y --no-install-recommends $missing; then
	$apt_get update
	# shellcheck disable=SC2086
	$apt_get install -y --no-install-recommends $missing
fi
