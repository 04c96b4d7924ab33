#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Writes debian/libkflash0.symbols from lib/libkflash.sym, the library's
# version script, to standard output:
#
#   debian/gen-symbols.sh lib/libkflash.sym >debian/libkflash0.symbols
#
# Every symbol of a node LIBKFLASH_X.Y gets the minimal version X.Y.0, the
# release that added the node (lib/libkflash.sym adds one node per release
# that adds symbols, and never moves a symbol). The node itself is listed
# too, as dpkg-gensymbols sees it. tests/build-checks/check-debian-symbols.sh
# compares the committed file with this output; dpkg-gensymbols -c4 (in
# debian/rules) compares it with the library that was built.
set -eu
map=${1:?usage: gen-symbols.sh LIBKFLASH_SYM}

echo "libkflash.so.0 libkflash0 #MINVER#"
echo "* Build-Depends-Package: libkflash-dev"
awk '
	function minver(node, v) {
		v = node
		sub(/^LIBKFLASH_/, "", v)
		if (v !~ /^[0-9]+\.[0-9]+$/) {
			printf "gen-symbols.sh: %s:%d: node %s is not LIBKFLASH_X.Y\n", FILENAME, FNR, node > "/dev/stderr"
			bad = 1
			exit 1
		}
		return v ".0"
	}
	# "LIBKFLASH_0.1 {" opens a node.
	/^[[:space:]]*LIBKFLASH_[^[:space:]{]*[[:space:]]*\{/ {
		node = $1
		sub(/\{.*/, "", node)
		ver = minver(node)
		printf " %s@%s %s\n", node, node, ver
		next
	}
	/^[[:space:]]*\}/ { node = ""; next }
	node != "" && /^[[:space:]]*kflash_[a-z0-9_]*;/ {
		sym = $1
		sub(/;.*/, "", sym)
		printf " %s@%s %s\n", sym, node, ver
	}
	END { if (bad) exit 1 }
' "$map" | LC_ALL=C sort
