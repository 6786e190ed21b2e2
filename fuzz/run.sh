#!/bin/bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for
# SECONDS (default 60) on a copy of its seed corpus. Exits non-zero when a
# target finds a crash, leak or sanitizer error.
#
#   fuzz/run.sh [-k DIR] [SECONDS [TARGET...]]
#
# TARGET names one target (ocsp_req or fuzz_ocsp_req); without, all run.
# -k DIR keeps each target's grown corpus in DIR/TARGET (reused by the next
# run) and its libFuzzer log in DIR/TARGET.log; fuzz/long.sh uses it.
set -eu
keep=
if [ "${1:-}" = -k ]; then
	keep=$2
	shift 2
fi
secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -d build-fuzz ]; then
	CC=clang CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION" \
		LDFLAGS="-fsanitize=address,undefined" \
		meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_lundef=false >/dev/null
fi
if [ $# -gt 0 ]; then
	targets=$(for t in "$@"; do printf '%s\n' "${t#fuzz_}"; done)
else
	targets=$(cd fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
ninja -C build-fuzz $(for t in $targets; do printf 'fuzz/fuzz_%s ' "$t"; done)
for t in $targets; do
	if [ -n "$keep" ]; then
		work=$keep/$t
		log=$keep/$t.log
		mkdir -p "$work"
	else
		work=$(mktemp -d)
		log=$work.log
	fi
	cp fuzz/corpus/$t/* "$work"/
	echo "== fuzz_$t for ${secs}s"
	# libFuzzer is chatty: keep its log, show the summary, and all of it
	# when it finds something (the crashing input is written to crash-*).
	if ! build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -max_len=16384 \
		-timeout=10 -print_final_stats=1 "$work" >"$log" 2>&1; then
		cat "$log"
		[ -n "$keep" ] || rm -rf "$work" "$log"
		exit 1
	fi
	# The last status line (executions, coverage, features, corpus) and
	# the totals.
	grep -E '^#[0-9]+' "$log" | tail -n 1
	grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$log"
	echo "corpus: $(ls "$work" | wc -l) inputs"
	[ -n "$keep" ] || rm -rf "$work" "$log"
done
