#!/usr/bin/env bash
# bench.sh: time critlua against a baseline critlua, CRIT and the Go peers (go-criu's crit,
# checkpointctl) side by side on large checkpoints that critlua generates from real fixtures
# (scripts/bench-gen.lua); see BENCHMARKS.md.
set -u

# All of the script is one block, which bash reads whole before it runs any of it: a run
# takes many minutes, and bash would otherwise go on reading the file as it runs, so
# that a checkout or edit meanwhile would change what the rest of the run does.
{

usage() {
	cat <<'EOF'
usage: scripts/bench.sh [options]
Generates large inputs from real criu dumps with critlua itself (a files.img of
100 000 entries, an mm image of 50 000 VMAs, a 1 000-process checkpoint, a
pages file of 1 GiB with needles planted), then times every tool that is there
on the operations it shares with critlua, interleaved, several runs each, and
prints per operation each tool's median wall time, CPU time and peak RSS, and
the ratios. The tools: critlua; a baseline critlua (--baseline: an older build,
to show a change's effect); CRIT 3.17 (Python); go-criu's crit (go-crit) and
checkpointctl (--peers). With a C compiler, it also times scripts/bench-floor.c,
a loop that only opens and reads the files `x fds` reads: the floor no `x fds`
can go under. And when bench-encode-floor (scripts/bench-encode-floor.c) is
built next to critlua, the floor under `encode`: json-c's parse of the same JSON
plus protobuf-c's packing of the same messages; its row says how many times it
`encode` takes.

  --critlua PATH   the critlua binary (default: $CRITLUA, else build/critlua or
                   the newest build-*/critlua of this repository, else PATH)
  --baseline PATH  an older critlua, timed on the same operations (column "base")
  --crit PATH      CRIT (default /usr/bin/crit when present)
  --no-crit        leave CRIT out
  --peers DIR      where go-crit and checkpointctl are (default ../shared/peers/bin
                   next to the repository when present); one that is absent is
                   left out, and the output says so
  --no-peers       leave the Go peers out
  --runs N         CRIT's runs per operation (default 3)
  --critlua-runs N critlua's and the baseline's runs per operation (default 7:
                   they take little time, and more of them steady the median on
                   a busy machine)
  --peer-runs N    go-crit's and checkpointctl's runs per operation (default 5)
  --fixtures DIR   real dumps to start from (default ../shared/fixtures next to
                   the repository when present, else tests/fixtures)
  --workdir DIR    generate there and keep it; inputs already there are reused
                   (default: a temporary directory under /tmp, removed at exit)
  --keep           keep the temporary directory
  --files N --vmas N --procs N --pages-mib N   input sizes
                   (default 100000, 50000, 1000, 1024)
  --scale          then the same operations again on inputs ten times smaller
                   (in WORKDIR/tenth; critlua and the Go peers, no CRIT), and a
                   table of each critlua operation's time and peak memory at the
                   two sizes and their ratios (linear: about 10x the time; flat:
                   memory that does not grow with the input)
  --only REGEX     time only the operations whose name matches REGEX (bash's
                   =~, an extended regular expression: e.g. 'x rss|^mem'); the
                   inputs are made (or reused) all the same, and --scale runs
                   the same subset
  --smoke          tiny inputs, one run, no CRIT (the Go peers run once when
                   they are there): checks that everything works (outputs
                   round-trip, needles found); exit status 1 if not
  -h, --help       this text
Needs GNU time (/usr/bin/time, Debian package "time") or python3 for peak RSS;
python3 to compare go-crit's JSON with critlua's (else that check is skipped).
EOF
}

die() {
	echo "bench.sh: $*" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
critlua=${CRITLUA:-}
baseline=
crit=/usr/bin/crit
use_crit=1
peers=
use_peers=1
runs=3
lruns=7
pruns=5
fixtures=
workdir=
keep=0
smoke=0
scale=0
only=
n_files=100000
n_vmas=50000
n_procs=1000
pages_mib=1024

while [ $# -gt 0 ]; do
	case $1 in
	--critlua) critlua=${2:?}; shift ;;
	--baseline) baseline=${2:?}; shift ;;
	--crit) crit=${2:?}; shift ;;
	--no-crit) use_crit=0 ;;
	--peers) peers=${2:?}; shift ;;
	--no-peers) use_peers=0 ;;
	--runs) runs=${2:?}; shift ;;
	--critlua-runs) lruns=${2:?}; shift ;;
	--peer-runs) pruns=${2:?}; shift ;;
	--fixtures) fixtures=${2:?}; shift ;;
	--workdir) workdir=${2:?}; shift ;;
	--keep) keep=1 ;;
	--files) n_files=${2:?}; shift ;;
	--vmas) n_vmas=${2:?}; shift ;;
	--procs) n_procs=${2:?}; shift ;;
	--pages-mib) pages_mib=${2:?}; shift ;;
	--smoke) smoke=1 ;;
	--scale) scale=1 ;;
	--only) only=${2?}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option '$1'" ;;
	esac
	shift
done
for n in "$runs" "$lruns" "$pruns"; do
	case $n in '' | *[!0-9]* | 0) die "--runs, --critlua-runs and --peer-runs need a positive integer" ;; esac
done

if [ $smoke = 1 ]; then
	use_crit=0 runs=1 lruns=1 pruns=1 n_files=2000 n_vmas=500 n_procs=25 pages_mib=4
fi

# --- tools ---
# Each tool has a key (the columns' order), a name for the output, a binary,
# and its number of runs; a tool that is not there has no binary.
tools=(critlua base crit gocrit cpctl)
declare -A bin=() nruns=() tname=([critlua]=critlua [base]=base [crit]=crit [gocrit]=go-crit
	[cpctl]=checkpointctl)
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

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
critlua=$(absolute "$critlua")
bin[critlua]=$critlua nruns[critlua]=$lruns
if [ -n "$baseline" ]; then
	[ -x "$baseline" ] || die "--baseline $baseline: not an executable"
	bin[base]=$(absolute "$baseline") nruns[base]=$lruns
