#!/bin/bash
# tests/archpod/pod.sh CRITLUA FIXTURES [FIXTURE...]: pod checkpoints (KEP-5823) as
# containerd (PR #12932) and CRI-O (PR #9758) first wrote them: an uncompressed
# tar with pod.options ({"version": 1, "containers": {NAME: FOLDER},
# "annotations": {...}}) at the top, containerd's pod.dump (the sandbox's
# config), and a folder ID-NAME per container laid out as that engine's
# container archive. Two containers from real fixtures per pod; every stock
# command prints on POD//NAME what it prints on the fixture's directory, diff
# finds them equal, inspect and list show the pod, a change written through
# POD//NAME touches that container's members only, and damaged or hostile
# pods (bad pod.options, a folder out of the archive or missing, an unknown
# container, a link member in a container's folder) give clear errors.
set -u
CRITLUA=$1
ROOT=$(cd "$2" && pwd) || exit 1
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
META=$HERE/../containers
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-pod-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../lib/check.sh"

pick_fixtures "$ROOT" "inventory.img pstree.img" "$@"
[ ${#FIXTURES[@]} -ge 2 ] || { echo "two checkpoints needed in $ROOT"; exit 1; }

# container FIXTURE ENGINE DIR: a container's folder as ENGINE lays it out in the pod
container() {
	mkdir -p "$3" && cp -r "$ROOT/$1" "$3/checkpoint" || return 1
	if [ "$2" = containerd ]; then
		cp "$META"/containerd/* "$3/" && echo "(00.000012) Version: 4.1" >"$3/dump.log" &&
			echo "2025-06-02T08:14:06Z stdout F tick" >"$3/container.log" && tar -cf "$3/rootfs-diff.tar" -C "$3" dump.log
	else
		cp "$META"/crio/* "$3/" && tar -cf "$3/rootfs-diff.tar" -C "$3" config.dump
	fi
}
# pod ENGINE OUT A B: a pod archive of fixtures A (container "first") and B ("second")
pod() {
	local engine=$1 out=$2 st=$TMP/stage.$1
	rm -rf "$st" && mkdir -p "$st" || return 1
	container "$3" "$engine" "$st/1a2b3c-first" && container "$4" "$engine" "$st/4d5e6f-second" || return 1
	cat >"$st/pod.options" <<OPTS
{"version": 1, "containers": {"first": "1a2b3c-first", "second": "4d5e6f-second"},
 "annotations": {"org.criu.checkpoint.engine.name": "$engine", "org.criu.checkpoint.engine.version": "2.1.0",
  "org.criu.checkpoint.pod.name": "counters", "org.criu.checkpoint.pod.id": "9a8b7c6d5e4f",
  "org.criu.checkpoint.pod.namespace": "default", "org.criu.checkpoint.pod.uid": "4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a",
  "org.criu.checkpoint.criu.version": "40200", "org.criu.checkpoint.host.arch": "amd64"}}
OPTS
	if [ "$engine" = containerd ]; then
		# containerd: archive.Diff of the folder, names without ./, and the sandbox's config
		echo '{"metadata": {"name": "counters", "uid": "4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a", "namespace": "default", "attempt": 0}}' >"$st/pod.dump"
		tar --format=pax -cf "$out" -C "$st" 1a2b3c-first 4d5e6f-second pod.dump pod.options
	else
		# CRI-O: the folder tarred with its own entry, names under ./
		tar -cf "$out" -C "$st" .
	fi
}

# --- Every stock command: the same on each container of the pod as on its directory ---
pairs=()
n=${#FIXTURES[@]}
for ((i = 0; i + 1 < n; i += 2)); do pairs+=("${FIXTURES[i]} ${FIXTURES[i + 1]}"); done
[ $((n % 2)) -eq 1 ] && pairs+=("${FIXTURES[n - 1]} ${FIXTURES[0]}")
for pr in "${pairs[@]}"; do
	read -r fa fb <<<"$pr"
	for engine in containerd crio; do
		ar=$TMP/pod.$engine.tar
		pod "$engine" "$ar" "$fa" "$fb" || { fail "$fa+$fb: cannot build the $engine pod"; continue; }
		for c in "first $fa" "second $fb"; do
			read -r cname fx <<<"$c"
			dir=$ROOT/$fx
			addr=$ar//$cname
			pids=$(cd "$dir" && ls core-*.img 2>/dev/null | sed 's/core-\([0-9]*\)\.img/\1/' | head -2)
			cmds=("x @ ps" "x @ ps --json" "x @ fds" "x @ mems" "x @ rss" "x @ sk --json" "stats @" "check @"
				"grep @ PATH=" "rewrite-ports @ 1:2 --dry-run" "rewrite-ip @ 127.0.0.1=10.1.2.3 --dry-run"
				"rewrite-paths @ /tmp=/var/tmp --dry-run" "x @ ps --cmdline")
			for p in $pids; do
				cmds+=("mem @ $p" "mem @ $p --addr 0x400000 --len 64")
			done
			same_on --mask-both "$fx ($engine pod, $cname)" "$dir" "$addr" "${cmds[@]}"
			no_diff "$fx ($engine pod, $cname): diff DIR POD//NAME" "$dir" "$addr"
		done
	done
done

# --- inspect and list ---
fa=${FIXTURES[0]} fb=${FIXTURES[1]}
pod containerd "$TMP/cd.tar" "$fa" "$fb"
pod crio "$TMP/crio.tar" "$fa" "$fb"
procs() { "$CRITLUA" -e 'print(#crit.load(arg[1]).entries)' "$ROOT/$1/pstree.img"; }
pa=$(procs "$fa") pb=$(procs "$fb")
out=$("$CRITLUA" inspect "$TMP/cd.tar" 2>&1)
want "inspect pod" "$out" "^archive: *$TMP/cd.tar (none, POSIX pax" "^pod: *counters$" "^namespace: *default$" \
	"^pod id: *9a8b7c6d5e4f$" "^pod uid: *4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a$" "^engine: *containerd 2.1.0$" \
	"^criu: *40200$" "^containers: *2$" "^CONTAINER  *FOLDER  *IMAGE  *ENGINE  *CHECKPOINTED  *PROCESSES$" \
	"^first  *1a2b3c-first  *registry.example.org/critlua/counter:2.1  *containerd  *2025-06-02T09:30:41.987654321Z  *$pa$" \
	"^second  *4d5e6f-second  *registry.example.org/critlua/counter:2.1  *containerd  .*  $pb$"
json=$("$CRITLUA" inspect --json "$TMP/crio.tar" 2>&1)
want "inspect pod --json" "$json" '"pod": {"criu_version": "40200", "engine": "crio", "engine_version": "2.1.0", "format_version": 1, "host_arch": "amd64", "id": "9a8b7c6d5e4f", "name": "counters", "namespace": "default", "uid": "4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a"}' \
	"{\"address\": \"$TMP/crio.tar//first\", \"checkpointed\": \"2025-09-21T18:02:33.5Z\", \"engine\": \"CRI-O\", \"folder\": \"1a2b3c-first\", \"id\": \"1a2b3c\", \"image\": \"registry.example.org/critlua/web:3.4\", \"name\": \"first\", \"processes\": $pa,"
# the pod's names from pod.dump when pod.options has no annotations (containerd's sandbox config)
out=$("$CRITLUA" inspect "$TMP/cd.tar//second" 2>&1)
want "inspect POD//NAME" "$out" "^archive: *$TMP/cd.tar//second (none" "^engine: *containerd$" "^pod: *counters$" \
	"^metadata: *config.dump, container.log, dump.log, rootfs-diff.tar, spec.dump, status, status.dump$"
out=$("$CRITLUA" inspect --mounts "$TMP/crio.tar//first" 2>&1)
want "inspect --mounts POD//NAME" "$out" "^/proc  *proc  *proc  *nosuid,noexec,nodev$"
expect "inspect --mounts POD" 1 "a pod checkpoint: the mounts and the network are a container's" \
	"$CRITLUA" inspect --mounts "$TMP/cd.tar"
mkdir -p "$TMP/tree/a/b" && cp "$TMP/cd.tar" "$TMP/tree/a/pod.tar" && cp "$TMP/crio.tar" "$TMP/tree/a/b/crio-pod.tar"
out=$("$CRITLUA" list --no-default "$TMP/tree" 2>&1)
want "list" "$out" "^$TMP/tree/a/b/crio-pod.tar//first  *CRI-O  *web  " "^$TMP/tree/a/b/crio-pod.tar//second  *CRI-O  " \
	"^$TMP/tree/a/pod.tar//first  *containerd  *counter  .*  $pa$" "^$TMP/tree/a/pod.tar//second  *containerd  .*  $pb$"
[ "$(wc -l <<<"$out")" -eq 5 ] && ok || fail "list: a header and four containers expected: $out"
json=$("$CRITLUA" list --no-default --json "$TMP/tree/a/pod.tar" 2>&1)
want "list --json" "$json" "\"path\": \"$TMP/tree/a/pod.tar//first\", \"pod\": \"counters\", \"processes\": $pa"

# --- The Lua API ---
out=$("$CRITLUA" -e '
	local ck = crit.open(arg[1] .. "//second")
	assert(ck.dir == arg[1] .. "//second", "ck.dir")
	assert(ck:path("pstree.img") == arg[1] .. "//second:checkpoint/pstree.img", "ck:path")
	local want = assert(io.open(arg[2] .. "/pstree.img", "rb")):read("a")
	assert(ck:read("pstree.img") == want, "ck:read")
	local names = {}
	for _, n in ipairs(ck:list()) do names[#names + 1] = n end
	assert(#names > 0 and not table.concat(names, " "):find("first", 1, true), "ck:list: the container'"'"'s own")
	local ar = crit.archive(arg[1])
	local list = crit.pod_containers(ar, arg[1])
	assert(#list == 2 and list[1].name == "first" and list[1].folder == "1a2b3c-first" and list[1].id == "1a2b3c", "pod_containers")
	assert(ar:info().pod and not ar:info().folder, "ar:info")
	ar:view("4d5e6f-second/", "x//second")
	assert(ar:read("checkpoint/pstree.img") == want and ar:info().folder == "4d5e6f-second/", "ar:view")
	print("ok")' "$TMP/cd.tar" "$ROOT/$fb" 2>&1)
[ "$out" = ok ] && ok || fail "Lua API: $out"

# --- A change through POD//NAME: that container's image changes, nothing else ---
cp "$TMP/cd.tar" "$TMP/w.tar"
"$CRITLUA" -e '
	local ck = crit.open(arg[1] .. "//first", { lock = true })
	local img = ck:image("pstree.img")
	img.entries[1].pgid = 4242
	ck:set("pstree.img", img)
	ck:save()' "$TMP/w.tar"
rc=$?
out=$("$CRITLUA" diff "$TMP/cd.tar//first" "$TMP/w.tar//first" --no-summary 2>&1)
[ $rc -eq 0 ] && grep -q "^pstree.img: entries\[0\].pgid: .* -> 4242$" <<<"$out" && ok || fail "a change through POD//NAME: $rc $out"
out=$("$CRITLUA" diff "$TMP/cd.tar//second" "$TMP/w.tar//second" 2>&1)
[ $? -eq 0 ] && ok || fail "a change through POD//first changed second: $out"
tar -tf "$TMP/w.tar" | grep -q "^1a2b3c-first/checkpoint/pstree.img$" && ok || fail "the changed image is not in first's folder"

# --- Damaged and hostile pods: a clear error, exit 1 ---
st=$TMP/stage.containerd
repack() { tar --format=pax -cf "$1" -C "$st" .; }
expect "the pod whole" 1 "$TMP/cd.tar: a pod checkpoint of 2 container(s) (first, second): name one as $TMP/cd.tar//NAME" \
	"$CRITLUA" x "$TMP/cd.tar" ps
expect "an unknown container" 1 "$TMP/cd.tar: no container third in the pod checkpoint (its containers: first, second)" \
	"$CRITLUA" x "$TMP/cd.tar//third" ps
tar -cf "$TMP/plain.tar" -C "$st/1a2b3c-first" .
expect "POD//NAME of a container archive" 1 "$TMP/plain.tar: not a pod checkpoint (no pod.options at the top of the archive)" \
	"$CRITLUA" x "$TMP/plain.tar//first" ps
cp "$st/pod.options" "$TMP/pod.options.good"
echo '{"version": 1, "containers": ' >"$st/pod.options" && repack "$TMP/bad-json.tar"
expect "pod.options not JSON" 1 "$TMP/bad-json.tar:pod.options: " "$CRITLUA" x "$TMP/bad-json.tar//first" ps
echo '{"version": 1}' >"$st/pod.options" && repack "$TMP/no-containers.tar"
expect "pod.options without containers" 1 "$TMP/no-containers.tar:pod.options: no \"containers\" object" \
	"$CRITLUA" inspect "$TMP/no-containers.tar"
echo '{"version": 1, "containers": {"first": "../../etc"}}' >"$st/pod.options" && repack "$TMP/escape.tar"
expect "a folder out of the archive" 1 "$TMP/escape.tar:pod.options: containers[\"first\"]: not a folder of the archive: ../../etc" \
	"$CRITLUA" x "$TMP/escape.tar//first" ps
echo '{"version": 1, "containers": {"first": "9z9z-first"}}' >"$st/pod.options" && repack "$TMP/missing.tar"
expect "a missing folder" 1 "$TMP/missing.tar: 9z9z-first/ has no checkpoint/ folder: not a container checkpoint" \
	"$CRITLUA" x "$TMP/missing.tar//first" ps
out=$("$CRITLUA" list --no-default "$TMP/missing.tar" 2>&1)
want "list of a damaged pod" "$out" "^$TMP/missing.tar//first  *damaged: .*9z9z-first/ has no checkpoint/ folder"
cp "$TMP/pod.options.good" "$st/pod.options"
mv "$st/4d5e6f-second/checkpoint/pstree.img" "$TMP/pstree.keep" && ln -s /etc/passwd "$st/4d5e6f-second/checkpoint/pstree.img" &&
	repack "$TMP/link.tar" && rm "$st/4d5e6f-second/checkpoint/pstree.img" && mv "$TMP/pstree.keep" "$st/4d5e6f-second/checkpoint/pstree.img"
expect "a link member in a container's folder" 1 \
	"$TMP/link.tar: 4d5e6f-second/checkpoint/pstree.img: a symbolic link member (to /etc/passwd) where critlua reads a file" \
	"$CRITLUA" x "$TMP/link.tar//first" ps

echo "pod: $checks checks, $fails failures"
[ $fails -eq 0 ]
