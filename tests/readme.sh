#!/bin/bash
# readme.sh: the README's examples work as written. Every `critlua ...` line of
# its ```sh blocks runs (from the top of the repository, with the critlua under
# test, /tmp/ replaced by a scratch directory) and must exit 0 (diff: 0 or 1); the `# ...`
# lines that follow a command in a block are output it must print; the
# rename.lua script of the ```lua block runs and renames every process.
# usage: readme.sh CRITLUA
set -u
export LC_ALL=C
[ $# -eq 1 ] || { echo "usage: $0 CRITLUA" >&2; exit 2; }
B=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*" >&2
}

# The sh blocks, one line each, as "CMD<TAB>line number", expected-output lines as "#...".
awk '/^```sh/ { inb = 1; next } /^```/ { inb = 0; next } inb { print NR "\t" $0 }' README.md >"$T/lines"
last_out=
last_cmd=
while IFS=$'\t' read -r nr line; do
	case $line in
	'# '*)
		# output the previous command must have printed (up to the comment's own remark)
		want=${line#\# }
		want=$(printf '%s' "$want" | sed 's/  *(.*)$//; s/ *$//')
		[ -n "$last_cmd" ] || continue
		if grep -qF -- "$want" "$last_out"; then pass=$((pass + 1)); else bad "README line $nr: '$last_cmd' did not print: $want"; fi
		continue
		;;
	critlua\ * | cp\ -r\ tests/fixtures/* | mkdir\ -p\ /tmp/* | tar\ *) ;;
	*) continue ;;
	esac
	case $line in *'…'* | *'| jq'*) continue ;; esac
	cmd=$(printf '%s' "$line" | sed 's/  *# .*$//')
	cmd=${cmd//\/tmp\//$T/}
	case $cmd in critlua\ *) cmd="\"\$B\"${cmd#critlua}" ;; esac
	last_cmd=$line
	last_out=$T/out.$nr
	B=$B bash -c "$cmd" >"$last_out" 2>"$T/err"
	rc=$?
	# diff's 1 says "different", which is what the examples show
	if [ $rc -eq 0 ] || { [ $rc -eq 1 ] && [[ $line == "critlua diff "* ]]; }; then
		pass=$((pass + 1))
	else
		bad "README line $nr: $line: exit $rc: $(head -c 300 "$T/err")"
	fi
done <"$T/lines"

# The rename.lua example.
awk '/^```lua/ { inb = 1; next } /^```/ { inb = 0 } inb' README.md >"$T/all.lua"
if grep -q '^-- rename.lua' "$T/all.lua"; then
	sed -n '/^-- rename.lua/,$p' "$T/all.lua" >"$T/rename.lua"
	cp -r tests/fixtures/pipes "$T/ck" && chmod -R u+w "$T/ck"
	if "$B" "$T/rename.lua" "$T/ck" renamed 2>"$T/err"; then
		n=$("$B" x "$T/ck" ps | tail -n +2 | grep -c 'renamed$')
		all=$("$B" x "$T/ck" ps | tail -n +2 | wc -l)
		if [ "$n" -gt 0 ] && [ "$n" = "$all" ]; then pass=$((pass + 1)); else bad "rename.lua: $n of $all processes renamed"; fi
	else
		bad "rename.lua: $(head -c 300 "$T/err")"
	fi
else
	bad "README has no rename.lua example any more"
fi
[ $((pass + fail)) -gt 5 ] || bad "only $((pass + fail)) README examples found"
echo "readme: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
