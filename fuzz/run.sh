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
	build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -max_len=16384 \
		-timeout=10 -print_final_stats=1 "$work"
	rm -rf "$work"
done
