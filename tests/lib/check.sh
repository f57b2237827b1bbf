# tests/lib/check.sh: the counters and checks the shell tests share; source it
# after `set -u`. fail prints and counts a failure, ok counts a check passed.
fails=0
checks=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
ok() {
	checks=$((checks + 1))
}
# expect LABEL WANT_RC PATTERN CMD...: CMD exits WANT_RC and its output has PATTERN (fixed string)
expect() {
	local label=$1 want=$2 pat=$3
	shift 3
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq "$want" ] && grep -qF -- "$pat" <<<"$out"; then
		ok
	else
		fail "$label: exit $rc (want $want), output without '$pat':"
		echo "$out" | head -5
	fi
	if grep -q "AddressSanitizer\|runtime error\|stack traceback" <<<"$out"; then fail "$label: crashed: $out"; fi
}
