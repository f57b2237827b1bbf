#!/bin/bash
# install.sh BUILD SOURCE SANITIZE: `cmake --install BUILD --prefix TMP`, then
# from TMP only: critlua --help, stock commands and fixups on tests/fixtures,
# the man page through man -l (kept in step with the commands' usage lines),
# the completion, and lua5.4 requiring the installed crit.so.
set -u
BUILD=$1 SRC=$2 SANITIZE=$3
FX=$SRC/tests/fixtures
if [ "$SANITIZE" = ON ]; then
	# An ASan-instrumented crit.so cannot be loaded into the uninstrumented
	# lua5.4 (the ASan runtime must come first), so the install is tested in
	# the ordinary build only.
	echo "SKIPPED: a sanitizer build (-DCRITLUA_SANITIZE=ON): its crit.so cannot load into lua5.4"
	exit 77
fi
fail=0
bad() { echo "FAIL: $*"; fail=1; }
LUA=$(command -v lua5.4) || { echo "FAIL: lua5.4 not found (scripts/setup.sh installs it)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
P=$TMP/prefix
cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; echo "FAIL: cmake --install"; exit 1; }

for f in bin/critlua share/man/man1/critlua.1 share/bash-completion/completions/critlua \
	share/critlua/scripts/rewrite-ports.lua share/critlua/scripts/rewrite-ip.lua \
	share/critlua/scripts/rewrite-paths.lua share/critlua/scripts/check.lua \
	share/doc/critlua/LUA-API.md share/doc/critlua/README.md lib/lua/5.4/crit.so; do
	[ -e "$P/$f" ] || bad "not installed: $f"
done

# From the prefix only: no build tree, no source scripts on any path.
export PATH=$P/bin:/usr/bin:/bin
unset CRITLUA_PATH LUA_PATH LUA_PATH_5_4 LUA_CPATH_5_4
cd "$TMP" || exit 1
[ "$(command -v critlua)" = "$P/bin/critlua" ] || bad "critlua is not the installed one"

out=$(critlua --help) || bad "critlua --help: exit $?"
grep -q '^Commands:' <<<"$out" || bad "critlua --help lists no commands"
cmds=$(sed -n '/^Commands:/,/^$/{s/^  \([^ ][^ ]*\) .*/\1/p}' <<<"$out")
for c in check decode encode grep help info mem rewrite-ip rewrite-paths rewrite-ports show stats x; do
	grep -qx "$c" <<<"$cmds" || bad "critlua --help does not list $c"
	critlua help "$c" | grep -q "^usage: critlua $c" || bad "critlua help $c: no usage line"
	critlua "$c" --help | grep -q "^usage: critlua $c" || bad "critlua $c --help: no usage line"
done
err=$(critlua chek 2>&1); rc=$?
[ $rc = 2 ] || bad "critlua chek: exit $rc"
grep -qF "(did you mean 'check'?)" <<<"$err" || bad "critlua chek: $err"
err=$(critlua rewrite-port 2>&1)
grep -qF "(did you mean 'rewrite-ports'?)" <<<"$err" || bad "critlua rewrite-port: $err"

# stock commands
critlua x "$FX/sleep" ps >"$TMP/ps" || bad "x ps: exit $?"
cmp -s "$TMP/ps" "$FX/expected/sleep/x-ps.txt" 2>/dev/null || grep -q '23744  23744  23744   sleep' "$TMP/ps" ||
	bad "x ps: $(cat "$TMP/ps")"
critlua show "$FX/sleep/core-23744.img" | grep -q '"magic": "CORE"' || bad "show"
critlua check --skip-pages "$FX/tcp" >/dev/null || bad "check tcp: exit $?"
cp -r "$FX/tcp" "$TMP/tcp" && chmod -R u+w "$TMP/tcp"
critlua rewrite-ports "$TMP/tcp" 47321:8080 --dry-run | grep -q 'pid 24277 fd 3 tcp 127.0.0.1:47321 (listening): src_port 47321 -> 8080' || bad "rewrite-ports --dry-run"
# the installed fixup files run as scripts too, and a script directory adds commands
critlua "$P/share/critlua/scripts/check.lua" --skip-pages "$FX/tcp" >/dev/null || bad "the installed check.lua"
mkdir "$TMP/mine" && printf -- '-- hi: say hi\n-- usage: critlua hi\nprint("hi " .. crit.version)\n' >"$TMP/mine/hi.lua"
[ "$(CRITLUA_PATH=$TMP/mine critlua hi)" = "hi $(critlua -e 'io.write(crit.version)')" ] || bad "CRITLUA_PATH command"
CRITLUA_PATH=$TMP/mine critlua help | grep -q "^  hi .*say hi" || bad "help does not list a CRITLUA_PATH command"

