#!/bin/bash
# run-raw.sh CRITLUA DIR: `show --raw` of every DIR/*.img, byte for byte as
# DIR/*.expected (written by the build before the wire reader was shared):
# every wire type, every fault the reader names, fields known and unknown.
set -u
critlua=$1 dir=$2 fail=0
for img in "$dir"/*.img; do
	want=${img%.img}.expected
	if ! "$critlua" show --raw "$img" | cmp -s - "$want"; then
		echo "FAIL: show --raw $img differs from $want:"
		"$critlua" show --raw "$img" | diff "$want" - | head -20
		fail=1
	fi
done
exit $fail
