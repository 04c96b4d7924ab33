#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/install.sh in a fake home, with a fake sudo, visudo, systemctl and
# systemd-run: what it refuses (and then leaves untouched), its dry run
# (touches nothing), the install (every file it writes), a second run
# (changes nothing), an update, and --uninstall (removes what it wrote,
# nothing else).
#   check-install-script.sh SOURCE_ROOT WORK_DIR
# WORK_DIR holds the release build, kept between runs; everything else is
# in a temporary directory.
set -eu
src=$1
work=$2
install_sh=$src/scripts/install.sh

for p in meson git sha256sum; do
	if ! command -v $p >/dev/null 2>&1; then
		echo "SKIP: no $p, which install.sh needs" >&2
		exit 77
	fi
done

t=$(mktemp -d)
trap 'chmod -R u+w "$t" 2>/dev/null; rm -rf "$t"' EXIT
mkdir -p "$work"

. "$(dirname "$0")/git-clone-of.sh"
src=$(git_clone_of "$src" "$t/clone")
install_sh=$src/scripts/install.sh
rm -f "$work/build.log"

status=0
fail() {
	echo "FAIL: $*" >&2
	status=1
}

# ---- the fake host ----

home=$t/home
prefix=$t/prefix
sudoers_dir=$t/sudoers.d
klipper=$home/klipper
conf=$home/printer_data/config/moonraker.conf
state=$home/.local/state/kflash
mkdir -p "$t/bin" "$t/tmp" "$sudoers_dir" "$klipper/klippy/extras" "$klipper/scripts" "$(dirname "$conf")"

cat >"$t/bin/sudo" <<'EOF'
#!/bin/sh
echo "sudo $*" >>"$KF_FAKE_LOG"
echo "fake sudo: install.sh needs no sudo in this test" >&2
exit 1
EOF
cat >"$t/bin/visudo" <<'EOF'
#!/bin/sh
echo "visudo $*" >>"$KF_FAKE_LOG"
if [ "${KF_FAKE_VISUDO:-}" = refuse ]; then
	echo "fake visudo: syntax error near line 5" >&2
	exit 1
fi
EOF
for p in systemctl systemd-run; do
	# shellcheck disable=SC2016 # the fakes expand $* themselves
	printf '#!/bin/sh\necho "%s $*" >>"$KF_FAKE_LOG"\n' $p >"$t/bin/$p"
done
# The Python install.sh asks where modules go: into the prefix, as Debian's
# python3 says /usr/local/lib/python3.X/dist-packages for /usr/local.
cat >"$t/python3" <<EOF
#!/bin/sh
case "\$*" in
*sysconfig*) echo "$prefix/lib/python3.11/dist-packages" ;;
*sys.path*) exit 0 ;;
*) exit 1 ;;
esac
EOF
chmod +x "$t/bin/"* "$t/python3"

echo '#!/bin/sh' >"$klipper/scripts/flash-linux.sh"
echo '# Klipper' >"$klipper/klippy/extras/__init__.py"
git -C "$klipper" init -q
git -C "$klipper" add -A
git -C "$klipper" -c user.name=t -c user.email=t@example.invalid commit -q -m klipper
printf '[server]\nhost: 0.0.0.0\n\n[update_manager]\nrefresh_interval: 168\n' >"$conf"
cp "$conf" "$t/moonraker.conf.orig"

unset XDG_STATE_HOME KFLASH_PREFIX KFLASH_SERVICE KFLASH_KLIPPER_DIR 2>/dev/null || true
export PATH="$t/bin:$PATH" TMPDIR="$t/tmp" KF_FAKE_LOG="$t/log" HOME="$home"
# The source tree may belong to another user than the one running the tests.
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
: >"$KF_FAKE_LOG"
origin=https://example.invalid/libkflash.git

