#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs kflash on a printer host, for the user who runs Klipper. Run it
# as that user from the clone; it uses sudo only for what needs root (the
# prefix, the sudoers drop-in, apt-get), and as root it does it directly.
#
#   ./scripts/install.sh [--prefix DIR | --packages [--debs DIR]] [OPTIONS]
#   ./scripts/install.sh --uninstall
#
# The steps, each one skipped when it is already done:
#   1. missing build dependencies (scripts/system-dependencies.json) with apt-get
#   2. a release build with meson, installed into the prefix (default /usr/local);
#      or, with --packages, the Debian packages built and installed with apt-get
#   3. /etc/sudoers.d/kflash: the commands kflash runs through sudo -n, checked
#      with visudo before it is put in place
#   4. the Klipper module linked as ~/klipper/klippy/extras/kflash.py (and
#      left out of Klipper's git status)
#   5. an [update_manager kflash] section in ~/printer_data/config/moonraker.conf
#
# What it did is recorded in ~/.local/state/kflash/install.manifest, and
# --uninstall undoes exactly that. --dry-run says what would change and
# touches nothing. `install.sh --help` lists the options and the
# environment variables that override every location and program.
#
# POSIX sh: it runs with dash, Debian's /bin/sh, before anything is built.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd -P)
tab=$(printf '\t')

usage() {
	cat <<'EOF'
Usage: scripts/install.sh [OPTIONS]

Installs kflash for the user who runs Klipper: the build (into a prefix, or
as Debian packages), the sudoers drop-in, the Klipper module link and the
Moonraker update manager section. Run it again after an update (from
Moonraker too): it changes only what is out of date.

  --prefix DIR          install a release build into DIR (default /usr/local)
  --packages            build the Debian packages and install them with apt-get
  --debs DIR            with --packages: install the packages in DIR, do not build
  --uninstall           undo what earlier runs did (read from the manifest)
  --dry-run, -n         say what would change; change nothing
  --user NAME           the user who runs Klipper (default: you, or SUDO_USER as root)
  --service UNIT        a Klipper service unit (default klipper); repeat for more
  --klipper-dir DIR     Klipper's source (default ~/klipper)
  --printer-data DIR    Klipper's data dir (default ~/printer_data)
  --moonraker-conf FILE Moonraker's config (default PRINTER_DATA/config/moonraker.conf)
  --sudoers-dir DIR     where the drop-in goes (default /etc/sudoers.d)
  --state-dir DIR       where the manifest goes (default ~/.local/state/kflash)
  --builddir DIR        the build directory (default build/release in the clone)
  --no-sudoers          do not write the sudoers drop-in
  --no-systemd-run      leave systemd-run (KFLASH_UPDATE's line) out of the drop-in
  --no-klipper          do not link the Klipper module
  --no-moonraker        do not touch moonraker.conf
  -h, --help            this help

Environment (flags win): KFLASH_PREFIX, KFLASH_USER, KFLASH_SERVICE,
KFLASH_KLIPPER_DIR, KFLASH_PRINTER_DATA, KFLASH_MOONRAKER_CONF,
KFLASH_SUDOERS_DIR, KFLASH_STATE_DIR, KFLASH_INSTALL_BUILDDIR; the programs
KFLASH_SUDO, KFLASH_VISUDO, KFLASH_SYSTEMCTL, KFLASH_SYSTEMD_RUN,
KFLASH_LDCONFIG, KFLASH_PYTHON (default: found on PATH); the Moonraker
section's KFLASH_ORIGIN and KFLASH_BRANCH (default: the clone's origin
remote and branch).
EOF
}

say() { printf 'kflash install: %s\n' "$*"; }
note() { printf 'kflash install: note: %s\n' "$*"; }
die() {
	printf 'kflash install: error: %s\n' "$*" >&2
	exit 1
}

# ---- options ----

dry=0
uninstall=0
packages=0
debs_dir=
prefix=${KFLASH_PREFIX:-}
prefix_flag=0
user=${KFLASH_USER:-}
units=
klipper_dir=${KFLASH_KLIPPER_DIR:-}
printer_data=${KFLASH_PRINTER_DATA:-}
moonraker_conf=${KFLASH_MOONRAKER_CONF:-}
sudoers_dir=${KFLASH_SUDOERS_DIR:-/etc/sudoers.d}
state_dir=${KFLASH_STATE_DIR:-}
builddir=${KFLASH_INSTALL_BUILDDIR:-}
want_sudoers=1
want_systemd_run=1
want_klipper=1
want_moonraker=1

