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
# pick_fixtures ROOT GLOBS [NAME...]: FIXTURES, the NAMEs given, or else every
# folder of ROOT with a regular file matching each of the words of GLOBS
pick_fixtures() {
	local root=$1 gl d g f
	read -r -a gl <<<"$2"
	shift 2
	FIXTURES=("$@")
	[ $# -gt 0 ] && return
	for d in "$root"/*/; do
		d=${d%/}
		for g in "${gl[@]}"; do
			for f in "$d"/$g; do [ -f "$f" ] && continue 2; done
			continue 2
		done
		FIXTURES+=("$(basename "$d")")
	done
}
# want LABEL TEXT PATTERN...: each grep pattern matches a line of TEXT
want() {
	local label=$1 text=$2 p
	shift 2
	for p in "$@"; do
		if grep -q -- "$p" <<<"$text"; then ok; else fail "$label: no line matching '$p' in:"; echo "$text" | head -30; fi
	done
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
# no_diff LABEL A B: critlua diff A B finds them equal (exit 0, nothing printed)
no_diff() {
	local out rc
	out=$("$CRITLUA" diff "$2" "$3" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then ok; else fail "$1: exit $rc: $out"; fi
}
# same_on [--mask-both] LABEL DIR OTHER CMDLINE...: each CMDLINE (critlua's words,
# @ for the checkpoint) prints on OTHER (an archive, POD//NAME) what it prints on
# the directory DIR: stdout and stderr together and the exit status, compared by
# cmp once each output has its own checkpoint's name replaced by @ (NAME:checkpoint,
# how an archive names a member, first). With --mask-both each output has OTHER's
# and then DIR's name replaced, for tests whose outputs may name either. One check
# a CMDLINE; a crash on OTHER fails too. Runs $CRITLUA; its outputs go in $TMP.
same_on() {
	local both=0
	[ "$1" = --mask-both ] && { both=1; shift; }
	local label=$1 dir=$2 other=$3
	shift 3
	local d_sed=(-e "s|$dir:checkpoint|@|g" -e "s|$dir|@|g")
	local o_sed=(-e "s|$other:checkpoint|@|g" -e "s|$other|@|g")
	[ $both = 1 ] && o_sed+=(-e "s|$dir|@|g") && d_sed=("${o_sed[@]}")
	local c w words d_words o_words
	for c in "$@"; do
		read -r -a words <<<"$c"
		d_words=() o_words=()
		for w in "${words[@]}"; do
			if [ "$w" = @ ]; then d_words+=("$dir"); o_words+=("$other"); else d_words+=("$w"); o_words+=("$w"); fi
		done
		"$CRITLUA" "${d_words[@]}" >"$TMP/same.d.raw" 2>&1
		echo "exit $?" >>"$TMP/same.d.raw"
		"$CRITLUA" "${o_words[@]}" >"$TMP/same.o.raw" 2>&1
		echo "exit $?" >>"$TMP/same.o.raw"
		sed "${d_sed[@]}" "$TMP/same.d.raw" >"$TMP/same.d"
		sed "${o_sed[@]}" "$TMP/same.o.raw" >"$TMP/same.o"
		if cmp -s "$TMP/same.d" "$TMP/same.o"; then
			ok
		else
			fail "$label: critlua $c differs from the directory's:"
			diff "$TMP/same.d" "$TMP/same.o" | head -10
		fi
		if grep -q "AddressSanitizer\|runtime error\|stack traceback" "$TMP/same.o"; then
			fail "$label: critlua $c crashed"
		fi
	done
}
