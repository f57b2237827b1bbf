#!/bin/bash
# completion.sh CRITLUA COMPLETION FIXTURES: completion/critlua.bash sourced
# into bash, _critlua called with COMP_WORDS/COMP_CWORD set, COMPREPLY checked
# (directories come without their "/": readline adds it under -o filenames).
# CRITLUA is the critlua to complete for (the commands come from its help).
set -u
CRITLUA=$1 COMPLETION=$2 FX=$3
fail=0
# shellcheck source=/dev/null
source "$COMPLETION" || { echo "FAIL: cannot source $COMPLETION"; exit 1; }
complete -p critlua >/dev/null || { echo "FAIL: no 'complete' for critlua"; fail=1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/cmds" "$TMP/dump" "$TMP/other"
printf -- '-- hello: greet\n-- usage: critlua hello [--loud] [--name NAME] FILE\nprint("hi")\n' >"$TMP/cmds/hello.lua"
: >"$TMP/dump/core-1.img" && : >"$TMP/dump/core-42.img" && : >"$TMP/dump/notes.txt"

# comp WORD... : complete the last WORD (may be ""); sets REPLY to the sorted replies
comp()
{
	COMP_WORDS=("$CRITLUA" "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	_critlua
	REPLY=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	REPLY=${REPLY% }
}
# expect "WANT" WORD...: the replies are exactly WANT
expect()
{
	local want=$1
	shift
	comp "$@"
	[[ $REPLY == "$want" ]] || { echo "FAIL: [$*]: got '$REPLY', want '$want'"; fail=1; }
}
# contains "W1 W2" WORD...: the replies include each of the words
contains()
{
	local want=$1 w
	shift
	comp "$@"
	for w in $want; do
		[[ " $REPLY " == *" $w "* ]] || { echo "FAIL: [$*]: '$w' not in '$REPLY'"; fail=1; }
	done
}

cd "$TMP" || exit 1
# commands: every one critlua help lists, and only those (no modules)
cmds=$("$CRITLUA" help | sed -n '/^Commands:/,/^$/{s/^  \([^ ][^ ]*\) .*/\1/p}' | sort | tr '\n' ' ')
cmds=${cmds% }
for c in check decode encode grep help info mem rewrite-ip rewrite-paths rewrite-ports rewrite-string show stats x; do
	[[ " $cmds " == *" $c "* ]] || { echo "FAIL: critlua help does not list $c"; fail=1; }
done
expect "$(printf '%s\n' $cmds cmds dump other | sort | tr '\n' ' ' | sed 's/ $//')" ""
expect "rewrite-ip rewrite-paths rewrite-ports rewrite-string" rew
expect "decode" de
contains "-e -i --interactive -I --scripts -d --debug -q --quiet -h --help -v --version" -
expect "cmds dump other" -i ""   # -i DIR|ARCHIVE: a directory or an archive
expect "dump" -q --interactive du
expect "" -i dump ""
expect "check" -q ch
expect "cmds" -I c
contains "hello decode" -I cmds ""
expect "hello help" -I cmds hel
expect "--loud --name" -I cmds hello --
# options, from each command's help
expect "--nopl --pretty -i -o" decode -
expect "--nopl --raw" show --
expect "--cmdline --env --json" x dump ps --
expect "--quiet --skip-pages -q" check -
expect "--context --json --kind --memory-only --page-size --pattern --pid --prot --range --source --window" grep dump x --
expect "--addr --dry-run --dump --kind --len --page-size --prot --range --raw --wait --write --write-string" mem dump 1 --
contains "--backup --dry-run --local-only --peer --peer-only --pid --proto --quiet --wait" rewrite-ports --
contains "--backup --dry-run --local-only --peer --peer-only --pid --proto --quiet --wait" rewrite-ip --
expect "--allow-none --backup --dry-run --json --only --quiet --wait" rewrite-paths --
expect "--json" stats dump --
# x views; dirs for checkpoints; image files; pids; option values
expect "fds mems ps rss sk" x dump ""
expect "mems" x dump m
expect "cmds dump other" x ""
expect "dump" check d
expect "dump" stats d
expect "dump" rewrite-ports d
expect "dump/core-1.img dump/core-42.img" show dump/
expect "dump/core-1.img dump/core-42.img" info dump/c
expect "dump/core-1.img dump/core-42.img" decode -i dump/
expect "1 42" mem dump ""
expect "42" grep dump PATH= --pid 4
expect "tcp udp" rewrite-ports dump 1:2 --proto ""
expect "cgroups files mounts unix" rewrite-paths dump --only ""
expect "heap" mem dump 1 --kind he
expect "42" rewrite-string dump a b --pid 4
expect "rewrite-ip rewrite-paths rewrite-ports rewrite-string" help rewrite-
expect "" help decode ""
expect "" x dump ps ""
# the real fixtures
expect "$FX/sleep" x "$FX/sle"
comp show "$FX/sleep/core"
[[ $REPLY == "$FX/sleep/core-23744.img" ]] || { echo "FAIL: show $FX/sleep/core: '$REPLY'"; fail=1; }
[ $fail = 0 ] && echo "completion: all checks passed"
exit $fail