fi
if [ $use_crit = 1 ]; then
	if [ -x "$crit" ]; then
		bin[crit]=$crit nruns[crit]=$runs
	else
		echo "bench.sh: $crit not found: CRIT left out (apt-get install criu brings it)" >&2
	fi
fi
if [ $use_peers = 1 ]; then
	if [ -z "$peers" ] && [ -d "$repo/../shared/peers/bin" ]; then
		peers=$repo/../shared/peers/bin
	fi
	if [ -z "$peers" ]; then
		echo "bench.sh: no --peers directory (nor ../shared/peers/bin): go-crit and checkpointctl left out" >&2
	else
		[ -d "$peers" ] || die "--peers $peers: no such directory"
		peers=$(cd "$peers" && pwd)
		for t in gocrit:go-crit cpctl:checkpointctl; do
			if [ -x "$peers/${t#*:}" ]; then
				bin[${t%%:*}]=$peers/${t#*:} nruns[${t%%:*}]=$pruns
			else
				echo "bench.sh: $peers/${t#*:} not found: left out" >&2
			fi
		done
	fi
fi
has() { [ -n "${bin[$1]:-}" ]; }

if [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	timer=gnu
elif command -v python3 >/dev/null 2>&1; then
	timer=python
	echo "bench.sh: GNU time (/usr/bin/time) is not installed: measuring with python3 instead" \
		"(apt-get install time)" >&2
else
	die "neither GNU time (/usr/bin/time: apt-get install time) nor python3 is installed: cannot measure peak memory"
fi
have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1

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
if has base; then
	echo "base:    ${bin[base]} ($("${bin[base]}" --version 2>/dev/null | head -n 1))"
fi
if has crit; then
	echo "crit:    $crit ($(dpkg-query -W -f '${Package} ${Version}' criu 2>/dev/null || echo "version unknown"))"
fi
if has gocrit; then
	echo "go-crit: ${bin[gocrit]} (go-criu's crit; see the README beside it for its version)"
fi
if has cpctl; then
	echo "checkpointctl: ${bin[cpctl]} ($("${bin[cpctl]}" --version 2>/dev/null | head -n 1))"
fi
echo "inputs:  $W (from $fixtures)"

sizes="files=$n_files vmas=$n_vmas procs=$n_procs pages_mib=$pages_mib fixtures=$fixtures"
if [ -f "$W/manifest" ] && [ "$(cat "$W/.sizes" 2>/dev/null)" = "$sizes" ]; then
	echo "reusing the inputs already in $W"
else
	rm -rf "$W/images" "$W/ck" "$W/mem" "$W/mem-small" "$W/manifest" "$W/compat" "$W/archives"
	t0=$(now)
	"$critlua" "$here/bench-gen.lua" --fixtures "$fixtures" --out "$W" --files "$n_files" \
		--vmas "$n_vmas" --procs "$n_procs" --pages-mib "$pages_mib" ||
		die "generating the inputs failed"
	echo "$sizes" >"$W/.sizes"
	echo "generated in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
fi
mf() { sed -n "s/^$1=//p" "$W/manifest"; }
needle=$(mf needle)
pages_pid=$(mf pages_pid)

# The JSON that encode reads: critlua's decode output, which is CRIT's byte for byte (checked below).
for img in files mm-1; do
	"$critlua" decode -i "$W/images/$img.img" >"$W/images/$img.json" || die "decoding $img.img failed"
done

# Copies for the peers (made once per set of inputs, kept in the work directory):
# - compat/: the checkpoints with each pagemap entry's page count also in field 2
#   (compat_nr_pages), where go-criu v7.2.0, and so checkpointctl, reads it (CRIU >= 3.18
#   writes it in field 5 and 0 in field 2: on the originals those peers see no memory).
#   Everything else is hard-linked. critlua's and CRIT's outputs are the same on both.
# - archives/: Podman-style archives of the compat copies (checkpointctl reads nothing
#   else): the images under checkpoint/, the engine files of tests/archive/podman and
#   stats-dump beside them; symbolic links (bench-gen links the pages files) followed.
compat_code='for i = 1, #arg do
	local img = crit.load(arg[i])
	for k = 2, #img.entries do
		local e = img.entries[k]
		if e.nr_pages then e.compat_nr_pages = e.nr_pages end
	end
	assert(img:save(arg[i] .. ".new"))
	assert(os.rename(arg[i] .. ".new", arg[i])) -- a new file: the hard link to the original is cut
end'
mkarchive() { # mkarchive DIR OUT
	local meta=$repo/tests/archive/podman top=(config.dump spec.dump network.status)
	rm -rf "$W/.arch" && mkdir "$W/.arch" && cp "${top[@]/#/$meta/}" "$W/.arch/" || return 1
	if [ -f "$1/stats-dump" ]; then
		cp "$1/stats-dump" "$W/.arch/" && top+=(stats-dump)
	fi
	tar -cf "$2.new" --dereference --hard-dereference -C "$W/.arch" "${top[@]}" \
		-C "$1" --transform='s,^\.,checkpoint,' . && mv "$2.new" "$2"
}
if has gocrit || has cpctl; then
	for d in ck mem mem-small; do
		[ -d "$W/compat/$d" ] && continue
		mkdir -p "$W/compat" || die "cannot make $W/compat"
		rm -rf "$W/compat/$d.new"
		cp -al "$W/$d" "$W/compat/$d.new" || die "copying $d failed"
		mapfile -t pms < <(find "$W/compat/$d.new" -name 'pagemap-*.img' ! -name 'pagemap-shmem-*')
		"$critlua" -e "$compat_code" "${pms[@]}" || die "making the compat copy of $d failed"
		mv "$W/compat/$d.new" "$W/compat/$d" || die "cannot rename $W/compat/$d.new"
	done
fi
if has cpctl; then
	for d in ck mem mem-small; do
		[ -f "$W/archives/$d.tar" ] && continue
		mkdir -p "$W/archives" || die "cannot make $W/archives"
		mkarchive "$W/compat/$d" "$W/archives/$d.tar" || die "making the archive of $d failed"
	done
	rm -rf "$W/.arch"
fi
# go-crit reads only its own JSON dialect: its encode is fed its decode's output.
if has gocrit; then
	for img in files mm-1; do
		"${bin[gocrit]}" decode -i "$W/images/$img.img" >"$W/images/$img.gocrit.json" ||
			die "go-crit could not decode $img.img"
	done
fi
# Warm the page cache for the search: it is measured from memory, as it says.
cat "$W/mem/pages-1.img" "$W/mem-small/pages-1.img" >/dev/null
if has cpctl; then
	cat "$W/archives/mem.tar" "$W/archives/mem-small.tar" >/dev/null
fi

search_code='local m = assert(crit.memory(arg[1], arg[2]))
local n = 0
assert(m:find(arg[3], function() n = n + 1 end))
print(n)'
pagemap=pagemap-$pages_pid.img
have_grep=0
if "$critlua" grep --help >/dev/null 2>&1; then
	have_grep=1
fi

# Operations. add NAME LABEL CHECK [TOOL=COMMAND | TOOL:check=CHECK]...
# A COMMAND is the words after the tool's binary, or "@exec PROGRAM ARGS..." (a
# program of its own, as the floors), "@search ARGS" (critlua -e with the search
# code), "@memdump ARCHIVE PID" (see memdump). The baseline runs critlua's
# command unless it is given one (base=) or the command is an @exec. CHECK is
# what critlua's output must be: same (as crit's), image:FILE, count:N:BYTES_KEY,
# lines:N:BYTES_KEY, floor:OPINDEX (a floor under operation OPINDEX), or -. A
# peer's TOOL:check= is json:FILE (the same content as critlua's JSON in FILE),
# image:FILE, pids:N (N "pid" keys in its JSON), matches:N (checkpointctl's
# table rows), or - (its exit status only).
op_name=() op_label=() op_check=()
declare -A op_cmd=() op_pcheck=()
add() {
	local i=${#op_name[@]} a
	op_name[i]=$1 op_label[i]=$2 op_check[i]=$3
	shift 3
	for a; do
		case $a in
		*:check=*) op_pcheck[${a%%:check=*},$i]=${a#*:check=} ;;
		*=*) op_cmd[${a%%=*},$i]=${a#*=} ;;
		*) die "add: '$a' is neither TOOL=COMMAND nor TOOL:check=CHECK" ;;
		esac
	done
	if [ -n "${op_cmd[critlua,$i]:-}" ] && [ -z "${op_cmd[base,$i]:-}" ]; then
		case ${op_cmd[critlua,$i]} in @exec*) ;; *) op_cmd[base,$i]=${op_cmd[critlua,$i]} ;; esac
	fi
	last_op=$i
}
# picked OPINDEX: whether --only lets the operation run (and show)
picked() { [ -z "$only" ] || [[ ${op_name[$1]} =~ $only ]]; }
# cfloor NAME [CC_ARGS...]: compiles scripts/NAME.c into $W/NAME for a floor row,
# when a C compiler is there (not in smoke mode); its status says whether it did.
# A floor row: add "OP: floor" LABEL "floor:$op_index" critlua="@exec $W/NAME ARGS...".
cfloor() {
	[ $smoke = 0 ] && command -v cc >/dev/null 2>&1 &&
		cc -O2 -pthread -o "$W/$1" "$here/$1.c" "${@:2}" 2>/dev/null
}
mb() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.2f GiB", b / 1073741824; else printf "%.0f MiB", b / 1048576 }'; }
fi_label="files.img, $(mf files_entries) entries, $(awk -v b="$(mf files_bytes)" 'BEGIN { printf "%.2f MB", b / 1e6 }')"
mm_label="mm, $(mf mm_vmas) VMAs"
procs=$(mf ck_procs)
ck_label="$procs processes"
ar_label="$procs processes, archive"
big_label="pages $(mb "$(mf pages_bytes)")"
small_label="pages $(mb "$(mf small_pages_bytes)")"
C=$W A=$W/archives I=$W/images
[ -d "$W/compat/ck" ] && C=$W/compat # where there are peers; the same to critlua and CRIT
add decode "$fi_label" same critlua="decode -i $I/files.img" crit="decode -i $I/files.img" \
	gocrit="decode -i $I/files.img" gocrit:check="json:$I/files.json"
