#!/bin/bash
# fuzz/run.sh: run every libFuzzer target for a bounded time (CI's fuzz step).
# usage: fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]   (BUILD_DIR configured with
#        -DCMAKE_C_COMPILER=clang -DCRITLUA_FUZZ=ON and built)
# Each target starts from a scratch copy of fuzz/corpus/<target> and
# fuzz/regressions/<target>, so the corpus in the repository stays as it is;
# a crash leaves its input in BUILD_DIR/fuzz-artifacts/ and fails the run. To
# grow the kept corpus by hand: fuzz-<target> -merge=1 fuzz/corpus/<target> NEW_DIR.
set -u
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]" >&2
	exit 2
fi
build=$1
secs=${2:-60}
src=$(cd "$(dirname "$0")" && pwd)
art=$build/fuzz-artifacts
mkdir -p "$art"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 pass=0
for t in image json mem lua wire archive txn datasrc; do
	bin=$build/fuzz/fuzz-$t
	if [ ! -x "$bin" ]; then
		echo "fuzz: $bin is not built" >&2
		fail=$((fail + 1))
		continue
	fi
	mkdir -p "$work/$t"
	cp "$src/corpus/$t"/* "$work/$t"/
	[ -d "$src/regressions/$t" ] && cp "$src/regressions/$t"/* "$work/$t"/
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$art/$t-" -print_final_stats=1 "$work/$t" >"$work/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	if [ $rc -eq 0 ]; then
		echo "fuzz-$t: ${runs:-?} executions in ${secs}s, no crash"
		pass=$((pass + 1))
	else
		echo "fuzz-$t: FAILED (exit $rc) after ${runs:-?} executions; input in $art/" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_|    #[0-9] )' "$work/$t.log" | head -30 >&2
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
