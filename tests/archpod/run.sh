#!/bin/bash
# tests/archpod/run.sh CRITLUA FIXTURES [FIXTURE...]: a Podman checkpoint taken
# --with-previous, as one archive: CRIU's images under checkpoint/, the
# pre-checkpoint's under pre-checkpoint/, and checkpoint/parent a symbolic link
# to ../pre-checkpoint (the name and target Podman writes).
#
# For every checkpoint of FIXTURES (or the ones named) it makes an incremental
# copy (tests/archpod/mkinc.lua: every other pagemap entry with pages moved to
# the parent) over the original as its pre-checkpoint, in a folder laid out
# as the archive unpacks, and checks that every memory command (mem, grep,
# x rss, x mems, x ps --cmdline, diff --memory, coredump, check) prints the
# same on the archive (uncompressed and zstd) as on the folder's checkpoint/;
# that the memory moved is really read through the link (without
# pre-checkpoint/ in the archive, as Podman exports the final dump alone, it
# is an error naming the link); and that hostile links (absolute, out of the
# archive, looping, to itself) give a clear error and exit 1 (diff: 2).
set -u
CRITLUA=$1
ROOT=$(cd "$2" && pwd) || exit 1
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
PODMAN=$HERE/../archive/podman
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-archpod-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../lib/check.sh"