# go-crit's --pretty only indents (CRIT's also writes flags and addresses as text): its content
# is compared with the plain decode's
add "decode --pretty" "$fi_label" same critlua="decode --pretty -i $I/files.img" \
	crit="decode --pretty -i $I/files.img" gocrit="decode --pretty -i $I/files.img" gocrit:check="json:$I/files.json"
add encode "$fi_label" "image:$I/files.img" critlua="encode -i $I/files.json" crit="encode -i $I/files.json" \
	gocrit="encode -i $I/files.gocrit.json" gocrit:check="image:$I/files.img"
enc_fi_op=$last_op
add decode "$mm_label" same critlua="decode -i $I/mm-1.img" crit="decode -i $I/mm-1.img" \
	gocrit="decode -i $I/mm-1.img" gocrit:check="json:$I/mm-1.json"
add "decode --pretty" "$mm_label" same critlua="decode --pretty -i $I/mm-1.img" \
	crit="decode --pretty -i $I/mm-1.img" gocrit="decode --pretty -i $I/mm-1.img" gocrit:check="json:$I/mm-1.json"
add encode "$mm_label" "image:$I/mm-1.img" critlua="encode -i $I/mm-1.json" crit="encode -i $I/mm-1.json" \
	gocrit="encode -i $I/mm-1.gocrit.json" gocrit:check="image:$I/mm-1.img"
