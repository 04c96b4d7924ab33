#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the Debian packages (scripts/build-deb.sh) and inspects them:
# exactly the expected files in each, the symbols file of lib/libkflash.sym,
# the dependencies, no lintian error. Then installs them with
# `install.sh --packages --debs` in a fake home, against a fake apt-get,
# dpkg and dpkg-query that keep a package list of their own, and removes
# them with --uninstall.
#   check-debian-packages.sh SOURCE_ROOT WORK_DIR
set -eu
src=$1
work=$2

for p in dpkg-buildpackage dh lintian dpkg-deb dpkg-architecture; do
	if ! command -v $p >/dev/null 2>&1; then
		echo "SKIP: no $p (scripts/deps.sh installs dpkg-dev, debhelper and lintian)" >&2
		exit 77
	fi
done

t=$(mktemp -d)
# The packages go outside the source tree, wherever the build dir is.
debs=$t/debs-out
trap 'rm -rf "$t"' EXIT
mkdir -p "$work"
. "$(dirname "$0")/git-clone-of.sh"
src=$(git_clone_of "$src" "$t/clone")
status=0
fail() {
	echo "FAIL: $*" >&2
	status=1
}

# ---- the build ----

start=$(date +%s)
if ! sh "$src/scripts/build-deb.sh" "$debs" >"$t/debs" 2>"$t/build.err"; then
	cat "$t/build.err" >&2
	echo "FAIL: scripts/build-deb.sh failed" >&2
	exit 1
fi
echo "the packages were built in $(($(date +%s) - start)) s"
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
libversion=$(sed -n "s/^kflash_libversion = '\(.*\)'$/\1/p" "$src/meson.build")
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg --print-architecture)

# ---- exactly these files ----

# contents DEB: "mode owner path[ -> target]" per entry, sorted.
contents() {
	dpkg-deb --contents "$1" | awk '{
		line = $1 " " $2 " " $6
		for (i = 7; i <= NF; i++) line = line " " $i
		print line
	}' | LC_ALL=C sort
}
d='drwxr-xr-x root/root'
f='-rw-r--r-- root/root'
x='-rwxr-xr-x root/root'
l='lrwxrwxrwx root/root'
doc() {
	echo "$d ./usr/share/doc/"
	echo "$d ./usr/share/doc/$1/"
	echo "$f ./usr/share/doc/$1/changelog.gz"
	echo "$f ./usr/share/doc/$1/copyright"
}

