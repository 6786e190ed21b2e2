#!/usr/bin/env bash
# bench/acme: complete ACME order flows (account reused; new order,
# authorization, http-01 validated by connecting back to the client,
# finalize, certificate download) per server CPU-second and per wall
# second, `mtls ca serve` against pebble (Debian's RFC 8555 test server)
# with the same client (lego) in the same run, the servers alternating,
# ROUNDS rounds, medians reported. Pebble runs with its artificial
# validation delay off (PEBBLE_VA_NOSLEEP=1), no random nonce rejection
# (PEBBLE_WFE_NONCEREJECT=0) and no authorization reuse
# (PEBBLE_AUTHZREUSE=0), so both servers do the same work per order;
# its name lookups go to pebble-challtestsrv, which answers 127.0.0.1.
# Neither server uses External Account Binding here (ours with
# --acme-no-eab --acme-allow). A server's CPU time is the on-CPU time of
# its threads (/proc/PID/task/*/schedstat). With -b, a second `mtls` (an
# earlier build, its libmtls beside it as the build tree has it) serves
# its own CA in the same rounds, so a change is measured against its
# baseline and pebble under the same load. Not a test.
#
#   bench/acme.sh [-n ORDERS] [-r ROUNDS] [-b BASELINE-MTLS]
#     -n ORDERS   orders per round and server (default 20)
#     -r ROUNDS   rounds; medians over them (default 3)
#     -b MTLS     also measure this mtls binary (row "mtls baseline")
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
MTLS=$PWD/build/src/mtls
N=20 ROUNDS=3 BASE_MTLS=
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-b) BASE_MTLS=$(realpath "$2"); shift ;;
	*) echo "usage: bench/acme.sh [-n ORDERS] [-r ROUNDS] [-b BASELINE-MTLS]" >&2; exit 2 ;;
	esac
	shift
