#!/usr/bin/env bash
# bench.sh: time critlua against CRIT side by side on large checkpoints that
# critlua generates from real fixtures (scripts/bench-gen.lua); see BENCHMARKS.md.
set -u

usage() {
	cat <<'EOF'
usage: scripts/bench.sh [options]
Generates large inputs from real criu dumps with critlua itself (a files.img of
100 000 entries, an mm image of 50 000 VMAs, a 1 000-process checkpoint, a
pages file of 1 GiB with needles planted), then times critlua and CRIT on the
same inputs, interleaved, several runs each, and prints the median wall time,
CPU time and peak RSS of each, and their ratios, per operation. With a C
compiler, it also times scripts/bench-floor.c, a loop that only opens and reads
the files `x fds` reads: the floor no `x fds` can go under. And when
bench-encode-floor (scripts/bench-encode-floor.c) is built next to critlua,
the floor under `encode`: json-c's parse of the same JSON plus protobuf-c's
packing of the same messages; its row says how many times it `encode` takes.

  --critlua PATH   the critlua binary (default: $CRITLUA, else build/critlua or
                   the newest build-*/critlua of this repository, else PATH)
  --crit PATH      CRIT (default /usr/bin/crit when present)
  --no-crit        time critlua alone
  --runs N         CRIT's runs per operation (default 3)
  --critlua-runs N critlua's runs per operation (default 7: they take little
                   time, and more of them steady the median on a busy machine)
  --fixtures DIR   real dumps to start from (default ../shared/fixtures next to
                   the repository when present, else tests/fixtures)
  --workdir DIR    generate there and keep it; inputs already there are reused
                   (default: a temporary directory under /tmp, removed at exit)
  --keep           keep the temporary directory
  --files N --vmas N --procs N --pages-mib N   input sizes
                   (default 100000, 50000, 1000, 1024)
  --smoke          tiny inputs, one run, no CRIT: checks that everything works
                   (outputs round-trip, needles found); exit status 1 if not
  -h, --help       this text
Needs GNU time (/usr/bin/time, Debian package "time") or python3 for peak RSS.
EOF
}

die() {
	echo "bench.sh: $*" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
critlua=${CRITLUA:-}
crit=/usr/bin/crit
use_crit=1
runs=3
lruns=7
fixtures=
workdir=
keep=0
smoke=0
n_files=100000
n_vmas=50000
n_procs=1000
pages_mib=1024

while [ $# -gt 0 ]; do
	case $1 in
	--critlua) critlua=${2:?}; shift ;;
	--crit) crit=${2:?}; shift ;;
	--no-crit) use_crit=0 ;;
	--runs) runs=${2:?}; shift ;;
	--critlua-runs) lruns=${2:?}; shift ;;
	--fixtures) fixtures=${2:?}; shift ;;
	--workdir) workdir=${2:?}; shift ;;
	--keep) keep=1 ;;
	--files) n_files=${2:?}; shift ;;
	--vmas) n_vmas=${2:?}; shift ;;
	--procs) n_procs=${2:?}; shift ;;
	--pages-mib) pages_mib=${2:?}; shift ;;
	--smoke) smoke=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option '$1'" ;;
	esac
	shift
done
for n in "$runs" "$lruns"; do
	case $n in '' | *[!0-9]* | 0) die "--runs and --critlua-runs need a positive integer" ;; esac
done

if [ $smoke = 1 ]; then
	use_crit=0 runs=1 lruns=1 n_files=2000 n_vmas=500 n_procs=25 pages_mib=4
fi

# --- tools ---
if [ -z "$critlua" ]; then
	if [ -x "$repo/build/critlua" ]; then
		critlua=$repo/build/critlua
	else
		# shellcheck disable=SC2012 # build directory names are plain
		critlua=$(ls -t "$repo"/build*/critlua 2>/dev/null | head -n 1)
		[ -n "$critlua" ] || critlua=$(command -v critlua || true)
	fi
fi
if [ -z "$critlua" ] || ! [ -x "$critlua" ]; then
	die "no critlua binary: build it, or give --critlua PATH"
fi
critlua=$(cd "$(dirname "$critlua")" && pwd)/$(basename "$critlua")
if [ $use_crit = 1 ] && ! [ -x "$crit" ]; then
	echo "bench.sh: $crit not found: timing critlua alone (apt-get install criu brings CRIT)" >&2
	use_crit=0
fi
[ $use_crit = 1 ] || runs=0

