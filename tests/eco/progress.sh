#!/bin/bash
# progress.sh CRITLUA FIXTURES: the progress line of long runs. On a terminal
# (a pty made by util-linux's script) it shows on stderr, rate-limited and
# erased at the end; --quiet, check -q, a stdout on the same terminal, and a
# stderr that is not a terminal get none; the output itself never changes.
set -u
CRITLUA=$1 FX=$2
fail=0
bad() { echo "FAIL: $*"; fail=1; }
if ! command -v script >/dev/null; then
	echo "SKIPPED: script (util-linux) not found"
	exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
q() { printf '%q' "$1"; }
# tty CMD...: run the shell command line CMD with stdin, stdout and stderr on
# a pty; what the terminal got goes to stdout.
tty() { script -qec "$1" /dev/null </dev/null; }
has() { grep -qF -- "$2" <<<"$1"; }
ESC=$'\033'

IMG=$FX/sleep/core-23744.img
B=$(q "$CRITLUA")

# 1. decode into a file, stderr a terminal: the line, then erased.
"$CRITLUA" decode -i "$IMG" -o "$TMP/plain.json" || bad "decode"
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B decode -i $(q "$IMG") -o $(q "$TMP/tty.json")")
has "$out" $'\r''decoding core-23744.img: ' || bad "decode on a tty: no progress line: $(printf %q "$out")"
has "$out" $'\r'"$ESC[K" || bad "decode on a tty: the line is not erased: $(printf %q "$out")"
cmp -s "$TMP/plain.json" "$TMP/tty.json" || bad "decode on a tty: the output differs"

# 2. the default delay: a short run shows nothing.
out=$(tty "$B decode -i $(q "$IMG") -o $(q "$TMP/tty2.json")")
[ -z "$out" ] || bad "a short run drew a progress line: $(printf %q "$out")"

# 3. --quiet / -q, before the command.
for o in --quiet -q; do
	out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B $o decode -i $(q "$IMG") -o $(q "$TMP/q.json")")
	[ -z "$out" ] || bad "$o: progress shown: $(printf %q "$out")"
done

# 4. stderr not a terminal: nothing, even with no delay.
CRITLUA_PROGRESS_DELAY=0 "$CRITLUA" decode -i "$IMG" -o "$TMP/n.json" 2>"$TMP/err" || bad "decode"
[ -s "$TMP/err" ] && bad "stderr not a tty got: $(cat -v "$TMP/err")"
CRITLUA_PROGRESS_DELAY=0 "$CRITLUA" grep "$FX/sleep" PATH= >"$TMP/g.plain" 2>"$TMP/err" || bad "grep"
[ -s "$TMP/err" ] && bad "grep, stderr not a tty, got: $(cat -v "$TMP/err")"

# 5. decode to stdout on the terminal: the JSON is the progress, no line.
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B decode -i $(q "$IMG")")
has "$out" "decoding" && bad "decode to a terminal stdout drew a line"
has "$out" '"magic": "CORE"' || bad "decode to a terminal: no JSON"

# 6. grep: progress per process; the matches unchanged.
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B grep $(q "$FX/sleep") PATH= >$(q "$TMP/g.tty")")
has "$out" $'\r''grep: process 23744 (1 of 1): ' || bad "grep on a tty: no progress line: $(printf %q "$out")"
cmp -s "$TMP/g.plain" "$TMP/g.tty" || bad "grep on a tty: the matches differ"
# matches on the terminal too: each one starts on a clean line
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B grep $(q "$FX/sleep") PATH=")
has "$out" $'\t''"' || bad "grep to a terminal: no matches"

# 7. check: a count of images; check -q silences it.
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B check --skip-pages $(q "$FX/sleep") >/dev/null")
has "$out" $'\r''check: decoding: ' || bad "check on a tty: no progress line: $(printf %q "$out")"
has "$out" ' images)' || bad "check on a tty: no image count: $(printf %q "$out")"
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B check -q --skip-pages $(q "$FX/sleep")")
[ -z "$out" ] || bad "check -q: output: $(printf %q "$out")"

# 8. an error while the line is drawn starts on a clean line.
out=$(CRITLUA_PROGRESS_DELAY=0 tty "$B grep $(q "$FX/sleep") PATH= --pid 1 >/dev/null")
has "$out" "critlua: " || bad "grep --pid 1: no error"

[ $fail = 0 ] && echo "progress: all checks passed"
exit $fail