enc_mm_op=$last_op
# The floor under encode: json-c's json_tokener_parse of the same JSON plus
# protobuf-c's packing of the same messages (scripts/bench-encode-floor.c, built
# next to critlua); it times itself, without unpacking the messages it packs.
encfloor=$(dirname "$critlua")/bench-encode-floor
if [ -x "$encfloor" ]; then
	add "encode: floor" "$fi_label" "encfloor:$enc_fi_op:$I/files.img" \
		critlua="@exec $encfloor $I/files.json $I/files.img"
	add "encode: floor" "$mm_label" "encfloor:$enc_mm_op:$I/mm-1.img" \
		critlua="@exec $encfloor $I/mm-1.json $I/mm-1.img"
fi
# The views that read memory (mems: the pagemaps for go-crit; rss) run on the compat copy.
add "x ps" "$ck_label" same critlua="x $W/ck ps" crit="x $W/ck ps" gocrit="x $W/ck ps" gocrit:check="pids:$procs"
ps_op=$last_op
add "x fds" "$ck_label" same critlua="x $W/ck fds" crit="x $W/ck fds" gocrit="x $W/ck fd" gocrit:check="pids:$procs"
fds_op=$last_op
# The floor under an x fds written in Lua: its three images a process read by the
# one reader and a line a fd made with one concatenation (scripts/bench-fds-floor.lua).
add "x fds: Lua floor" "read + one line a fd" "floor:$fds_op" \
	critlua="@exec $critlua $here/bench-fds-floor.lua $W/ck"
add "x mems" "$ck_label" same critlua="x $C/ck mems" crit="x $C/ck mems" gocrit="x $C/ck mem" \
	gocrit:check="pids:$procs"
mems_op=$last_op
# The floor under an x mems written in Lua: the VMAs read as columns by the one
# reader and a line each made the cheapest way (scripts/bench-mems-floor.lua).
add "x mems: Lua floor" "read + one line a VMA" "floor:$mems_op" \
	critlua="@exec $critlua $here/bench-mems-floor.lua $C/ck"
add "x rss" "$ck_label" same critlua="x $C/ck rss" crit="x $C/ck rss" gocrit="x $C/ck rss" \
	gocrit:check="pids:$procs"
# The floor under an x rss written in Lua: the VMAs as columns and the pagemap entries
# read by the one reader, a format per line piece (scripts/bench-rss-floor.lua).
add "x rss: Lua floor" "read + a format a piece" "floor:$last_op" \
	critlua="@exec $critlua $here/bench-rss-floor.lua $C/ck"
add "x sk" "$ck_label" - critlua="x $W/ck sk" gocrit="x $W/ck sk"
sk_op=$last_op
# The floors under x fds, x ps and x sk: a C loop that only opens and reads the
# files each view reads (scripts/bench-floor.c), when a C compiler is there.
if cfloor bench-floor && "$critlua" -e 'local dir = arg[1]
local fds, ps, sk = io.open(arg[2], "w"), io.open(arg[3], "w"), io.open(arg[4], "w")
fds:write("pstree.img\nfiles.img\n") ps:write("pstree.img\n") sk:write("pstree.img\n")
for _, p in ipairs(crit.load(dir .. "/pstree.img").entries) do
	local ids = crit.load(dir .. "/ids-" .. p.pid .. ".img").entries[1]
	local i, fi = "ids-" .. p.pid .. ".img\n", "fdinfo-" .. ids.files_id .. ".img\n"
	fds:write(i, "fs-" .. p.pid .. ".img\n", fi) ps:write("core-" .. p.pid .. ".img\n") sk:write(i, fi)
end
fds:close() ps:close() sk:close()' "$W/ck" "$W/floor-files" "$W/floor-ps" "$W/floor-sk"; then
	for f in "fds:files:$fds_op" "ps:ps:$ps_op" "sk:sk:$sk_op"; do
		IFS=: read -r v list ref <<<"$f"
		add "x $v: floor" "C open+read of its $(wc -l <"$W/floor-$list") files" "floor:$ref" \
			critlua="@exec $W/bench-floor $W/ck $(tr '\n' ' ' <"$W/floor-$list")"
	done
fi
# Archives: checkpointctl's views, and critlua's commands that show the same.
if has cpctl; then
	ar=$A/ck.tar
	add "inspect | show" "$ar_label" - critlua="inspect $ar" cpctl="show $ar"
	insp_op=$last_op
	# The floor under every view of an archive: libarchive loaded and every
	# member's header read, the data skipped (scripts/bench-archive-floor.c).
	if cfloor bench-archive-floor -larchive; then
		add "archive: floor" "libarchive, every header of the archive" "floor:$insp_op" \
			critlua="@exec $W/bench-archive-floor $ar"
	fi
	add "x ps | --ps-tree" "$ar_label" - critlua="x $ar ps" cpctl="inspect --ps-tree $ar"
	add "x fds | --files" "$ar_label" - critlua="x $ar fds" cpctl="inspect --files $ar"
	add "x sk | --sockets" "$ar_label" - critlua="x $ar sk" cpctl="inspect --sockets $ar"
	add "stats | --stats" "$ar_label" - critlua="stats $ar" cpctl="inspect --stats $ar"
fi
add "memory search" "$big_label" "count:$(mf pages_needles):pages_bytes" critlua="@search $C/mem $pagemap $needle"
add "memory search" "$small_label" "count:$(mf small_pages_needles):small_pages_bytes" \
	critlua="@search $C/mem-small $pagemap $needle"