# run ARGS...: install.sh as the tests' Klipper user, output in $t/out,
# exit status in $rc; in the directory $run_dir when that is set.
run() {
	set +e
	cd "${run_dir:-$t}"
	env KFLASH_USER=kfuser KFLASH_PREFIX="$prefix" KFLASH_SUDOERS_DIR="$sudoers_dir" \
		KFLASH_KLIPPER_DIR="$klipper" KFLASH_PRINTER_DATA="$home/printer_data" \
		KFLASH_STATE_DIR="$state" KFLASH_INSTALL_BUILDDIR="$work/build" \
		KFLASH_ORIGIN="${KF_ORIGIN:-$origin}" KFLASH_BRANCH=main KFLASH_PYTHON="$t/python3" \
		sh "$install_sh" "$@" >"$t/out" 2>&1
	rc=$?
	cd "$t"
	set -e
	return 0
}
expect_rc() {
	if [ "$rc" -ne "$1" ]; then
		fail "install.sh $2: exit status $rc, expected $1; it said:"
		sed 's/^/    /' "$t/out" >&2
	fi
}
says() {
	if ! grep -qF -- "$1" "$t/out"; then
		fail "install.sh $2 did not say: $1; it said:"
		sed 's/^/    /' "$t/out" >&2
	fi
}
# snapshot FILE [mtime]: every entry of the fake host, with mode, owner,
# content or link target (and mtime).
snapshot() {
	(cd "$t" && find home prefix sudoers.d -print 2>/dev/null | LC_ALL=C sort | while IFS= read -r f; do
		if [ -L "$f" ]; then
			echo "$f link $(readlink "$f")"
		elif [ -d "$f" ]; then
			echo "$f dir $(stat -c '%a %u' "$f")"
		else
			echo "$f file $(stat -c '%a %u' "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
		fi
		if [ "${2:-}" = mtime ]; then
			echo "$f mtime $(stat -c %Y "$f")"
		fi
	done) >"$1"
}
untouched() {
	snapshot "$t/after" mtime
	if ! diff -u "$t/before" "$t/after" >"$t/diff"; then
		fail "install.sh $1 changed the host:"
		sed 's/^/    /' "$t/diff" >&2
	fi
}
no_sudo() {
	if grep -q '^sudo' "$KF_FAKE_LOG"; then
		fail "install.sh $1 ran sudo, though it may write everywhere:"
		grep '^sudo' "$KF_FAKE_LOG" >&2
	fi
}

snapshot "$t/pristine"
snapshot "$t/before" mtime

# ---- refusals: nothing is installed ----

KF_FAKE_VISUDO=refuse run
expect_rc 1 "with visudo refusing"
says "visudo refused the lines for $sudoers_dir/kflash" "with visudo refusing"
says "nothing was installed" "with visudo refusing"
untouched "with visudo refusing"
[ ! -e "$work/build.log" ] || fail "install.sh built, though visudo refused"

KFLASH_VISUDO=$t/no-visudo run
expect_rc 1 "without visudo"
says "visudo not found" "without visudo"
untouched "without visudo"

echo "kfuser ALL=(ALL) NOPASSWD: ALL" >"$sudoers_dir/kflash"
snapshot "$t/before" mtime
run
expect_rc 1 "with a sudoers file of its own"
says "$sudoers_dir/kflash exists, and install.sh did not write it" "with a sudoers file of its own"
untouched "with a sudoers file of its own"
rm "$sudoers_dir/kflash"

cp "$src/examples/klipper/kflash.py" "$klipper/klippy/extras/kflash.py"
snapshot "$t/before" mtime
run
expect_rc 1 "with a copy of the Klipper module"
says "$klipper/klippy/extras/kflash.py is a file" "with a copy of the Klipper module"
untouched "with a copy of the Klipper module"
rm "$klipper/klippy/extras/kflash.py"

printf '\n[update_manager kflash]\ntype: git_repo\npath: ~/mine\n' >>"$conf"
snapshot "$t/before" mtime
run
expect_rc 1 "with a section of its own in moonraker.conf"
says "already has an [update_manager kflash] section (line 7) that install.sh did not write" \
	"with a section of its own in moonraker.conf"
untouched "with a section of its own in moonraker.conf"
cp "$t/moonraker.conf.orig" "$conf"
touch -r "$t/moonraker.conf.orig" "$conf"

# ---- the dry run touches nothing ----

snapshot "$t/before" mtime
run --dry-run
expect_rc 0 "--dry-run"
for want in "would make a release build in $work/build" "sudoers: writing $sudoers_dir/kflash" \
	"$t/bin/systemd-run" "klipper: linking $klipper/klippy/extras/kflash.py -> $prefix/share/kflash/klipper/kflash.py" \
	"moonraker: adding [update_manager kflash] to $conf" "path: $src" "nothing was changed"; do
	says "$want" "--dry-run"
done
untouched "--dry-run"

