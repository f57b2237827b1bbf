#!/bin/sh
# setup.sh: install the Debian packages critlua needs to build and run its tests.
# Quick no-op when they are all present; uses sudo when not run as root.
# lua5.4, man-db and bsdextrautils (col) are for the install test (tests/eco/);
# libreadline-dev for critlua -i (line editing), python3 for its terminal test (tests/repl/);
# gdb opens the core files of tests/coredump/; jq for tests/numbering (jq paths over
# decode's JSON).
set -eu

PACKAGES="cmake make pkg-config gcc libc6-dev liblua5.4-dev libprotobuf-c-dev \
protobuf-c-compiler libprotobuf-dev protobuf-compiler libjson-c-dev libarchive-dev zstd \
lua5.4 man-db bsdextrautils strace libreadline-dev python3 gdb jq"
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

# Another apt or dpkg may hold the package manager's lock (an install in another
# terminal, unattended-upgrades on a fresh machine): wait for it, up to
# SETUP_LOCK_WAIT seconds (default 600) in all, instead of failing the quick
# start. apt waits by itself for dpkg's lock (DPkg::Lock::Timeout); the lists'
# lock of `apt-get update` it does not wait for on every release, so a run that
# failed on a lock is tried again, every SETUP_LOCK_POLL seconds (default 5).
wait_total=${SETUP_LOCK_WAIT:-600}
poll=${SETUP_LOCK_POLL:-5}
start=$(date +%s)
apt_run() {
	err=$(mktemp)
	while :; do
		left=$((wait_total - ($(date +%s) - start)))
		[ "$left" -gt 0 ] || left=0
		if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$left" "$@" 2>"$err"; then
			cat "$err" >&2
			rm -f "$err"
			return 0
		fi
		if ! grep -qiE 'could not get lock|unable to lock|unable to acquire the dpkg frontend lock|is another process using it' "$err"; then
			cat "$err" >&2
			rm -f "$err"
			return 1
		fi
		if [ $(($(date +%s) - start)) -ge "$wait_total" ]; then
			cat "$err" >&2
			rm -f "$err"
			echo "setup.sh: the package manager was still locked after ${wait_total}s (another apt, dpkg or unattended-upgrades): run setup.sh again when it is done, or set SETUP_LOCK_WAIT" >&2
			return 1
		fi
		if [ -z "${said_wait:-}" ]; then
			echo "setup.sh: the package manager is locked by another process; waiting (up to ${wait_total}s in all)" >&2
			said_wait=1
		fi
		sleep "$poll"
	done
}

echo "setup.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt_run update -q
# shellcheck disable=SC2086 # the list is meant to split into words
apt_run install -y -q --no-install-recommends $missing
