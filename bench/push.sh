#!/bin/bash
# bench/push.sh: throughput of `mtls push` -> `mtls serve` on loopback, with
# durability on at both ends (the agent's queue commits with
# synchronous=FULL; the receiver fsyncs each file, its directory and its
# item-id database before answering 200).
#   small: SMALL_N items of 1 KiB (enqueue, then delivery, then both)
#   large: one LARGE_MB MiB file (enqueue = snapshot copy + fsync; delivery)
# and, for scale, the same large upload with curl (no queue, no snapshot).
# Usage: bench/push.sh [build/src/mtls]   (SMALL_N=2000 LARGE_MB=256)
set -u
MTLS=${1:-${MTLS:-$(cd "$(dirname "$0")/.." && pwd)/build/src/mtls}}
SMALL_N=${SMALL_N:-2000}
LARGE_MB=${LARGE_MB:-256}
. "$(dirname "$0")/../tests/interop/pki_openssl.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cd "$T" || exit 1

pki_ca "$T" ca
pki_issue "$T" ca publish server
pki_issue "$T" ca author client
ID=(--cert author.crt --key author.key --ca ca.crt)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
URL=https://127.0.0.1:$PORT

start() {
	"$MTLS" serve --listen "127.0.0.1:$PORT" --cert publish.crt --key publish.key \
		--ca ca.crt --root root --insecure-no-map --max-body $(((LARGE_MB + 1) * 1048576)) 2>>serve.log &
	SPID=$!
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "receiver did not start" >&2
	exit 1
}
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$@"; }

mkdir -p small
python3 - "$SMALL_N" <<'EOF'
import os, sys
for i in range(int(sys.argv[1])):
    with open(f"small/i{i:05d}.bin", "wb") as f:
        f.write(os.urandom(1024))
EOF
head -c $((LARGE_MB * 1048576)) /dev/urandom >large.bin

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(openssl version); $(curl --version | head -1 | cut -d' ' -f1-2); sqlite $(sqlite3 --version | cut -d' ' -f1)"

# Small items: enqueue alone (receiver down: one failed attempt, items
# stay queued), then delivery alone (resume with --wait), then end to end.
t0=$(now)
"$MTLS" push "$URL" "${ID[@]}" --state st1 --dir small --prefix /s 2>/dev/null
t1=$(now)
start
"$MTLS" push "${ID[@]}" --state st1 --wait 2>push1.log || { cat push1.log; exit 1; }
t2=$(now)
echo "small: enqueue  $SMALL_N x 1 KiB: $(secs "$t0" "$t1") s = $(rate "$SMALL_N" "$t0" "$t1") items/s"
echo "small: deliver  $SMALL_N x 1 KiB: $(secs "$t1" "$t2") s = $(rate "$SMALL_N" "$t1" "$t2") items/s"
t0=$(now)
"$MTLS" push "$URL" "${ID[@]}" --state st2 --dir small --prefix /s2 --wait 2>/dev/null || exit 1
t1=$(now)
echo "small: end to end (enqueue + deliver): $(secs "$t0" "$t1") s = $(rate "$SMALL_N" "$t0" "$t1") items/s"
cmp -s small/i00000.bin root/s2/i00000.bin || { echo "content differs" >&2; exit 1; }
grep 'path=/s2/' serve.log | grep -o ' ms=[0-9.]*' | cut -d= -f2 | sort -n |
	awk '{a[NR] = $1; s += $1} END {printf "small: receiver time per item (its access log): median %.1f ms, p90 %.1f ms, total %.1f s\n", a[int(NR / 2) + 1], a[int(NR * 0.9)], s / 1000}'


# Large file.
stop
t0=$(now)
"$MTLS" push "$URL" "${ID[@]}" --state st3 /big/large.bin=large.bin 2>/dev/null
t1=$(now)
start
"$MTLS" push "${ID[@]}" --state st3 --wait 2>/dev/null || exit 1
t2=$(now)
cmp -s large.bin root/big/large.bin || { echo "large content differs" >&2; exit 1; }
echo "large: enqueue  $LARGE_MB MiB (snapshot + fsync): $(secs "$t0" "$t1") s = $(rate "$LARGE_MB" "$t0" "$t1") MiB/s"
echo "large: deliver  $LARGE_MB MiB: $(secs "$t1" "$t2") s = $(rate "$LARGE_MB" "$t1" "$t2") MiB/s"
t0=$(now)
curl -sS -o /dev/null --fail --cert author.crt --key author.key --cacert ca.crt \
	-H 'Action: Activate' -H 'Path: /big/curl.bin' -H 'Expect:' \
	--data-binary @large.bin "$URL/bin/receive" || exit 1
t1=$(now)
echo "large: curl --data-binary (no queue), same receiver: $(secs "$t0" "$t1") s = $(rate "$LARGE_MB" "$t0" "$t1") MiB/s"
stop