{
	echo "$d ./"
	echo "$d ./usr/"
	echo "$d ./usr/lib/"
	echo "$d ./usr/lib/$ma/"
	echo "$f ./usr/lib/$ma/libkflash.so.$libversion"
	echo "$l ./usr/lib/$ma/libkflash.so.0 -> libkflash.so.$libversion"
	echo "$d ./usr/share/"
	doc libkflash0
} | LC_ALL=C sort >"$t/expected.libkflash0"
{
	echo "$d ./"
	echo "$d ./usr/"
	echo "$d ./usr/include/"
	echo "$d ./usr/include/kflash/"
	for h in "$src"/include/kflash/*.h; do echo "$f ./usr/include/kflash/$(basename "$h")"; done
	echo "$d ./usr/lib/"
	echo "$d ./usr/lib/$ma/"
	echo "$l ./usr/lib/$ma/libkflash.so -> libkflash.so.0"
	echo "$d ./usr/lib/$ma/pkgconfig/"
	echo "$f ./usr/lib/$ma/pkgconfig/libkflash.pc"
	echo "$d ./usr/share/"
	doc libkflash-dev
} | LC_ALL=C sort >"$t/expected.libkflash-dev"
{
	echo "$d ./"
	echo "$d ./usr/"
	echo "$d ./usr/bin/"
	echo "$x ./usr/bin/kflash"
	echo "$d ./usr/lib/"
	echo "$d ./usr/lib/python3/"
	echo "$d ./usr/lib/python3/dist-packages/"
	echo "$f ./usr/lib/python3/dist-packages/kflash.py"
	echo "$d ./usr/share/"
	echo "$d ./usr/share/bash-completion/"
	echo "$d ./usr/share/bash-completion/completions/"
	echo "$f ./usr/share/bash-completion/completions/kflash"
	doc kflash
	echo "$f ./usr/share/doc/kflash/README.md.gz"
	# dh_compress leaves documents of 4 KiB or less as they are.
	if [ "$(wc -c <"$src/CHANGELOG.md")" -gt 4096 ]; then
		echo "$f ./usr/share/doc/kflash/CHANGELOG.md.gz"
	else
		echo "$f ./usr/share/doc/kflash/CHANGELOG.md"
	fi
	echo "$d ./usr/share/kflash/"
	echo "$d ./usr/share/kflash/klipper/"
	echo "$f ./usr/share/kflash/klipper/kflash.py"
	echo "$d ./usr/share/man/"
	echo "$d ./usr/share/man/man1/"
	echo "$f ./usr/share/man/man1/kflash.1.gz"
} | LC_ALL=C sort >"$t/expected.kflash"

for p in libkflash0 libkflash-dev kflash; do
	deb=$debs/${p}_${version}_$arch.deb
	if ! grep -qxF "$deb" "$t/debs"; then
		fail "build-deb.sh did not name $deb"
		continue
	fi
	contents "$deb" >"$t/got.$p"
	if ! diff -u "$t/expected.$p" "$t/got.$p" >"$t/diff"; then
		fail "$p holds other files than expected (- expected, + in the package):"
		sed 's/^/    /' "$t/diff" >&2
	fi
done

kflash_deb=$debs/kflash_${version}_$arch.deb
lib_deb=$debs/libkflash0_${version}_$arch.deb
dev_deb=$debs/libkflash-dev_${version}_$arch.deb

# The modules are the tree's, at the places the README names.
mkdir "$t/kflash"
dpkg-deb -x "$kflash_deb" "$t/kflash"
cmp -s "$t/kflash/usr/share/kflash/klipper/kflash.py" "$src/examples/klipper/kflash.py" ||
	fail "the packaged Klipper module differs from examples/klipper/kflash.py"
cmp -s "$t/kflash/usr/lib/python3/dist-packages/kflash.py" "$src/examples/python/kflash.py" ||
	fail "the packaged Python module differs from examples/python/kflash.py"
if [ -x /usr/bin/python3 ] &&
	! /usr/bin/python3 -c 'import sys; sys.exit("/usr/lib/python3/dist-packages" not in sys.path)'; then
	fail "Debian's python3 does not import from /usr/lib/python3/dist-packages"
fi

# ---- dependencies, and the symbols of lib/libkflash.sym ----

depends=$(dpkg-deb -f "$kflash_deb" Depends)
case $depends in
*"libkflash0 (>= $version)"*) ;;
*) fail "kflash's Depends lacks 'libkflash0 (>= $version)': $depends" ;;
esac
depends=$(dpkg-deb -f "$dev_deb" Depends)
for want in "libkflash0 (= $version)" libjson-c-dev libudev-dev zlib1g-dev; do
	case $depends in
	*"$want"*) ;;
	*) fail "libkflash-dev's Depends lacks '$want' (libkflash.pc requires it): $depends" ;;
	esac
done
[ "$(dpkg-deb -f "$lib_deb" Multi-Arch)" = same ] || fail "libkflash0 is not Multi-Arch: same"

sh "$src/debian/gen-symbols.sh" "$src/lib/libkflash.sym" | sed -n 's/^ \([^ ]*\) .*/\1/p' |
	LC_ALL=C sort >"$t/symbols.expected"
dpkg-deb -I "$lib_deb" symbols | sed -n 's/^ \([^ ]*\) .*/\1/p' | LC_ALL=C sort >"$t/symbols.got"
if ! diff -u "$t/symbols.expected" "$t/symbols.got" >"$t/diff"; then
	fail "libkflash0's symbols file is not lib/libkflash.sym's (- the map, + the package):"
	sed 's/^/    /' "$t/diff" >&2
fi
n=$(grep -c '^kflash_' "$t/symbols.got" || true)
[ "$n" -gt 0 ] || fail "libkflash0's symbols file lists no kflash_ symbol"
dpkg-deb -I "$lib_deb" shlibs | grep -qxF "libkflash 0 libkflash0 (>= $version)" ||
	fail "libkflash0's shlibs file is not 'libkflash 0 libkflash0 (>= $version)'"

# ---- lintian ----

start=$(date +%s)
changes=$debs/libkflash_${version}_$arch.changes
lintian --info --pedantic --fail-on error "$changes" >"$t/lintian" 2>"$t/lintian.err" || {
	fail "lintian finds errors in the packages:"
	grep -v 'running with root privileges' "$t/lintian.err" >&2 || true
}
echo "lintian took $(($(date +%s) - start)) s; its tags (no error allowed):"
if [ -s "$t/lintian" ]; then
	sed 's/^/    /' "$t/lintian"
else
	echo "    (none)"
fi
if grep -q '^E:' "$t/lintian"; then
	fail "lintian: $(grep -c '^E:' "$t/lintian") errors (above)"
fi

# ---- install.sh --packages --debs, against a fake package manager ----

home=$t/home
klipper=$home/klipper
conf=$home/printer_data/config/moonraker.conf
db=$t/db
mkdir -p "$t/bin" "$t/tmp" "$db" "$t/sudoers.d" "$klipper/klippy/extras" "$klipper/scripts" "$(dirname "$conf")"
echo '#!/bin/sh' >"$klipper/scripts/flash-linux.sh"
printf '[server]\nhost: 0.0.0.0\n' >"$conf"
cp "$conf" "$t/moonraker.conf.orig"
real_dpkg=$(command -v dpkg)

cat >"$t/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$t/log"
[ "\$1" = install ] || exit 100
for a; do
	case \$a in
	*.deb)
		p=\$(dpkg-deb -f "\$a" Package)
		dpkg-deb -f "\$a" Version >"$db/\$p.version"
		dpkg-deb -I "\$a" md5sums >"$db/\$p.md5sums"
		;;
	esac
