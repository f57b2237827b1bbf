#!/bin/bash
# tests/archive/run.sh CRITLUA FIXTURES [FIXTURE...]: container checkpoint archives and diff.
#
# For every checkpoint of FIXTURES (or the ones named), builds archives with
# the shape Podman writes — CRIU's images under checkpoint/, the metadata of
# tests/archive/podman/ and a small rootfs-diff.tar beside them — in the
# three compressions (none, gzip, zstd), and checks that:
#  - every stock command that takes a checkpoint prints the same (stdout,
#    stderr, exit status; the checkpoint's name aside) on the archive as on
#    the directory;
#  - diff of the directory against itself and against each archive is empty
#    with exit 0;
#  - rewrite-ports on an archive writes a valid archive of the same
#    compression whose other members are byte-identical, and diff then lists
#    exactly the fields the rewrite reported; a failed rewrite leaves the
#    archive byte-identical and nothing beside it;
#  - damaged archives (truncated, not an archive, no checkpoint/) give an
#    error naming the file and exit 1 (diff: 2), never a crash;
#  - inspect shows the metadata.
set -u
CRITLUA=$1
ROOT=$(cd "$2" && pwd) || exit 1
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-archive-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../lib/check.sh"

pick_fixtures "$ROOT" inventory.img "$@"
[ ${#FIXTURES[@]} -gt 0 ] || { echo "no checkpoints in $ROOT"; exit 1; }

# A small root file system diff, as Podman adds it.
mkdir -p "$TMP/rootfs/etc" && echo "changed by the container" >"$TMP/rootfs/etc/motd"
mkdir -p "$TMP/meta" && tar -C "$TMP/rootfs" -cf "$TMP/meta/rootfs-diff.tar" . || exit 1

# make_archive DIR OUT COMPRESSION: DIR's files as checkpoint/..., metadata beside
make_archive() {
	local dir=$1 out=$2 comp=$3 flag=()
	case $comp in
	gzip) flag=(-z) ;;
	zstd) flag=(--zstd) ;;
	esac
	tar "${flag[@]}" -cf "$out" -C "$HERE/podman" config.dump spec.dump network.status \
		-C "$TMP/meta" rootfs-diff.tar \
		-C "$dir" --transform='s,^\.,checkpoint,' .
}

