#!/bin/bash
# run.sh: every NAME.json here uses input forms `encode` accepts beyond the
# plain golden layout (integer strings, flag and dict names, addresses,
# devices, camelCase names, base64 without line breaks, ...); encoding it and
# decoding the image again must print exactly NAME.expected.json.
# usage: run.sh CRITLUA
set -u
export LC_ALL=C
if [ $# -ne 1 ]; then
	echo "usage: $0 CRITLUA" >&2
	exit 2
fi
bin=$1
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for in in "$dir"/*.json; do
	case $in in *.expected.json) continue ;; esac
	name=$(basename "$in" .json)
	if "$bin" encode -i "$in" -o "$tmp/out.img" 2>"$tmp/err" &&
		"$bin" decode -i "$tmp/out.img" >"$tmp/out.json" 2>>"$tmp/err" &&
		cmp -s "$tmp/out.json" "$dir/$name.expected.json"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name: $(head -c 300 "$tmp/err")" >&2
		diff "$tmp/out.json" "$dir/$name.expected.json" 2>/dev/null | head -4 >&2
	fi
done
echo "encode-accept: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
