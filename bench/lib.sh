# Shared by the benches: a temporary directory removed at exit (KEEP=1
# keeps it), the background processes in PIDS killed, free loopback ports,
# and the CPU seconds of processes. Sourced after $here is set.
T=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
. "$here/../tests/interop/pki_openssl.sh"
cd "$T" || exit 1

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 did not open" >&2
	exit 1
}
# CPU seconds (utime+stime, all threads) of the processes in "$@".
cpu_of() {
	local p t=0 tick
	tick=$(getconf CLK_TCK)
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t $tick" | awk '{printf "%.3f", $1 / $2}'
}