for fx in "${FIXTURES[@]}"; do
	dir=$ROOT/$fx
	pids=$(cd "$dir" && ls core-*.img 2>/dev/null | sed 's/core-\([0-9]*\)\.img/\1/' | head -3)
	cmds=("x @ ps" "x @ ps --json" "x @ fds" "x @ fds --json" "x @ mems" "x @ rss" "x @ sk" "x @ sk --json"
		"stats @" "stats @ --json" "check @" "check @ --skip-pages" "grep @ PATH=" "grep @ bin --pid 1 --context 4"
		"rewrite-ports @ 1:2 --dry-run" "rewrite-ip @ 127.0.0.1=10.1.2.3 --dry-run"
		"rewrite-paths @ /tmp=/var/tmp --dry-run")
	for p in $pids; do
		cmds+=("mem @ $p" "x @ ps --cmdline" "mem @ $p --addr 0x400000 --len 64")
	done
	for comp in none gzip zstd; do
		ar=$TMP/$fx.$comp.tar
		case $comp in gzip) ar=$ar.gz ;; zstd) ar=$ar.zst ;; esac
		make_archive "$dir" "$ar" "$comp" || { fail "$fx: cannot build the $comp archive"; continue; }
		same_on "$fx ($comp archive)" "$dir" "$ar" "${cmds[@]}"
		no_diff "$fx ($comp): diff DIR ARCHIVE" "$dir" "$ar"
	done
	no_diff "$fx: diff DIR DIR" "$dir" "$dir"
	for img in "$dir"/*.img; do
		base=$(basename "$img")
		case $base in pages-*) continue ;; esac
		no_diff "$fx: diff $base $base" "$img" "$img"
	done
	rm -f "$TMP"/*.tar "$TMP"/*.tar.gz "$TMP"/*.tar.zst
done

# --- Edits of an archive: the tcp checkpoint's listener port ---
edit_fx=""
for fx in "${FIXTURES[@]}"; do
	[ "$fx" = tcp ] && edit_fx=tcp
done
if [ -n "$edit_fx" ]; then
	dir=$ROOT/tcp
	port=$("$CRITLUA" x "$dir" sk --json | sed -n 's/.*"state": "LISTEN", "local": "127\.0\.0\.1:\([0-9]*\)".*/\1/p' | head -1)
	[ -n "$port" ] || port=$("$CRITLUA" -e 'for _, s in ipairs(crit.open(arg[1]):sockets()) do if s.state == "LISTEN" and s.family == "INET" then print(s.src_port) return end end' "$dir")
	for comp in none gzip zstd; do
		ar=$TMP/edit.$comp.tar
		case $comp in gzip) ar=$ar.gz ;; zstd) ar=$ar.zst ;; esac
		make_archive "$dir" "$ar" "$comp"
		cp "$ar" "$TMP/orig.$comp"
		"$CRITLUA" rewrite-ports "$ar" "$port:8080" >"$TMP/report" 2>&1
		rc=$?
		[ $rc -eq 0 ] && ok || { fail "tcp ($comp): rewrite-ports: exit $rc"; cat "$TMP/report"; }
		# a valid archive of the same compression, read by the standard tools
		case $comp in
		none) magic=$(tail -c +258 "$ar" | head -c 5) want=ustar ;;
		gzip) magic=$(head -c 2 "$ar" | od -An -tx1 | tr -d ' ') want=1f8b ;;
		zstd) magic=$(head -c 4 "$ar" | od -An -tx1 | tr -d ' ') want=28b52ffd ;;
		esac
		[ "$magic" = "$want" ] && ok || fail "tcp ($comp): the new archive is not $comp ($magic)"
		rm -rf "$TMP/x1" "$TMP/x2" && mkdir "$TMP/x1" "$TMP/x2"
		if tar -C "$TMP/x1" -xf "$TMP/orig.$comp" && tar -C "$TMP/x2" -xf "$ar"; then
			ok
			same=$(cd "$TMP/x1" && find . -type f | sort)
			[ "$same" = "$(cd "$TMP/x2" && find . -type f | sort)" ] && ok || fail "tcp ($comp): members differ after the edit"
			for f in $same; do
				if [ "$f" = ./checkpoint/files.img ]; then
					cmp -s "$TMP/x1/$f" "$TMP/x2/$f" && fail "tcp ($comp): files.img unchanged"
				else
					cmp -s "$TMP/x1/$f" "$TMP/x2/$f" || fail "tcp ($comp): $f changed by the edit"
				fi
			done
			ok
		else
			fail "tcp ($comp): tar cannot read the new archive"
		fi
		# diff lists exactly the rewritten fields
		"$CRITLUA" diff --no-summary "$TMP/orig.$comp" "$ar" >"$TMP/diffout" 2>&1
		rc=$?
		# the report's change lines, "OBJECT: FIELD OLD -> NEW (IMAGE: PATH)", in
		# diff's form "IMAGE: PATH: OLD -> NEW" (issue 19 put the object first)
		sed -n 's/^.*: [a-z_0-9]* \(.* -> .*\) (\(files\.img\): \([^ ]*\))$/\2: \3: \1/p' "$TMP/report" >"$TMP/want"
		if [ $rc -eq 1 ] && [ -s "$TMP/want" ] && cmp -s "$TMP/want" "$TMP/diffout"; then
			ok
		else
			fail "tcp ($comp): diff after rewrite-ports (exit $rc) is not the rewrite's report:"
			diff "$TMP/want" "$TMP/diffout" | head
		fi
		# and a checkpoint directory rewritten the same way agrees
		rm -rf "$TMP/dcopy" && cp -r "$dir" "$TMP/dcopy" && chmod -R u+w "$TMP/dcopy"
		"$CRITLUA" rewrite-ports "$TMP/dcopy" "$port:8080" -q >/dev/null 2>&1
		no_diff "tcp ($comp): the rewritten archive and directory differ" "$TMP/dcopy" "$ar"
		# a failed edit leaves the archive byte-identical, and nothing beside it
		cp "$ar" "$TMP/before"
		ls -a "$TMP" | grep -v '^ls\.\|^failout$' >"$TMP/ls.before"
		CRITLUA_ARCHIVE_FAIL_AFTER=3 "$CRITLUA" rewrite-ports "$ar" 8080:9090 >"$TMP/failout" 2>&1
		rc=$?
		ls -a "$TMP" | grep -v '^ls\.\|^failout$' >"$TMP/ls.after"
		[ $rc -eq 1 ] && ok || fail "tcp ($comp): the failed rewrite exited $rc"
		grep -q "nothing changed" "$TMP/failout" && ok || fail "tcp ($comp): the failed rewrite says: $(cat "$TMP/failout")"
		cmp -s "$TMP/before" "$ar" && ok || fail "tcp ($comp): the failed rewrite changed the archive"
		cmp -s "$TMP/ls.before" "$TMP/ls.after" && ok || fail "tcp ($comp): the failed rewrite left files: $(diff "$TMP/ls.before" "$TMP/ls.after")"
		# a bad value is refused before anything is written
		"$CRITLUA" -e 'local ck = crit.open(arg[1]); ck:image("core-" .. ck:ps()[1].pid .. ".img").entries[1].tc.task_state = 99999999999; ck:save()' "$ar" >"$TMP/badout" 2>&1
		rc=$?
		[ $rc -eq 1 ] && cmp -s "$TMP/before" "$ar" && ok || fail "tcp ($comp): a bad value: exit $rc, $(cat "$TMP/badout")"
		# --backup keeps the original beside it
		"$CRITLUA" rewrite-ports "$ar" 8080:9090 --backup -q >/dev/null 2>&1
		cmp -s "$TMP/before" "$ar.orig" && ok || fail "tcp ($comp): --backup did not keep the original as $ar.orig"
		rm -f "$ar.orig"
	done
