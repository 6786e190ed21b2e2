#!/usr/bin/env bash
# The second command: every test - unit (cmocka), interop against real
# peers, fuzz targets for a bounded time - then the unit and interop suites
# again under AddressSanitizer + UBSan.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
export TMPDIR=${TMPDIR:-/tmp}

status=0
summary=()

run_suite() { # NAME BUILDDIR MESON-ARGS...
	local name=$1 dir=$2; shift 2
	echo "=== $name"
	if ! scripts/build.sh "$dir" "$@"; then
		echo "build of $dir failed"; status=1; summary+=("$name: build failed"); return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 1 ${MESON_TEST_ARGS:-} || status=1
	summary+=("$(python3 scripts/testlog-summary.py "$name" "$dir/meson-logs/testlog.json")")
}

run_suite "default" build -Dwerror=true
run_suite "asan+ubsan" build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
if [ -x fuzz/run.sh ] && command -v clang >/dev/null; then
	echo "=== fuzz (${FUZZ_SECONDS:-20}s per target)"
	if fuzz/run.sh "${FUZZ_SECONDS:-20}"; then summary+=("fuzz: 1 passed, 0 failed"); else status=1; summary+=("fuzz: 0 passed, 1 failed"); fi
fi
echo
printf '%s\n' "${summary[@]}"
python3 scripts/testlog-summary.py total build/meson-logs/testlog.json build-asan/meson-logs/testlog.json | sed 's/^total: //'
exit $status