while [ $# -gt 0 ]; do
	opt=$1
	shift
	case $opt in
	--*=*)
		set -- "${opt#*=}" "$@"
		opt=${opt%%=*}
		;;
	esac
	case $opt in
	--prefix | --debs | --user | --service | --klipper-dir | --printer-data | \
		--moonraker-conf | --sudoers-dir | --state-dir | --builddir)
		[ $# -gt 0 ] || {
			echo "install.sh: $opt needs a value (see --help)" >&2
			exit 64
		}
		val=$1
		shift
		case $opt in
		--prefix)
			prefix=$val
			prefix_flag=1
			;;
		--debs) debs_dir=$val ;;
		--user) user=$val ;;
		--service) units="$units $val" ;;
		--klipper-dir) klipper_dir=$val ;;
		--printer-data) printer_data=$val ;;
		--moonraker-conf) moonraker_conf=$val ;;
		--sudoers-dir) sudoers_dir=$val ;;
		--state-dir) state_dir=$val ;;
		--builddir) builddir=$val ;;
		esac
		;;
	--packages) packages=1 ;;
	--uninstall) uninstall=1 ;;
	--dry-run | -n) dry=1 ;;
	--no-sudoers) want_sudoers=0 ;;
	--no-systemd-run) want_systemd_run=0 ;;
	--no-klipper) want_klipper=0 ;;
	--no-moonraker) want_moonraker=0 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "install.sh: unknown option '$opt' (see --help)" >&2
		exit 64
		;;
	esac
done
if [ -n "$debs_dir" ] && [ $packages -eq 0 ]; then
	echo "install.sh: --debs goes with --packages" >&2
	exit 64
fi
if [ $prefix_flag -eq 1 ] && [ $packages -eq 1 ]; then
	echo "install.sh: --prefix and --packages exclude each other (packages install into /usr)" >&2
	exit 64
fi

# ---- who, and where ----

is_root() { [ "$(id -u)" -eq 0 ]; }

me=$(id -un)
if [ -z "$user" ]; then
	user=$me
	if is_root && [ -n "${SUDO_USER:-}" ]; then
		user=$SUDO_USER
	fi
fi
case $user in
"" | -* | *[!A-Za-z0-9._-]*) die "'$user' is not a user name install.sh can write into a sudoers line" ;;
esac
if [ "$user" = "$me" ]; then
	home=${HOME:-}
else
	home=$(getent passwd "$user" | cut -d: -f6) || true
fi
# in_home PATH: PATH under the user's home, which the defaults need.
in_home() {
	[ -n "$home" ] || die "no home directory for '$user' (getent passwd $user found none), which the default of $2 needs: give $2, or name the user who runs Klipper with --user"
	printf '%s/%s\n' "$home" "$1"
}

[ -n "$units" ] || units=${KFLASH_SERVICE:-klipper}
for u in $units; do
	case $u in
	-* | *[!A-Za-z0-9@._-]*) die "'$u' is not a service unit name install.sh accepts (letters, digits, @ . _ -)" ;;
	esac
done

[ -n "$klipper_dir" ] || klipper_dir=$(in_home klipper --klipper-dir)
if [ -z "$moonraker_conf" ]; then
	[ -n "$printer_data" ] || printer_data=$(in_home printer_data --printer-data)
	moonraker_conf=$printer_data/config/moonraker.conf
fi
if [ -z "$state_dir" ]; then
	if [ -n "${XDG_STATE_HOME:-}" ] && [ "$user" = "$me" ]; then
		state_dir=$XDG_STATE_HOME/kflash
	else
		state_dir=$(in_home .local/state --state-dir)/kflash
	fi
fi
builddir=${builddir:-$src/build/release}
# Absolute paths, for the sudoers lines, the links and the manifest.
absolute() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd -P)" "$1" ;;
	esac
}
klipper_dir=$(absolute "$klipper_dir")
moonraker_conf=$(absolute "$moonraker_conf")
sudoers_dir=$(absolute "$sudoers_dir")
state_dir=$(absolute "$state_dir")
builddir=$(absolute "$builddir")
[ -z "$debs_dir" ] || debs_dir=$(absolute "$debs_dir")
manifest=$state_dir/install.manifest
if [ $packages -eq 1 ]; then
	prefix=/usr
	datadir=/usr/share
else
	prefix=$(absolute "${prefix:-/usr/local}")
	prefix=${prefix%/}
	[ -n "$prefix" ] || prefix=/
	datadir=$prefix/share
fi
module=$datadir/kflash/klipper/kflash.py
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")

