#!/bin/bash
# golden-encode.sh: encoding every CRIT golden (plain and --pretty JSON) must
# give back the fixture image byte for byte. A v1 image (no head magic) comes
# back in the v1.1 form, as CRIT's encode writes it: the head, then the same bytes.
# usage: golden-encode.sh CRITLUA FIXTURES_DIR EXPECTED_DIR
set -u
export LC_ALL=C
if [ $# -ne 3 ]; then
	echo "usage: $0 CRITLUA FIXTURES_DIR EXPECTED_DIR" >&2
	exit 2
fi
bin=$1 fixtures=$2 expected=$3
if [ ! -d "$fixtures" ] || [ ! -d "$expected" ]; then
	echo "golden-encode: skipped: no fixtures at $fixtures" >&2
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# The first 4 bytes of a file as 8 hex digits, in file order.
head4() {
	od -An -tx1 -N4 "$1" | tr -d ' \n'
}

for want in "$expected"/*/*.json; do
	rel=${want#"$expected"/}
	case $rel in
	*.info.json) continue ;;
	*.pretty.json) img=${rel%.pretty.json} ;;
	*) img=${rel%.json} ;;
	esac
	orig=$fixtures/$img
	[ -f "$orig" ] || continue
	rm -f "$tmp/out.img"
	if ! "$bin" encode -i "$want" -o "$tmp/out.img" 2>"$tmp/err"; then
		fail=$((fail + 1))
		echo "FAIL: encode $rel: $(head -c 300 "$tmp/err")" >&2
		continue
	fi
	case $(head4 "$orig") in
	19435654 | 40591055 | 16313158) # IMG_COMMON, IMG_SERVICE, inventory: as it was
		cmp -s "$tmp/out.img" "$orig" ;;
	*) # v1: a head first, then the image as it was
		case $(head4 "$tmp/out.img") in
		19435654 | 40591055) tail -c +5 "$tmp/out.img" | cmp -s - "$orig" ;;
		*) false ;;
		esac ;;
	esac
	if [ $? -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: encode $rel: $(cmp "$tmp/out.img" "$orig" 2>&1 | head -1)" >&2
	fi
done
echo "golden-encode: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