pick_fixtures "$ROOT" "pagemap-*.img" "$@"
[ ${#FIXTURES[@]} -gt 0 ] || { echo "no checkpoints with memory in $ROOT"; exit 1; }

# stage FIXTURE DIR: DIR/checkpoint (incremental), DIR/pre-checkpoint (the
# original), the link, Podman's metadata; the moved entries in DIR.moved
stage() {
	rm -rf "$2" && mkdir -p "$2" && cp -r "$ROOT/$1" "$2/checkpoint" && cp -r "$ROOT/$1" "$2/pre-checkpoint" &&
		rm -rf "$2/checkpoint/parent" "$2/pre-checkpoint/parent" &&
		"$CRITLUA" "$HERE/mkinc.lua" "$2/checkpoint" >"$2.moved" &&
		ln -s ../pre-checkpoint "$2/checkpoint/parent" && cp "$PODMAN"/config.dump "$PODMAN"/spec.dump "$2/"
}
# archive DIR OUT [TAR_OPTIONS...]: Podman's members (it tars the container's
# folder: config.dump, spec.dump, checkpoint/, pre-checkpoint/ when there)
archive() {
	local dir=$1 out=$2
	shift 2
	local members=(config.dump spec.dump checkpoint)
	[ -d "$dir/pre-checkpoint" ] && members+=(pre-checkpoint)
	tar "$@" -cf "$out" -C "$dir" "${members[@]}"
}

moved_any=0
for fx in "${FIXTURES[@]}"; do
	st=$TMP/$fx
	stage "$fx" "$st" || { fail "$fx: cannot stage it"; continue; }
	dir=$st/checkpoint
	if [ ! -s "$st.moved" ]; then
		echo "note: $fx: no process memory to move to the parent"
		continue
	fi
	moved_any=1
	pids=$(cut -d' ' -f1 "$st.moved" | sort -u | head -2)
	cmds=("x @ rss" "x @ rss --json" "x @ mems" "x @ ps --cmdline" "grep @ PATH=" "grep @ bin --context 4"
		"grep @ --hex 00000000 --max 50" "check @" "diff --memory $ROOT/$fx @" "diff --memory @ $ROOT/$fx --json")
	for p in $pids; do
		addr=$(awk -v p="$p" '$1 == p { print $2; exit }' "$st.moved")
		cmds+=("mem @ $p" "mem @ $p --addr 0x$addr --len 8192" "grep @ PATH= --pid $p")
	done
	for comp in none zstd; do
		ar=$TMP/$fx.$comp.tar
		opts=()
		[ $comp = zstd ] && ar=$ar.zst && opts=(--zstd)
		archive "$st" "$ar" "${opts[@]}" || { fail "$fx: cannot build the archive"; continue; }
		same_on --mask-both "$fx ($comp archive)" "$dir" "$ar" "${cmds[@]}"
		# coredump: the same core, byte for byte
		for p in $pids; do
			rm -f "$TMP/core.d" "$TMP/core.a"
			"$CRITLUA" coredump "$dir" "$p" -o "$TMP/core.d" >/dev/null 2>&1
			rd=$?
			"$CRITLUA" coredump "$ar" "$p" -o "$TMP/core.a" >/dev/null 2>&1
			ra=$?
			if [ $rd -eq $ra ] && { [ $rd -ne 0 ] || cmp -s "$TMP/core.d" "$TMP/core.a"; }; then
				ok
			else
				fail "$fx ($comp): coredump $p differs on the archive (exit $rd / $ra)"
			fi
		done
	done
	# the moved memory is read through the link: the same bytes as the original's
	p=$(head -1 "$st.moved" | cut -d' ' -f1)
	addr=$(head -1 "$st.moved" | cut -d' ' -f2)
	a=$("$CRITLUA" mem "$TMP/$fx.none.tar" "$p" --addr "0x$addr" --len 4096 2>&1)
	o=$("$CRITLUA" mem "$ROOT/$fx" "$p" --addr "0x$addr" --len 4096 2>&1)
	[ -n "$a" ] && [ "$a" = "$o" ] && ok || fail "$fx: the moved pages at 0x$addr differ from the original's"
	# Podman's own export of the final dump: checkpoint/ alone, the link leading nowhere
	mv "$st/pre-checkpoint" "$st/pre"
	archive "$st" "$TMP/final.tar"
	mv "$st/pre" "$st/pre-checkpoint"
	expect "$fx: without pre-checkpoint/: mem" 1 \
		"$TMP/final.tar:checkpoint/parent (a link to ../pre-checkpoint) leads to nothing in the archive" \
		"$CRITLUA" mem "$TMP/final.tar" "$p" --addr "0x$addr" --len 16
	out=$("$CRITLUA" grep "$TMP/final.tar" PATH= 2>&1)
	grep -qF "are in the parent checkpoint, and $TMP/final.tar:checkpoint/parent is not there: not searched" <<<"$out" &&
		ok || fail "$fx: without pre-checkpoint/: grep: $out"
	expect "$fx: without pre-checkpoint/: check" 1 "there is no parent/ checkpoint" "$CRITLUA" check "$TMP/final.tar"
	"$CRITLUA" x "$TMP/final.tar" ps >/dev/null 2>&1 && ok || fail "$fx: without pre-checkpoint/: x ps fails"
done
[ $moved_any = 1 ] && ok || fail "no fixture had memory to move to the parent"

# --- Hostile links: a clear error naming the link, exit 1 (diff --memory: 2) ---
fx=
for f in "${FIXTURES[@]}"; do [ -s "$TMP/$f.moved" ] && { fx=$f; break; }; done
if [ -n "$fx" ]; then
	st=$TMP/$fx
	p=$(head -1 "$st.moved" | cut -d' ' -f1)
	addr=$(head -1 "$st.moved" | cut -d' ' -f2)
	# relink NAME TARGET: the archive with checkpoint/parent -> TARGET
	relink() {
		rm -f "$st/checkpoint/parent" && ln -s "$2" "$st/checkpoint/parent" && archive "$st" "$TMP/$1.tar"
	}
	relink abs "$st/pre-checkpoint"
	relink out ../../pre-checkpoint
	relink loop ../checkpoint/parent
	relink self .
	relink dotdot ../checkpoint/../pre-checkpoint # inside: fine
	rm -f "$st/checkpoint/parent" && ln -s ../pre-checkpoint "$st/checkpoint/parent"
	abs_msg="$TMP/abs.tar: checkpoint/parent: a symbolic link to $st/pre-checkpoint, an absolute path: links in a checkpoint archive are followed only inside it, by a relative target"
	out_msg="$TMP/out.tar: checkpoint/parent: a symbolic link to ../../pre-checkpoint, which leads out of the archive: links in a checkpoint archive are followed only inside it"
	loop_msg="$TMP/loop.tar: checkpoint/parent: symbolic links that go round (more than 40 followed for checkpoint/parent"
	self_msg="$TMP/self.tar:checkpoint/parent is $TMP/self.tar:checkpoint again: the chain of parents loops"
	for t in abs out loop self; do
		eval "msg=\$${t}_msg"
		ar=$TMP/$t.tar
		expect "$t: mem" 1 "$msg" "$CRITLUA" mem "$ar" "$p" --addr "0x$addr" --len 16
		expect "$t: grep" 1 "$msg" "$CRITLUA" grep "$ar" PATH=
		expect "$t: coredump" 1 "$msg" "$CRITLUA" coredump "$ar" "$p" -o "$TMP/core.h"
		expect "$t: diff --memory" 2 "$msg" "$CRITLUA" diff --memory "$ROOT/$fx" "$ar"
		[ -e "$TMP/core.h" ] && fail "$t: coredump left a core behind" || ok
		if [ $t != self ]; then
			expect "$t: check" 1 "$msg" "$CRITLUA" check "$ar"
			expect "$t: Lua ck:read" 1 "$msg" "$CRITLUA" -e "local ck = crit.open(arg[1]); ck:read('parent/inventory.img')" "$ar"
		fi
		# what does not read the parent is not stopped by it
		"$CRITLUA" x "$ar" ps >/dev/null 2>&1 && ok || fail "$t: x ps fails"
	done
	a=$("$CRITLUA" mem "$TMP/dotdot.tar" "$p" --addr "0x$addr" --len 64 2>&1) && [ -n "$a" ] && ok ||
		fail "a link through checkpoint/../pre-checkpoint (inside the archive): $a"
	# a chain that loops: the pre-checkpoint made incremental too, its parent
	# the checkpoint, so that a page both hold only in their parent goes round
	"$CRITLUA" "$HERE/mkinc.lua" "$st/pre-checkpoint" >/dev/null
	ln -s ../checkpoint "$st/pre-checkpoint/parent" && archive "$st" "$TMP/chain.tar"
	expect "chain: mem" 1 "$TMP/chain.tar:checkpoint/parent/parent is $TMP/chain.tar:checkpoint again: the chain of parents loops" \
		"$CRITLUA" mem "$TMP/chain.tar" "$p" --addr "0x$addr" --len 16
fi

# --- The Lua API: ck:read and ck:has through the link ---
fx=${FIXTURES[0]}
st=$TMP/$fx
if [ -d "$st/checkpoint" ] && [ -s "$st.moved" ]; then
	rm -rf "$st" && stage "$fx" "$st" && archive "$st" "$TMP/api.tar"
	out=$("$CRITLUA" -e '
		local ck = crit.open(arg[1])
		local want = assert(io.open(arg[2] .. "/inventory.img", "rb")):read("a")
		assert(ck:has("parent"), "has parent")
		assert(ck:has("parent/inventory.img"), "has parent/inventory.img")
		assert(ck:read("parent/inventory.img") == want, "the parent inventory")
		assert(ck:size("parent/inventory.img") == #want, "its size")
		assert(not ck:has("parent/nothing.img"), "no such file")
		assert(ck:image("parent/inventory.img").entries[1].img_version, "decoded")
		print("ok")' "$TMP/api.tar" "$ROOT/$fx" 2>&1)
	[ "$out" = ok ] && ok || fail "Lua API through the link: $out"
fi

echo "archpod: $checks checks, $fails failures"
[ $fails -eq 0 ]