if [ $have_grep = 1 ]; then
	add "critlua grep" "$big_label" "lines:$(mf pages_needles):pages_bytes" critlua="grep $C/mem $needle"
	add "critlua grep" "$small_label" "lines:$(mf small_pages_needles):small_pages_bytes" \
		critlua="grep $C/mem-small $needle"
	if has cpctl; then
		# the same search with checkpointctl memparse on the archive, plain and regex
		# (critlua: a Lua pattern); the needle's prefix then hex digits
		re_go="${needle%:*}:[0-9a-f]+" re_lua="${needle%:*}"
		re_lua="${re_lua//-/%-}:%x+"
		for s in "mem:big_label:pages" "mem-small:small_label:small_pages"; do
			IFS=: read -r d lv k <<<"$s"
			n=$(mf "${k}_needles")
			add "grep | memparse" "${!lv}, archive" "lines:$n:${k}_bytes" \
				critlua="grep $A/$d.tar $needle --pid $pages_pid" \
				cpctl="memparse --search $needle --pid $pages_pid $A/$d.tar" cpctl:check="matches:$n"
			add "grep --pattern | regex" "${!lv}, archive" "lines:$n:${k}_bytes" \
				critlua="grep $A/$d.tar $re_lua --pattern --pid $pages_pid" \
				cpctl="memparse --search-regex $re_go --pid $pages_pid $A/$d.tar" cpctl:check="matches:$n"
		done
	fi
fi
# The memory diff and the core file over the big pages file: streaming, their peak RSS stays
# flat (issue 17: under 64 MB). The core is written into $W/out, once per run.
if "$critlua" coredump --help >/dev/null 2>&1; then
	add "diff --memory" "$big_label, against itself" - critlua="diff --memory $C/mem $C/mem"
	add "coredump" "$big_label" - critlua="coredump $C/mem $pages_pid -o $W/out/bench.core"
fi
# A process's memory dump: checkpointctl memparse --pid prints all of it as a hexdump,
# and so does critlua's mem --dump, in one call; a critlua without --dump (an older
# baseline) runs mem --addr once per range of contiguous pages the checkpoint holds
# for the process (the first of the 1 000), found here.
dump_ranges=()
if has cpctl; then
	mapfile -t dump_ranges < <("$critlua" -e 'local ck = crit.open(arg[1])
local pid = ck:pids()[1]
print(pid)
local a, e
for _, r in ipairs(ck:regions(pid)) do
	if r.present and not r.shmid then
		if r.start == e then e = r["end"] else
			if a then print(string.format("0x%x %d", a, e - a)) end
			a, e = r.start, r["end"]
		end
	end
end
if a then print(string.format("0x%x %d", a, e - a)) end' "$A/ck.tar")
	dump_pid=${dump_ranges[0]:-}
	dump_ranges=("${dump_ranges[@]:1}")
	if [ -n "$dump_pid" ] && [ ${#dump_ranges[@]} -gt 0 ]; then
		dump_bytes=$(printf '%s\n' "${dump_ranges[@]}" | awk '{ n += $2 } END { print n }')
		add "mem | memparse --pid" "pid $dump_pid, $((dump_bytes / 1024)) KiB in ${#dump_ranges[@]} ranges, archive" - \
			critlua="@memdump $A/ck.tar $dump_pid" cpctl="memparse --pid $dump_pid $A/ck.tar" \
			cpctl:check="dumprows"
	else
		echo "bench.sh: no memory found for the first process of $A/ck.tar: no memory dump row" >&2
	fi
fi

# memdump CRITLUA ARCHIVE PID: the hexdump of all the process's memory: mem --dump, or,
# where CRITLUA has none, of every range in dump_ranges, one mem call each.
declare -A dump_one=() # binary -> 1 when its mem has --dump (asked once, untimed)
for t in critlua base; do
	if has "$t" && "${bin[$t]}" mem --help 2>/dev/null | grep -q -- '--dump'; then
		dump_one[${bin[$t]}]=1
	fi
done
# shellcheck disable=SC2317 # called through run_one's "$@"
memdump() {
	local r st=0
	if [ -n "${dump_one[$1]:-}" ]; then
		"$1" mem "$2" "$3" --dump
		return
	fi
	for r in "${dump_ranges[@]}"; do
		"$1" mem "$2" "$3" --addr "${r% *}" --len "${r#* }" || st=1
	done
	return "$st"
}

# run_one TOOL OPINDEX RUN: one timed run, its times appended to $W/times.
run_one() {
	local tool=$1 i=$2 r=$3 b=${bin[$1]}
	local out="$W/out/$tool.$i.out" err="$W/out/$tool.$i.err"
	set -f # a regex is no file name pattern
	# shellcheck disable=SC2086 # the commands are word lists without quoting
	set -- ${op_cmd[$tool,$i]}
	set +f
	case $1 in
	@exec) shift ;;
	@search) shift; set -- "$b" -e "$search_code" "$@" ;;
	@memdump) shift; set -- memdump "$b" "$@" ;;
	*) set -- "$b" "$@" ;;
	esac
	# A file the command writes (coredump -o) goes first, untimed, as its output
	# does: replacing a 1 GiB file frees its pages inside the run that renames
	# over it, which cost whichever tool ran next 1-4 s of system time.
	case " ${op_cmd[$tool,$i]} " in
	*" -o $W/out/"*)
		local o=${op_cmd[$tool,$i]##* -o }
		rm -f "${o%% *}"
		;;
	esac
	measure "$out" "$err" "$@"
	if [ "$1" = "${encfloor:-}" ] && [ "$m_status" = 0 ]; then
		read -r m_wall m_cpu <"$err" # its own clock: the timed part only
	fi
	m_rss=-
	if [ "$r" = 1 ]; then # peak memory does not change from run to run: measured once
		if [ "$1" = memdump ] && [ -n "${dump_one[$b]:-}" ]; then
			measure_rss "$b" mem "$3" "$4" --dump
		elif [ "$1" = memdump ]; then # the largest range's run
			local big
			big=$(printf '%s\n' "${dump_ranges[@]}" | sort -k2,2n | tail -n 1)
			measure_rss "$b" mem "$3" "$4" --addr "${big% *}" --len "${big#* }"
		else
			measure_rss "$@"
		fi
	fi
	echo "$tool $i $r $m_wall $m_cpu $m_rss $m_status" >>"$W/times"
}

