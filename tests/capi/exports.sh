#!/bin/bash
# exports.sh LIBCRIT_SO CRIT_H C_API_MD: libcrit.so exports the documented API
# and nothing else: every defined dynamic symbol starts with crit_, is
# declared CRIT_API in crit.h and named in docs/C-API.md; every function
# crit.h declares is exported.
set -u
lib=$1 header=$2 doc=$3
fail=0
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
declared=$(grep -v '^#define' "$header" | grep -o 'CRIT_API[^(]*(' | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort -u)
[ -n "$exported" ] || { echo "FAIL: $lib exports nothing"; exit 1; }
[ "$(echo "$declared" | wc -l)" -ge 40 ] || { echo "FAIL: found only $(echo "$declared" | wc -l) CRIT_API functions in $header"; exit 1; }
for s in $exported; do
	case $s in
	crit_*) ;;
	*) echo "FAIL: $lib exports $s, outside the crit_ prefix"; fail=1; continue ;;
	esac
	echo "$declared" | grep -qx "$s" || { echo "FAIL: $s is exported but not declared CRIT_API in crit.h"; fail=1; }
	grep -q "\b$s\b" "$doc" || { echo "FAIL: $s is exported but not documented in $doc"; fail=1; }
done
for s in $declared; do
	echo "$exported" | grep -qx "$s" || { echo "FAIL: $s is declared in crit.h but not exported"; fail=1; }
done
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libcrit.so.0 ] || { echo "FAIL: SONAME is '$soname', not libcrit.so.0"; fail=1; }
[ $fail = 0 ] && echo "ok: $(echo "$exported" | wc -l) symbols, all crit_, all declared and documented; SONAME $soname"
exit $fail
