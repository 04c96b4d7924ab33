#!/bin/sh
# SPDX-License-Identifier: MIT
# kflash.1 renders without a warning and documents every command of the
# built kflash.
#   check-man.sh KFLASH_BIN MAN_PAGE
set -eu
kflash=$1
page=$2

warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
if [ -n "$warnings" ]; then
	echo "man page warnings:" >&2
	echo "$warnings" >&2
	exit 1
fi

rendered=$(MANWIDTH=200 man -l "$page" 2>/dev/null | sed 's/.\x08//g')
status=0
for c in $("$kflash" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p'); do
	if ! printf '%s\n' "$rendered" | grep -q "^       $c\b"; then
		echo "command '$c' is not documented in $page" >&2
		status=1
	fi
done
for opt in $("$kflash" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	if ! printf '%s\n' "$rendered" | grep -q -- "$opt"; then
		echo "option '$opt' is not documented in $page" >&2
		status=1
	fi
done
exit $status