# A program: the override, else PATH, else the sbin directories (visudo
# and ldconfig live there, off an ordinary user's PATH).
find_program() {
	if [ -n "$2" ]; then
		command -v "$2" 2>/dev/null || return 1
		return 0
	fi
	command -v "$1" 2>/dev/null && return 0
	for d in /usr/sbin /sbin; do
		[ -x "$d/$1" ] && printf '%s\n' "$d/$1" && return 0
	done
	return 1
}
# An absolute path of a program, for a sudoers line.
absolute_program() {
	_p=$(find_program "$1" "$2") || _p=/usr/bin/$1
	case $_p in
	/*) ;;
	*) _p=$(command -v "$_p" 2>/dev/null) || _p=/usr/bin/$1 ;;
	esac
	printf '%s\n' "$_p"
}
sudo_prog=${KFLASH_SUDO:-sudo}

# ---- changing things ----

changes=0
changed() { changes=$((changes + 1)); }

# can_write PATH: may we create, replace or remove PATH without sudo?
can_write() {
	_d=$(dirname "$1")
	while [ ! -d "$_d" ]; do _d=$(dirname "$_d"); done
	[ -w "$_d" ]
}

# root CMD...: runs CMD as root: directly as root, else through sudo (which
# may ask for the password). In a dry run it only says what it would run.
root() {
	if is_root; then
		if [ $dry -eq 1 ]; then
			say "  would run: $*"
			return 0
		fi
		"$@"
		return
	fi
	if [ $dry -eq 1 ]; then
		say "  would run: $sudo_prog $*"
		return 0
	fi
	command -v "$sudo_prog" >/dev/null 2>&1 ||
		die "'$*' needs root, and there is no $sudo_prog: run install.sh as root, or install sudo"
	say "  $sudo_prog $*"
	"$sudo_prog" "$@"
}

# priv PATH CMD...: runs CMD to change PATH, through sudo only when PATH is
# not ours to change.
priv() {
	_target=$1
	shift
	if is_root || ! can_write "$_target"; then
		root "$@"
	elif [ $dry -eq 1 ]; then
		say "  would run: $*"
	else
		"$@"
	fi
}

# give PATH: as root, hand what we created in the user's home to the user.
give() {
	if [ $dry -eq 0 ] && is_root && [ "$user" != root ]; then
		chown -h "$user:" "$1" 2>/dev/null || true
	fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kflash-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- the manifest: KIND<TAB>VALUE[<TAB>VALUE] per line ----

old_manifest=$tmp/manifest.old
new_manifest=$tmp/manifest.new
: >"$old_manifest"
: >"$new_manifest"
if [ -f "$manifest" ]; then
	cp "$manifest" "$old_manifest"
fi
# recorded KIND: the values of KIND's lines in the old manifest.
recorded() {
	awk -F "$tab" -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print }' "$old_manifest"
}
# record KIND VALUE...: a line of the new manifest (values may hold spaces).
record() {
	{
		printf '%s' "$1"
		shift
		for v in "$@"; do printf '\t%s' "$v"; done
		printf '\n'
	} >>"$new_manifest"
}
old_mode=$(recorded mode | head -n 1)

# ---- moonraker.conf ----

# For grep and awk -v alike: no backslashes, which awk -v would interpret.
marker_re='^# kflash: added by .*install[.]sh'
header_re='^[[]update_manager[[:space:]][[:space:]]*kflash[]][[:space:]]*$'

# without_section FILE: FILE without install.sh's section (the marker line,
# the header, its options) and without the blank line install.sh put above.
without_section() {
	awk -v marker="$marker_re" -v header="$header_re" '
		function flush() { if (blank) print ""; blank = 0 }
		state == 1 && $0 ~ header { state = 2; next }
		state == 1 { flush(); print held; state = 0 }
		state == 2 && NF && !/^[[#;]/ { next }
		state == 2 { state = 0 }
		state == 0 && $0 ~ marker { held = $0; blank = 0; state = 1; next }
		/^$/ { flush(); blank = 1; next }
		{ flush(); print }
		END { if (state == 1) { flush(); print held } else flush() }
	' "$1"
}

# replace_file FILE CONTENT: FILE gets CONTENT whole (a rename), keeping
# its mode and owner.
replace_file() {
	cp -p "$1" "$1.kflash-new"
	cat "$2" >"$1.kflash-new"
	mv -f "$1.kflash-new" "$1"
}

# ====================================================================
# --uninstall: undo what the manifest says, in the reverse order.
# ====================================================================

if [ $uninstall -eq 1 ]; then
	if [ ! -s "$old_manifest" ]; then
		say "nothing to uninstall: there is no $manifest (install.sh records there what it installs)"
		exit 0
	fi
	if [ $dry -eq 1 ]; then
		say "dry run: nothing is changed"
	fi

	recorded moonraker >"$tmp/list"
	while IFS= read -r conf; do
		if [ ! -f "$conf" ] || ! grep -q "$marker_re" "$conf"; then
			note "$conf has no section of install.sh's any more; left as it is"
			continue
		fi
		say "moonraker: removing [update_manager kflash] from $conf"
		without_section "$conf" >"$tmp/conf"
		[ $dry -eq 1 ] || replace_file "$conf" "$tmp/conf"
		changed
	done <"$tmp/list"

	recorded exclude >"$tmp/list"
	while IFS="$tab" read -r file line; do
		if [ -f "$file" ] && grep -qxF "$line" "$file"; then
			say "klipper: removing $line from $file"
			if [ $dry -eq 0 ]; then
				grep -vxF "$line" "$file" >"$tmp/exclude" || true
				cat "$tmp/exclude" >"$file"
			fi
			changed
		fi
	done <"$tmp/list"

	recorded link >"$tmp/list"
	while IFS="$tab" read -r link target; do
		if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
			say "klipper: removing the link $link"
			[ $dry -eq 1 ] || rm -f "$link"
			changed
		elif [ -e "$link" ] || [ -L "$link" ]; then
			note "$link is no longer install.sh's link to $target; left as it is"
		fi
	done <"$tmp/list"

	recorded sudoers >"$tmp/list"
	while IFS="$tab" read -r file _; do
		if [ -e "$file" ]; then
			say "sudoers: removing $file"
			priv "$file" rm -f "$file"
			changed
		fi
	done <"$tmp/list"

	installed=
	for p in $(recorded packages); do
		if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$'; then
			installed="$installed $p"
		fi
	done
	if [ -n "$installed" ]; then
		say "packages: removing$installed"
		# shellcheck disable=SC2086
		root dpkg --remove $installed
		changed
	fi

	recorded file | LC_ALL=C sort -r >"$tmp/list"
	n=0
	libs=0
	while IFS= read -r f; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			[ $dry -eq 1 ] || priv "$f" rm -f "$f"
			n=$((n + 1))
			case $f in */libkflash.so*) libs=1 ;; esac
		fi
	done <"$tmp/list"
	p=$(recorded mode | cut -f2)
	if [ $n -gt 0 ]; then
		if [ $dry -eq 1 ]; then
			if ! is_root && ! can_write "$p/bin/kflash"; then
				say "  with $sudo_prog: $p is not writable by $me"
			fi
		fi
		say "prefix $p: removing the $n files of kflash"
		changed
		case $p in
		/usr | /usr/local)
			if [ $libs -eq 1 ]; then
				root "$(find_program ldconfig "${KFLASH_LDCONFIG:-}" || echo ldconfig)"
			fi
			;;
		esac
	fi
	recorded dir | LC_ALL=C sort -r >"$tmp/list"
	while IFS= read -r d; do
		if [ -d "$d" ] && [ -z "$(ls -A "$d")" ]; then
			priv "$d" rmdir "$d"
		fi
	done <"$tmp/list"

	apt=$(recorded apt | tr '\n' ' ')
	if [ -n "$apt" ]; then
		say "dependencies: install.sh installed ${apt% }; marking them as automatically installed, so that 'sudo apt-get autoremove' removes them once nothing needs them"
		# shellcheck disable=SC2086
		root apt-mark auto $apt >/dev/null
		changed
	fi

	if [ $dry -eq 1 ]; then
		say "dry run: $changes steps would change something, and $manifest would go; nothing was changed"
		exit 0
	fi
	rm -f "$manifest"
	rmdir "$state_dir" 2>/dev/null || true
	recorded state-dir | LC_ALL=C sort -r >"$tmp/list"
	while IFS= read -r d; do
		rmdir "$d" 2>/dev/null || true
	done <"$tmp/list"
	if [ $changes -eq 0 ]; then
		say "done: there was nothing left to remove"
	else
		say "done: kflash is uninstalled; restart Klipper to unload its module"
	fi
	exit 0
