#!/bin/bash
# tests/numbering/run.sh CRITLUA FIXTURES: one numbering (issue 19). Every command that
# shows a person the place of an entry counts from 0, as jq over `critlua decode` does:
# this takes a path from each one's output — a fixup's change line and --json, diff,
# check, encode's error, the Lua API's error (crit.encode), show --raw's entry — and
# finds the same entry with jq over decode's JSON. Needs jq (scripts/setup.sh installs it).
set -u
critlua=$1 fx=$2
if ! command -v jq >/dev/null; then
	echo "SKIPPED: jq not found (scripts/setup.sh installs it)"
	exit 77
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0 pass=0
bad() {
	echo "FAIL: $*"
	fail=1
}
good() { pass=$((pass + 1)); }
# jq PATH over the decoded image FILE: the value there (compact)
at() { "$critlua" decode -i "$1" | jq -c ".$2"; }

cp -r "$fx/tcp" "$t/tcp" && chmod -R u+w "$t/tcp"

# a fixup: its change line (the part in parentheses) and its --json report
line=$("$critlua" rewrite-ports "$t/tcp" 54254:6000 -n 2>/dev/null | grep -m1 ' -> ')
path=$(sed -n 's/.*(files\.img: \([^)]*\))$/\1/p' <<<"$line")
old=$(sed -n 's/.*: [a-z_]* \([0-9]*\) -> .*/\1/p' <<<"$line")
[ -n "$path" ] && [ "$(at "$t/tcp/files.img" "$path")" = "$old" ] && good ||
	bad "rewrite-ports line '$line': jq .$path is $(at "$t/tcp/files.img" "$path"), not $old"
"$critlua" rewrite-ports "$t/tcp" 54254:6000 -n --json 2>/dev/null | jq -r '.changes[] | "\(.image) \(.path) \(.old)"' >"$t/changes"
[ -s "$t/changes" ] || bad "rewrite-ports --json: no changes"
while read -r img p o; do
	[ "$(at "$t/tcp/$img" "$p")" = "$o" ] && good || bad "rewrite-ports --json: jq .$p over $img is not $o"
done <"$t/changes"
# rewrite-paths: a path inside a repeated field too (cwd's file, a mapped one)
"$critlua" rewrite-paths "$t/tcp" /srv/fixture=/opt/fx -n --json 2>/dev/null | jq -r '.changes[] | "\(.image) \(.path) \(.old)"' >"$t/changes"
while read -r img p o; do
	[ "$(at "$t/tcp/$img" "$p")" = "\"$o\"" ] && good || bad "rewrite-paths --json: jq .$p over $img is not $o"
done <"$t/changes"

# diff: after the change, each path holds the old value in A and the new in B
cp -r "$t/tcp" "$t/tcp2"
"$critlua" rewrite-ports "$t/tcp2" 54254:6000 -q 2>/dev/null
"$critlua" diff --no-summary "$t/tcp" "$t/tcp2" >"$t/diff"
[ -s "$t/diff" ] || bad "diff: no output"
while IFS= read -r l; do
	img=${l%%: *} rest=${l#*: }
	p=${rest%%: *} vals=${rest#*: }
	o=${vals%% -> *} n=${vals##* -> }
	[ "$(at "$t/tcp/$img" "$p")" = "$o" ] && [ "$(at "$t/tcp2/$img" "$p")" = "$n" ] && good ||
		bad "diff line '$l': jq .$p is $(at "$t/tcp/$img" "$p") / $(at "$t/tcp2/$img" "$p")"
done <"$t/diff"

# check: an fd naming a file that does not exist, found by its entry
"$critlua" decode -i "$t/tcp/fdinfo-2.img" | jq -c '.entries[3].id = 999' | "$critlua" encode -o "$t/tcp2/fdinfo-2.img"
"$critlua" check "$t/tcp2" --skip-pages >"$t/check" 2>/dev/null
l=$(grep -m1 'file 999 does not exist' "$t/check")
i=$(sed -n 's/^fdinfo-2\.img: entries\[\([0-9]*\)\] (fd \([0-9]*\)).*/\1/p' <<<"$l")
fd=$(sed -n 's/^fdinfo-2\.img: entries\[\([0-9]*\)\] (fd \([0-9]*\)).*/\2/p' <<<"$l")
[ -n "$i" ] && [ "$(at "$t/tcp2/fdinfo-2.img" "entries[$i].id")" = 999 ] &&
	[ "$(at "$t/tcp2/fdinfo-2.img" "entries[$i].fd")" = "$fd" ] && good || bad "check line '$l'"

# encode: an unknown key put in with jq is named by the path jq used
"$critlua" decode -i "$t/tcp/fdinfo-2.img" | jq -c '.entries[2].bogus = 1' >"$t/bad.json"
err=$("$critlua" encode -i "$t/bad.json" -o "$t/x.img" 2>&1)
p=$(grep -o 'entries\[[0-9]*\]\.bogus' <<<"$err")
[ "$p" = "entries[2].bogus" ] && [ "$(jq -c ".$p" "$t/bad.json")" = 1 ] && good || bad "encode: '$err'"

# the Lua API: crit.encode's error names the entry jq finds (the script's entries[3])
err=$("$critlua" -e 'local img = crit.load(arg[1]); img.entries[3].flags = "x"; crit.encode(img)' \
	"$t/tcp/fdinfo-2.img" 2>&1)
p=$(grep -o 'entries\[[0-9]*\]\.flags' <<<"$err")
[ "$p" = "entries[2].flags" ] && [ "$(at "$t/tcp/fdinfo-2.img" "entries[2].fd")" = \
	"$("$critlua" -e 'print(crit.load(arg[1]).entries[3].fd)' "$t/tcp/fdinfo-2.img")" ] && good ||
	bad "crit.encode: '$err'"
err=$("$critlua" -e 'local ck = crit.open(arg[1]); ck:image("fdinfo-2.img").entries[5].fd = -1; ck:save()' \
	"$t/tcp" 2>&1)
p=$(grep -o 'entries\[[0-9]*\]\.fd' <<<"$err")
[ "$p" = "entries[4].fd" ] && good || bad "ck:save: '$err'"

# show --raw: "entry N" is jq's .entries[N]
"$critlua" show --raw "$t/tcp/fdinfo-2.img" >"$t/raw"
for n in 0 3 7; do
	v=$(awk -v n="$n" '$1 == "entry" && $2 == n { on = 1; next } $1 == "entry" { on = 0 } on && /\(fd\): varint/ { print $NF; exit }' "$t/raw")
	[ -n "$v" ] && [ "$(at "$t/tcp/fdinfo-2.img" "entries[$n].fd")" = "$v" ] && good || bad "show --raw entry $n: fd $v"
done

echo "numbering: $pass paths found by jq, failures: $fail"
exit $fail
