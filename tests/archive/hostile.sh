#!/bin/bash
# tests/archive/hostile.sh CRITLUA FIXTURES [FIXTURE]: hostile checkpoint archives (issue 16).
#
# Builds, from one checkpoint of FIXTURES (default: sleep), archives an attacker
# would hand over, and checks that critlua reads them safely:
#  - sparse bombs (a 20 GiB member storing a few KiB; GNU tar's gnu format and
#    the pax sparse formats 0.0, 0.1 and 1.0; uncompressed, gzip, zstd): `x ps`
#    prints what it prints over the directory, nothing is written to $TMPDIR
#    for it, and the member reads as its holes (zeros) and its data, the holes
#    never written anywhere;
#  - an all-hole sparse member is valid and reads as zeros;
#  - compression bombs (300 MiB of zeros in a few KiB of zstd or gzip, and 100
#    small zero members): not decompressed unless read; reading one is refused
#    at the bound on $TMPDIR (CRITLUA_ARCHIVE_TMP_MAX, default 256 MiB for a
#    small archive) or at the free space of $TMPDIR (a 1 MiB tmpfs), with an
#    error naming the member and exit 1;
#  - symbolic and hard link members named like images or metadata: an error
#    naming the member, exit 1, from x ps, check and inspect alike;
# every command under a timeout, $TMPDIR a fresh directory left empty.
set -u
CRITLUA=$1
ROOT=$(cd "$2" && pwd) || exit 1
FX=${3:-sleep}
DIR=$ROOT/$FX
[ -f "$DIR/inventory.img" ] || { echo "no checkpoint $DIR"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-hostile-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export TMPDIR=$TMP/tmpdir
mkdir -p "$TMPDIR"
LIMIT=${CRITLUA_TEST_TIMEOUT:-60}
. "$(dirname "$0")/../lib/check.sh"

# run OUTFILE CMD...: CMD under the timeout, its output in OUTFILE, its status in $rc;
# a crash, a hang or a file left in $TMPDIR fails.
run() {
	local out=$1
	shift
	timeout "$LIMIT" "$@" >"$out" 2>&1
	rc=$?
	[ $rc -eq 124 ] && fail "timed out after ${LIMIT}s: $*"
	grep -q "AddressSanitizer\|runtime error\|stack traceback\|Aborted" "$out" && fail "crashed: $*: $(head -5 "$out")"
	if [ -n "$(ls -A "$TMPDIR")" ]; then
		fail "left in \$TMPDIR after $*: $(ls -A "$TMPDIR")"
		rm -rf "${TMPDIR:?}"/* "${TMPDIR:?}"/.[!.]*
	fi
	return 0
}

# tmp_used ARCHIVE LUA: the bytes critlua wrote to $TMPDIR for ARCHIVE after LUA
# (run with ck = crit.open(ARCHIVE), ar = its archive object)
tmp_used() {
	run "$TMP/tu" "$CRITLUA" -e "local ck = crit.open(arg[1]); local ar = ck.archive; $2; io.write(ar:info().tmp_used)" "$1"
	[ $rc -eq 0 ] || { echo "?($(head -3 "$TMP/tu"))"; return; }
	cat "$TMP/tu"
}

"$CRITLUA" x "$DIR" ps >"$TMP/ps.want" 2>&1 || { echo "x ps fails on $DIR"; exit 1; }
GIB20=$((20 * 1024 * 1024 * 1024))

# --- Sparse bombs and an all-hole member ---
mkdir -p "$TMP/ck"
cp -r "$DIR"/. "$TMP/ck"/
chmod -R u+w "$TMP/ck"
truncate -s $GIB20 "$TMP/ck/pages-99.img"
printf 'START' | dd of="$TMP/ck/pages-99.img" conv=notrunc status=none
printf 'MIDDLE' | dd of="$TMP/ck/pages-99.img" bs=1 seek=$((GIB20 / 2)) conv=notrunc status=none
printf 'NEEDLE' | dd of="$TMP/ck/pages-99.img" bs=1 seek=$((GIB20 - 6)) conv=notrunc status=none
truncate -s 1M "$TMP/ck/pages-98.img" # all holes
zero1m=$(head -c 1048576 /dev/zero | sha256sum | cut -d' ' -f1)
# the 20 GiB member, read: its data where it is, zeros in the holes, and
# the tail of the all-hole one
readlua='local m = "checkpoint/pages-99.img"
local n = ar:size(m)
local h = ar:read("checkpoint/pages-98.img")
assert(#h == 1048576 and not h:find("[^\0]"), "the all-hole member does not read as 1 MiB of zeros")
assert(ar:read(m, 0, 5) == "START", "start")
assert(ar:read(m, n // 2 - 2, 10) == "\0\0MIDDLE\0\0", "middle")
assert(ar:read(m, n - 6, 6) == "NEEDLE", "end")
local z = ar:read(m, 12345678901, 1 << 20)
assert(#z == 1 << 20 and not z:find("[^\0]"), "a hole does not read as zeros")'
for fmt in gnu pax-0.0 pax-0.1 pax-1.0; do
	case $fmt in
	gnu) topt=(--format=gnu) ;;
	pax-*) topt=(--format=posix --sparse-version="${fmt#pax-}") ;;
	esac
	base=$TMP/sparse-$fmt.tar
	tar --sparse "${topt[@]}" -cf "$base" -C "$TMP" --transform='s,^ck,checkpoint,' ck 2>"$TMP/tarerr" ||
		{ fail "cannot build $base: $(cat "$TMP/tarerr")"; continue; }
	gzip -k "$base" && zstd -q -k "$base" || { fail "cannot compress $base"; continue; }
	for ar in "$base" "$base.gz" "$base.zst"; do
		label="sparse bomb $(basename "$ar") ($(stat -c %s "$ar") bytes)"
		run "$TMP/out" "$CRITLUA" x "$ar" ps
		if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/ps.want"; then ok; else fail "$label: x ps: exit $rc: $(head -3 "$TMP/out")"; fi
		# x ps never reads the bomb: for an uncompressed tar nothing goes to
		# $TMPDIR at all; for a compressed one only the small images
		used=$(tmp_used "$ar" "ck:ps()")
		want_max=0
		[ "$ar" = "$base" ] || want_max=$((1024 * 1024))
		if [[ $used =~ ^[0-9]+$ ]] && [ "$used" -le $want_max ]; then ok; else fail "$label: x ps wrote $used bytes to \$TMPDIR"; fi
		# read, the holes are zeros and never written: an uncompressed tar reads in place
		used=$(tmp_used "$ar" "$readlua")
		want_max=0
		[ "$ar" = "$base" ] || want_max=$((1024 * 1024))
		if [[ $used =~ ^[0-9]+$ ]] && [ "$used" -le $want_max ]; then ok; else fail "$label: reading the sparse members: $used"; fi
		run "$TMP/out" "$CRITLUA" check "$ar"
		[ $rc -le 1 ] && ok || fail "$label: check: exit $rc: $(head -3 "$TMP/out")"
		run "$TMP/out" "$CRITLUA" inspect "$ar"
		[ $rc -eq 0 ] && ok || fail "$label: inspect: exit $rc: $(head -3 "$TMP/out")"
		# the whole 20 GiB member is over what a read of it whole may take
		run "$TMP/out" "$CRITLUA" -e 'crit.archive(arg[1]):load("checkpoint/pages-99.img", "x")' "$ar"
		[ $rc -eq 1 ] && grep -q "checkpoint/pages-99.img" "$TMP/out" && ok || fail "$label: load of the bomb: exit $rc: $(head -3 "$TMP/out")"
		# an edit would copy the bomb with its holes filled in: refused, nothing changed
		sum=$(md5sum <"$ar")
		run "$TMP/out" "$CRITLUA" rewrite-paths -q "$ar" /=/x
		if [ $rc -eq 1 ] && grep -q "pages-99.img: a sparse member" "$TMP/out" && [ "$(md5sum <"$ar")" = "$sum" ]; then ok; else
			fail "$label: rewrite-paths on the bomb: exit $rc: $(head -3 "$TMP/out")"; fi
	done
	rm -f "$base" "$base.gz" "$base.zst"
done
rm -rf "$TMP/ck"

# --- Compression bombs: 300 MiB of zeros, and 100 small zero members ---
# make_tar OUT SPEC...: the checkpoint's files under checkpoint/, then each
# SPEC: zero:NAME:SIZE, sym:NAME:TARGET, hard:NAME:TARGET, replacing a
# file of the same name
make_tar() {
	python3 - "$DIR" "$@" <<'EOF'
import io, os, sys, tarfile
src, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
class Zeros(io.RawIOBase):
    def __init__(self, n): self.n = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k
replaced = {s.split(":")[1] for s in specs}
mode = {"none": "w", "gz": "w:gz"}.get(out.rsplit(".", 1)[-1], "w")
with tarfile.open(out if mode != "w" or not out.endswith(".zst") else out[:-4], mode, format=tarfile.GNU_FORMAT) as t:
    t.add(src, "checkpoint", recursive=False)
    for f in sorted(os.listdir(src)):
        if "checkpoint/" + f not in replaced:
            t.add(os.path.join(src, f), "checkpoint/" + f)
    for s in specs:
        kind, name, arg = s.split(":", 2)
        ti = tarfile.TarInfo(name)
        ti.mtime = 1700000000
        if kind == "zero":
            ti.size = int(arg)
            t.addfile(ti, io.BufferedReader(Zeros(ti.size), 1 << 20))
        else:
            ti.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
            ti.linkname = arg
            t.addfile(ti)
EOF
	case $1 in *.zst) zstd -q --rm -f "${1%.zst}" -o "$1" ;; esac
}

big=$((300 * 1024 * 1024))
small=()
for i in $(seq 1 100); do small+=("zero:checkpoint/junk-$i.img:262144"); done
for c in zst gz; do
	ar=$TMP/zbomb.tar.$c
	make_tar "$ar" "zero:checkpoint/pages-97.img:$big" "${small[@]}" || { fail "cannot build $ar"; continue; }
	label="compression bomb $(basename "$ar") ($(stat -c %s "$ar") bytes)"
	start=$(date +%s%N)
	run "$TMP/out" "$CRITLUA" x "$ar" ps
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/ps.want"; then ok; else fail "$label: x ps: exit $rc: $(head -3 "$TMP/out")"; fi
	echo "$label: x ps in $ms ms"
	# the 300 MiB member is never written; the small ones at most 8 MiB in all
	used=$(tmp_used "$ar" "ck:ps()")
	if [[ $used =~ ^[0-9]+$ ]] && [ "$used" -le $((8 * 1024 * 1024)) ]; then ok; else fail "$label: x ps wrote $used bytes to \$TMPDIR"; fi
	echo "$label: \$TMPDIR after x ps: $used bytes"
	CRITLUA_ARCHIVE_TMP_MAX=1M run "$TMP/out" "$CRITLUA" x "$ar" ps
	[ $rc -eq 0 ] && ok || fail "$label: x ps with CRITLUA_ARCHIVE_TMP_MAX=1M: exit $rc: $(head -3 "$TMP/out")"
	# reading the bomb: refused at the default bound, naming it
	run "$TMP/out" "$CRITLUA" -e 'crit.archive(arg[1]):read("checkpoint/pages-97.img", 0, 10)' "$ar"
	if [ $rc -eq 1 ] && grep -q "^critlua: $ar: checkpoint/pages-97.img: reading it needs 300.0 MiB in \$TMPDIR .*above the bound of 256.0 MiB" "$TMP/out"; then
		ok
	else
		fail "$label: reading the bomb: exit $rc: $(head -3 "$TMP/out")"
	fi
	CRITLUA_ARCHIVE_TMP_MAX=64M run "$TMP/out" "$CRITLUA" -e 'crit.archive(arg[1]):read("checkpoint/pages-97.img", 0, 10)' "$ar"
	[ $rc -eq 1 ] && grep -q "checkpoint/pages-97.img: .*above the bound of 64.0 MiB" "$TMP/out" && ok || fail "$label: CRITLUA_ARCHIVE_TMP_MAX=64M: exit $rc: $(head -3 "$TMP/out")"
	CRITLUA_ARCHIVE_TMP_MAX=lots run "$TMP/out" "$CRITLUA" x "$ar" ps
	[ $rc -eq 1 ] && grep -q "CRITLUA_ARCHIVE_TMP_MAX=lots" "$TMP/out" && ok || fail "$label: a bad CRITLUA_ARCHIVE_TMP_MAX: exit $rc: $(head -3 "$TMP/out")"
	# allowed by the bound, the free space of $TMPDIR decides: a 1 MiB tmpfs
	mkdir -p "$TMP/small"
	if unshare -rm sh -c 'mount -t tmpfs -o size=1m none "$0"' "$TMP/small" 2>/dev/null; then
		timeout "$LIMIT" unshare -rm sh -c 'mount -t tmpfs -o size=1m none "$1" && shift &&
			TMPDIR=$0 CRITLUA_ARCHIVE_TMP_MAX=1G "$@"' "$TMP/small" "$TMP/small" \
			"$CRITLUA" -e 'crit.archive(arg[1]):read("checkpoint/pages-97.img", 0, 10)' "$ar" >"$TMP/out" 2>&1
		rc=$?
		if [ $rc -eq 1 ] && grep -q "checkpoint/pages-97.img: reading it needs 300.0 MiB in \$TMPDIR ($TMP/small), which has .* free" "$TMP/out"; then
			ok
		else
			fail "$label: on a 1 MiB tmpfs: exit $rc: $(head -3 "$TMP/out")"
		fi
	else
		echo "(no user namespace or tmpfs mount here: the free-space check is not tested)"
	fi
	rm -f "$ar"
done

# --- Link members where critlua reads a file ---
core=$(cd "$DIR" && ls core-*.img | head -1)
for spec in "sym:checkpoint/$core:/etc/passwd" "hard:checkpoint/files.img:checkpoint/inventory.img" \
	"sym:config.dump:/etc/shadow" "sym:checkpoint/pages-1.img:../../../x" "hard:checkpoint/pstree.img:etc/passwd"; do
	name=$(cut -d: -f2 <<<"$spec")
	kind=$(cut -d: -f1 <<<"$spec")
	[ "$kind" = sym ] && what=symbolic || what=hard
	for c in tar tar.zst; do
		ar=$TMP/link.$c
		make_tar "$ar" "$spec" || { fail "cannot build $ar"; continue; }
		for cmd in "x @ ps" "check @" "inspect @" "x @ mems" "stats @"; do
			read -r -a words <<<"${cmd//@/$ar}"
			run "$TMP/out" "$CRITLUA" "${words[@]}"
			if [ $rc -eq 1 ] && grep -q "^critlua: $ar: $name: a $what link member" "$TMP/out" && [ "$(wc -l <"$TMP/out")" -le 2 ]; then
				ok
			else
				fail "$kind link $name ($c): critlua $cmd: exit $rc: $(head -5 "$TMP/out")"
			fi
		done
	done
done
# CRIU's link to a parent dump is not followed, and not an error
make_tar "$TMP/parent.tar" "sym:checkpoint/parent:../pre"
run "$TMP/out" "$CRITLUA" x "$TMP/parent.tar" ps
[ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/ps.want" && ok || fail "checkpoint/parent as a link: exit $rc: $(head -3 "$TMP/out")"

echo "$checks checks, $fails failures (hostile archives of $DIR)"
[ $fails -eq 0 ]
