#!/bin/bash
# golden-x.sh: `critlua x DUMP ps|fds|mems|rss` against CRIT's outputs (the goldens),
# and `x DUMP WHAT --json` against an x-WHAT.json where there is one.
# usage: golden-x.sh CRITLUA FIXTURES EXPECTED
# Where CRIT worked (x-WHAT.txt alone) the output must be identical, byte for
# byte. Where it crashed (an x-WHAT.err beside it) critlua's output must start
# with what CRIT printed and critlua must succeed - unless the directory is no
# checkpoint at all (no pstree.img), which must fail with status 1 and say so.
set -u
critlua=$1 fixtures=$2 expected=$3
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
shopt -s nullglob
bad() {
	echo "FAIL: $1"
	fail=$((fail + 1))
}
for golden in "$expected"/*/x-*.txt "$expected"/*/x-*.json; do
	scen=$(basename "$(dirname "$golden")")
	what=$(basename "$golden")
	what=${what#x-}
	json=
	case $what in *.json) json=--json ;; esac
	what=${what%.*}
	dump=$fixtures/$scen
	if [ ! -d "$dump" ]; then
		echo "skip: $scen (no fixture directory)"
		continue
	fi
	"$critlua" x "$dump" "$what" $json >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ -f "${golden%.*}.err" ]; then
		if [ ! -f "$dump/pstree.img" ]; then
			if [ $rc -ne 1 ] || [ -s "$tmp/out" ] || ! grep -q "pstree.img" "$tmp/err"; then
				bad "$scen $what: not a checkpoint: want exit 1 and an error naming pstree.img (exit $rc)"
				continue
			fi
		elif [ $rc -ne 0 ]; then
			bad "$scen $what: exit $rc: $(head -c 300 "$tmp/err")"
			continue
		elif ! head -c "$(stat -c %s "$golden")" "$tmp/out" | cmp -s - "$golden"; then
			bad "$scen $what: the output does not start with CRIT's"
			continue
		fi
	elif [ $rc -ne 0 ]; then
		bad "$scen $what: exit $rc: $(head -c 300 "$tmp/err")"
		continue
	elif ! cmp -s "$tmp/out" "$golden"; then
		bad "$scen $what $json: differs from $golden"
		diff "$golden" "$tmp/out" | head -5
		continue
	fi
	pass=$((pass + 1))
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
