#!/bin/sh
# setup.sh: install the Debian packages critlua needs to build and run its tests.
# Quick no-op when they are all present; uses sudo when not run as root.
# lua5.4, man-db and bsdextrautils (col) are for the install test (tests/eco/);
# libreadline-dev for critlua -i (line editing), python3 for its terminal test (tests/repl/);
# gdb opens the core files of tests/coredump/.
set -eu

PACKAGES="cmake make pkg-config gcc libc6-dev liblua5.4-dev libprotobuf-c-dev \
protobuf-c-compiler libprotobuf-dev protobuf-compiler libjson-c-dev libarchive-dev zstd \
lua5.4 man-db bsdextrautils strace libreadline-dev python3 gdb"
# `setup.sh --fuzz` also installs clang and its libFuzzer runtime (fuzz/).
if [ "${1:-}" = "--fuzz" ]; then
	PACKAGES="$PACKAGES clang libclang-rt-dev"
fi

missing=""
for p in $PACKAGES; do
	# dpkg -s also succeeds for removed-but-configured packages, so check the status line.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "setup.sh: need root or sudo to install:$missing" >&2
	exit 1
fi

echo "setup.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086 # the list is meant to split into words
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
