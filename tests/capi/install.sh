#!/bin/bash
# install.sh BUILD_DIR SOURCE_DIR CRITLUA TMP SANITIZE: install libcrit into a
# temporary prefix and, from there only (a copy of examples/, pkg-config),
# build the examples shared and static; their output must be critlua's:
# `x ps`, and a port change that `critlua diff` finds equal to rewrite-ports'.
set -u
build=$1 src=$2 critlua=$3 tmp=$4 sanitize=$5
fix=$src/tests/fixtures
fail=0
failed() { echo "FAIL: $*"; fail=1; }
rm -rf "$tmp" && mkdir -p "$tmp/work" || exit 1
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
cp "$src"/examples/*.c "$tmp/work/"
cd "$tmp/work" || exit 1
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
pkg-config --exists libcrit || { echo "FAIL: pkg-config finds no libcrit under $tmp/prefix"; exit 1; }
[ "$(pkg-config --variable=prefix libcrit | xargs realpath)" = "$(realpath "$tmp/prefix")" ] ||
	failed "libcrit.pc's prefix is $(pkg-config --variable=prefix libcrit)"
[ -f "$tmp/prefix/include/crit/crit.h" ] && [ -f "$tmp/prefix/include/crit/proto/fdinfo.pb-c.h" ] ||
	failed "headers not installed under include/crit"
libdir=$(pkg-config --variable=libdir libcrit)
cflags="-Wall -Wextra -Werror"
[ "$sanitize" = ON ] && cflags="$cflags -fsanitize=address,undefined"
for ex in ps rewrite-port; do
	# shared
	cc $cflags -o "$ex" "$ex.c" $(pkg-config --cflags --libs libcrit) -Wl,-rpath,"$libdir" ||
		{ failed "cc $ex.c (shared)"; continue; }
	readelf -d "$ex" | grep -q 'NEEDED.*\[libcrit.so.0\]' || failed "$ex does not link libcrit.so.0"
	# static: libcrit.a with pkg-config --static's private libraries
	# (under the sanitizers, which cannot link -static, libcrit.a alone)
	if [ "$sanitize" = ON ]; then
		cc $cflags -o "$ex-static" "$ex.c" $(pkg-config --static --cflags libcrit) \
			$(pkg-config --static --libs libcrit | sed 's/-lcrit\b/-l:libcrit.a/') ||
			{ failed "cc $ex.c (static)"; continue; }
	else
		cc $cflags -static -o "$ex-static" "$ex.c" $(pkg-config --static --cflags --libs libcrit) \
			2>"$ex-static.log" || { cat "$ex-static.log"; failed "cc -static $ex.c"; continue; }
	fi
	! readelf -d "$ex-static" 2>/dev/null | grep -q 'libcrit.so' || failed "$ex-static links libcrit.so"
done
for bin in ./ps ./ps-static; do
	for ck in tcp pipes job-control zombie; do
		"$critlua" x "$fix/$ck" ps >want.txt 2>&1
		"$bin" "$fix/$ck" >got.txt 2>&1 || failed "$bin $ck: exit $?"
		cmp -s want.txt got.txt || { failed "$bin $ck: not critlua's x ps"; diff want.txt got.txt | head; }
	done
done
for bin in ./rewrite-port ./rewrite-port-static; do
	rm -rf a b && cp -r "$fix/tcp" a && cp -r "$fix/tcp" b
	# the same changes as rewrite-ports' --json report (image, path from 0 as
	# jq has it, old, new), and the same count written
	"$critlua" rewrite-ports --json a 47321:8080 | "$critlua" -e '
		local r = crit.json.decode(io.read("a"))
		for _, c in ipairs(r.changes) do print(string.format("%s: %s: %s -> %s", c.image, c.path, c.old, c.new)) end
		print(#r.changes .. " change(s) written to files.img")' >want.txt 2>&1
	"$bin" b 47321 8080 >got.txt 2>&1 || failed "$bin: exit $?"
	cmp -s want.txt got.txt || { failed "$bin: its changes are not rewrite-ports'"; diff want.txt got.txt; }
	"$critlua" diff a b >diff.txt 2>&1 || { failed "$bin: critlua diff finds a difference"; cat diff.txt; }
	"$critlua" diff --no-summary "$fix/tcp" b >diff.txt 2>&1
	[ $? = 1 ] && [ "$(grep -c 'isk\.\(src\|dst\)_port: 47321 -> 8080' diff.txt)" = 3 ] ||
		{ failed "$bin: critlua diff against the fixture"; cat diff.txt; }
	"$bin" b 1 2 >/dev/null 2>&1
	[ $? = 1 ] || failed "$bin: a port no socket has is not an exit 1"
	"$bin" /nonexistent 1 2 >/dev/null 2>err.txt
	[ $? = 1 ] && grep -q '/nonexistent' err.txt || failed "$bin: missing checkpoint: $(cat err.txt)"
done
[ $fail = 0 ] && echo "ok: examples built against $tmp/prefix (shared and static) agree with critlua"
exit $fail
