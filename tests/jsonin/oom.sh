#!/bin/bash
# oom.sh: JSON too large for the memory critlua may use (ulimit -v) must end
# with a clear error and exit status 1 -- never an abort (134) or a crash,
# never a wrong result (json-c 0.16 goes on with an empty string when it cannot
# grow one: src/core/jread.c checks) -- for `encode` and crit.json.decode.
# usage: oom.sh CRITLUA
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 oom=0

# a 40 MB string, and 1.5 million small objects (json-c allocates per value)
{
	printf '{"magic": "FS", "entries": [{"cwd_id": 1, "root_id": 2, "umask": "'
	head -c 40000000 /dev/zero | tr '\0' 7
	printf '"}]}'
} >"$tmp/string.json"
{
	printf '['
	yes '{"a": [1, "x"]},' | head -n 1500000 | tr -d '\n'
	printf '{}]'
} >"$tmp/objects.json"
cat >"$tmp/decode.lua" <<'LUA'
local text = assert(io.open(arg[1])):read("a")
local v = crit.json.decode(text)
print(type(v))
LUA
printf '{"magic": "FS", "entries": [{"cwd_id": 1, "root_id": 2}]}' >"$tmp/small.json"

# ASan and friends reserve terabytes of address space: no ulimit -v for them
if ! (ulimit -v 400000 && "$bin" encode -i "$tmp/small.json" -o "$tmp/small.img") 2>/dev/null; then
	echo "SKIPPED: critlua does not run under ulimit -v (a sanitizer build?)"
	exit 77
fi

# run LIMIT_KB WHAT CMD...: exit 0, or 1 with a message; counts the out-of-memory ones
run() {
	local lim=$1 what=$2
	shift 2
	printf 'old image\n' >"$tmp/out.img"
	(ulimit -v "$lim" && "$@") >"$tmp/stdout" 2>"$tmp/stderr"
	local rc=$?
	if [ $rc -eq 1 ]; then
		if grep -q "out of memory\|not enough memory" "$tmp/stderr"; then
			oom=$((oom + 1))
		elif ! grep -q "not an integer\|^critlua: .*: .*" "$tmp/stderr"; then
			echo "FAIL: $what under $lim KB: exit 1 without a message: $(head -c 300 "$tmp/stderr")" >&2
			fail=$((fail + 1))
		fi
		if [ "$(cat "$tmp/out.img")" != "old image" ]; then
			echo "FAIL: $what under $lim KB: the output file was changed" >&2
			fail=$((fail + 1))
		fi
	elif [ $rc -ne 0 ]; then
		echo "FAIL: $what under $lim KB: exit status $rc: $(head -c 300 "$tmp/stderr")" >&2
		fail=$((fail + 1))
	fi
}

for lim in 60000 100000 150000 250000 400000; do
	run $lim "encode of a 40 MB string" "$bin" encode -i "$tmp/string.json" -o "$tmp/out.img"
	run $lim "decode of a 40 MB string" "$bin" "$tmp/decode.lua" "$tmp/string.json"
	run $lim "decode of 1.5 million objects" "$bin" "$tmp/decode.lua" "$tmp/objects.json"
done
echo "jsonin-oom: $oom runs out of memory, $fail failures"
[ $fail -eq 0 ] && [ $oom -gt 0 ]