run --dry-run --no-systemd-run --no-klipper --no-moonraker
expect_rc 0 "--dry-run --no-systemd-run --no-klipper --no-moonraker"
if grep -q 'systemd-run$' "$t/out" || grep -q 'linking' "$t/out" || grep -q 'adding \[update' "$t/out"; then
	fail "install.sh --no-systemd-run --no-klipper --no-moonraker would still do one of them:"
	sed 's/^/    /' "$t/out" >&2
fi
untouched "--dry-run --no-systemd-run --no-klipper --no-moonraker"

# Relative paths are made absolute, as sudoers and the links need them.
run_dir=$home run --dry-run --klipper-dir klipper
expect_rc 0 "--dry-run --klipper-dir klipper"
says "kfuser ALL=(root) NOPASSWD: $klipper/scripts/flash-linux.sh" "--dry-run --klipper-dir klipper"
untouched "--dry-run --klipper-dir klipper"

# The defaults: the user running it, and their home.
set +e
env KFLASH_PREFIX="$prefix" KFLASH_SUDOERS_DIR="$sudoers_dir" KFLASH_INSTALL_BUILDDIR="$work/build" \
	KFLASH_ORIGIN=$origin KFLASH_BRANCH=main sh "$install_sh" --dry-run >"$t/out" 2>&1
rc=$?
set -e
expect_rc 0 "--dry-run with the default locations"
says "klipper: linking $klipper/klippy/extras/kflash.py" "--dry-run with the default locations"
says "moonraker: adding [update_manager kflash] to $conf" "--dry-run with the default locations"
untouched "--dry-run with the default locations"
no_sudo "--dry-run"

# ---- the install ----

run
expect_rc 0 "(the install)"
says "sudoers: writing $sudoers_dir/kflash (mode 0440, checked with visudo)" "(the install)"
says "done: 5 steps changed something" "(the install)"
if grep -q "PYTHONPATH" "$t/out"; then
	fail "install.sh put the Python module where its Python does not look:"
	sed 's/^/    /' "$t/out" >&2
fi
no_sudo "(the install)"

