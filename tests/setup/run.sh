#!/bin/sh
# tests/setup/run.sh SETUP_SH: scripts/setup.sh waits a bounded time for the package
# manager's lock instead of failing (issue 19). It runs against stub commands put first
# in PATH (dpkg-query says one package is missing, id says root, apt-get fails with
# apt's lock message a number of times, then succeeds): nothing is installed.
#  - locked twice: setup.sh says once that it waits, tries again, exits 0, and passes
#    apt a DPkg::Lock::Timeout (apt's own wait for dpkg's lock);
#  - locked for good: it gives up after SETUP_LOCK_WAIT seconds, exit 1, saying why;
#  - another failure (no such package): exit 1 at once, apt's message shown.
set -u
setup=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}
mkdir "$t/bin"
cat >"$t/bin/dpkg-query" <<'STUB'
#!/bin/sh
[ "$3" = strace ] && exit 1
printf 'install ok installed'
STUB
cat >"$t/bin/id" <<'STUB'
#!/bin/sh
echo 0
STUB
# apt-get: fails with a lock error while the counter file says so, or for good
cat >"$t/bin/apt-get" <<'STUB'
#!/bin/sh
echo "$*" >>"$STUB_DIR/calls"
if [ "$STUB_MODE" = other ]; then
	echo "E: Unable to locate package strace" >&2
	exit 100
fi
n=$(cat "$STUB_DIR/locked" 2>/dev/null || echo 0)
if [ "$STUB_MODE" = forever ] || [ "$n" -gt 0 ]; then
	echo $((n - 1)) >"$STUB_DIR/locked"
	echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
	echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
	exit 100
fi
exit 0
STUB
chmod +x "$t/bin/"*
export STUB_DIR="$t" SETUP_LOCK_POLL=0.2

echo 2 >"$t/locked"
: >"$t/calls"
out=$(STUB_MODE=twice SETUP_LOCK_WAIT=30 PATH="$t/bin:$PATH" sh "$setup" 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "locked twice: exit $rc: $out"
[ "$(grep -c 'is locked by another process; waiting' <<E
$out
E
)" -eq 1 ] || bad "locked twice: not said once that it waits: $out"
[ "$(grep -c '^update' "$t/calls")" -eq 0 ] && [ "$(grep -c 'update -q' "$t/calls")" -eq 3 ] || bad "locked twice: apt-get update not tried 3 times: $(cat "$t/calls")"
grep 'install -y' "$t/calls" | grep -q 'DPkg::Lock::Timeout=' || bad "install without DPkg::Lock::Timeout: $(cat "$t/calls")"
grep 'install -y' "$t/calls" | grep -q ' strace' || bad "install does not name the missing package: $(cat "$t/calls")"

: >"$t/calls"
t0=$(date +%s)
out=$(STUB_MODE=forever SETUP_LOCK_WAIT=2 PATH="$t/bin:$PATH" sh "$setup" 2>&1)
rc=$?
t1=$(date +%s)
[ $rc -eq 1 ] || bad "locked for good: exit $rc (want 1): $out"
echo "$out" | grep -q "still locked after 2s" || bad "locked for good: no word on giving up: $out"
[ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -le 10 ] || bad "locked for good: gave up after $((t1 - t0))s (want about 2)"

: >"$t/calls"
out=$(STUB_MODE=other SETUP_LOCK_WAIT=30 PATH="$t/bin:$PATH" sh "$setup" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "Unable to locate package" || bad "another failure: exit $rc: $out"
[ "$(wc -l <"$t/calls")" -eq 1 ] || bad "another failure was tried again: $(cat "$t/calls")"

[ $fail -eq 0 ] && echo "setup: waits for the lock, gives up after the bound, fails at once otherwise"
exit $fail
