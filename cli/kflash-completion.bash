# SPDX-License-Identifier: MIT
# bash completion for kflash: commands, options, and board names from the
# registry (through `kflash list --names`, with the location flags typed so
# far, so another --config-dir or --registry is honoured).

_kflash()
{
	local cur prev words cword
	_init_completion || return

	local global="--json --verbose --quiet --help --version --config-dir --registry
		--cache-dir --klipper-dir --service --klippy-socket --dev-dir --sys-dir --can-socket-dir
		--moonraker-socket --service-provider --units-dir
		--list-devices --add-device --remove-device --device"
	local commands
	commands=$(kflash --help 2>/dev/null | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')

	case $prev in
	--config-dir | --cache-dir | --klipper-dir | --dev-dir | --sys-dir | --can-socket-dir | \
		--units-dir)
		_filedir -d
		return
		;;
	--registry | --klippy-socket | --moonraker-socket | --serial | --from | --firmware)
		_filedir
		return
		;;
	--service-provider)
		COMPREPLY=($(compgen -W "auto moonraker systemctl" -- "$cur"))
		return
		;;
	--method)
		COMPREPLY=($(compgen -W "auto katapult make sdcard" -- "$cur"))
		return
		;;
	--service | --unit | --mcu | --baud | --klipper-mcu | --sdcard-board | \
		--can-interface | --can-uuid | --notes | --instance)
		return
		;;
	esac

	# The command, and the location flags to pass on to `kflash list`.
	local i command="" locations=()
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--config-dir | --registry)
			locations+=("${words[i]}" "${words[i + 1]}")
			((i++))
			;;
		--cache-dir | --klipper-dir | --service | --klippy-socket | --dev-dir | --sys-dir | \
			--can-socket-dir | --moonraker-socket | --service-provider | --units-dir | --instance)
			((i++))
			;;
		-*) ;;
		*)
			[[ -z $command ]] && command=${words[i]}
			;;
		esac
	done

	if [[ $prev == --remove-device || $prev == --device ]]; then
		command=show
	elif [[ -z $command ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands help" -- "$cur"))
		fi
		return
	fi

	if [[ $cur == -* ]]; then
		local own
		# A command's --help lists the global options too: offer each once.
		own=$(printf '%s\n' $(kflash "$command" --help 2>/dev/null |
			grep -o -- '--[a-z][a-z-]*') $global | sort -u)
		COMPREPLY=($(compgen -W "$own" -- "$cur"))
		return
	fi

	case $command in
	help)
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	service)
		[[ $prev == service ]] && COMPREPLY=($(compgen -W "stop start status" -- "$cur"))
		;;
	import)
		_filedir cfg
		;;
	add | scan | paths | list | doctor) ;;
	*)
		local names
		names=$(kflash "${locations[@]}" list --names 2>/dev/null)
		COMPREPLY=($(compgen -W "$names" -- "$cur"))
		;;
	esac
} &&
	complete -F _kflash kflash