# The prefix: exactly these files, the modules as they are in the tree.
libdir=$(cd "$prefix" && find lib -name libkflash.so.0 | head -n 1 | xargs -r dirname)
pydir=lib/python3.11/dist-packages
{
	echo bin/kflash
	for h in "$src"/include/kflash/*.h; do echo "include/kflash/$(basename "$h")"; done
	echo "$libdir/libkflash.so -> libkflash.so.0"
	echo "$libdir/libkflash.so.0 -> libkflash.so.0.1.0"
	echo "$libdir/libkflash.so.0.1.0"
	echo "$libdir/pkgconfig/libkflash.pc"
	echo "$pydir/kflash.py"
	echo share/bash-completion/completions/kflash
	echo share/kflash/klipper/kflash.py
	echo share/man/man1/kflash.1
} | LC_ALL=C sort >"$t/expected-files"
(cd "$prefix" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
	if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f"; fi
done) | LC_ALL=C sort >"$t/files"
if [ -z "$libdir" ] || ! diff -u "$t/expected-files" "$t/files" >"$t/diff"; then
	fail "the prefix holds other files than expected (- expected, + there):"
	sed 's/^/    /' "$t/diff" >&2
fi
cmp -s "$prefix/share/kflash/klipper/kflash.py" "$src/examples/klipper/kflash.py" ||
	fail "the installed Klipper module differs from examples/klipper/kflash.py"
cmp -s "$prefix/$pydir/kflash.py" "$src/examples/python/kflash.py" ||
	fail "the installed Python module differs from examples/python/kflash.py"
if ! LD_LIBRARY_PATH=$prefix/$libdir "$prefix/bin/kflash" --help >"$t/help" 2>&1; then
	fail "the installed kflash does not run:"
	sed 's/^/    /' "$t/help" >&2
fi
if command -v python3 >/dev/null 2>&1 &&
	! PYTHONPATH=$prefix/$pydir KFLASH_LIBRARY=$prefix/$libdir/libkflash.so.0 PYTHONDONTWRITEBYTECODE=1 \
		python3 -c 'import kflash; print(kflash.library_version())' >"$t/py" 2>&1; then
	fail "the installed Python module does not import:"
	sed 's/^/    /' "$t/py" >&2
fi

# The sudoers drop-in: exactly the commands kflash runs through sudo -n.
s=$t/bin/systemctl
cat >"$t/expected-sudoers" <<EOF
# $sudoers_dir/kflash: written by $src/scripts/install.sh;
# 'scripts/install.sh --uninstall' removes it. The commands kflash runs
# through 'sudo -n' for kfuser, the user who runs Klipper:
#   stop and start Klipper, and klipper-mcu (Klipper's host MCU), around a flash;
kfuser ALL=(root) NOPASSWD: $s stop klipper, $s start klipper, $s stop klipper-mcu, $s start klipper-mcu
#   Klipper's flash-linux.sh, which 'make flash' runs for the host MCU;
kfuser ALL=(root) NOPASSWD: $klipper/scripts/flash-linux.sh
#   systemd-run, with which the Klipper module's KFLASH_UPDATE starts
#   'kflash flash --all' outside Klipper.
kfuser ALL=(root) NOPASSWD: $t/bin/systemd-run
EOF
if ! diff -u "$t/expected-sudoers" "$sudoers_dir/kflash" >"$t/diff"; then
	fail "the sudoers drop-in differs (- expected, + written):"
	sed 's/^/    /' "$t/diff" >&2
fi
[ "$(stat -c %a "$sudoers_dir/kflash")" = 440 ] ||
	fail "$sudoers_dir/kflash has mode $(stat -c %a "$sudoers_dir/kflash"), not 0440"
if [ "$(id -u)" -eq 0 ] && [ "$(stat -c %u:%g "$sudoers_dir/kflash")" != 0:0 ]; then
	fail "$sudoers_dir/kflash belongs to $(stat -c %u:%g "$sudoers_dir/kflash"), not root"
fi
[ "$(ls -A "$sudoers_dir")" = kflash ] || fail "install.sh left more in $sudoers_dir: $(ls -A "$sudoers_dir")"
grep -q "visudo -c -f $t/tmp/" "$KF_FAKE_LOG" || fail "install.sh did not check the drop-in with visudo -c -f"
real_visudo=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v visudo || true)
if [ -n "$real_visudo" ] && [ "$real_visudo" != "$t/bin/visudo" ]; then
	if ! "$real_visudo" -c -f "$sudoers_dir/kflash" >"$t/visudo" 2>&1; then
		fail "the real visudo refuses the drop-in:"
		sed 's/^/    /' "$t/visudo" >&2
	fi
else
	echo "note: no real visudo (the sudo package), so the drop-in's syntax was checked by the fake only"
fi

# The Klipper module, out of Klipper's git status.
[ "$(readlink "$klipper/klippy/extras/kflash.py")" = "$prefix/share/kflash/klipper/kflash.py" ] ||
	fail "$klipper/klippy/extras/kflash.py is not a link to the installed module"
[ -z "$(git --no-optional-locks -C "$klipper" status --porcelain)" ] ||
	fail "Klipper's git status is not clean: $(git --no-optional-locks -C "$klipper" status --porcelain)"

# moonraker.conf: the original, a blank line, the section.
{
	cat "$t/moonraker.conf.orig"
	echo
	echo "# kflash: added by $src/scripts/install.sh; 'scripts/install.sh --uninstall' removes it"
	echo "[update_manager kflash]"
	echo "type: git_repo"
	echo "path: $src"
	echo "origin: $origin"
	echo "primary_branch: main"
	echo "is_system_service: False"
	echo "system_dependencies: scripts/system-dependencies.json"
} >"$t/expected-conf"
if ! diff -u "$t/expected-conf" "$conf" >"$t/diff"; then
	fail "moonraker.conf differs (- expected, + written):"
	sed 's/^/    /' "$t/diff" >&2
fi
[ -f "$src/scripts/system-dependencies.json" ] || fail "the section names scripts/system-dependencies.json, which is missing"
[ -s "$state/install.manifest" ] || fail "install.sh wrote no manifest at $state/install.manifest"

# ---- a second run changes nothing, and says so ----

snapshot "$t/before" mtime
run
expect_rc 0 "(the second run)"
says "nothing changed" "(the second run)"
untouched "(the second run)"

run --dry-run
expect_rc 0 "--dry-run after the install"
says "build: would make a release build" "--dry-run after the install"
untouched "--dry-run after the install"

# ---- an update: a changed file is installed again, an old one removed ----

echo "/* older */" >>"$prefix/include/kflash/update.h"
echo "/* gone */" >"$prefix/include/kflash/gone.h"
printf 'file\t%s\n' "$prefix/include/kflash/gone.h" >>"$state/install.manifest"
LC_ALL=C sort -o "$state/install.manifest" "$state/install.manifest"
run
expect_rc 0 "(an update)"
says "installed 1 of its" "(an update)"
says "removed 1 old ones" "(an update)"
cmp -s "$prefix/include/kflash/update.h" "$src/include/kflash/update.h" || fail "the update did not install update.h again"
[ ! -e "$prefix/include/kflash/gone.h" ] || fail "the update left the old gone.h"

# Another origin, another unit: install.sh's own section and drop-in are
# rewritten, the rest of moonraker.conf is kept.
printf '\n[update_manager mainsail]\ntype: web\n' >>"$conf"
cp "$conf" "$t/conf.before"
KF_ORIGIN=https://example.invalid/fork.git run --service klipper --service klipper-2
expect_rc 0 "(another origin and unit)"
says "moonraker: updating [update_manager kflash] in $conf" "(another origin and unit)"
says "sudoers: updating $sudoers_dir/kflash" "(another origin and unit)"
sed 's|^origin: .*|origin: https://example.invalid/fork.git|' "$t/conf.before" >"$t/expected-conf2"
if ! diff -u "$t/expected-conf2" "$conf" >"$t/diff"; then
	fail "moonraker.conf after a change of origin (- expected, + written):"
	sed 's/^/    /' "$t/diff" >&2
fi
grep -q "stop klipper-2, $s start klipper-2, $s stop klipper-mcu" "$sudoers_dir/kflash" ||
	fail "the drop-in lacks klipper-2: $(grep NOPASSWD "$sudoers_dir/kflash")"
run
expect_rc 0 "(back to the first origin and unit)"
cmp -s "$t/conf.before" "$conf" || fail "moonraker.conf is not as before after the origin came back"
cmp -s "$t/expected-sudoers" "$sudoers_dir/kflash" || fail "the drop-in is not as before after the unit went"
cp "$t/moonraker.conf.orig" "$t/conf.pristine"
printf '\n[update_manager mainsail]\ntype: web\n' >>"$t/conf.pristine"

# ---- --uninstall removes what install.sh wrote, nothing else ----

snapshot "$t/before" mtime
nfiles=$(grep -c "^file	" "$state/install.manifest")
run --uninstall --dry-run
expect_rc 0 "--uninstall --dry-run"
for want in "removing [update_manager kflash] from $conf" "removing the link $klipper/klippy/extras/kflash.py" \
	"removing $sudoers_dir/kflash" "removing the $nfiles files"; do
	says "$want" "--uninstall --dry-run"
done
untouched "--uninstall --dry-run"

run --uninstall
expect_rc 0 "--uninstall"
says "kflash is uninstalled" "--uninstall"
snapshot "$t/after"
# moonraker.conf got a section after kflash's: it is compared below.
if ! diff -u "$t/pristine" "$t/after" | grep -v 'moonraker\.conf file' >"$t/diff"; then :; fi
if grep -q '^[-+]home\|^[-+]prefix\|^[-+]sudoers' "$t/diff"; then
	fail "after --uninstall the host is not as it was (- before the install, + after the uninstall):"
	sed 's/^/    /' "$t/diff" >&2
fi
cmp -s "$t/conf.pristine" "$conf" || fail "--uninstall did not restore moonraker.conf byte for byte (with the section added after kflash's)"
no_sudo "--uninstall"

run --uninstall
expect_rc 0 "--uninstall, again"
says "nothing to uninstall" "--uninstall, again"

# ---- without root, a sudoers dir it may not write is written with sudo ----

if [ "$(id -u)" -ne 0 ]; then
	chmod a-w "$sudoers_dir"
	run --dry-run
	expect_rc 0 "--dry-run with a read-only sudoers dir"
	says "would run: sudo install -m 0440 -o root -g root" "--dry-run with a read-only sudoers dir"
	chmod u+w "$sudoers_dir"
else
	echo "note: as root every directory is writable: the sudo path of install.sh is checked as an ordinary user only"
fi

[ $status -eq 0 ] && echo "install.sh: refusals, dry runs, install, second run, update and uninstall behave"
exit $status