fi

# ====================================================================
# Install: plan and check every step first, then change things.
# ====================================================================

if [ $dry -eq 1 ]; then
	say "dry run: nothing is changed"
fi

if [ -n "$old_mode" ]; then
	case $old_mode in
	packages) where="as Debian packages" ;;
	*) where="into $(recorded mode | cut -f2)" ;;
	esac
	if [ $packages -eq 1 ] && [ "$old_mode" != packages ]; then
		die "an earlier run installed kflash $where (see $manifest); run 'scripts/install.sh --uninstall' first, then install the packages"
	fi
	if [ $packages -eq 0 ] && [ "$old_mode" != "prefix$tab$prefix" ]; then
		die "an earlier run installed kflash $where (see $manifest); run 'scripts/install.sh --uninstall' first, then install into $prefix"
	fi
fi

# ---- plan: the sudoers drop-in ----

sudoers=$sudoers_dir/kflash
sudoers_action=skip
if [ $want_sudoers -eq 0 ]; then
	note "sudoers: not written (--no-sudoers); kflash prints the lines it needs when they are missing"
elif [ "$user" = root ]; then
	note "sudoers: not needed: Klipper runs as root, and kflash as root runs systemctl without sudo"
else
	systemctl=$(absolute_program systemctl "${KFLASH_SYSTEMCTL:-}")
	systemd_run=$(absolute_program systemd-run "${KFLASH_SYSTEMD_RUN:-}")
	flash_linux=$klipper_dir/scripts/flash-linux.sh
	for p in "$systemctl" "$systemd_run" "$flash_linux"; do
		case $p in
		*[!A-Za-z0-9/._+@-]*) die "'$p' holds characters that sudoers needs escaped, so install.sh cannot write it into $sudoers; use a plain path (see --help for the overrides)" ;;
		esac
	done
	services=
	for u in $units klipper-mcu; do
		services="$services${services:+, }$systemctl stop $u, $systemctl start $u"
	done
	header="# $sudoers: written by $src/scripts/install.sh;"
	{
		echo "$header"
		echo "# 'scripts/install.sh --uninstall' removes it. The commands kflash runs"
		echo "# through 'sudo -n' for $user, the user who runs Klipper:"
		echo "#   stop and start Klipper, and klipper-mcu (Klipper's host MCU), around a flash;"
		echo "$user ALL=(root) NOPASSWD: $services"
		echo "#   Klipper's flash-linux.sh, which 'make flash' runs for the host MCU;"
		echo "$user ALL=(root) NOPASSWD: $flash_linux"
		if [ $want_systemd_run -eq 1 ]; then
			echo "#   systemd-run, with which the Klipper module's KFLASH_UPDATE starts"
			echo "#   'kflash flash --all' outside Klipper."
			echo "$user ALL=(root) NOPASSWD: $systemd_run"
		fi
	} >"$tmp/sudoers"
	sum=$(sha256sum <"$tmp/sudoers" | cut -d' ' -f1)
	old_sum=$(recorded sudoers | awk -F "$tab" -v f="$sudoers" '$1 == f { print $2 }')
	if [ ! -e "$sudoers" ] && [ ! -L "$sudoers" ]; then
		sudoers_action=create
	elif [ -r "$sudoers" ]; then
		# Readable (as root, or a sudoers dir of a test): compare.
		if cmp -s "$sudoers" "$tmp/sudoers"; then
			sudoers_action=same
		elif [ -n "$old_sum" ] || head -n 1 "$sudoers" | grep -q '^# .*: written by .*install\.sh;$'; then
			sudoers_action=replace
		fi
	elif [ -n "$old_sum" ]; then
		# Mode 0440, root's: the manifest says what install.sh wrote.
		if [ "$old_sum" = "$sum" ]; then
			sudoers_action=same
		else
			sudoers_action=replace
		fi
	fi
	if [ $sudoers_action = skip ]; then
		die "$sudoers exists, and install.sh did not write it (it may hold the lines kflash suggested): look at it with 'sudo cat $sudoers', remove it with 'sudo rm $sudoers', and run install.sh again, which writes those lines and the others kflash needs; or keep yours: --no-sudoers"
	fi
	if [ $sudoers_action != same ]; then
		visudo=$(find_program visudo "${KFLASH_VISUDO:-}") ||
			die "visudo not found${KFLASH_VISUDO:+ (KFLASH_VISUDO=$KFLASH_VISUDO)}; it comes with the sudo package (sudo apt-get install sudo), and install.sh checks the lines with it before it writes $sudoers, so nothing was installed"
		if ! "$visudo" -c -f "$tmp/sudoers" >"$tmp/visudo.out" 2>&1; then
			sed 's/^/    /' "$tmp/visudo.out" >&2
			echo "The lines were:" >&2
			sed 's/^/    /' "$tmp/sudoers" >&2
			die "visudo refused the lines for $sudoers (its message is above), so nothing was installed; check the user name and the paths (--user, --klipper-dir, KFLASH_SYSTEMCTL), or leave the drop-in out: --no-sudoers"
		fi
	fi
