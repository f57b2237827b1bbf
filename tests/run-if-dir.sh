#!/bin/sh
# run-if-dir.sh DIR CMD [ARGS...]: run a test over an optional fixtures tree (../shared/fixtures)
# when it is there; otherwise say so plainly and exit 77, which ctest reports as skipped.
dir=$1
shift
if [ ! -d "$dir" ]; then
	echo "SKIPPED: $dir not found"
	exit 77
fi
exec "$@"
