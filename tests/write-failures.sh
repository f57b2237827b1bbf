#!/bin/bash
# write-failures.sh: a write that fails loses nothing, and outputs that are not
# regular files are written in place, never renamed over.
# usage: write-failures.sh CRITLUA
set -u
export LC_ALL=C
if [ $# -ne 1 ]; then
	echo "usage: $0 CRITLUA" >&2
	exit 2
fi
B=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
img=$here/fixtures/tcp/files.img
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
"$B" decode -i "$img" >"$T/files.json" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*" >&2
}
# expect NAME STATUS STDERR -- CMD...: exit status and exact stderr
expect() {
	local name=$1 status=$2 want=$3
	shift 4
	"$@" >"$T/stdout" 2>"$T/stderr"
	local rc=$?
	local got
	got=$(cat "$T/stderr")
	if [ "$rc" != "$status" ]; then
		bad "$name: exit status $rc, not $status ($got)"
	elif [ "$got" != "$want" ]; then
		bad "$name: stderr: $got -- expected: $want"
	else
		ok
	fi
}
# no temporary file may be left behind in DIR
no_leftovers() {
	local left
	left=$(find "$2" -maxdepth 1 -name '.*critlua*' | head -3)
	[ -z "$left" ] && ok || bad "$1: left behind: $left"
}
same() { cmp -s "$2" "$3" && ok || bad "$1: $3 changed"; }

# 1. A full device: /dev/full is not a regular file, so it is written in place, and fails.
expect full-device 1 "critlua: /dev/full: cannot write: No space left on device" -- \
	"$B" encode -i "$T/files.json" -o /dev/full
[ -c /dev/full ] && ok || bad "full-device: /dev/full was replaced"
expect full-stdout 1 "critlua: <stdout>: No space left on device" -- \
	sh -c '"$1" decode -i "$2" >/dev/full' sh "$B" "$img"

# 2. A file-size limit (a disk that fills up midway): the old image stays, nothing is left.
mkdir "$T/d"
cp "$img" "$T/d/files.img"
expect file-size-limit 1 "critlua: $T/d/files.img: cannot write: File too large" -- \
	bash -c 'ulimit -f 1; "$1" encode -i "$2" -o "$3"' sh "$B" "$T/files.json" "$T/d/files.img"
same file-size-limit "$img" "$T/d/files.img"
no_leftovers file-size-limit "$T/d"
expect save-size-limit 1 "critlua: $T/d/files.img: cannot write: File too large" -- \
	bash -c 'ulimit -f 1; "$1" -e "local i = crit.load(arg[1]); crit.save(i, arg[1])" "$2"' sh "$B" "$T/d/files.img"
same save-size-limit "$img" "$T/d/files.img"
no_leftovers save-size-limit "$T/d"

# 3. An unwritable directory (as nobody, since root writes anywhere).
as=
[ "$(id -u)" -eq 0 ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ -z "$as" ] || $as true 2>/dev/null; then
	chmod 555 "$T/d"
	expect unwritable-dir 1 "critlua: $T/d/files.img: cannot create a temporary file beside it: Permission denied" -- \
		$as "$B" encode -i "$T/files.json" -o "$T/d/files.img"
	same unwritable-dir "$img" "$T/d/files.img"
	chmod 755 "$T/d"
else
	echo "SKIPPED: unwritable-dir: cannot run as nobody here"
fi

# 4. A FIFO is written in place: the reader gets the image, the FIFO stays a FIFO.
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/from-fifo" &
reader=$!
expect fifo 0 "" -- "$B" encode -i "$T/files.json" -o "$T/fifo"
wait $reader
[ -p "$T/fifo" ] && ok || bad "fifo: no longer a FIFO"
same fifo "$img" "$T/from-fifo"

# 5. -o /dev/stdout with stdout redirected to a file: written through the
# descriptor (appending where the shell appends); /dev/stdout stays a link.
printf 'head\n' >"$T/stdout-file"
sh -c '"$1" encode -i "$2" -o /dev/stdout >>"$3"' sh "$B" "$T/files.json" "$T/stdout-file"
{ printf 'head\n'; cat "$img"; } >"$T/want"
same dev-stdout "$T/want" "$T/stdout-file"
[ -L /dev/stdout ] && ok || bad "dev-stdout: /dev/stdout is no longer a symbolic link"

# 6. A regular file keeps its mode, and its owner where critlua may keep it.
cp "$img" "$T/d/mode.img"
chmod 640 "$T/d/mode.img"
if [ "$(id -u)" -eq 0 ]; then
	chown 65534:65534 "$T/d/mode.img"
fi
before=$(stat -c '%a %u %g' "$T/d/mode.img")
expect keep-mode 0 "" -- "$B" encode -i "$T/files.json" -o "$T/d/mode.img"
after=$(stat -c '%a %u %g' "$T/d/mode.img")
[ "$before" = "$after" ] && ok || bad "keep-mode: $before became $after"

# 7. A symbolic link: the file it points to is replaced, the link stays.
ln -s mode.img "$T/d/link.img"
expect symlink 0 "" -- "$B" encode -i "$T/files.json" -o "$T/d/link.img"
[ -L "$T/d/link.img" ] && ok || bad "symlink: the link was replaced by a file"
same symlink "$img" "$T/d/mode.img"
no_leftovers symlink "$T/d"

echo "write-failures: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