fi

# ---- plan: the Klipper module link ----

link=$klipper_dir/klippy/extras/kflash.py
link_action=skip
exclude_action=skip
exclude_line=/klippy/extras/kflash.py
if [ $want_klipper -eq 0 ]; then
	note "klipper: the module is not linked (--no-klipper)"
elif [ ! -d "$klipper_dir/klippy/extras" ]; then
	note "klipper: there is no Klipper at $klipper_dir (no klippy/extras/), so the Klipper module is not linked; name Klipper's tree with --klipper-dir DIR"
else
	old_target=$(recorded link | awk -F "$tab" -v l="$link" '$1 == l { print $2 }')
	if [ -L "$link" ] && [ "$(readlink "$link")" = "$module" ]; then
		link_action=same
	elif [ -L "$link" ] && [ -n "$old_target" ] && [ "$(readlink "$link")" = "$old_target" ]; then
		link_action=replace
	elif [ -L "$link" ]; then
		die "$link is a link to $(readlink "$link"), which install.sh did not make; install.sh links the installed module there instead: remove it (rm $link) and run install.sh again, or keep it: --no-klipper"
	elif [ -e "$link" ]; then
		die "$link is a file (a copy of kflash's Klipper module?); install.sh links the installed module there instead, which stays up to date: move it away (mv $link ~/kflash.py.old) and run install.sh again, or keep it: --no-klipper"
	else
		link_action=create
	fi
	# Klipper's git status stays clean, which Moonraker checks.
	if gitpath=$(git -C "$klipper_dir" rev-parse --git-path info/exclude 2>/dev/null); then
		case $gitpath in
		/*) exclude=$gitpath ;;
		*) exclude=$klipper_dir/$gitpath ;;
		esac
		if [ -f "$exclude" ] && grep -qxF -e "$exclude_line" -e "${exclude_line#/}" "$exclude"; then
			exclude_action=same
		else
			exclude_action=add
		fi
	fi
fi

# ---- plan: Moonraker's update manager ----

moonraker_action=skip
if [ $want_moonraker -eq 0 ]; then
	note "moonraker: $moonraker_conf is not changed (--no-moonraker)"
elif [ ! -f "$moonraker_conf" ]; then
	note "moonraker: there is no $moonraker_conf, so kflash is not added to Moonraker's update manager; name the file with --moonraker-conf FILE (or Klipper's data dir with --printer-data DIR)"
elif ! git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	note "moonraker: $src is not a git clone, and Moonraker's update manager updates clones; install from 'git clone https://github.com/libkflash/libkflash.git' to get updates there"
else
	origin=${KFLASH_ORIGIN:-$(git -C "$src" remote get-url origin 2>/dev/null || true)}
	branch=${KFLASH_BRANCH:-$(git -C "$src" symbolic-ref -q --short HEAD 2>/dev/null || true)}
	if [ -z "$branch" ]; then
		branch=$(git -C "$src" symbolic-ref -q --short refs/remotes/origin/HEAD 2>/dev/null || true)
		branch=${branch#origin/}
	fi
	if [ -z "$origin" ]; then
		note "moonraker: the clone $src has no 'origin' remote, which Moonraker's update manager pulls from; add it (git -C $src remote add origin URL) and run install.sh again"
	elif [ -z "$branch" ]; then
		note "moonraker: the clone $src is on no branch, and Moonraker's update manager follows one; check one out (git -C $src checkout main) and run install.sh again"
	else
		conf=$(readlink -f "$moonraker_conf")
		{
			echo "# kflash: added by $src/scripts/install.sh; 'scripts/install.sh --uninstall' removes it"
			echo "[update_manager kflash]"
			echo "type: git_repo"
			echo "path: $src"
			echo "origin: $origin"
			echo "primary_branch: $branch"
			echo "is_system_service: False"
			echo "system_dependencies: scripts/system-dependencies.json"
		} >"$tmp/section"
		header_line=$(grep -n "$header_re" "$conf" | head -n 1 | cut -d: -f1)
		if [ -z "$header_line" ]; then
			moonraker_action=add
		else
			# The existing section: the line above its header, the header,
			# its options.
			awk -v h="$header_line" -v marker="$marker_re" '
				NR == h - 1 && $0 ~ marker { print; next }
				NR == h { print; inside = 1; next }
				inside && (!NF || /^[[#;]/) { exit }
				inside { print }
			' "$conf" >"$tmp/existing"
			if cmp -s "$tmp/existing" "$tmp/section"; then
				moonraker_action=same
			elif head -n 1 "$tmp/existing" | grep -q "$marker_re"; then
				moonraker_action=replace
			else
				die "$conf already has an [update_manager kflash] section (line $header_line) that install.sh did not write; remove it and run install.sh again, or keep yours: --no-moonraker"
			fi
		fi
	fi
fi

# ---- plan: build dependencies ----

needed=
if [ $packages -eq 0 ] || [ -z "$debs_dir" ]; then
	needed=$(sed -n 's/^[[:space:]]*"\([a-z0-9][a-z0-9.+-]*\)",\{0,1\}[[:space:]]*$/\1/p' \
		"$src/scripts/system-dependencies.json" | tr '\n' ' ')
	if [ $packages -eq 1 ]; then
		needed="$needed dpkg-dev debhelper"
	fi
fi
missing=
if [ -n "$needed" ] && command -v dpkg-query >/dev/null 2>&1; then
	for p in $needed; do
		if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$'; then
			missing="$missing $p"
		fi
	done
fi

# ====================================================================
# Act.
# ====================================================================

# ---- build dependencies ----

if [ -n "$missing" ]; then
	say "dependencies: installing$missing"
	# shellcheck disable=SC2086
	root apt-get install -y --no-install-recommends $missing
	changed
fi
{
	recorded apt
	for p in $missing; do echo "$p"; done
} | LC_ALL=C sort -u >"$tmp/list"
while IFS= read -r p; do
	record apt "$p"
done <"$tmp/list"

# ---- the build, and the install into the prefix ----

install_prefix() {
	python=$(find_program python3 "${KFLASH_PYTHON:-}" || true)
	purelib=
	if [ -n "$python" ]; then
		# Where this Python imports from, when that is in the prefix
		# (/usr/local/lib/python3.X/dist-packages on Debian)...
		purelib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' 2>/dev/null || true)
	fi
	case $purelib in
	"$prefix"/*) ;;
	*) purelib=$prefix/lib/python3/dist-packages ;; # ...else Debian's layout
	esac
	if [ $dry -eq 1 ]; then
		say "build: would make a release build in $builddir and install what differs into $prefix"
		if ! is_root && ! can_write "$prefix/bin/kflash"; then
			say "  with $sudo_prog: $prefix is not writable by $me"
		fi
		changed
		return 0
	fi

	log=$builddir.log
	mkdir -p "$(dirname "$builddir")"
	# Every option every time: --reconfigure keeps those not given.
	set -- --buildtype=release -Dtests=disabled -Dexamples=false "--prefix=$prefix" \
		"-Dpython.purelibdir=$purelib"
	if [ -f "$builddir/build.ninja" ]; then
		set -- --reconfigure "$@"
	fi
	say "build: a release build in $builddir (its log: $log)"
	if ! { meson setup "$builddir" "$src" "$@" && meson compile -C "$builddir"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "the build failed (above; the whole log is $log), so nothing was installed"
	fi
	stage=$tmp/stage
	if ! meson install -C "$builddir" --no-rebuild --destdir "$stage" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "meson install failed (above; the whole log is $log), so nothing was installed"
	fi
	if is_root && [ "$user" != root ]; then
		chown -R "$user:" "$builddir" "$log" 2>/dev/null || true
	fi

	# Every file is recorded; only those that differ are copied.
	(cd "$stage$prefix" && find . \( -type f -o -type l \) -print) | sed 's|^\./||' |
		LC_ALL=C sort >"$tmp/files"
	n_new=0
	lib_changed=0
	while IFS= read -r rel; do
		from=$stage$prefix/$rel
		to=$prefix/$rel
		record file "$to"
		if [ -L "$from" ]; then
			if [ -L "$to" ] && [ "$(readlink "$to")" = "$(readlink "$from")" ]; then
				continue
			fi
		elif [ -f "$to" ] && [ ! -L "$to" ] && cmp -s "$from" "$to" &&
			[ "$(stat -c %a "$from")" = "$(stat -c %a "$to")" ]; then
			continue
		fi
		# The directories this creates, to remove them when empty.
		d=$(dirname "$to")
		while [ ! -d "$d" ]; do
			record dir "$d"
			d=$(dirname "$d")
		done
		if [ -L "$from" ]; then
			priv "$to" mkdir -p "$(dirname "$to")"
			priv "$to" ln -sfn "$(readlink "$from")" "$to"
		else
			priv "$to" install -D -m "$(stat -c %a "$from")" "$from" "$to"
		fi
		n_new=$((n_new + 1))
		case $rel in */libkflash.so*) lib_changed=1 ;; esac
	done <"$tmp/files"
	recorded dir >"$tmp/list"
	while IFS= read -r d; do
		record dir "$d"
	done <"$tmp/list"

	# Files of an earlier version that this one does not have.
	sed "s|^|$prefix/|" "$tmp/files" | LC_ALL=C sort >"$tmp/files.now"
	recorded file | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$tmp/files.now" >"$tmp/list"
	n_old=0
	while IFS= read -r f; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			priv "$f" rm -f "$f"
			n_old=$((n_old + 1))
		fi
	done <"$tmp/list"

	n_all=$(wc -l <"$tmp/files")
	if [ $n_new -eq 0 ] && [ $n_old -eq 0 ]; then
		say "prefix $prefix: its $n_all files of kflash are up to date"
	else
		if [ $n_old -eq 0 ]; then
			say "prefix $prefix: installed $n_new of its $n_all files of kflash"
		else
			say "prefix $prefix: installed $n_new of its $n_all files of kflash, removed $n_old old ones"
		fi
		changed
		case $prefix in
		/usr | /usr/local)
			if [ $lib_changed -eq 1 ]; then
				root "$(find_program ldconfig "${KFLASH_LDCONFIG:-}" || echo ldconfig)"
			fi
			;;
		*)
			note "$prefix is not a system prefix: programs find libkflash.so.0 there only with LD_LIBRARY_PATH (or an /etc/ld.so.conf.d entry)"
			;;
		esac
	fi
	pymod=$(grep '/kflash\.py$' "$tmp/files" | grep -v '^share/' | head -n 1 || true)
	if [ -n "$pymod" ] && [ -n "$python" ]; then
		pydir=$(dirname "$prefix/$pymod")
		if ! "$python" -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$pydir" 2>/dev/null; then
			note "$python does not import modules from $pydir: 'import kflash' needs PYTHONPATH=$pydir"
		fi
	fi
}

