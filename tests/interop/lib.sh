# Shared helpers for interop tests (sourced). Each test runs in its own
# temporary directory, makes its PKI at test time, and starts real peers on
# 127.0.0.1 only. Meson passes MTLS (the binary) in the environment.
set -u
# faketime preloads a library; let the sanitizer runtime accept that.
export ASAN_OPTIONS="verify_asan_link_order=0:${ASAN_OPTIONS:-}"
MTLS=${MTLS:-$(cd "$(dirname "$0")/../.." && pwd)/build/src/mtls}
T=$(mktemp -d "${TMPDIR:-/tmp}/mtls-it-XXXXXX")
# Default state (push's queue, serve's item ids) stays inside the test.
export XDG_STATE_HOME=$T/.state
unset STATE_DIRECTORY
PIDS=()
PASSED=0
FAILED=0
SKIPPED=0

cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to ${2:-10} seconds for 127.0.0.1:$1 to accept connections.
wait_port() {
	local port=$1 limit=${2:-10} i
	for ((i = 0; i < limit * 20; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "port $port did not open within ${limit}s" >&2
	return 1
}

# wait_log FILE REGEX [SECONDS]: waits until FILE has a line matching REGEX.
wait_log() {
	local i
	for ((i = 0; i < ${3:-5} * 20; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no /$2/ in $1 within ${3:-5}s:" >&2
	tail -5 "$1" >&2
	return 1
}

# bg CMD...: starts CMD in the background, remembered for cleanup.
bg() {
	"$@" &
	PIDS+=($!)
	LAST_PID=$!
}

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip - $*"; }

# check "description" CMD...: passes when CMD exits 0.
check() {
	local d=$1; shift
	if "$@" >"$T/last.out" 2>&1; then pass "$d"; else fail "$d"; sed 's/^/    /' "$T/last.out" | head -20; fi
}

# check_fails "description" CMD...: passes when CMD exits non-zero.
check_fails() {
	local d=$1; shift
	if "$@" >"$T/last.out" 2>&1; then fail "$d (unexpectedly succeeded)"; sed 's/^/    /' "$T/last.out" | head -20; else pass "$d"; fi
}

# check_status "description" STATUS CMD...: passes when CMD exits STATUS.
check_status() {
	local d=$1 want=$2 got; shift 2
	"$@" >"$T/last.out" 2>&1; got=$?
	if [ "$got" = "$want" ]; then pass "$d"; else fail "$d (exit $got, wanted $want)"; sed 's/^/    /' "$T/last.out" | head -20; fi
}

# check_output "description" REGEX CMD...: CMD's stdout+stderr matches REGEX (grep -E).
check_output() {
	local d=$1 re=$2; shift 2
	"$@" >"$T/last.out" 2>&1
	if grep -qE -- "$re" "$T/last.out"; then pass "$d"; else fail "$d (no match for /$re/)"; sed 's/^/    /' "$T/last.out" | head -20; fi
}

# nginx_conf DIR SITE: writes DIR/nginx.conf, a minimal nginx (no root,
# everything under DIR) that includes the server block SITE.
nginx_conf() {
	mkdir -p "$1/logs"
	cat >"$1/nginx.conf" <<EOF
pid $1/nginx.pid;
error_log $1/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    include $2;
}
EOF
}

# Last command's combined output (after check*).
last_output() { cat "$T/last.out"; }

# Prints the closing line CI reads and exits with the right status.
finish() {
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ "$FAILED" -eq 0 ]
}
