#!/bin/bash
# tests/containers/run.sh CRITLUA FIXTURES [FIXTURE...]: checkpoints as containerd and CRI-O
# write them, inspect's mounts and network views, and critlua list.
#
# For every checkpoint of FIXTURES (or the ones named) it builds an archive in
# containerd's layout (CRI CheckpointContainer: an uncompressed pax tar of
# checkpoint/, config.dump, container.log, dump.log, rootfs-diff.tar,
# spec.dump, stats-dump, status, status.dump, in that order) and one in
# CRI-O's (names with a leading ./), with the metadata of tests/containers/,
# and checks that every stock command prints on each the same as on the
# directory, and that diff finds them equal. Then inspect (summary, --mounts,
# --network, --all, --json) against the metadata files shipped here, Podman's
# network.status in its two forms (netavark and CNI back-ends), and list over
# a folder tree: archives found, a non-archive and a plain tar skipped, a
# damaged archive reported, a symbolic link not followed, --depth obeyed.
set -u
CRITLUA=$1
ROOT=$(cd "$2" && pwd) || exit 1
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
PODMAN=$HERE/../archive/podman
TMP=$(mktemp -d "${TMPDIR:-/tmp}/critlua-containers-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../lib/check.sh"

pick_fixtures "$ROOT" inventory.img "$@"
[ ${#FIXTURES[@]} -gt 0 ] || { echo "no checkpoints in $ROOT"; exit 1; }

# The files containerd and CRI-O put beside checkpoint/.
mkdir -p "$TMP/rootfs/etc" "$TMP/cd" "$TMP/crio" && echo "changed" >"$TMP/rootfs/etc/motd"
tar -C "$TMP/rootfs" -cf "$TMP/cd/rootfs-diff.tar" . || exit 1
cp "$TMP/cd/rootfs-diff.tar" "$TMP/crio/"
cp "$HERE"/containerd/* "$TMP/cd/" && cp "$HERE"/crio/* "$TMP/crio/" || exit 1
echo "2025-06-02T08:14:06.000000001Z stdout F tick 1" >"$TMP/cd/container.log"
echo "(00.000012) Version: 4.1 (gitid 0)" >"$TMP/cd/dump.log"
echo '["/tmp/old.log"]' >"$TMP/crio/deleted.files"

# containerd_archive DIR OUT: containerd's members, in the order it writes them
# (containerd copies CRIU's stats-dump beside them too)
containerd_archive() {
	local stats=()
	[ -f "$1/stats-dump" ] && stats=(-C "$1" stats-dump)
	tar --format=pax --hard-dereference -cf "$2" -C "$1" --transform='s,^\.,checkpoint,' . \
		-C "$TMP/cd" config.dump container.log dump.log rootfs-diff.tar spec.dump "${stats[@]}" -C "$TMP/cd" status status.dump
}
# crio_archive DIR OUT: CRI-O's members, named ./...
crio_archive() {
	rm -rf "$TMP/stage" && mkdir -p "$TMP/stage" && cp -r "$1" "$TMP/stage/checkpoint" &&
		cp "$TMP/crio"/* "$TMP/stage/" && tar -cf "$2" -C "$TMP/stage" .
}
# podman_archive DIR OUT NETWORK_STATUS: Podman's members, zstd
podman_archive() {
	rm -rf "$TMP/pstage" && mkdir -p "$TMP/pstage" && cp "$PODMAN"/config.dump "$PODMAN"/spec.dump "$TMP/pstage/" &&
		cp "$3" "$TMP/pstage/network.status" &&
		tar --zstd -cf "$2" -C "$TMP/pstage" config.dump spec.dump network.status \
			-C "$1" --transform='s,^\.,checkpoint,' .
}

# --- Every stock command: the same on each layout as on the directory ---
for fx in "${FIXTURES[@]}"; do
	dir=$ROOT/$fx
	pids=$(cd "$dir" && ls core-*.img 2>/dev/null | sed 's/core-\([0-9]*\)\.img/\1/' | head -2)
	cmds=("x @ ps" "x @ ps --json" "x @ fds" "x @ fds --json" "x @ mems" "x @ rss" "x @ sk" "x @ sk --json"
		"stats @" "stats @ --json" "check @" "check @ --skip-pages" "grep @ PATH=" "grep @ bin --pid 1 --context 4"
		"rewrite-ports @ 1:2 --dry-run" "rewrite-ip @ 127.0.0.1=10.1.2.3 --dry-run"
		"rewrite-paths @ /tmp=/var/tmp --dry-run" "x @ ps --cmdline")
	for p in $pids; do
		cmds+=("mem @ $p" "mem @ $p --addr 0x400000 --len 64")
	done
	for layout in containerd crio; do
		ar=$TMP/$fx.$layout.tar
		${layout}_archive "$dir" "$ar" || { fail "$fx: cannot build the $layout archive"; continue; }
		same_on "$fx ($layout archive)" "$dir" "$ar" "${cmds[@]}"
		no_diff "$fx ($layout): diff DIR ARCHIVE" "$dir" "$ar"
		rm -f "$ar"
	done
done

# --- inspect: the engines' metadata, mounts and network ---
# (on a checkpoint without mountpoints-*.img: the mount table has no DUMPED column)
fx=${FIXTURES[0]}
for f in "${FIXTURES[@]}"; do
	if ! ls "$ROOT/$f"/mountpoints-*.img >/dev/null 2>&1; then fx=$f; break; fi
done
containerd_archive "$ROOT/$fx" "$TMP/cd.tar"
crio_archive "$ROOT/$fx" "$TMP/crio.tar"
podman_archive "$ROOT/$fx" "$TMP/netavark.tar.zst" "$HERE/network/netavark.json"
podman_archive "$ROOT/$fx" "$TMP/cni.tar.zst" "$HERE/network/cni.json"

out=$("$CRITLUA" inspect "$TMP/cd.tar" 2>&1)
want "inspect containerd" "$out" "^archive: .*(none, POSIX pax" "^container: *counter$" "^engine: *containerd$" \
	"^id: *8f3b2c1d0e9a" "^image: *registry.example.org/critlua/counter:2.1$" "^pod: *counters$" "^namespace: *default$" \
	"^runtime: *io.containerd.runc.v2$" "^created: *2025-06-02T08:14:05.123456789Z$" \
	"^checkpointed: *2025-06-02T09:30:41.987654321Z$" "^command: */counter --interval 1s$" "^hostname: *counters$" \
	"^processes: *[0-9]" "^rootfs diff: *10.0 KiB$" \
	"^metadata: *config.dump, container.log, dump.log, rootfs-diff.tar, spec.dump,\( stats-dump,\)\? status, status.dump$"
if [ -f "$ROOT/$fx/stats-dump" ]; then
	want "inspect containerd (stats-dump)" "$out" "^frozen: *[0-9.]* ms$" "^pages written: *[0-9]*$" "stats-dump, status"
fi
out=$("$CRITLUA" inspect "$TMP/crio.tar" 2>&1)
want "inspect CRI-O" "$out" "^container: *web$" "^engine: *CRI-O$" "^pod: *frontend-7d9f$" "^namespace: *shop$" \
	"^runtime: *runc$" "^command: *nginx -g daemon off;$" "^metadata: *config.dump, deleted.files, rootfs-diff.tar, spec.dump$"
out=$("$CRITLUA" inspect "$TMP/netavark.tar.zst" 2>&1)
want "inspect Podman" "$out" "^container: *fixture-sleeper$" "^engine: *Podman$"
if grep -q "^pod:\|^namespace:" <<<"$out"; then fail "inspect Podman: pod or namespace lines: $out"; else ok; fi

# The same directory laid out as containerd leaves it unpacked: the same lines
mkdir -p "$TMP/cddir" && tar -C "$TMP/cddir" -xf "$TMP/cd.tar"
a=$("$CRITLUA" inspect --all "$TMP/cd.tar" 2>&1 | tail -n +2)
d=$("$CRITLUA" inspect --all "$TMP/cddir" 2>&1 | tail -n +2)
[ "$a" = "$d" ] && ok || { fail "inspect --all: the unpacked directory differs from the archive"; diff <(echo "$a") <(echo "$d") | head; }

# mounts: every mount of spec.dump, in order, with its options
out=$("$CRITLUA" inspect --mounts "$TMP/cd.tar" 2>&1)
want "inspect --mounts" "$out" "^DESTINATION  *TYPE  *SOURCE  *OPTIONS$" "^/proc  *proc  *proc  *nosuid,noexec,nodev$" \
	"^/dev/pts  *devpts  *devpts  *nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5$" \
	"^/var/run/secrets/kubernetes.io/serviceaccount  *bind  */var/lib/kubelet/pods/4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a/volumes/kubernetes.io~projected/kube-api-access-x7k2p  *rbind,rprivate,ro$"
[ "$(wc -l <<<"$out")" -eq 13 ] && ok || fail "inspect --mounts: 12 mounts and a header expected: $out"
[ "$(sed -n 2p <<<"$out" | cut -c1-5)" = /proc ] && [ "$(tail -1 <<<"$out" | cut -c1-8)" = /var/run ] && ok ||
	fail "inspect --mounts: not in spec.dump's order: $out"
json=$("$CRITLUA" inspect --mounts --json "$TMP/cd.tar" 2>&1)
want "inspect --mounts --json" "$json" \
	'"mounts": \[{"destination": "/proc", "options": \["nosuid", "noexec", "nodev"\], "source": "proc", "type": "proc"}, ' \
	'{"destination": "/etc/hosts", "options": \["rbind", "rprivate", "rw"\], "source": "/var/lib/kubelet/pods/4a1d7c2e-5b3f-4e8a-9c6d-1f2e3d4c5b6a/etc-hosts", "type": "bind"}'
[ "$(grep -o '"destination"' <<<"$json" | wc -l)" -eq 12 ] && ok || fail "inspect --mounts --json: 12 mounts expected"
out=$("$CRITLUA" inspect --mounts "$TMP/netavark.tar.zst" 2>&1)
[ "$out" = "no mounts in spec.dump" ] && ok || fail "inspect --mounts without mounts: $out"

# mounts against CRIU's mountpoints-*.img: DUMPED says whether CRIU has a mount there
if [ -d "$ROOT/ns-mnt" ]; then
	rm -rf "$TMP/mnt" && mkdir -p "$TMP/mnt" && cp -r "$ROOT/ns-mnt" "$TMP/mnt/checkpoint"
	cat >"$TMP/mnt/spec.dump" <<'SPEC'
{"ociVersion": "1.2.0", "mounts": [
 {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec"]},
 {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/x/etc-hosts", "options": ["rbind", "ro"]},
 {"destination": "/dev/shm/", "type": "tmpfs", "source": "shm"}]}
SPEC
	out=$("$CRITLUA" inspect --mounts "$TMP/mnt" 2>&1)
	want "inspect --mounts (DUMPED)" "$out" "^DESTINATION  *TYPE  *SOURCE  *DUMPED  *OPTIONS$" \
		"^/dev/pts  *devpts  *devpts  *yes  *nosuid,noexec$" "^/etc/hosts  *bind  */var/lib/x/etc-hosts  *no  *rbind,ro$" \
		"^/dev/shm/  *tmpfs  *shm  *yes  *-$"
	json=$("$CRITLUA" inspect --mounts --json "$TMP/mnt" 2>&1)
	want "inspect --mounts --json (DUMPED)" "$json" '"destination": "/dev/pts", "in_checkpoint": true' \
		'"destination": "/etc/hosts", "in_checkpoint": false'
fi

# network: netavark's form (two networks, two addresses on one interface)
out=$("$CRITLUA" inspect --network "$TMP/netavark.tar.zst" 2>&1)
want "inspect --network (netavark)" "$out" "^NETWORK  *INTERFACE  *ADDRESSES  *GATEWAYS  *MAC$" \
	"^backend  *eth1  *10.89.0.4/24  *10.89.0.1  *ce:51:7a:0f:33:b8$" \
	"^podman  *eth0  *10.88.0.7/16,fd0a:88::7/64  *10.88.0.1,fd0a:88::1  *6a:3c:9e:51:0d:27$"
[ "$(wc -l <<<"$out")" -eq 3 ] && ok || fail "inspect --network (netavark): two interfaces expected: $out"
json=$("$CRITLUA" inspect --network --json "$TMP/netavark.tar.zst" 2>&1)
want "inspect --network --json (netavark)" "$json" \
	'{"addresses": \["10.88.0.7/16", "fd0a:88::7/64"\], "gateways": \["10.88.0.1", "fd0a:88::1"\], "interface": "eth0", "mac": "6a:3c:9e:51:0d:27", "network": "podman"}'
# CNI's form: only the interface in the container's namespace, its two addresses
out=$("$CRITLUA" inspect --network "$TMP/cni.tar.zst" 2>&1)
want "inspect --network (CNI)" "$out" "^-  *eth0  *10.88.0.12/16,fd0a:88::c/64  *10.88.0.1,fd0a:88::1  *1a:7e:3d:9c:42:f0$"
[ "$(wc -l <<<"$out")" -eq 2 ] && ok || fail "inspect --network (CNI): the bridge and veth are not the container's: $out"
# CRI-O: the IP annotations
out=$("$CRITLUA" inspect --network "$TMP/crio.tar" 2>&1)
want "inspect --network (CRI-O)" "$out" "^-  *-  *10.244.1.17,fd00:10:244:1::11  *-  *-$"
# containerd records none, and says so
out=$("$CRITLUA" inspect --network "$TMP/cd.tar" 2>&1)
[ "$out" = "none recorded (containerd stores no network state in its checkpoints)" ] && ok || fail "inspect --network (containerd): $out"
json=$("$CRITLUA" inspect --network --json "$TMP/cd.tar" 2>&1)
want "inspect --network --json (containerd)" "$json" '"network": \[\]'

# --all: summary, mounts and network together; --all --json has all three
out=$("$CRITLUA" inspect --all "$TMP/netavark.tar.zst" 2>&1)
want "inspect --all" "$out" "^container: *fixture-sleeper$" "^mounts:$" "^  no mounts in spec.dump$" "^network:$" \
	"^  podman  *eth0  *10.88.0.7/16"
json=$("$CRITLUA" inspect --all --json "$TMP/cd.tar" 2>&1)
want "inspect --all --json" "$json" '"engine": "containerd"' '"pod": "counters"' '"mounts": \[{' '"network": \[\]' '"processes": [0-9]'

# damaged metadata: an error naming the file, exit 1
cp -r "$TMP/cddir" "$TMP/baddir" && echo '{"podman": ' >"$TMP/baddir/network.status"
out=$("$CRITLUA" inspect --network "$TMP/baddir" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "^critlua: $TMP/baddir/network.status: " <<<"$out" && ok || fail "inspect bad network.status: exit $rc: $out"
echo '[1, 2' >"$TMP/baddir/spec.dump"
out=$("$CRITLUA" inspect "$TMP/baddir" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "^critlua: $TMP/baddir/spec.dump: " <<<"$out" && ok || fail "inspect bad spec.dump: exit $rc: $out"
# a link member where containerd's status.dump should be: refused, naming it
rm -rf "$TMP/lk" && mkdir -p "$TMP/lk" && cp -r "$ROOT/$fx" "$TMP/lk/checkpoint" && cp "$HERE"/containerd/config.dump "$HERE"/containerd/spec.dump "$TMP/lk/" &&
	ln -s /etc/passwd "$TMP/lk/status.dump" && tar -cf "$TMP/link.tar" -C "$TMP/lk" checkpoint config.dump spec.dump status.dump
out=$("$CRITLUA" inspect "$TMP/link.tar" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "status.dump: a symbolic link member" <<<"$out" && ok || fail "status.dump as a link: exit $rc: $out"

# --- list ---
T=$TMP/tree
mkdir -p "$T/kubelet" "$T/a/b" "$T/deep/1/2/3/4/5/6/7/8/9" "$TMP/outside"
cp "$TMP/cd.tar" "$T/kubelet/checkpoint-counters_default-counter-2025-06-02T09:30:41Z.tar"
cp "$TMP/crio.tar" "$T/a/b/web.tar"
cp "$TMP/netavark.tar.zst" "$T/a/sleeper.tar.zst"
cp "$TMP/cd.tar" "$T/deep/1/2/3/4/5/6/7/8/9/too-deep.tar"
cp "$TMP/cd.tar" "$TMP/outside/behind-a-link.tar"
ln -s "$TMP/outside" "$T/a/link"
ln -s "$TMP/cd.tar" "$T/a/file-link.tar"
printf 'not an archive\n' >"$T/a/notes.tar"
echo hello >"$T/a/readme.txt"
tar -cf "$T/a/rootfs.tar" -C "$TMP/rootfs" .
head -c 60000 "$TMP/cd.tar" | gzip >"$T/a/cut.tar.gz"
out=$(CRITLUA_CHECKPOINTS_DIR=$T/kubelet "$CRITLUA" list "$T/a" "$T/deep" 2>&1)
rc=$?
[ $rc -eq 0 ] && ok || fail "list: exit $rc"
want "list" "$out" "^PATH  *ENGINE  *CONTAINER  *IMAGE  *CHECKPOINTED  *SIZE  *PROCESSES$" \
	"^$T/kubelet/checkpoint-counters_default-counter-2025-06-02T09:30:41Z.tar  *containerd  *counter  *registry.example.org/critlua/counter:2.1  *2025-06-02T09:30:41.987654321Z  *[0-9.]* KiB  *[0-9]*$" \
	"^$T/a/b/web.tar  *CRI-O  *web  *registry.example.org/critlua/web:3.4  *2025-09-21T18:02:33.5Z  " \
	"^$T/a/sleeper.tar.zst  *Podman  *fixture-sleeper  *registry.example.org/critlua/sleeper:1.0  *2025-03-14T10:02:17.141421356Z  " \
	"^$T/a/cut.tar.gz  *damaged: .*truncated"
[ "$(wc -l <<<"$out")" -eq 5 ] && ok || fail "list: four archives and a header expected (links, non-archives and too deep left out): $out"
if grep -q "notes.tar\|rootfs.tar\|readme\|link\|too-deep" <<<"$out"; then fail "list: listed what it should skip: $out"; else ok; fi
out=$("$CRITLUA" list --no-default --depth 9 "$T/deep" 2>&1)
want "list --depth 9" "$out" "too-deep.tar  *containerd"
out=$("$CRITLUA" list --no-default --depth 0 "$T/a" 2>&1)
if grep -q "web.tar" <<<"$out"; then fail "list --depth 0 went into a folder: $out"; else ok; fi
want "list --depth 0" "$out" "sleeper.tar.zst  *Podman"
json=$(CRITLUA_CHECKPOINTS_DIR=$T/kubelet "$CRITLUA" list --json "$T/a" 2>&1)
want "list --json" "$json" '^\[{"checkpointed": "2025-06-02T09:30:41.987654321Z", "container": "counter", "engine": "containerd", "id": "8f3b2c1d0e9a4b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c", "image": "registry.example.org/critlua/counter:2.1", "namespace": "default", "path": "'"$T"'/kubelet/' \
	'"engine": "CRI-O", "id": "c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5", "image": "registry.example.org/critlua/web:3.4", "namespace": "shop", "path": "'"$T"'/a/b/web.tar", "pod": "frontend-7d9f", "processes": [0-9]*, "size": [0-9]*}' \
	'{"error": "[^"]*truncated[^"]*", "path": "'"$T"'/a/cut.tar.gz"}'
out=$("$CRITLUA" list --no-default "$TMP/no-such-dir" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "^critlua: $TMP/no-such-dir: " <<<"$out" && ok || fail "list of a missing folder: exit $rc: $out"
out=$("$CRITLUA" list --depth x 2>&1)
[ $? -eq 2 ] && ok || fail "list --depth x: $out"
out=$("$CRITLUA" list --no-default "$TMP/outside" 2>&1)
[ "$(wc -l <<<"$out")" -eq 2 ] && ok || fail "list of an empty-but-for-one folder: $out"

echo "$checks checks, $fails failures (${#FIXTURES[@]} checkpoints of $ROOT)"
[ $fails -eq 0 ]