# ---- or the Debian packages ----

install_packages() {
	arch=$(dpkg --print-architecture)
	if [ $dry -eq 1 ] && [ -z "$debs_dir" ]; then
		say "packages: would build libkflash0, libkflash-dev and kflash $version (scripts/build-deb.sh $builddir/debs) and install what differs with apt-get"
		for p in libkflash0 libkflash-dev kflash; do record packages "$p"; done
		changed
		return 0
	fi
	if [ -z "$debs_dir" ]; then
		say "packages: building libkflash0, libkflash-dev and kflash $version"
		"$src/scripts/build-deb.sh" "$builddir/debs" >/dev/null
		debs_dir=$builddir/debs
	fi
	debs_dir=$(cd "$debs_dir" && pwd -P)
	set --
	todo=0
	for p in libkflash0 libkflash-dev kflash; do
		deb=$debs_dir/${p}_${version}_$arch.deb
		[ -f "$deb" ] || die "there is no $deb (the packages of libkflash $version); build them with scripts/build-deb.sh $debs_dir"
		set -- "$@" "$deb"
		record packages "$p"
		# Installed at this version, with these very files?
		if [ "$(dpkg-query -W -f='${Status} ${Version}\n' "$p" 2>/dev/null)" != "install ok installed $version" ] ||
			[ "$(dpkg-query --control-show "$p" md5sums 2>/dev/null)" != "$(dpkg-deb --info "$deb" md5sums 2>/dev/null)" ]; then
			todo=1
		fi
	done
	if [ $todo -eq 0 ]; then
		say "packages: libkflash0, libkflash-dev and kflash $version are installed, with these very files"
		return 0
	fi
	say "packages: installing libkflash0, libkflash-dev and kflash $version from $debs_dir"
	if [ $dry -eq 0 ]; then
		# apt's sandbox user reads them from a directory it may enter.
		chmod 0755 "$tmp"
		mkdir -m 0755 "$tmp/debs"
		for d in "$@"; do
			shift
			install -m 0644 "$d" "$tmp/debs/"
			set -- "$@" "$tmp/debs/$(basename "$d")"
		done
	fi
	root apt-get install -y --reinstall --allow-downgrades "$@"
	changed
}

