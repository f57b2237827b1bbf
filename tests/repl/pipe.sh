#!/bin/bash
# tests/repl/pipe.sh CRITLUA FIXTURES: `critlua -i` fed by a pipe, as a script
# feeds it: no banner, no prompts, only the results on stdout and the errors on
# stderr; the session goes on after an error and ends with status 1; over a
# directory and over a container checkpoint archive the same.
set -u
CRITLUA=$1
FIX=$(cd "$2" && pwd) || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-repl-pipe.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# check NAME STATUS EXPECTED_STDOUT EXPECTED_STDERR INPUT -- ARGS...
check() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4 input=$5
	shift 6
	printf '%s' "$input" | env -u CRITLUA_HISTORY -u XDG_STATE_HOME HOME=$TMP "$CRITLUA" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" = "$want_rc" ] || fail "$name: exit status $rc, not $want_rc"
	if ! diff -u <(printf '%s' "$want_out") "$TMP/out" >"$TMP/d"; then
		fail "$name: stdout differs:"
		cat "$TMP/d"
	fi
	if ! diff -u <(printf '%s' "$want_err") "$TMP/err" >"$TMP/d"; then
		fail "$name: stderr differs:"
		cat "$TMP/d"
	fi
}

INPUT='1 + 1
=ck.dir:match("[^/]*$")
x = 5
x, "a", nil
ck:ps()
ck:image("pstree.img").entries[1]
ck:image("pstree.img").entries
error("boom")
x = = 1
function f(a)
  return a * 2
end
f(21)
{a = 1, b = {1, 2, 3}, c = "x\ny"}
print(#ck:list() > 0)
ck:list()
ck:fds()
{a = 1, b = {x = 1, z = ("a"):rep(90)}}
{ck, 1}
:nosuch
'
OUT='2
sleep
5	a	nil
#    pid  ppid   pgid    sid  state  children  depth  exit_code  threads  comm
1  23744     0  23744  23744  alive  {}            0          0  {23744}  sleep
{}
{"pid": 23744, "ppid": 0, "pgid": 23744, "sid": 23744, "threads": [23744]}
#    pid  ppid   pgid    sid  threads
1  23744     0  23744  23744  {23744}
42
{a = 1, b = {1, 2, 3}, c = "x\ny"}
true
{
  "core-23744.img", "fdinfo-2.img", "files.img", "fs-23744.img", "ids-23744.img", "inventory.img",
  "mm-23744.img", "pagemap-23744.img", "pages-1.img", "pstree.img", "seccomp.img", "stats-dump",
  "timens-0.img",
}
#    pid  cwd                     fds        files_id  root
1  23744  /srv/fixture/tmp/sleep  {3 items}         2  /
{}
{
  a = 1,
  b = {
    x = 1,
    z = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  },
}
{crit.checkpoint: CKDIR, 1}
'
ERR="stdin:1: boom
stdin:1: unexpected symbol near '='
unknown command ':nosuch' (:help lists them)
"
check directory 1 "${OUT/CKDIR/$FIX/sleep}" "$ERR" "$INPUT" -- -i "$FIX/sleep"

# The same over a container checkpoint archive (the images under checkpoint/).
mkdir -p "$TMP/ar/checkpoint"
cp "$FIX"/sleep/* "$TMP/ar/checkpoint/"
tar -C "$TMP/ar" -cf "$TMP/sleep.tar" checkpoint
OUT=${OUT/CKDIR/$TMP/sleep.tar}
check archive 1 "${OUT/sleep/sleep.tar}" "$ERR" "$INPUT" -- -i "$TMP/sleep.tar"

# Input without an error: status 0; nothing on stderr; -e runs first, in the same state.
check clean 0 '3
' '' '=y
' -- -e 'y = 3' -i "$FIX/sleep"

# An unfinished chunk at the end of the input is an error.
check unfinished 1 '' 'stdin: unfinished chunk at the end of the input
' 'function g(
' -- -i "$FIX/sleep"

# :q ends the session there; no checkpoint: ck is nil, crit is there.
check quit 0 'true
' '' '=ck == nil and crit.open ~= nil
:q
=1
' -- -i

# A checkpoint that cannot be opened: the error, status 1, no session.
check missing 1 '' "critlua: $TMP/none: No such file or directory
" '=1
' -- -i "$TMP/none"

# One checkpoint only: a usage error.
printf '' | "$CRITLUA" -i "$FIX/sleep" extra >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" = 2 ] || fail "two checkpoints: exit status $rc, not 2"
grep -q "^critlua: -i takes one checkpoint (a directory or an archive), not 'extra'$" "$TMP/err" ||
	fail "two checkpoints: $(cat "$TMP/err")"

# Scripts that feed the REPL never touch the history file.
[ ! -e "$TMP/.critlua_history" ] || fail "a pipe-fed session wrote ~/.critlua_history"

if [ "$fails" -gt 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "repl over a pipe: all checks passed"
