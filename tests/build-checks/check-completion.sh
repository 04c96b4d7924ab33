#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion completes commands, options and board names.
#   check-completion.sh KFLASH_BIN COMPLETION_FILE
set -eu
kflash_bin=$1
completion=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# `kflash` must be the built one, found on PATH as users have it.
mkdir "$dir/bin"
ln -s "$kflash_bin" "$dir/bin/kflash"
export PATH="$dir/bin:$PATH"
export KFLASH_CONFIG_DIR="$dir/config" KFLASH_REGISTRY="$dir/config/devices.json"
export KFLASH_DEV_DIR="$dir/dev" KFLASH_CACHE_DIR="$dir/cache"
kflash add octopus --serial /dev/ttyS0 --mcu stm32f446xx -q
kflash add orbiter --serial /dev/ttyS1 --mcu rp2040 -q
kflash --config-dir "$dir/other" --registry "$dir/other/devices.json" \
	add elsewhere --serial /dev/ttyS2 --mcu rp2040 -q

. /usr/share/bash-completion/bash_completion
. "$completion"

# complete LINE: run the completion on LINE (the cursor at its end).
complete_line() {
	COMP_LINE=$1
	COMP_POINT=${#COMP_LINE}
	read -r -a COMP_WORDS <<<"$COMP_LINE"
	[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_kflash kflash "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

status=0
expect() {
	local got
	got=$(complete_line "$1")
	if [[ $got != "$2" ]]; then
		echo "completing '$1': got '$got', expected '$2'" >&2
		status=1
	fi
}

expect "kflash sh" "show "
expect "kflash show o" "octopus orbiter "
expect "kflash remove oc" "octopus "
expect "kflash --remove-device or" "orbiter "
expect "kflash --config-dir $dir/other --registry $dir/other/devices.json show e" "elsewhere "
expect "kflash add x --meth" "--method "
expect "kflash add x --method k" "katapult "
expect "kflash --js" "--json "
# A command's options and the global ones, each once.
expect "kflash list --js" "--json "
expect "kflash set octopus --no" "--notes "
expect "kflash help pa" "paths "
expect "kflash service st" "start status stop "
expect "kflash do" "doctor "
expect "kflash doctor --js" "--json "
expect "kflash --service-provider m" "moonraker "
expect "kflash --moonraker-s" "--moonraker-socket "
expect "kflash import --dry" "--dry-run "
expect "kflash --units" "--units-dir "
exit $status