if [ $packages -eq 0 ]; then
	record mode prefix "$prefix"
	install_prefix
else
	record mode packages
	install_packages
fi

# ---- the sudoers drop-in ----

if [ $sudoers_action = same ]; then
	say "sudoers: $sudoers is up to date"
elif [ $sudoers_action != skip ]; then
	if [ $sudoers_action = create ]; then
		say "sudoers: writing $sudoers (mode 0440, checked with visudo)"
	else
		say "sudoers: updating $sudoers (mode 0440, checked with visudo)"
	fi
	if [ $dry -eq 1 ]; then
		sed 's/^/    /' "$tmp/sudoers"
	fi
	# sudo skips names with a dot: the new file is not read until the
	# rename puts it in place whole.
	new=$sudoers_dir/.kflash.new
	chmod 0644 "$tmp/sudoers"
	if ! is_root && can_write "$sudoers"; then
		priv "$sudoers" install -m 0440 "$tmp/sudoers" "$new"
	else
		priv "$sudoers" install -m 0440 -o root -g root "$tmp/sudoers" "$new"
	fi
	priv "$sudoers" mv -f "$new" "$sudoers"
	if [ $dry -eq 0 ] && ! is_root && can_write "$sudoers"; then
		note "$sudoers belongs to $me, not to root: sudo ignores it there"
	fi
	changed