# the man page: renders, and names every command and every option of its usage line
MANPAGE=$P/share/man/man1/critlua.1
if command -v man >/dev/null; then
	text=$(MANWIDTH=200 LC_ALL=C man -l "$MANPAGE" 2>"$TMP/man.err" | col -b) || bad "man -l: exit $?"
	[ -s "$TMP/man.err" ] && bad "man -l warns: $(cat "$TMP/man.err")"
	grep -q '^NAME' <<<"$text" && grep -q '^EXIT STATUS' <<<"$text" && grep -q '^ENVIRONMENT' <<<"$text" &&
		grep -q '^EXAMPLES' <<<"$text" || bad "man page sections missing"
	for c in $cmds; do
		usage=$(critlua help "$c" | sed -n 's/^usage: //p')
		grep -qE "^ +$c( |$)" <<<"$text" || bad "man page: no entry for $c"
		for o in $(grep -oE -- '(^|[ [|,])--?[a-zA-Z][-a-zA-Z]*' <<<"$usage" | sed 's/^[ [|,]//' | sort -u); do
			grep -qF -- "$o" <<<"$text" || bad "man page: $c's option $o is missing"
		done
	done
	for o in -e -i --interactive -I --scripts -d --debug -q --quiet -h --help -v --version CRITLUA_PATH \
		CRITLUA_PROGRESS_DELAY CRITLUA_HISTORY; do
		grep -qF -- "$o" <<<"$text" || bad "man page: $o is missing"
	done
elif command -v groff >/dev/null; then
	groff -man -ww -z "$MANPAGE" 2>"$TMP/man.err"
	[ -s "$TMP/man.err" ] && bad "groff warns: $(cat "$TMP/man.err")"
else
	bad "neither man nor groff (scripts/setup.sh installs man-db)"
fi

# the completion, as installed, against the installed critlua
bash "$SRC/tests/eco/completion.sh" "$P/bin/critlua" "$P/share/bash-completion/completions/critlua" "$FX" >"$TMP/comp" ||
	bad "completion: $(cat "$TMP/comp")"

# the Lua module from the stock interpreter
export LUA_CPATH="$P/lib/lua/5.4/?.so"
out=$(IMG=$FX/sleep/core-23744.img DIR=$FX/sleep "$LUA" -e '
local crit = require "crit"
assert(package.searchpath("crit", package.cpath):find(os.getenv("LUA_CPATH"):match("^(.*)%?"), 1, true) == 1)
local img = crit.load(os.getenv("IMG"))
assert(img.magic == "CORE", img.magic)
assert(img.entries[1].tc.comm == "sleep", img.entries[1].tc.comm)
local ck = crit.open(os.getenv("DIR"))
local ps = ck:ps()
assert(#ps == 1 and ps[1].pid == 23744 and ps[1].comm == "sleep")
local fds = ck:fds()
assert(#fds == 1 and #fds[1].fds > 0)
assert(ck:cmdline(23744)[1] == "sleep")
assert(crit.typeof(img.entries[1]) == "core_entry")
local round = crit.decode(crit.encode(img))
assert(round.entries[1].tc.comm == "sleep")
assert(crit.progress.enabled() == false)
print("lua5.4 ok " .. crit.version)
' 2>&1)
[ "$out" = "lua5.4 ok $(critlua -e 'io.write(crit.version)')" ] || bad "lua5.4 with crit.so: $out"
IMG=$FX/sleep/core-23744.img DIR=$FX/sleep "$LUA" -e 'local c = require "crit"; print(c.load(os.getenv("IMG")).entries[1].tc.comm, c.open(os.getenv("DIR")):ps()[1].pid)' >"$TMP/lua.out" 2>&1
[ "$(cat "$TMP/lua.out")" = $'sleep\t23744' ] || bad "lua5.4: $(cat "$TMP/lua.out")"
# the API reference installed names what the module has, and the reverse
"$LUA" "$SRC/tests/eco/api-doc.lua" "$P/share/doc/critlua" >"$TMP/api" 2>&1 || bad "API reference: $(cat "$TMP/api")"

[ $fail = 0 ] && echo "install: all checks passed ($P)"
exit $fail
