#!/bin/bash
# run.sh: every NAME.json here is bad JSON for `encode`; fed on stdin, it must
# fail with exit status 1, print exactly NAME.err on stderr, and leave the
# output file as it was.
# usage: run.sh CRITLUA [NAME...]   (REGEN=1 run.sh CRITLUA rewrites the .err files)
set -u
export LC_ALL=C
if [ $# -lt 1 ]; then
	echo "usage: $0 CRITLUA [NAME...]" >&2
	exit 2
fi
bin=$1
shift
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
if [ $# -eq 0 ]; then
	set -- "$dir"/*.json
else
	set -- "${@/#/$dir/}"
	set -- "${@/%/.json}"
fi
for in in "$@"; do
	name=$(basename "$in" .json)
	printf 'old image\n' >"$tmp/out.img"
	"$bin" encode -o "$tmp/out.img" <"$in" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	if [ "${REGEN:-}" = 1 ]; then
		cp "$tmp/stderr" "$dir/$name.err"
	fi
	why=
	[ $rc -eq 1 ] || why="exit status $rc, not 1"
	[ -z "$why" ] && ! cmp -s "$tmp/stderr" "$dir/$name.err" &&
		why="stderr: $(head -c 300 "$tmp/stderr") -- expected: $(head -c 300 "$dir/$name.err" 2>/dev/null)"
	[ -z "$why" ] && [ "$(cat "$tmp/out.img")" != "old image" ] && why="the output file was changed"
	[ -z "$why" ] && [ -s "$tmp/stdout" ] && why="something was written to stdout"
	if [ -z "$why" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name: $why" >&2
	fi
done
echo "encode-errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