fi
if [ $sudoers_action != skip ]; then
	record sudoers "$sudoers" "$sum"
fi

# ---- the Klipper module ----

if [ $link_action = same ]; then
	say "klipper: $link links to $module"
elif [ $link_action != skip ]; then
	say "klipper: linking $link -> $module"
	if [ $dry -eq 0 ]; then
		ln -sfn "$module" "$link"
		give "$link"
	fi
	changed
fi
if [ $link_action != skip ]; then
	record link "$link" "$module"
fi

if [ $exclude_action = same ]; then
	say "klipper: $exclude keeps the link out of Klipper's git status"
	if recorded exclude | grep -qxF "$exclude$tab$exclude_line"; then
		record exclude "$exclude" "$exclude_line"
	fi
elif [ $exclude_action = add ]; then
	say "klipper: adding $exclude_line to $exclude (Klipper's git status stays clean)"
	if [ $dry -eq 0 ]; then
		mkdir -p "$(dirname "$exclude")"
		if [ -s "$exclude" ] && [ -n "$(tail -c 1 "$exclude")" ]; then
			echo >>"$exclude"
		fi
		echo "$exclude_line" >>"$exclude"
	fi
	record exclude "$exclude" "$exclude_line"
	changed
fi

# ---- Moonraker ----

if [ $moonraker_action = same ]; then
	say "moonraker: $conf has install.sh's [update_manager kflash]"
	record moonraker "$conf"
elif [ $moonraker_action != skip ]; then
	if [ $moonraker_action = add ]; then
		say "moonraker: adding [update_manager kflash] to $conf"
		{
			cat "$conf"
			if [ -s "$conf" ]; then
				[ -z "$(tail -c 1 "$conf")" ] || echo
				echo
			fi
			cat "$tmp/section"
		} >"$tmp/conf"
	else
		say "moonraker: updating [update_manager kflash] in $conf"
		awk -v h="$header_line" -v f="$tmp/section" -v marker="$marker_re" '
			NR == h - 1 && $0 ~ marker { next }
			NR == h { while ((getline l < f) > 0) print l; inside = 1; next }
			inside && (!NF || /^[[#;]/) { inside = 0 }
			inside { next }
			{ print }
		' "$conf" >"$tmp/conf"
	fi
	if [ $dry -eq 1 ]; then
		sed 's/^/    /' "$tmp/section"
	else
		replace_file "$conf" "$tmp/conf"
	fi
	record moonraker "$conf"
	changed
fi

# ---- the manifest, and what to do next ----

if [ $dry -eq 1 ]; then
	if [ $changes -eq 0 ]; then
		say "dry run: nothing would change"
	else
		say "dry run: $changes steps would change something; nothing was changed"
	fi
	exit 0
fi

# The directories above the manifest that install.sh makes (~/.local/state).
recorded state-dir >"$tmp/list"
while IFS= read -r d; do
	record state-dir "$d"
done <"$tmp/list"
d=$(dirname "$state_dir")
made=
while [ ! -d "$d" ]; do
	record state-dir "$d"
	made="$made $d"
	d=$(dirname "$d")
done
# In one order, so that an unchanged installation leaves the file as it is.
LC_ALL=C sort -u "$new_manifest" >"$tmp/manifest.sorted"
if ! cmp -s "$tmp/manifest.sorted" "$old_manifest"; then
	if [ ! -d "$state_dir" ]; then
		mkdir -p "$state_dir"
		for d in $made "$state_dir"; do
			give "$d"
		done
	fi
	cp "$tmp/manifest.sorted" "$manifest.new"
	mv -f "$manifest.new" "$manifest"
	give "$manifest"
fi

if [ $changes -eq 0 ]; then
	say "nothing changed: kflash is installed as install.sh would install it"
	exit 0
fi
say "done: $changes steps changed something; 'scripts/install.sh --uninstall' undoes them (it reads $manifest)"
if [ $link_action = create ]; then
	say "next: add a [kflash] section to printer.cfg (the top of $module says how) and restart Klipper"
elif [ $link_action = same ]; then
	say "next: restart Klipper, to load the new module and library"
fi
if [ $moonraker_action = add ]; then
	say "next: restart Moonraker, to see kflash in its update manager"
fi
if [ $moonraker_action != skip ]; then
	say "after Moonraker updates kflash, run $src/scripts/install.sh again: Moonraker updates the clone, this builds and installs it"
fi
exit 0