if [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	timer=gnu
elif command -v python3 >/dev/null 2>&1; then
	timer=python
	echo "bench.sh: GNU time (/usr/bin/time) is not installed: measuring with python3 instead" \
		"(apt-get install time)" >&2
else
	die "neither GNU time (/usr/bin/time: apt-get install time) nor python3 is installed: cannot measure peak memory"
fi

if [ -z "$fixtures" ]; then
	if [ -d "$repo/../shared/fixtures" ]; then
		fixtures=$repo/../shared/fixtures
	else
		fixtures=$repo/tests/fixtures
	fi
fi
[ -d "$fixtures" ] || die "$fixtures: no such directory"
fixtures=$(cd "$fixtures" && pwd)

if [ -n "$workdir" ]; then
	mkdir -p "$workdir" || die "cannot make $workdir"
	W=$(cd "$workdir" && pwd)
else
	W=$(mktemp -d /tmp/critlua-bench.XXXXXX) || die "cannot make a temporary directory"
	if [ $keep = 0 ]; then
		trap 'rm -rf "$W"' EXIT
	fi
fi
case $W in "$repo" | "$repo"/*) die "the work directory must not be inside the repository" ;; esac

now() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		echo "${EPOCHREALTIME/,/.}"
	else
		date +%s.%N
	fi
}

# children_cpu FILE: the user + system seconds of this shell's children so
# far, from the builtin `times` run in this shell (in a subshell it would
# count the subshell's children), into FILE.
children_cpu() {
	times >"$1"
}
cpu_of() { # the seconds children_cpu wrote to FILE
	awk 'NR == 2 { t = 0; for (k = 1; k <= 2; k++) { split($k, a, "m"); t += a[1] * 60 + a[2] } printf "%.4f", t }' "$1"
}

# measure OUT ERR CMD...: runs CMD (stdin /dev/null, stdout OUT, stderr ERR)
# as it is, with nothing between this shell and it, timing it from here:
# sets m_wall and m_cpu (s), m_status. Peak memory is measured apart
# (measure_rss): a meter such as GNU time would add its own start to every
# wall time, some milliseconds, which is most of a run of critlua's on a
# small input.
measure() {
	local out=$1 err=$2 t0 t1
	shift 2
	# The last run's output goes first, untimed: truncating it in the
	# redirection would wait for the kernel to finish writing it to disk.
	rm -f "$out" "$err"
	children_cpu "$W/.cpu0"
	if [ -n "${EPOCHREALTIME:-}" ]; then # bash 5: no process to start for the clock
		t0=${EPOCHREALTIME/,/.}
		"$@" </dev/null >"$out" 2>"$err"
		m_status=$?
		t1=${EPOCHREALTIME/,/.}
	else
		t0=$(now)
		"$@" </dev/null >"$out" 2>"$err"
		m_status=$?
		t1=$(now)
	fi
	children_cpu "$W/.cpu1"
	m_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	m_cpu=$(awk -v a="$(cpu_of "$W/.cpu0")" -v b="$(cpu_of "$W/.cpu1")" 'BEGIN { printf "%.3f", b - a }')
}

# measure_rss CMD...: one more run of CMD, under GNU time or python3, for its
# peak RSS (KiB) in m_rss.
measure_rss() {
	if [ $timer = gnu ]; then
		/usr/bin/time -f '%M' -o "$W/.rss" "$@" </dev/null >/dev/null 2>&1
	else
		python3 -c '
import resource, subprocess, sys
subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$W/.rss" "$@"
	fi
	m_rss=$(tail -n 1 "$W/.rss")
}

median() { # numbers on stdin -> the median
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- inputs ---
echo "== critlua benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "critlua: $critlua ($("$critlua" --version 2>/dev/null | head -n 1))"
if [ $use_crit = 1 ]; then
	echo "crit:    $crit ($(dpkg-query -W -f '${Package} ${Version}' criu 2>/dev/null || echo "version unknown"))"
fi
echo "inputs:  $W (from $fixtures)"

sizes="files=$n_files vmas=$n_vmas procs=$n_procs pages_mib=$pages_mib fixtures=$fixtures"
if [ -f "$W/manifest" ] && [ "$(cat "$W/.sizes" 2>/dev/null)" = "$sizes" ]; then
	echo "reusing the inputs already in $W"
else
	rm -rf "$W/images" "$W/ck" "$W/mem" "$W/mem-small" "$W/manifest"
	t0=$(now)
	"$critlua" "$here/bench-gen.lua" --fixtures "$fixtures" --out "$W" --files "$n_files" \
		--vmas "$n_vmas" --procs "$n_procs" --pages-mib "$pages_mib" ||
		die "generating the inputs failed"
	echo "$sizes" >"$W/.sizes"
	echo "generated in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
fi
mf() { sed -n "s/^$1=//p" "$W/manifest"; }
needle=$(mf needle)

# The JSON that encode reads: critlua's decode output, which is CRIT's byte for byte (checked below).
for img in files mm-1; do
	"$critlua" decode -i "$W/images/$img.img" >"$W/images/$img.json" || die "decoding $img.img failed"
done
# Warm the page cache for the search: it is measured from memory, as it says.
cat "$W/mem/pages-1.img" "$W/mem-small/pages-1.img" >/dev/null

search_code='local m = assert(crit.memory(arg[1], arg[2]))
local n = 0
assert(m:find(arg[3], function() n = n + 1 end))
print(n)'
pagemap=pagemap-$(mf pages_pid).img
have_grep=0
if "$critlua" grep --help >/dev/null 2>&1; then
	have_grep=1
fi

# Operations: name|input label|critlua command|crit command ("" = none)|output check
ops=()
add() { ops+=("$1|$2|$3|$4|$5"); }
mb() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.2f GiB", b / 1073741824; else printf "%.0f MiB", b / 1048576 }'; }
fi_label="files.img, $(mf files_entries) entries, $(awk -v b="$(mf files_bytes)" 'BEGIN { printf "%.2f MB", b / 1e6 }')"
mm_label="mm, $(mf mm_vmas) VMAs"
ck_label="$(mf ck_procs) processes"
big_label="pages $(mb "$(mf pages_bytes)")"
small_label="pages $(mb "$(mf small_pages_bytes)")"
add decode "$fi_label" "decode -i $W/images/files.img" "decode -i $W/images/files.img" same
add "decode --pretty" "$fi_label" "decode --pretty -i $W/images/files.img" "decode --pretty -i $W/images/files.img" same
add encode "$fi_label" "encode -i $W/images/files.json" "encode -i $W/images/files.json" "image:$W/images/files.img"
enc_fi_op=$((${#ops[@]} - 1))
add decode "$mm_label" "decode -i $W/images/mm-1.img" "decode -i $W/images/mm-1.img" same
add "decode --pretty" "$mm_label" "decode --pretty -i $W/images/mm-1.img" "decode --pretty -i $W/images/mm-1.img" same
add encode "$mm_label" "encode -i $W/images/mm-1.json" "encode -i $W/images/mm-1.json" "image:$W/images/mm-1.img"
enc_mm_op=$((${#ops[@]} - 1))
# The floor under encode: json-c's json_tokener_parse of the same JSON plus
# protobuf-c's packing of the same messages (scripts/bench-encode-floor.c, built
# next to critlua); it times itself, without unpacking the messages it packs.
encfloor=$(dirname "$critlua")/bench-encode-floor
if [ -x "$encfloor" ]; then
	add "encode: floor" "$fi_label" "@encfloor $W/images/files.json $W/images/files.img" "" \
		"encfloor:$enc_fi_op:$W/images/files.img"
	add "encode: floor" "$mm_label" "@encfloor $W/images/mm-1.json $W/images/mm-1.img" "" \
		"encfloor:$enc_mm_op:$W/images/mm-1.img"
fi
add "x ps" "$ck_label" "x $W/ck ps" "x $W/ck ps" same
add "x fds" "$ck_label" "x $W/ck fds" "x $W/ck fds" same
add "x mems" "$ck_label" "x $W/ck mems" "x $W/ck mems" same
fds_op=$((${#ops[@]} - 2)) # "x fds", for the floor below
# The floor under x fds: a C loop that only opens and reads the same files
# (scripts/bench-floor.c), when a C compiler is there.
have_floor=0
if [ $smoke = 0 ] && command -v cc >/dev/null 2>&1 &&
	cc -O2 -pthread -o "$W/bench-floor" "$here/bench-floor.c" 2>/dev/null &&
	"$critlua" -e 'local dir = arg[1]
print("pstree.img") print("files.img")
for _, p in ipairs(crit.load(dir .. "/pstree.img").entries) do
	local ids = crit.load(dir .. "/ids-" .. p.pid .. ".img").entries[1]
	print("ids-" .. p.pid .. ".img") print("fs-" .. p.pid .. ".img") print("fdinfo-" .. ids.files_id .. ".img")
end' "$W/ck" >"$W/floor-files"; then
	have_floor=1
	add "x fds: floor" "open+read of its $(wc -l <"$W/floor-files") files" "@floor" "" floor
fi
add "memory search" "$big_label" "-e @search $W/mem $pagemap $needle" "" "count:$(mf pages_needles):pages_bytes"
add "memory search" "$small_label" "-e @search $W/mem-small $pagemap $needle" "" \
	"count:$(mf small_pages_needles):small_pages_bytes"
if [ $have_grep = 1 ]; then
	add "critlua grep" "$big_label" "grep $W/mem $needle" "" "lines:$(mf pages_needles):pages_bytes"
	add "critlua grep" "$small_label" "grep $W/mem-small $needle" "" "lines:$(mf small_pages_needles):small_pages_bytes"
fi

# run_one TOOL OPINDEX RUN: one timed run; "-e @search" stands for the search code,
# which goes in as one argument.
run_one() {
	local tool=$1 i=$2 r=$3 cmd
	IFS='|' read -r _ _ c1 c2 _ <<<"${ops[$i]}"
	if [ "$tool" = critlua ]; then cmd=$c1; else cmd=$c2; fi
	local out="$W/out/$tool.$i.out" err="$W/out/$tool.$i.err"
	# shellcheck disable=SC2086 # the commands are word lists without quoting
	set -- $cmd
	if [ "$1" = -e ] && [ "$2" = @search ]; then
		shift 2
		set -- "$critlua" -e "$search_code" "$@"
	elif [ "$1" = @encfloor ]; then
		set -- "$encfloor" "$2" "$3"
	elif [ "$1" = @floor ]; then
		# shellcheck disable=SC2046 # image names, one per line, without spaces
		set -- "$W/bench-floor" "$W/ck" $(cat "$W/floor-files")
	elif [ "$tool" = critlua ]; then
		set -- "$critlua" "$@"
	else
		set -- "$crit" "$@"
	fi
	measure "$out" "$err" "$@"
	if [ "$1" = "$encfloor" ] && [ $m_status = 0 ]; then
		read -r m_wall m_cpu <"$err" # its own clock: the timed part only
	fi
	m_rss=-
	if [ "$r" = 1 ]; then # peak memory does not change from run to run: measured once
		measure_rss "$@"
	fi
	echo "$tool $i $r $m_wall $m_cpu $m_rss $m_status" >>"$W/times"
}

mkdir -p "$W/out"
: >"$W/times"
total_t0=$(now)
nruns=$((runs > lruns ? runs : lruns))
for ((r = 1; r <= nruns; r++)); do
	printf 'run %d/%d:' "$r" "$nruns"
	for i in "${!ops[@]}"; do
		IFS='|' read -r name _ _ c2 _ <<<"${ops[$i]}"
		printf ' %s' "${name// /_}"
		# interleaved, so that both see the same moments of a shared machine
		if [ "$r" -le "$lruns" ]; then
			run_one critlua "$i" "$r"
		fi
		if [ "$r" -le "$runs" ] && [ -n "$c2" ]; then
			run_one crit "$i" "$r"
		fi
	done
	echo
done
echo "timed in $(awk -v a="$total_t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"

# --- results ---
stat_of() { # stat_of TOOL OPINDEX COLUMN(4 wall, 5 cpu, 6 rss) -> median
	awk -v t="$1" -v i="$2" -v c="$3" '$1 == t && $2 == i && $c != "-" { print $c }' "$W/times" | median
}
failed_of() {
	awk -v t="$1" -v i="$2" '$1 == t && $2 == i && $7 != 0 { n++ } END { print n + 0 }' "$W/times"
}
fmt_s() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else if (v < 1) printf "%.3f", v; else printf "%.2f", v }'; }
fmt_mb() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else printf "%.1f", v / 1024 }'; }

bad=0
md="$W/results.md"
{
	echo "| operation | input | critlua s (cpu) | critlua MB | crit s (cpu) | crit MB | speed (cpu) | memory | output |"
	echo "|---|---|---|---|---|---|---|---|---|"
} >"$md"
printf '\n%-16s %-34s %16s %9s %16s %9s %12s %7s  %s\n' operation input "critlua s (cpu)" "RSS MB" \
	"crit s (cpu)" "RSS MB" "speed (cpu)" memory output
for i in "${!ops[@]}"; do
	IFS='|' read -r name label _ c2 check <<<"${ops[$i]}"
	lw=$(stat_of critlua "$i" 4) lc=$(stat_of critlua "$i" 5) lr=$(stat_of critlua "$i" 6)
	lf=$(failed_of critlua "$i")
	cw=nan cc=nan cr=nan cf=0
	if [ $use_crit = 1 ] && [ -n "$c2" ]; then
		cw=$(stat_of crit "$i" 4) cc=$(stat_of crit "$i" 5) cr=$(stat_of crit "$i" 6)
		cf=$(failed_of crit "$i")
	fi
	out="$W/out/critlua.$i.out"
	# what the outputs say
	note=
	if [ "$lf" != 0 ]; then
		note="critlua FAILED ($(head -c 200 "$W/out/critlua.$i.err"))"
		bad=1
	fi
	case $check in
	same)
		if [ "$cw" != nan ]; then
			if [ "$cf" != 0 ]; then
				note="${note:+$note; }crit failed: $(tail -n 1 "$W/out/crit.$i.err" | head -c 150)"
			elif cmp -s "$out" "$W/out/crit.$i.out"; then
				note="${note:+$note; }same as crit"
			else
				note="${note:+$note; }differs from crit"
			fi
		fi
		;;
	image:*)
		if cmp -s "$out" "${check#image:}"; then
			note="${note:+$note; }the image, byte for byte"
		else
			note="${note:+$note; }NOT the original image"
			bad=1
		fi
		if [ "$cw" != nan ] && [ "$cf" = 0 ] && ! cmp -s "$W/out/crit.$i.out" "${check#image:}"; then
			note="$note (crit's is not)"
		fi
		;;
	count:* | lines:*)
		IFS=: read -r kind want _ <<<"$check"
		if [ "$kind" = count ]; then
			found=$(cat "$out" 2>/dev/null)
		else
			found=$(wc -l <"$out")
		fi
		if [ "$found" = "$want" ]; then
			note="${note:+$note; }found all $want needles"
		else
			note="${note:+$note; }found '$found' needles of $want"
			bad=1
		fi
		;;
	esac
	speed=- mem=-
	if [ "$cw" != nan ] && [ "$cf" = 0 ] && [ "$lf" = 0 ]; then
		speed=$(awk -v a="$cw" -v b="$lw" -v c="$cc" -v d="$lc" \
			'BEGIN { printf "%.0fx", a / b; if (d > 0) printf " (%.0fx)", c / d }')
		mem=$(awk -v a="$cr" -v b="$lr" 'BEGIN { printf "1/%.0f", a / b }')
	fi
	case $check in
	count:* | lines:*)
		speed=$(awk -v b="$(mf "${check##*:}")" -v t="$lw" 'BEGIN { printf "%.2f GB/s", b / t / 1e9 }')
		;;
	encfloor:*)
		IFS=: read -r _ eop img <<<"$check"
		if cmp -s "$out" "$img"; then
			note="${note:+$note; }json-c parse + protobuf-c pack; the image, byte for byte"
		else
			note="${note:+$note; }NOT the original image"
			bad=1
		fi
		ew=$(stat_of critlua "$eop" 4) ec=$(stat_of critlua "$eop" 5)
		speed=$(awk -v a="$ew" -v b="$lw" -v c="$ec" -v d="$lc" \
			'BEGIN { if (b > 0) printf "encode %.2fx", a / b; if (d > 0) printf " (%.2fx)", c / d }')
		;;
	floor)
		# how much faster than crit's x fds reading alone is: no x fds can beat it
		fw=nan
		[ $use_crit = 1 ] && fw=$(stat_of crit "$fds_op" 4)
		if [ "$fw" != nan ]; then
			speed=$(awk -v a="$fw" -v b="$lw" 'BEGIN { printf "%.0fx", a / b }')
			note="${note:+$note; }C loop reading x fds' images: crit's x fds / this"
		else
			note="${note:+$note; }C loop reading x fds' images"
		fi
		;;
	esac
	printf '%-16s %-34s %7s (%6s) %9s %7s (%6s) %9s %12s %7s  %s\n' "$name" "$label" \
		"$(fmt_s "$lw")" "$(fmt_s "$lc")" "$(fmt_mb "$lr")" "$(fmt_s "$cw")" "$(fmt_s "$cc")" \
		"$(fmt_mb "$cr")" "$speed" "$mem" "$note"
	echo "| $name | $label | $(fmt_s "$lw") ($(fmt_s "$lc")) | $(fmt_mb "$lr") | $(fmt_s "$cw") ($(fmt_s "$cc")) | $(fmt_mb "$cr") | $speed | $mem | $note |" >>"$md"
done
echo
echo "medians of $lruns critlua run(s)$([ $use_crit = 1 ] && echo " and $runs crit run(s)");" \
	"s = wall seconds (cpu = user + sys), each run started straight from this shell;"
echo "MB = peak RSS in MiB, of one more run under $([ $timer = gnu ] && echo "GNU time" || echo python3);"
echo "speed = crit's wall time / critlua's (cpu: the same of cpu times, which a busy machine"
echo "disturbs less); memory = critlua's peak RSS / crit's."
echo "markdown table: $md; every time: $W/times"
if [ $keep = 1 ] || [ -n "$workdir" ]; then
	echo "inputs kept in $W"
fi
exit $bad