for t in "${tools[@]}"; do
	has "$t" || echo "${tname[$t]}: not there, left out"
done
mkdir -p "$W/out"
: >"$W/times"
total_t0=$(now)
maxruns=0
for t in "${tools[@]}"; do
	if has "$t" && [ "${nruns[$t]}" -gt "$maxruns" ]; then maxruns=${nruns[$t]}; fi
done
for ((r = 1; r <= maxruns; r++)); do
	printf 'run %d/%d:' "$r" "$maxruns"
	for i in "${!op_name[@]}"; do
		picked "$i" || continue
		printf ' %s' "${op_name[$i]// /_}"
		# interleaved, so that all see the same moments of a shared machine
		for t in "${tools[@]}"; do
			if has "$t" && [ -n "${op_cmd[$t,$i]:-}" ] && [ "$r" -le "${nruns[$t]}" ]; then
				run_one "$t" "$i" "$r"
			fi
		done
	done
	echo
done
echo "timed in $(awk -v a="$total_t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
for i in "${!op_name[@]}"; do # what each index in times is (for --scale)
	echo "$i ${op_name[$i]}"
done >"$W/ops"

# --- results ---
stat_of() { # stat_of TOOL OPINDEX COLUMN(4 wall, 5 cpu, 6 rss) -> median
	awk -v t="$1" -v i="$2" -v c="$3" '$1 == t && $2 == i && $c != "-" { print $c }' "$W/times" | median
}
failed_of() {
	awk -v t="$1" -v i="$2" '$1 == t && $2 == i && $7 != 0 { n++ } END { print n + 0 }' "$W/times"
}
fmt_s() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else if (v < 1) printf "%.3f", v; else printf "%.2f", v }'; }
fmt_mb() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else printf "%.1f", v / 1024 }'; }
ratio() { # ratio A B FORMAT: A / B, or - when either is missing
	awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (a == "nan" || b == "nan" || b <= 0) print "-"; else printf f, a / b }'
}
err_of() { tail -n 1 "$W/out/$1.$2.err" 2>/dev/null | head -c 150; }

# json_same A B: whether JSON files A (CRIT's dialect) and B (go-crit's) hold the same
# content: go-crit writes 64-bit numbers as strings and bytes as base64, where CRIT
# writes numbers and quoted-printable. Prints "same" or what differs first.
json_same() {
	python3 - "$1" "$2" <<'EOF'
import base64, binascii, json, quopri, sys
diffs = []
def cmp(a, b, path):
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys()):
            if k not in a or k not in b:
                diffs.append("%s.%s only in %s" % (path, k, "critlua's" if k in a else "go-crit's"))
            else:
                cmp(a[k], b[k], path + "." + k)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append("%s: %d items, go-crit %d" % (path, len(a), len(b)))
            return
        for n, (x, y) in enumerate(zip(a, b)):
            cmp(x, y, "%s[%d]" % (path, n))
        return
    if isinstance(a, int) and isinstance(b, str) and b.lstrip("-").isdigit() and int(b) == a:
        return
    if isinstance(a, str) and isinstance(b, str):
        # bytes: CRIT writes some quoted-printable, others base64 with a newline
        for decode in (quopri.decodestring, base64.b64decode):
            try:
                if decode(a.encode()) == base64.b64decode(b, validate=True):
                    return
            except (binascii.Error, ValueError):
                pass
    diffs.append("%s: %.40r, go-crit %.40r" % (path, a, b))
with open(sys.argv[1]) as f, open(sys.argv[2]) as g:
    cmp(json.load(f), json.load(g), "")
print("same" if not diffs else "%d differences, first %s" % (len(diffs), diffs[0]))
EOF
}

# peer_note TOOL OPINDEX: what its output says against its check, in pn (smoke: a
# failure is the script's, and fails it)
peer_note() {
	local t=$1 i=$2 ck=${op_pcheck[$1,$2]:--} out="$W/out/$1.$2.out" got
	pn=
	if [ "$(failed_of "$t" "$i")" != 0 ]; then
		pn="${tname[$t]} FAILED: $(err_of "$t" "$i")"
		[ $smoke = 0 ] || bad=1
		return
	fi
	pn=$(peer_check "$t" "$ck" "$out" "$i")
}
peer_check() { # TOOL CHECK OUT OPINDEX: the note
	local t=$1 ck=$2 out=$3 got
	case $ck in
	json:*)
		if [ $have_python = 1 ]; then
			got=$(json_same "${ck#json:}" "$out" 2>&1 | tail -n 1)
			if [ "$got" = same ]; then
				echo "${tname[$t]}: same content"
			else
				echo "${tname[$t]}: $got"
			fi
		fi
		;;
	image:*)
		if cmp -s "$out" "${ck#image:}"; then
			echo "${tname[$t]}: the image"
		else
			echo "${tname[$t]}: NOT the image"
		fi
		;;
	pids:*)
		got=$(grep -c '"pid":' "$out")
		if [ "$got" = "${ck#pids:}" ]; then
			echo "${tname[$t]}: all $got processes"
		else
			echo "${tname[$t]}: $got processes of ${ck#pids:}"
		fi
		;;
	matches:*)
		got=$(grep -cE '^\| [0-9a-f]{16} \|' "$out")
		echo "${tname[$t]}: $got of ${ck#matches:}"
		;;
	dumprows)
		# every row checkpointctl's hexdump prints (address and 16 bytes) is in
		# critlua's (which starts collapsing repeated rows afresh at every VMA)
		got=$(awk 'FNR == 1 { f++ }
			/^[0-9a-f]+  [0-9a-f][0-9a-f] / && NF >= 18 {
				a = $1; sub(/^0+/, "", a); k = a
				for (j = 2; j <= 17; j++) k = k " " $j
				if (f == 1) have[k] = 1; else { n++; if (!(k in have)) miss++ }
			}
			END { printf "%d %d", n, miss }' "$W/out/critlua.$4.out" "$out")
		if [ "${got% *}" -gt 0 ] && [ "${got#* }" = 0 ]; then
			echo "${tname[$t]}: its ${got% *} rows all in critlua's"
		else
			echo "${tname[$t]}: ${got#* } of its ${got% *} rows NOT in critlua's"
		fi
		;;
	esac
}

