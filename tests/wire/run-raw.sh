#!/bin/bash
# run-raw.sh CRITLUA DIR: `show --raw` of every DIR/*.img, byte for byte as
# DIR/*.expected (written by the build before the wire reader was shared):
# every wire type, every fault the reader names, fields known and unknown.
# A damaged image (DIR/NAME.error holds the damage it names) still prints its
# wire form on stdout, the damage shown in place, then the first damage as an
# error on stderr, "critlua: IMG: ...", and exits 1; a whole one exits 0.
set -u
critlua=$1 dir=$2 fail=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for img in "$dir"/*.img; do
	want=${img%.img}.expected
	if ! "$critlua" show --raw "$img" 2>"$err" | cmp -s - "$want"; then
		echo "FAIL: show --raw $img differs from $want:"
		"$critlua" show --raw "$img" 2>/dev/null | diff "$want" - | head -20
		fail=1
	fi
	"$critlua" show --raw "$img" >/dev/null 2>"$err"
	rc=$?
	if [ -f "${img%.img}.error" ]; then
		want_err="critlua: $img: $(cat "${img%.img}.error")"
		if [ $rc -ne 1 ] || [ "$(cat "$err")" != "$want_err" ]; then
			echo "FAIL: show --raw $img: exit $rc (want 1), stderr '$(cat "$err")' (want '$want_err')"
			fail=1
		fi
	elif [ $rc -ne 0 ] || [ -s "$err" ]; then
		echo "FAIL: show --raw $img: exit $rc, stderr '$(cat "$err")' (want 0 and nothing)"
		fail=1
	fi
done
exit $fail