fi

# --- Damaged archives: an error naming the file, exit 1 (diff 2), never a crash ---
fx=${FIXTURES[0]}
for comp in none gzip zstd; do
	ar=$TMP/bad.$comp.tar
	case $comp in gzip) ar=$ar.gz ;; zstd) ar=$ar.zst ;; esac
	make_archive "$ROOT/$fx" "$TMP/good" "$comp"
	size=$(stat -c %s "$TMP/good")
	# (an uncompressed tar ends in up to 10 KiB of zero padding: cuts there
	# leave a complete archive, so its cuts stay in the first half)
	cuts="100 $((size / 3)) $((size / 2))"
	[ $comp != none ] && cuts="$cuts $((size - 700))"
	for cut in $cuts; do
		[ "$cut" -gt 0 ] || continue
		head -c "$cut" "$TMP/good" >"$ar"
		for c in "x @ ps" "check @" "stats @" "inspect @"; do
			read -r -a words <<<"${c//@/$ar}"
			out=$("$CRITLUA" "${words[@]}" 2>&1)
			rc=$?
			if [ $rc -eq 1 ] && grep -q "^critlua: .*$ar" <<<"$out" && ! grep -q "traceback\|Sanitizer\|runtime error" <<<"$out"; then
				ok
			else
				fail "$comp archive cut at $cut: critlua $c: exit $rc: $out"
			fi
		done
		out=$("$CRITLUA" diff "$ROOT/$fx" "$ar" 2>&1)
		rc=$?
		[ $rc -eq 2 ] && grep -q "$ar" <<<"$out" && ok || fail "$comp archive cut at $cut: diff: exit $rc: $out"
	done