bad=0
md="$W/results.md"
# The columns: per tool there (CRIT's always, as they always were), its median wall (cpu)
# and peak RSS; CRIT's speed and memory ratios; critlua vs the baseline and vs the faster
# Go peer.
shown() { has "$1" || [ "$1" = crit ]; }
hdr=(operation input)
for t in "${tools[@]}"; do
	shown "$t" || continue
	hdr+=("${tname[$t]} s (cpu)" "MB")
	[ "$t" = crit ] && hdr+=("speed (cpu)" memory)
done
has base && hdr+=("vs base")
if has gocrit || has cpctl; then hdr+=("vs best Go"); fi
hdr+=(output)
row_md() {
	local c line="|"
	for c; do line+=" ${c//|/\\|} |"; done
	echo "$line"
}
row_txt() { # operation and input padded, the numbers right-aligned, the note as it is
	local n=$# k=0 c
	for c; do
		k=$((k + 1))
		if [ $k = 1 ]; then printf '%-22s' "$c"
		elif [ $k = 2 ]; then printf ' %-38s' "$c"
		elif [ $k = "$n" ]; then printf '  %s\n' "$c"
		else printf ' %15s' "$c"
		fi
	done
}
{
	row_md "${hdr[@]}"
	printf '|'
	printf -- '---|%.0s' "${hdr[@]}"
	echo
} >"$md"
echo
row_txt "${hdr[@]}"
for i in "${!op_name[@]}"; do
	picked "$i" || continue
	check=${op_check[$i]}
	declare -A w=() c=() m=() f=()
	for t in "${tools[@]}"; do
		w[$t]=nan c[$t]=nan m[$t]=nan f[$t]=0
		if has "$t" && [ -n "${op_cmd[$t,$i]:-}" ]; then
			w[$t]=$(stat_of "$t" "$i" 4) c[$t]=$(stat_of "$t" "$i" 5) m[$t]=$(stat_of "$t" "$i" 6)
			f[$t]=$(failed_of "$t" "$i")
		fi
	done
	out="$W/out/critlua.$i.out"
	# what the outputs say
	note=
	if [ "${f[critlua]}" != 0 ]; then
		note="critlua FAILED ($(head -c 200 "$W/out/critlua.$i.err"))"
		bad=1
	fi
	case $check in
	same)
		if [ "${w[crit]}" != nan ]; then
			if [ "${f[crit]}" != 0 ]; then
				note="${note:+$note; }crit failed: $(err_of crit "$i")"
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
		if [ "${w[crit]}" != nan ] && [ "${f[crit]}" = 0 ] && ! cmp -s "$W/out/crit.$i.out" "${check#image:}"; then
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
	if [ "${w[base]}" != nan ]; then
		if [ "${f[base]}" != 0 ]; then
			note="${note:+$note; }base failed: $(err_of base "$i")"
		elif ! cmp -s "$out" "$W/out/base.$i.out"; then
			note="${note:+$note; }base's output differs"
		fi
	fi
	for t in gocrit cpctl; do
		if [ "${w[$t]}" != nan ]; then
			peer_note "$t" "$i"
			[ -z "$pn" ] || note="${note:+$note; }$pn"
		fi
	done
	speed=- mem=-
	if [ "${w[crit]}" != nan ] && [ "${f[crit]}" = 0 ] && [ "${f[critlua]}" = 0 ]; then
		speed=$(awk -v a="${w[crit]}" -v b="${w[critlua]}" -v c="${c[crit]}" -v d="${c[critlua]}" \
			'BEGIN { printf "%.0fx", a / b; if (d > 0) printf " (%.0fx)", c / d }')
		mem=$(ratio "${m[crit]}" "${m[critlua]}" "1/%.0f")
	fi
	# the faster Go peer (that did not fail) against critlua
	gw=nan gt=
	for t in gocrit cpctl; do
		if [ "${w[$t]}" != nan ] && [ "${f[$t]}" = 0 ] &&
			{ [ "$gw" = nan ] || awk -v a="${w[$t]}" -v b="$gw" 'BEGIN { exit !(a < b) }'; }; then
			gw=${w[$t]} gt=${tname[$t]}
		fi
	done
	vsbase=$(ratio "${w[base]}" "${w[critlua]}" "%.2fx")
	vsgo=-
	[ "$gw" = nan ] || vsgo="$(ratio "$gw" "${w[critlua]}" "%.1fx") ($gt)"
	case $check in
	count:* | lines:*)
		speed=$(awk -v b="$(mf "${check##*:}")" -v t="${w[critlua]}" 'BEGIN { printf "%.2f GB/s", b / t / 1e9 }')
		;;
	encfloor:*)
		# how many times the floor critlua's encode takes (the target: at most 1.3x)
		IFS=: read -r _ eop img <<<"$check"
		if cmp -s "$out" "$img"; then
			note="${note:+$note; }json-c parse + protobuf-c pack; the image, byte for byte"
		else
			note="${note:+$note; }NOT the original image"
			bad=1
		fi
		speed="encode $(ratio "$(stat_of critlua "$eop" 4)" "${w[critlua]}" "%.2fx")"
		vsgo=-
		;;
	floor:*)
		# how much faster than the peers' operation reading alone is: none can beat it
		ref=${check#floor:}
		fw=nan
		has crit && fw=$(stat_of crit "$ref" 4)
		speed=$(ratio "$fw" "${w[critlua]}" "%.0fx")
		vsgo=-
		for t in gocrit cpctl; do
			if has "$t" && [ -n "${op_cmd[$t,$ref]:-}" ]; then
				vsgo="$(ratio "$(stat_of "$t" "$ref" 4)" "${w[critlua]}" "%.1fx") (${tname[$t]})"
			fi
		done
		note="${note:+$note; }the least work of ${op_name[$ref]} (${op_label[$i]}: their ${op_name[$ref]} / this)"
		note="$note; critlua's ${op_name[$ref]} / this: $(ratio "$(stat_of critlua "$ref" 4)" "${w[critlua]}" "%.2fx")"
		# against the baseline's own operation: a floor above 1.5x of it
		# shows the target out of reach for that way of doing the work
		if has base; then
			note="$note; this / baseline's ${op_name[$ref]}: $(ratio "${w[critlua]}" "$(stat_of base "$ref" 4)" "%.2fx")"
		fi
		;;
	esac
	cells=("${op_name[$i]}" "${op_label[$i]}")
	for t in "${tools[@]}"; do
		shown "$t" || continue
		cells+=("$(fmt_s "${w[$t]}") ($(fmt_s "${c[$t]}"))" "$(fmt_mb "${m[$t]}")")
		[ "$t" = crit ] && cells+=("$speed" "$mem")
	done
	has base && cells+=("$vsbase")
	if has gocrit || has cpctl; then cells+=("$vsgo"); fi
	cells+=("$note")
	row_txt "${cells[@]}"
	row_md "${cells[@]}" >>"$md"
	unset w c m f
done

# --- scaling: the same operations on inputs ten times smaller ---
if [ $scale = 1 ]; then
	small=$W/tenth
	tenth() { echo $(($1 / 10 > 2 ? $1 / 10 : 2)); }
	echo
	echo "== scaling: the inputs again at a tenth of the size, in $small"
	peer_args=(--no-peers)
	[ -n "$peers" ] && peer_args=(--peers "$peers" --peer-runs 1)
	if bash "$0" --critlua "$critlua" --no-crit "${peer_args[@]}" --critlua-runs "$lruns" --only "$only" \
		--fixtures "$fixtures" --workdir "$small" --files "$(tenth "$n_files")" --vmas "$(tenth "$n_vmas")" \
		--procs "$(tenth "$n_procs")" --pages-mib "$(tenth "$pages_mib")" >"$W/scale.log" 2>&1; then
		echo "(its own table: $W/scale.log)"
	else
		echo "the smaller run failed (see $W/scale.log); its rows may be missing"
		bad=1
	fi
	row_txt operation "input (large)" "s small" "s large" "time x" "MB small" "MB large" "memory x"
	echo "| operation | input (large) | s small | s large | time × | MB small | MB large | memory × |" >>"$md"
	echo "|---|---|---|---|---|---|---|---|" >>"$md"
	declare -A seen_name=()
	for i in "${!op_name[@]}"; do
		name=${op_name[$i]}
		k=$((${seen_name[$name]:-0} + 1)) seen_name[$name]=$k
		if ! picked "$i" || [ -z "${op_cmd[critlua,$i]:-}" ]; then continue; fi
		# the k-th operation of that name in the smaller run
		j=$(awk -v n="$name" -v k="$k" '{ i = $1; $1 = ""; sub(/^ /, "") } $0 == n && ++c == k { print i; exit }' \
			"$small/ops" 2>/dev/null)
		[ -n "$j" ] || continue
		ws=$(awk -v i="$j" '$1 == "critlua" && $2 == i && $7 == 0 { print $4 }' "$small/times" | median)
		ms=$(awk -v i="$j" '$1 == "critlua" && $2 == i && $6 != "-" { print $6 }' "$small/times" | median)
		wl=$(stat_of critlua "$i" 4) ml=$(stat_of critlua "$i" 6)
		cells=("$name" "${op_label[$i]}" "$(fmt_s "$ws")" "$(fmt_s "$wl")" "$(ratio "$wl" "$ws" "%.1fx")"
			"$(fmt_mb "$ms")" "$(fmt_mb "$ml")" "$(ratio "$ml" "$ms" "%.1fx")")
		row_txt "${cells[@]}"
		row_md "${cells[@]}" >>"$md"
	done
	echo "time x = the large input's median wall time / the small one's (linear: about 10x);"
	echo "memory x = the same of peak RSS (flat: about 1x, as far as the process's start-up sets it)."
fi

echo
echo "medians of $lruns critlua run(s)$(has base && echo " and as many of the baseline's")$(has crit &&
	echo ", $runs crit run(s)")$(has gocrit || has cpctl && echo ", $pruns run(s) of each Go peer");" \
	"s = wall seconds (cpu = user + sys), each run started straight from this shell;"
echo "MB = peak RSS in MiB, of one more run under $([ $timer = gnu ] && echo "GNU time" || echo python3);"
echo "speed = crit's wall time / critlua's (cpu: the same of cpu times, which a busy machine"
echo "disturbs less); memory = critlua's peak RSS / crit's; vs base = the baseline's wall time /"
echo "critlua's; vs best Go = the faster Go peer's wall time / critlua's (above 1: critlua is faster)."
echo "Rows \"A | B\": critlua's command A against checkpointctl's B on the same archive."
echo "markdown table: $md; every time: $W/times"
if [ $keep = 1 ] || [ -n "$workdir" ]; then
	echo "inputs kept in $W"
fi
exit $bad
}