done
for p in lego pebble pebble-challtestsrv; do
	command -v $p >/dev/null || { echo "$p missing: scripts/deps.sh test" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$D"' EXIT
cd "$D"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for ((i = 0; i < 400; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# On-CPU time of every thread of PID in seconds, from the scheduler's
# nanosecond counters (utime+stime in /proc/PID/stat count 10 ms ticks,
# too coarse for a few milliseconds per order).
cpu_of() { cat /proc/"$1"/task/*/schedstat | awk '{ns += $1} END {printf "%.4f\n", ns / 1e9}'; }
now() { date +%s.%N; }
NAME=bench.acme.test

"$MTLS" ca init --dir ca --name "CN=Bench ACME CA" >/dev/null
"$MTLS" issue srv --ca-dir ca --profile server --san ip:127.0.0.1,dns:localhost --out . >/dev/null
MHP=$(free_port) PHP=$(free_port)   # where lego answers http-01 for each
MP=$(free_port)
serve() { # MTLS CA-DIR PORT HTTP-PORT LOG
	"$1" ca serve --ca-dir "$2" --listen "127.0.0.1:$3" --cert "$2.srv.chain.pem" \
		--key "$2.srv.key" --quiet --acme-no-eab --acme-allow "dns:$NAME" \
		--acme-http-port "$4" --acme-resolve "$NAME:$4:127.0.0.1" \
		--acme-validate-allow 127.0.0.0/8 --acme-orders-per-hour 100000 2>"$5" &
}
cp srv.chain.pem ca.srv.chain.pem; cp srv.key ca.srv.key
serve "$MTLS" ca "$MP" "$MHP" mtls.log
MPID=$!; PIDS+=("$MPID")
if [ -n "$BASE_MTLS" ]; then
	"$BASE_MTLS" ca init --dir cab --name "CN=Bench ACME CA (baseline)" >/dev/null
	"$BASE_MTLS" issue srv --ca-dir cab --profile server --san ip:127.0.0.1,dns:localhost \
		--out cab-srv >/dev/null
	cp cab-srv/srv.chain.pem cab.srv.chain.pem; cp cab-srv/srv.key cab.srv.key
	BHP=$(free_port) BP=$(free_port)
	serve "$BASE_MTLS" cab "$BP" "$BHP" mtls-baseline.log
	BPID=$!; PIDS+=("$BPID")
	wait_port "$BP"
fi
DNSP=$(free_port)
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNSP" \
	-http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$(free_port)" >challtestsrv.log 2>&1 &
PIDS+=("$!")
PP=$(free_port)
cat > pebble.json <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PP", "managementListenAddress": "127.0.0.1:$(free_port)",
 "certificate": "$D/srv.chain.pem", "privateKey": "$D/srv.key",
 "httpPort": $PHP, "tlsPort": $(free_port), "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
	pebble -config pebble.json -dnsserver "127.0.0.1:$DNSP" >pebble.log 2>&1 &
PPID_=$!; PIDS+=("$PPID_")
wait_port "$MP"; wait_port "$PP"

# lego against SERVER with its own account directory (made by the first
# run, reused by every later one).
lego_run() { # DIR-URL HTTP-PORT STATE [CA-DIR]
	SSL_CERT_FILE=$D/${4:-ca}/ca.crt timeout 60 lego --path "$3" --server "$1" --email bench@acme.test \
		--accept-tos --domains "$NAME" --key-type ec256 --http --http.port "127.0.0.1:$2" run \
		>>"$3.log" 2>&1
}
MDIR=https://127.0.0.1:$MP/acme/directory
PDIR=https://127.0.0.1:$PP/dir
lego_run "$MDIR" "$MHP" lego-mtls || { echo "lego could not use mtls ca serve:"; tail -5 lego-mtls.log; exit 1; }
lego_run "$PDIR" "$PHP" lego-pebble || { echo "lego could not use pebble:"; tail -5 lego-pebble.log; exit 1; }
BDIR=
if [ -n "$BASE_MTLS" ]; then
	BDIR=https://127.0.0.1:$BP/acme/directory
	lego_run "$BDIR" "$BHP" lego-base cab || { echo "lego could not use the baseline:"; tail -5 lego-base.log; exit 1; }
fi

measure() { # PID DIR-URL HTTP-PORT STATE [CA-DIR] -> "ok cpu wall"
	local c0 c1 t0 t1 ok=0 i
	c0=$(cpu_of "$1"); t0=$(now)
	for ((i = 0; i < N; i++)); do
		lego_run "$2" "$3" "$4" "${5:-ca}" && ok=$((ok + 1))
	done
	t1=$(now); c1=$(cpu_of "$1")
	echo "$ok $(python3 -c "print('%.4f' % ($c1 - $c0))") $(python3 -c "print('%.3f' % ($t1 - $t0))")"
}
: > results.txt
for ((r = 0; r < ROUNDS; r++)); do
	echo "mtls $(measure "$MPID" "$MDIR" "$MHP" lego-mtls)" >> results.txt
	if [ -n "$BASE_MTLS" ]; then
		echo "baseline $(measure "$BPID" "$BDIR" "$BHP" lego-base cab)" >> results.txt
	fi
	echo "pebble $(measure "$PPID_" "$PDIR" "$PHP" lego-pebble)" >> results.txt
done

python3 - "$N" "$ROUNDS" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
n, rounds, cores, load = sys.argv[1:5]
rows = {}
for line in open("results.txt"):
    srv, ok, cpu, wall = line.split()
    rows.setdefault(srv, []).append((int(ok), float(cpu), float(wall)))
print("%s orders per round, %s rounds, one lego process per order, %s cores, load %s (medians)"
      % (n, rounds, cores, load))
print("| server | orders completed (worst round) | server CPU s per round | orders per server CPU-second | orders per wall second |")
print("|---|---|---|---|---|")
got = {}
for srv, label in (("mtls", "mtls ca serve"), ("baseline", "mtls ca serve (baseline, -b)"),
                   ("pebble", "pebble (no sleep, no nonce rejects, no authz reuse)")):
    v = rows.get(srv)
    if v is None:
        continue
    pc = statistics.median(o / max(c, 0.01) for o, c, w in v)
    pw = statistics.median(o / w for o, c, w in v)
    got[srv] = (pc, pw)
    print("| %s | %d/%s | %.3f | %.1f | %.2f |" % (label, min(o for o, c, w in v), n,
          statistics.median(c for o, c, w in v), pc, pw))
for srv in ("baseline", "mtls"):
    if srv in got:
        print("| ratio %s/pebble | | | %.1fx | %.1fx |" % ("mtls" if srv == "mtls" else "baseline", got[srv][0] / max(got["pebble"][0], 1e-9),
              got[srv][1] / max(got["pebble"][1], 1e-9)))
PY
