#!/bin/bash
# golden-decode.sh: decode, decode --pretty and info of every fixture image
# that has a CRIT golden must match it byte for byte.
# usage: golden-decode.sh CRITLUA FIXTURES_DIR EXPECTED_DIR
set -u
export LC_ALL=C
if [ $# -ne 3 ]; then
	echo "usage: $0 CRITLUA FIXTURES_DIR EXPECTED_DIR" >&2
	exit 2
fi
bin=$1 fixtures=$2 expected=$3
if [ ! -d "$fixtures" ] || [ ! -d "$expected" ]; then
	echo "golden-decode: skipped: no fixtures at $fixtures" >&2
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# check NAME EXPECTED-FILE COMMAND...: the command's stdout must equal the file.
check() {
	local name=$1 want=$2
	shift 2
	if "$@" >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "$want"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name" >&2
		head -c 300 "$tmp/err" >&2
		cmp "$tmp/out" "$want" 2>&1 | head -1 >&2
	fi
}

for want in "$expected"/*/*.json; do
	rel=${want#"$expected"/}
	case $rel in
	*.pretty.json) img=${rel%.pretty.json} mode=pretty ;;
	*.info.json) img=${rel%.info.json} mode=info ;;
	*) img=${rel%.json} mode=plain ;;
	esac
	in=$fixtures/$img
	[ -f "$in" ] || continue
	case $mode in
	plain) check "decode $img" "$want" "$bin" decode -i "$in" ;;
	pretty) check "decode --pretty $img" "$want" "$bin" decode --pretty -i "$in" ;;
	info) check "info $img" "$want" "$bin" info "$in" ;;
	esac
done
echo "golden-decode: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
