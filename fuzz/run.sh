#!/bin/bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for
# SECONDS (default 60) on a copy of its seed corpus. Exits non-zero when a
# target finds a crash, leak or sanitizer error.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -d build-fuzz ]; then
	CC=clang CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION" \
		LDFLAGS="-fsanitize=address,undefined" \
		meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_lundef=false >/dev/null
fi
targets=$(cd fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
ninja -C build-fuzz $(for t in $targets; do printf 'fuzz/fuzz_%s ' "$t"; done)
for t in $targets; do
	work=$(mktemp -d)
	cp fuzz/corpus/$t/* "$work"/
	echo "== fuzz_$t for ${secs}s"
	# libFuzzer is chatty: keep its log, show the summary, and all of it
	# when it finds something.
	if ! build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -max_len=16384 \
		-timeout=10 -print_final_stats=1 "$work" >"$work.log" 2>&1; then
		cat "$work.log"
		rm -rf "$work" "$work.log"
		exit 1
	fi
	grep -E '^Done|stat::number_of_executed_units' "$work.log"
	rm -f "$work.log"
	rm -rf "$work"
done
