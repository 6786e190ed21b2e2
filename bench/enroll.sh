#!/usr/bin/env bash
# bench/enroll: EST simpleenroll per CA CPU-second and per wall second with
# `mtls ca serve`, side by side in the same run with `cfssl serve` (Debian's
# golang-cfssl) signing the same P-256 CSRs through its /api/v1/cfssl/sign,
# both over TLS on loopback, once with a new full TLS handshake per request
# (no session resumption) and once over keep-alive connections; ROUNDS
# rounds, the two servers alternating, medians reported. Then a bounded
# re-enrollment storm: STORM nodes renew at once (simplereenroll, mutual
# TLS with each node's own certificate, a new key each). A server's CPU
# time is utime+stime of its process from /proc, read before and after.
# Not a test.
#
#   bench/enroll.sh [-n N] [-r ROUNDS] [-s STORM] [-p PARALLEL] [--db URL]
#                   [--no-peer] [--base MTLS]
#     -n N         enrollments per round and mode (default 200)
#     -r ROUNDS    rounds; medians over them (default 3)
#     -s STORM     nodes in the re-enrollment storm (default 1000; 0: none)
#     -p PARALLEL  requests in flight from the load client (default 4)
#     --db URL     the CA's inventory engine, given to `mtls ca init --db`
#                  (default: the CA directory's SQLite file)
#     --no-peer    mtls only (no cfssl)
#     --base MTLS  also another build of mtls (say, main's, before a
#                  change), alternating with this one on its own tokens
#                  and CSRs: a before/after in the same run and load
# Each server variant is one start_* function and one row label: add
# variants (other engines, several instances) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
MTLS=$PWD/build/src/mtls
N=200 ROUNDS=3 STORM=1000 PAR=4 DB="" PEER=1 BASE=""
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-s) STORM=$2; shift ;;
	-p) PAR=$2; shift ;;
	--db) DB=$2; shift ;;
	--no-peer) PEER=0 ;;
	--base) BASE=$(realpath "$2"); shift ;;
	*) echo "usage: bench/enroll.sh [-n N] [-r ROUNDS] [-s STORM] [-p PARALLEL] [--db URL] [--no-peer] [--base MTLS]" >&2; exit 2 ;;
	esac
	shift
done
if [ "$PEER" = 1 ] && ! command -v cfssl >/dev/null; then
	echo "cfssl missing: apt-get install golang-cfssl (or --no-peer)" >&2
	exit 1
