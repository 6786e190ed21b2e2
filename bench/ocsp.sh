#!/usr/bin/env bash
# bench/ocsp.sh: OCSP responses per server CPU-second, `mtls ocsp serve`
# versus `openssl ocsp -index ... -port`, on the same CA state, with the same
# load client (bench/ocsp_load.c POSTing a prebuilt request, keep-alive).
#
#   bench/ocsp.sh [SECONDS]     (default 10 per run; needs cc, sqlite3, root
#                                or user namespaces for `unshare --net`)
#
# Both servers run inside a private network namespace with only loopback up
# (openssl ocsp listens on all interfaces), pinned to CPU 0; the load client runs on
# CPU 1. Work is counted per CPU-second of the server process (utime+stime
# from /proc/PID/stat), as the machine is shared. Printed: requests, server
# CPU seconds, responses per CPU-second, wall rate, and the ratio.
set -eu
SECS=${1:-10}
SELF=$(readlink -f "$0")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
MTLS=${MTLS:-$ROOT/build/src/mtls}
for p in cc sqlite3 openssl taskset unshare ss; do
	command -v $p >/dev/null || { echo "bench/ocsp.sh: needs $p (apt-get install -y $p)" >&2; exit 1; }
done

if [ "${1:-}" != "--inside" ]; then
	W=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-ocsp-XXXXXX")
	[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
	cd "$W"
	export MTLS_CA_DIR="$W/pki"
	"$MTLS" ca init >/dev/null
	# 1,000 certificates, 100 of them revoked.
	for i in $(seq 1 "${NCERTS:-1000}"); do echo "host$i client"; done >batch.txt
	"$MTLS" issue --batch batch.txt --out certs >/dev/null 2>&1
	sqlite3 pki/inventory.db "UPDATE certs SET status='revoked', revoked_at=strftime('%s','now'), reason='keyCompromise' WHERE rowid % 10 = 0"
	# The same state as an openssl index.txt (ca(1) database format).
	sqlite3 -separator "$(printf '\t')" pki/inventory.db "SELECT
	    CASE status WHEN 'revoked' THEN 'R' ELSE 'V' END,
	    strftime('%Y%m%d%H%M%SZ', not_after, 'unixepoch'),
	    CASE status WHEN 'revoked' THEN strftime('%Y%m%d%H%M%SZ', revoked_at, 'unixepoch') || ',' || reason ELSE '' END,
	    serial, 'unknown', '/' || replace(subject, ',', '/') FROM certs" | sed 's/^\([RV]\t\)20/\1/; s/\t20\([0-9]*Z,\)/\t\1/' >index.txt
	openssl ocsp -issuer pki/ca.crt -cert certs/host1.crt -no_nonce -reqout plain.der 2>/dev/null
	openssl ocsp -issuer pki/ca.crt -cert certs/host1.crt -reqout nonce.der 2>/dev/null
	exec unshare --net bash "$SELF" --inside "$W" "$SECS"
fi

# ---- inside the namespace ----
W=$2 SECS=$3
cd "$W"
ip link set lo up
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null' EXIT
cc -O2 -o ocsp_load "$ROOT/bench/ocsp_load.c"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Waits for the port without connecting (openssl/openssl#23934: a
# connection without a request makes openssl ocsp spin).
wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		ss -ltnH "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "server did not listen on $1" >&2; exit 1
}

start() { # NAME PORT: a fresh server pinned to CPU 0
	if [ "$1" = mtls ]; then
		taskset -c 0 "$MTLS" ocsp serve --listen "127.0.0.1:$2" 2>/dev/null &
	else
		taskset -c 0 openssl ocsp -index index.txt -port "$2" -rsigner pki/ca.crt \
			-rkey pki/ca.key -CA pki/ca.crt -nmin 60 -ignore_err >/dev/null 2>&1 &
	fi
	PID=$!
	wait_listen "$2"
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# run NAME REQ CONNS: one measured run against a fresh server.
PORT=2560
run() {
	local name=$1 req=$2 conns=$3 t0 t1 out n cpu
	PORT=$((PORT + 1))
	start "$name" "$PORT"
	t0=$(cpu_ticks "$PID")
	out=$(taskset -c 1 ./ocsp_load 127.0.0.1 "$PORT" "$req" "$conns" "$SECS")
	t1=$(cpu_ticks "$PID")
	stop
	n=$(echo "$out" | awk '{print $2}')
	[ "$(echo "$out" | awk '{print $4}')" = 0 ] || echo "$name: non-200 answers: $out" >&2
	cpu=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 100}')
	awk -v n="$n" -v c="$cpu" -v s="$SECS" -v name="$name" -v r="$req" -v k="$conns" 'BEGIN {
		printf "%-8s %-10s c=%-3d %9d responses %7.2f server cpu-s %9.0f per cpu-s %8.0f per wall-s\n",
		    name, r, k, n, c, (c > 0 ? n / c : 0), n / s }'
	echo "$name $req $(awk -v n="$n" -v c="$cpu" 'BEGIN {print (c > 0 ? n / c : 0)}')" >>results.txt
}

check_answer() { # NAME: the server answers "good" with a valid signature
	PORT=$((PORT + 1))
	start "$1" "$PORT"
	openssl ocsp -issuer pki/ca.crt -cert certs/host1.crt -url "http://127.0.0.1:$PORT" \
		-CAfile pki/ca.crt -no_nonce >a.out 2>&1 || true
	stop
	grep -q "host1.crt: good" a.out && grep -q "Response verify OK" a.out ||
		{ echo "$1 did not answer correctly:" >&2; cat a.out >&2; exit 1; }
}

: >results.txt
echo "OCSP responders: $(grep -c . index.txt) certificates ($(grep -c '^R' index.txt) revoked), P-256 CA,"
echo "$SECS s per run, server pinned to CPU 0, load client (bench/ocsp_load.c) on CPU 1, $(nproc) CPUs"
check_answer mtls
check_answer openssl
# plain.der: no nonce (mtls answers from its cache); nonce.der: a nonce
# (mtls signs live; openssl ocsp always signs live).
for req in plain.der nonce.der; do
	run mtls "$req" 4
	run openssl "$req" 4
	run mtls "$req" 4
	run openssl "$req" 4
done
echo
awk '{ s[$1 " " $2] += $3; k[$1 " " $2]++ }
END { for (r in s) a[r] = s[r] / k[r]
      printf "mean per server CPU-second: mtls %.0f / openssl %.0f (no nonce, ratio %.1fx); mtls %.0f / openssl %.0f (nonce, ratio %.1fx)\n",
        a["mtls plain.der"], a["openssl plain.der"], a["mtls plain.der"] / a["openssl plain.der"],
        a["mtls nonce.der"], a["openssl nonce.der"], a["mtls nonce.der"] / a["openssl nonce.der"] }' results.txt