done
EOF
cat >"$t/bin/dpkg" <<EOF
#!/bin/sh
if [ "\$1" = --remove ]; then
	echo "dpkg \$*" >>"$t/log"
	shift
	for p; do rm -f "$db/\$p.version" "$db/\$p.md5sums"; done
	exit 0
fi
exec "$real_dpkg" "\$@"
EOF
cat >"$t/bin/dpkg-query" <<EOF
#!/bin/sh
if [ "\$1" = --control-show ]; then
	cat "$db/\$2.md5sums" 2>/dev/null
	exit
fi
p=\$3
if [ -f "$db/\$p.version" ]; then
	case \$2 in
	*Version*) echo "install ok installed \$(cat "$db/\$p.version")" ;;
	*) echo "install ok installed" ;;
	esac
else
	echo "dpkg-query: no packages found matching \$p" >&2
	exit 1
fi
EOF
cat >"$t/bin/sudo" <<EOF
#!/bin/sh
echo "sudo \$*" >>"$t/log"
exec "\$@"
EOF
printf '#!/bin/sh\nexit 0\n' >"$t/bin/visudo"
chmod +x "$t/bin/"*
: >"$t/log"

inst() {
	set +e
	env PATH="$t/bin:$PATH" TMPDIR="$t/tmp" HOME="$home" KFLASH_USER=kfuser \
		KFLASH_SUDOERS_DIR="$t/sudoers.d" KFLASH_KLIPPER_DIR="$klipper" \
		KFLASH_PRINTER_DATA="$home/printer_data" KFLASH_STATE_DIR="$home/.local/state/kflash" \
		KFLASH_ORIGIN=https://example.invalid/libkflash.git KFLASH_BRANCH=main \
		GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*' \
		sh "$src/scripts/install.sh" --packages --debs "$debs" "$@" >"$t/out" 2>&1
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		fail "install.sh --packages $*: exit status $rc:"
		sed 's/^/    /' "$t/out" >&2
	fi
}
says() {
	if ! grep -qF -- "$1" "$t/out"; then
		fail "install.sh --packages $2 did not say: $1; it said:"
		sed 's/^/    /' "$t/out" >&2
	fi
}

inst
says "packages: installing libkflash0, libkflash-dev and kflash $version" ""
grep -q "^apt-get install -y --reinstall --allow-downgrades $t/tmp/.*/debs/libkflash0_${version}_$arch.deb .*/libkflash-dev_${version}_$arch.deb .*/kflash_${version}_$arch.deb$" "$t/log" ||
	fail "install.sh --packages did not install the three packages with apt-get: $(cat "$t/log")"
for p in libkflash0 libkflash-dev kflash; do
	[ -f "$db/$p.version" ] || fail "install.sh --packages did not install $p"
done
[ "$(readlink "$klipper/klippy/extras/kflash.py")" = /usr/share/kflash/klipper/kflash.py ] ||
	fail "install.sh --packages did not link the packaged Klipper module"
[ -f "$t/sudoers.d/kflash" ] || fail "install.sh --packages wrote no sudoers drop-in"
grep -q '^\[update_manager kflash\]$' "$conf" || fail "install.sh --packages added no section to moonraker.conf"

: >"$t/log"
inst
says "nothing changed" "(a second run)"
says "are installed, with these very files" "(a second run)"
[ ! -s "$t/log" ] || fail "a second install.sh --packages ran: $(cat "$t/log")"

# A package with other files (a rebuild at the same version) is installed again.
echo "00000000000000000000000000000000  usr/bin/kflash" >"$db/kflash.md5sums"
inst
says "packages: installing" "(after a rebuild)"

: >"$t/log"
inst --uninstall
says "packages: removing kflash libkflash-dev libkflash0" "--uninstall"
grep -qx "dpkg --remove kflash libkflash-dev libkflash0" "$t/log" ||
	fail "install.sh --uninstall did not remove the packages with dpkg: $(cat "$t/log")"
[ -z "$(ls "$db")" ] || fail "install.sh --uninstall left packages installed: $(ls "$db")"
[ ! -e "$klipper/klippy/extras/kflash.py" ] || fail "install.sh --uninstall left the module link"
[ ! -e "$t/sudoers.d/kflash" ] || fail "install.sh --uninstall left the sudoers drop-in"
cmp -s "$conf" "$t/moonraker.conf.orig" || fail "install.sh --uninstall did not restore moonraker.conf"
[ ! -e "$home/.local" ] || fail "install.sh --uninstall left $home/.local"

[ $status -eq 0 ] && echo "the packages hold exactly the expected files, lintian finds no error, install.sh installs and removes them"
exit $status
