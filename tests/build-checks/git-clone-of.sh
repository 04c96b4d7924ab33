# SPDX-License-Identifier: MIT
# Sourced by the checks that run install.sh: install.sh points Moonraker's
# update manager at a git clone, so a source tree that is none (an unpacked
# tarball) is checked as a clone of itself.
#   git_clone_of SRC DIR: prints SRC, or a fresh clone of its files in DIR.
git_clone_of() {
	if git -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
		printf '%s\n' "$1"
		return
	fi
	mkdir -p "$2"
	# Without build dirs: meson's have a build.ninja.
	(cd "$1" && tar --exclude=./build --exclude-tag-all=build.ninja -cf - .) | tar -xf - -C "$2"
	git -C "$2" init -q
	git -C "$2" -c user.name=check -c user.email=check@kflash.invalid add -A
	git -C "$2" -c user.name=check -c user.email=check@kflash.invalid commit -q -m tree
	printf '%s\n' "$2"
}
