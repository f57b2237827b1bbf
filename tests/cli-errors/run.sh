#!/bin/bash
# run.sh: the command-line error table (cases.tsv): each command must exit with
# its status and print exactly its message on stderr, nothing on stdout.
# usage: run.sh CRITLUA [NAME...]
set -u
export LC_ALL=C
if [ $# -lt 1 ]; then
	echo "usage: $0 CRITLUA [NAME...]" >&2
	exit 2
fi
CRITLUA=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.." || exit 2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
mkdir "$TMP/empty"
printf 'old image\n' >"$TMP/unreadable.img"
chmod 000 "$TMP/unreadable.img"
printf 'not json {\n' >"$TMP/notjson.json"
"$CRITLUA" decode --nopl -i fixtures/pipes/pipes-data.img >"$TMP/nopl.json"
# Root reads a mode-000 file anyway: that case runs as nobody.
AS_NOBODY=
if [ "$(id -u)" -eq 0 ]; then
	AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
export CRITLUA TMP AS_NOBODY

# Messages that are long, or hold a line of their own, are spelled here.
expand() {
	case $1 in
	RAW_PAGES) printf '%s' "critlua: fixtures/sleep/pages-1.img: raw memory pages (no magic): read them with \`critlua mem DIR PID\` or \`critlua grep DIR STRING\` (ck:read_memory in Lua); the pagemap-*.img whose pages_id names this file says which addresses they hold" ;;
	STATS_EMPTY) printf '%s' "critlua: $TMP/empty: not a checkpoint directory: it holds no image" ;;
	NOT_JSON) printf '%s' "critlua: $TMP/notjson.json: JSON line 1, column 2: null expected" ;;
	NOPL) printf '%s' "critlua: $TMP/nopl.json: entries[0].extra: \"... <47B>\" is a --nopl placeholder: the payload was left out of this JSON, so it cannot be encoded back (decode without --nopl)" ;;
	*)
		local s=${1//\\n/$'\n'}
		s=${s//\$TMP/$TMP}
		printf '%s' "$s"
		;;
	esac
}

pass=0 fail=0
while IFS=$'\t' read -r name status want cmd; do
	case $name in '' | '#'*) continue ;; esac
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
		continue
	fi
	if [ "$name" = unreadable-image ] && [ -n "$AS_NOBODY" ] && ! $AS_NOBODY true 2>/dev/null; then
		echo "SKIPPED: $name: cannot run as nobody here"
		continue
	fi
	bash -c "$cmd" >"$TMP/stdout" 2>"$TMP/stderr"
	rc=$?
	want=$(expand "$want")
	got=$(cat "$TMP/stderr")
	why=
	[ "$rc" = "$status" ] || why="exit status $rc, not $status"
	[ -z "$why" ] && [ "$got" != "$want" ] && why="stderr: $got -- expected: $want"
	[ -z "$why" ] && [ -s "$TMP/stdout" ] && why="something was written to stdout"
	if [ -z "$why" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name: $why" >&2
	fi
done <"$here/cases.tsv"
echo "cli-errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