done
printf 'this is not an archive\n' >"$TMP/text.tar"
head -c 4096 /dev/urandom >"$TMP/noise.tar.zst"
tar -cf "$TMP/nockpt.tar" -C "$HERE/podman" config.dump spec.dump
: >"$TMP/empty.tar.gz"
for ar in "$TMP/text.tar" "$TMP/noise.tar.zst" "$TMP/nockpt.tar" "$TMP/empty.tar.gz"; do
	for c in "x @ ps" "check @" "mem @ 1" "grep @ x"; do
		read -r -a words <<<"${c//@/$ar}"
		out=$("$CRITLUA" "${words[@]}" 2>&1)
		rc=$?
		if [ $rc -eq 1 ] && grep -q "^critlua: $ar: " <<<"$out" && ! grep -q "traceback\|Sanitizer\|runtime error" <<<"$out"; then
			ok
		else
			fail "$(basename "$ar"): critlua $c: exit $rc: $out"
		fi
	done
done
grep -q "no checkpoint/ directory" <<<"$("$CRITLUA" x "$TMP/nockpt.tar" ps 2>&1)" && ok || fail "nockpt.tar: the error does not say checkpoint/ is missing"

# --- inspect ---
fx=${FIXTURES[0]}
make_archive "$ROOT/$fx" "$TMP/insp.tar.zst" zstd
out=$("$CRITLUA" inspect "$TMP/insp.tar.zst" 2>&1)
for want in "container: *fixture-sleeper" "image: *registry.example.org/critlua/sleeper:1.0" "engine: *Podman" \
	"runtime: *crun" "created: *2025-03-14T09:26:53" "checkpointed: *2025-03-14T10:02:17" "command: *sleep 1000" \
	"rootfs diff: *10.0 KiB" "processes: *[0-9]" "archive: .*(zstd, "; do
	grep -q "^$want" <<<"$out" && ok || fail "inspect: no line matching '$want' in: $out"
done
json=$("$CRITLUA" inspect --json "$TMP/insp.tar.zst" 2>&1)
grep -q '"name": "fixture-sleeper"' <<<"$json" && grep -q '"rootfs_diff": 10240' <<<"$json" && ok || fail "inspect --json: $json"

# --- The listing: ck:list(true) on the archive gives the directory's names and sizes;
# ar:files lists a folder's regular members only, sorted, a name given twice once
# (the later member, as tar extracts it) ---
out=$("$CRITLUA" -e '
	local function listing(path)
		local names, sizes = crit.open(path):list(true)
		local t = {}
		for i, n in ipairs(names) do t[i] = n .. "=" .. sizes[i] end
		return table.concat(t, " ")
	end
	local d, a = listing(arg[1]), listing(arg[2])
	assert(d ~= "" and d == a, "ck:list(true): the directory gives " .. d .. "\nthe archive " .. a)
	print("ok")' "$ROOT/$fx" "$TMP/insp.tar.zst" 2>&1)
[ "$out" = ok ] && ok || fail "ck:list(true): $out"
mkdir -p "$TMP/lst/checkpoint/sub" "$TMP/lst2/checkpoint"
printf 'ab' >"$TMP/lst/checkpoint/b.img" && printf 'a' >"$TMP/lst/checkpoint/a.img"
printf 'x' >"$TMP/lst/checkpoint/sub/c.img" && ln -s a.img "$TMP/lst/checkpoint/link"
printf 'longer' >"$TMP/lst2/checkpoint/a.img"
tar -cf "$TMP/lst.tar" -C "$TMP/lst" checkpoint && tar -rf "$TMP/lst.tar" -C "$TMP/lst2" checkpoint/a.img
out=$("$CRITLUA" -e '
	local names, sizes = crit.archive(arg[1]):files("checkpoint/")
	io.write(table.concat(names, ","), " ", table.concat(sizes, ","))' "$TMP/lst.tar" 2>&1)
[ "$out" = "a.img,b.img 6,2" ] && ok || fail "ar:files: 'a.img,b.img 6,2' expected, got: $out"

echo "$checks checks, $fails failures (${#FIXTURES[@]} checkpoints of $ROOT)"
[ $fails -eq 0 ]
