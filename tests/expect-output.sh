#!/bin/sh
# expect-output.sh GOLDEN CMD [ARGS...]: CMD must exit 0 and print GOLDEN on stdout,
# byte for byte (ctest's PASS_REGULAR_EXPRESSION alone would ignore the exit status).
[ $# -ge 2 ] || { echo "usage: $0 GOLDEN CMD [ARGS...]" >&2; exit 2; }
golden=$1
shift
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
"$@" >"$out"
rc=$?
if [ $rc -ne 0 ]; then
	echo "FAIL: $*: exit status $rc" >&2
	exit 1
fi
if ! cmp -s "$out" "$golden"; then
	echo "FAIL: $*: the output differs from $golden:" >&2
	diff "$golden" "$out" | head -10 >&2
	exit 1
fi
echo "ok: $* prints $golden"