fi
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$D"' EXIT
cd "$D"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for ((i = 0; i < 400; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$1/stat"; }
now() { date +%s.%N; }

DB_ARGS=()
[ -n "$DB" ] && DB_ARGS=(--db "$DB")
"$MTLS" ca init --dir ca --name "CN=Bench CA" "${DB_ARGS[@]}" >/dev/null
# The same TLS identity for both servers, issued by the CA.
"$MTLS" issue srv --ca-dir ca --profile server --san ip:127.0.0.1 --out . >/dev/null

# start_mtls [BIN]: mtls ca serve on a free port -> $MPORT, $MPID
start_mtls() {
	MPORT=$(free_port)
	"${1:-$MTLS}" ca serve --ca-dir ca --listen "127.0.0.1:$MPORT" --cert srv.chain.pem \
		--key srv.key --quiet --fail-limit 1000 --max-conns 2048 2>>mtls.log &
	MPID=$!; PIDS+=("$MPID")
	wait_port "$MPORT"
}
# start_cfssl: cfssl serve with the same CA key and TLS identity -> $CPORT, $CPID
start_cfssl() {
	CPORT=$(free_port)
	cat > cfssl.json <<'J'
{"signing": {"default": {"expiry": "168h", "usages": ["digital signature", "client auth", "server auth"]}}}
J
	cfssl serve -address 127.0.0.1 -port "$CPORT" -ca ca/ca.crt -ca-key ca/ca.key \
		-config cfssl.json -tls-cert srv.crt -tls-key srv.key -loglevel 4 2>>cfssl.log &
	CPID=$!; PIDS+=("$CPID")
	wait_port "$CPORT"
}

# Keys and CSRs for every round and mode (base64 DER for EST, JSON for
# cfssl: the same CSR), then the storm's renewal CSRs (new keys, the
# subject of the current certificate, no SANs: RFC 7030 4.2.2 keeps them).
python3 - "$N" "$ROUNDS" "$STORM" "${BASE:+b}" <<'PY'
import base64, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
n, rounds, storm = (int(a) for a in sys.argv[1:4])
prefixes = [""] + ([sys.argv[4]] if len(sys.argv) > 4 and sys.argv[4] else [])
def csr(name):
    k = ec.generate_private_key(ec.SECP256R1())
    r = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(k, hashes.SHA256())
    return k, r
for m in [p + m for p in prefixes for m in ("close", "keep")]:
    for r in range(rounds):
        for i in range(n):
            name = "%s%d-%d" % (m, r, i)
            k, c = csr(name)
            open(name + ".b64", "wb").write(base64.encodebytes(c.public_bytes(serialization.Encoding.DER)))
            json.dump({"certificate_request": c.public_bytes(serialization.Encoding.PEM).decode()},
                      open(name + ".json", "w"))
with open("storm.batch", "w") as b:
    for i in range(storm):
        name = "storm%d" % i
        b.write("%s node\n" % name)
        k, c = csr(name)
        open(name + ".new.key", "wb").write(k.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        open(name + ".re.b64", "wb").write(base64.encodebytes(c.public_bytes(serialization.Encoding.DER)))
PY
# One-time tokens, one batch (one transaction) per round and mode.
for m in close keep ${BASE:+bclose bkeep}; do
	for ((r = 0; r < ROUNDS; r++)); do
		for ((i = 0; i < N; i++)); do echo "$m$r-$i"; done > "$m$r.names"
		"$MTLS" token create --batch "$m$r.names" --ca-dir ca --ttl 2h \
			> "$m$r.tokens" 2>/dev/null
	done
done

# One curl process per measurement: a config with one request per node,
# PAR in flight (-Z). "close": Connection: close and no TLS session
# cache, so every request pays a full handshake; "keep": PAR connections
# reused for everything.
conn_opts() { # MODE
	[ "${1#b}" = close ] && printf 'header = "Connection: close"\nno-sessionid\n'
	return 0
}
est_config() { # MODE ROUND PORT
	while read -r n t; do
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simpleenroll"\nuser = "%s:%s"\n' "$3" "$n" "$t"
		printf 'cacert = "ca/ca.crt"\nheader = "Content-Type: application/pkcs10"\n'
		printf 'data-binary = "@%s.b64"\noutput = "%s.p7"\nwrite-out = "%%{http_code}\\n"\n' "$n" "$n"
		conn_opts "$1"
		printf 'next\n'
	done < "$1$2.tokens" | sed '$d'  # no "next" after the last one
}
cfssl_config() { # MODE ROUND PORT
	for ((i = 0; i < N; i++)); do
		n=$1$2-$i
		printf 'url = "https://127.0.0.1:%s/api/v1/cfssl/sign"\ncacert = "ca/ca.crt"\n' "$3"
		printf 'header = "Content-Type: application/json"\ndata-binary = "@%s.json"\n' "$n"
		printf 'output = "%s.cf"\nwrite-out = "%%{http_code}\\n"\n' "$n"
		conn_opts "$1"
		printf 'next\n'
	done | sed '$d'
}
# measure PID CONFIG CHECK -> "answered cpu wall"; CHECK counts real answers
measure() {
	local c0 c1 t0 t1
	c0=$(cpu_of "$1"); t0=$(now)
	timeout 300 curl -s -Z --no-progress-meter --parallel-max "$PAR" -K "$2" > "$2.codes" 2>/dev/null || true
	t1=$(now); c1=$(cpu_of "$1")
	echo "$($3 "$2") $(python3 -c "print('%.2f' % ($c1 - $c0))") $(python3 -c "print('%.3f' % ($t1 - $t0))")"
}
# An EST answer counts when it is a PKCS#7 holding a certificate; a cfssl
# one when it says success with a certificate.
est_ok() {
	local k=0 f
	for f in $(grep -o '[^"]*\.p7' "$1"); do
		[ -s "$f" ] && base64 -d "$f" 2>/dev/null | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
			grep -q 'BEGIN CERT' && k=$((k + 1))
	done
	echo "$k"
}
cfssl_ok() {
	local k=0 f
	for f in $(grep -o '[^"]*\.cf' "$1"); do
		[ -s "$f" ] && grep -q '"success":true' "$f" && k=$((k + 1))
	done
	echo "$k"
}

if [ -n "$BASE" ]; then
	start_mtls "$BASE"
	BPORT=$MPORT BPID=$MPID
fi
start_mtls
[ "$PEER" = 1 ] && start_cfssl
: > results.txt
for mode in close keep; do
	for ((r = 0; r < ROUNDS; r++)); do
		if [ -n "$BASE" ]; then
			est_config "b$mode" "$r" "$BPORT" > "est-b$mode$r.cfg"
			echo "base $mode $(measure "$BPID" "est-b$mode$r.cfg" est_ok)" >> results.txt
		fi
		est_config "$mode" "$r" "$MPORT" > "est-$mode$r.cfg"
		echo "mtls $mode $(measure "$MPID" "est-$mode$r.cfg" est_ok)" >> results.txt
		if [ "$PEER" = 1 ]; then
			cfssl_config "$mode" "$r" "$CPORT" > "cfssl-$mode$r.cfg"
			echo "cfssl $mode $(measure "$CPID" "cfssl-$mode$r.cfg" cfssl_ok)" >> results.txt
		fi
	done
done

# Answers per durable commit (group commit), from the server's metrics.
GROUP_LINE=$(curl -s --cacert ca/ca.crt "https://127.0.0.1:$MPORT/metrics" |
	awk '/^mtls_ca_group_commits_total/ {c = $2} /^mtls_ca_group_answers_total/ {a = $2}
	     END {if (c > 0) printf "group commit: %d answers in %d commits (%.1f per commit)", a, c, a / c}')

# The re-enrollment storm: STORM node certificates issued in one batch,
# then every node renews at once through `ca serve` with its own
# certificate (a new TLS connection each: the client certificate
# differs), bounded by a deadline.
STORM_LINE=""
if [ "$STORM" -gt 0 ]; then
	mkdir -p nodes
	"$MTLS" issue --batch storm.batch --ca-dir ca --out nodes >/dev/null
	for ((i = 0; i < STORM; i++)); do
		n=storm$i
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simplereenroll"\n' "$MPORT"
		printf 'cert = "nodes/%s.crt"\nkey = "nodes/%s.key"\ncacert = "ca/ca.crt"\nno-sessionid\n' "$n" "$n"
		printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@%s.re.b64"\n' "$n"
		printf 'output = "%s.re.p7"\nwrite-out = "%%{http_code}\\n"\nnext\n' "$n"
	done | sed '$d' > storm.cfg
	c0=$(cpu_of "$MPID"); t0=$(now)
	timeout 120 curl -s -Z --no-progress-meter --parallel-max $((PAR * 4)) -K storm.cfg > storm.codes 2>/dev/null || true
	t1=$(now); c1=$(cpu_of "$MPID")
	ok=$(grep -c '^200$' storm.codes || true)
	STORM_LINE=$(python3 -c "
ok, n, w, c = $ok, $STORM, $t1 - $t0, $c1 - $c0
print('re-enrollment storm: %d/%d renewed in %.1f s wall (%.0f/s), CA %.2f cpu s (%.0f per cpu-s), %d in flight'
      % (ok, n, w, ok / w, c, ok / max(c, 0.01), $PAR * 4))")
fi

python3 - "$N" "$ROUNDS" "$PAR" "$STORM_LINE" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$GROUP_LINE" <<'PY'
import statistics, sys
n, rounds, par, storm, cores, load, groups = sys.argv[1:8]
rows = {}
for line in open("results.txt"):
    srv, mode, ok, cpu, wall = line.split()
    rows.setdefault((srv, mode), []).append((int(ok), float(cpu), float(wall)))
label = {"close": "new full TLS handshake per request", "keep": "keep-alive (%s connections)" % par}
name = {"mtls": "mtls ca serve (EST simpleenroll)", "cfssl": "cfssl serve (/api/v1/cfssl/sign)",
        "base": "mtls ca serve, --base build"}
def med(v):
    ok = [o for o, c, w in v]
    per_cpu = statistics.median(o / max(c, 0.01) for o, c, w in v)
    per_wall = statistics.median(o / w for o, c, w in v)
    return min(ok), per_cpu, per_wall
print("%d requests per round, %d rounds, %s in flight, %s cores, load %s (medians)" %
      (int(n), int(rounds), par, cores, load))
print("| server, connections | answered (worst round) | per CA CPU-second | per wall second |")
print("|---|---|---|---|")
for mode in ("close", "keep"):
    got = {}
    for srv in ("base", "mtls", "cfssl"):
        if (srv, mode) not in rows:
            continue
        ok, pc, pw = med(rows[(srv, mode)])
        got[srv] = (pc, pw)
        print("| %s, %s | %d/%s | %.0f | %.0f |" % (name[srv], label[mode], ok, n, pc, pw))
    if "base" in got:
        print("| ratio mtls/base, %s | | %.2fx | %.2fx |" % (label[mode],
              got["mtls"][0] / max(got["base"][0], 1e-9), got["mtls"][1] / max(got["base"][1], 1e-9)))
    if "cfssl" in got:
        print("| ratio mtls/cfssl, %s | | %.1fx | %.1fx |" % (label[mode],
              got["mtls"][0] / max(got["cfssl"][0], 1e-9), got["mtls"][1] / max(got["cfssl"][1], 1e-9)))
if storm:
    print(storm)
if groups:
    print(groups)
PY
