#!/bin/bash
# readme.sh: the README's examples work as written. Every `critlua ...` line of
# its ```sh blocks runs (from the top of the repository, with the critlua under
# test, /tmp/ replaced by a scratch directory) and must exit 0 (diff: 0 or 1), and
# its output must be what the example promises: the `# ...` lines that follow it
# in the README, and what the table WANT below says (a golden file, whole lines,
# or no output). An example with neither fails: a new example needs its check
# here. The rename.lua script of the ```lua block runs and renames every process.
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

# What each example prints, by its command as the README writes it (without its
# `# remark`; /tmp/ stands for the scratch directory): "golden FILE" (the output
# is FILE, byte for byte), "line TEXT" (a whole line of the output), "has TEXT"
# (text within the output), "empty" (no output). One check per line; \t is a tab.
# The values are facts of the fixtures (ss, ps and cmdline taken at dump time in
# tests/fixtures/expected/*/at-dump), not copies of critlua's output.
declare -A WANT
WANT['critlua x tests/fixtures/pipes ps']='golden tests/fixtures/expected/pipes/x-ps.txt'
WANT['critlua x tests/fixtures/tcp sk']='line 24277   3  INET    STREAM  TCP    LISTEN       0       8  127.0.0.1:47321  0.0.0.0:*          16384  131072
line 24280   4  INET6   STREAM  TCP    ESTAB      500       0  [::1]:51736      [::1]:47322      3939840  131072'
WANT['critlua x tests/fixtures/sleep ps --cmdline']='line   23744  23744  23744   sleep 1000'
WANT['critlua show tests/fixtures/sleep/core-23744.img']='golden tests/fixtures/expected/sleep/core-23744.img.pretty.json'
WANT['critlua stats tests/fixtures/sleep']='line Dump statistics (stats-dump):
line   Memory pages written:                     31 (124.0 KiB)'
WANT['critlua mem tests/fixtures/sleep 23744']='line 558aa968a000-558aa96ab000          rw-p   132.0 KiB      4  16.0 KiB  [heap]'
WANT['critlua grep tests/fixtures/sleep PATH=']='has \x00sleep\x001000\x00PATH=/usr/local/bin:/'
WANT['cp -r tests/fixtures/tcp /tmp/dump && chmod -R u+w /tmp/dump']='empty'
WANT['critlua rewrite-ports /tmp/dump 47321:8080 --backup']='line 3 change(s) written to files.img (originals kept as *.orig)'
WANT['critlua rewrite-ip /tmp/dump 127.0.0.1=10.0.0.5 --json']='has "path": "entries[14].isk.dst_addr"
has "holders": [{"fd": 3, "pid": 24280}]'
WANT['critlua check /tmp/dump --skip-pages']='line /tmp/dump: no problems (23 images, 2 processes)'
WANT["critlua -e 'for _, p in ipairs(crit.open(arg[1]):ps()) do print(p.pid, p.comm) end' tests/fixtures/pipes"]='line 23947\tbash
line 23954\tpipes'
WANT['mkdir -p /tmp/pod && cp -r tests/fixtures/tcp /tmp/pod/checkpoint']='empty'
WANT['tar -C /tmp/pod --zstd -cf /tmp/checkpoint.tar.zst checkpoint']='empty'
WANT['critlua inspect /tmp/checkpoint.tar.zst']='line processes:     2 (2 threads)
line checkpoint:    15.5 KiB in 23 files (memory pages 0 B)'
WANT['critlua x /tmp/checkpoint.tar.zst ps']='golden tests/fixtures/expected/tcp/x-ps.txt'
WANT['critlua rewrite-ports /tmp/checkpoint.tar.zst 47321:8080 --backup']='line 3 change(s) written to files.img (originals kept as *.orig)'
WANT['critlua diff /tmp/checkpoint.tar.zst.orig /tmp/checkpoint.tar.zst']='line   sockets: 24280 fd 3 (INET STREAM): peer "127.0.0.1:47321" -> "127.0.0.1:8080"'
WANT['critlua diff tests/fixtures/tcp/files.img /tmp/dump/files.img --json']='has {"path": "entries[14].isk.dst_port", "old": 47321, "new": 8080, "old_text": "47321", "new_text": "8080"}'

# want_check LINE_NR EXAMPLE OUTPUT_FILE: the table's checks of one example; 1 if it has none.
want_check() {
	local nr=$1 ex=$2 out=$3 spec kind text
	[ -n "${WANT[$ex]+x}" ] || return 1
	while IFS= read -r spec; do
		kind=${spec%% *} text=${spec#* }
		text=${text//\\t/$'\t'}
		text=${text//\/tmp\//$T/}
		case $kind in
		golden) cmp -s "$out" "$text" ;;
		line) grep -qxF -- "$text" "$out" ;;
		has) grep -qF -- "$text" "$out" ;;
		empty) [ ! -s "$out" ] ;;
		*) false ;;
		esac
		if [ $? -eq 0 ]; then pass=$((pass + 1)); else bad "README line $nr: '$ex' did not print: $spec"; fi
	done <<<"${WANT[$ex]}"
	return 0
}

# The sh blocks, one line each, as "CMD<TAB>line number", expected-output lines as "#...".
awk '/^```sh/ { inb = 1; next } /^```/ { inb = 0; next } inb { print NR "\t" $0 }' README.md >"$T/lines"
last_out=
last_cmd=
last_nr=
declare -A checked=() unchecked=() outlines=()
while IFS=$'\t' read -r nr line; do
	case $line in
	'# '*)
		# output the previous command must have printed (up to the comment's own remark)
		want=${line#\# }
		want=$(printf '%s' "$want" | sed 's/  *(.*)$//; s/ *$//')
		[ -n "$last_cmd" ] || continue
		outlines[$last_nr]=1
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
	last_nr=$nr
	last_out=$T/out.$nr
	B=$B bash -c "$cmd" >"$last_out" 2>"$T/err"
	rc=$?
	# diff's 1 says "different", which is what the examples show
	if [ $rc -eq 0 ] || { [ $rc -eq 1 ] && [[ $line == "critlua diff "* ]]; }; then
		pass=$((pass + 1))
	else
		bad "README line $nr: $line: exit $rc: $(head -c 300 "$T/err")"
	fi
	example=$(printf '%s' "$line" | sed 's/  *# .*$//')
	if want_check "$nr" "$example" "$last_out"; then
		checked[$nr]=1
	else
		unchecked[$nr]=$example
	fi
done <"$T/lines"
# An example whose output nothing checks (no `# ...` line after it, no WANT entry) fails.
for nr in "${!unchecked[@]}"; do
	[ -n "${outlines[$nr]:-}" ] || bad "README line $nr: nothing checks the output of '${unchecked[$nr]}': add it to WANT in tests/readme.sh"
done

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
