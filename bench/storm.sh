#!/usr/bin/env bash
# bench/storm: a fleet enrolls, then re-enrolls all at once, against one
# `mtls ca serve` on loopback. NODES tokens are made with one
# `mtls token create --batch`, every node enrolls (EST simpleenroll with
# its token, keep-alive), then every node renews at the same moment
# (simplereenroll, mutual TLS with its own certificate, so a new TLS
# connection each, and a new key), PARALLEL requests in flight, bounded by
# DEADLINE seconds. Reports errors (must be 0), throughput, p50/p99
# latency per phase (curl's time_total of each request) and the CA's CPU
# seconds (utime+stime from /proc). Not a test.
#
#   bench/storm.sh [-n NODES] [-p PARALLEL] [-d DEADLINE] [--base MTLS]
#     -n NODES     identities (default 5000)
#     -p PARALLEL  requests in flight (default 32)
#     -d DEADLINE  seconds each phase may take before curl is stopped
#                  (default 60; the re-enrollment storm must fit in it)
#     --base MTLS  first the same fleet against another build of mtls
#                  (say, main's, before a change), with its own CA: a
#                  before/after in the same run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/build.sh" >/dev/null
MTLS=$here/../build/src/mtls
NODES=5000 PAR=32 DEADLINE=60 BASE=
while [ $# -gt 0 ]; do
	case $1 in
	-n) NODES=$2; shift ;;
	-p) PAR=$2; shift ;;
	-d) DEADLINE=$2; shift ;;
	--base) BASE=$(realpath "$2"); shift ;;
	*) echo "usage: bench/storm.sh [-n NODES] [-p PARALLEL] [-d DEADLINE] [--base MTLS]" >&2; exit 2 ;;
	esac
	shift
done
. "$here/lib.sh"
now() { date +%s.%N; }

# Keys and CSRs, shared by every server measured: the first enrollment's
# (CN=node) and the renewal's (a new key, the same subject; no SANs: RFC
# 7030 4.2.2 keeps the current ones).
mkdir -p keys
python3 - "$NODES" <<'PY'
import base64, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
def csr(name):
    k = ec.generate_private_key(ec.SECP256R1())
    r = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(k, hashes.SHA256())
    return k, base64.encodebytes(r.public_bytes(serialization.Encoding.DER))
with open("names", "w") as names:
    for i in range(int(sys.argv[1])):
        name = "node%d" % i
        names.write(name + "\n")
        for kind in ("", ".re"):
            k, b = csr(name)
            open("keys/%s%s.key" % (name, kind), "wb").write(k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            open("keys/%s%s.b64" % (name, kind), "wb").write(b)
PY

# run_phase NAME CONFIG: curl -Z over CONFIG, bounded; "code seconds" lines
# into NAME.out; sets WALL and CPU (of the CA).
run_phase() {
	local c0 t1
	c0=$(cpu_of "$SRV"); t1=$(now)
	timeout "$DEADLINE" curl -s -Z --no-progress-meter --parallel-max "$PAR" \
		-K "$2" > "$1.out" 2>/dev/null || true
	WALL=$(python3 -c "print('%.2f' % ($(now) - $t1))")
	CPU=$(python3 -c "print('%.2f' % ($(cpu_of "$SRV") - $c0))")
}

# fleet MTLS DIR: one CA served by MTLS in DIR, the whole fleet enrolled
# then renewed at once; DIR/result holds the numbers.
fleet() {
	local bin=$1
	mkdir -p "$2/n"
	cd "$2"
	"$bin" ca init --dir ca --name "CN=Storm CA" >/dev/null
	"$bin" issue srv --ca-dir ca --profile server --san ip:127.0.0.1 --out . >/dev/null
	PORT=$(free_port)
	"$bin" ca serve --ca-dir ca --listen "127.0.0.1:$PORT" --cert srv.chain.pem \
		--key srv.key --quiet --fail-limit 1000 --max-conns 4096 --cert-lifetime 2d 2>serve.log &
	SRV=$!; PIDS+=("$SRV")
	wait_port "$PORT"

	t0=$(now)
	"$bin" token create --batch ../names --ca-dir ca --ttl 1h > tokens 2>/dev/null
	TOKEN_S=$(python3 -c "print('%.2f' % ($(now) - $t0))")

	while read -r name secret; do
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simpleenroll"\n' "$PORT"
		printf 'user = "%s:%s"\ncacert = "ca/ca.crt"\n' "$name" "$secret"
		printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@../keys/%s.b64"\n' "$name"
		printf 'output = "n/%s.p7"\nwrite-out = "%%{http_code} %%{time_total}\\n"\nnext\n' "$name"
	done < tokens | sed '$d' > enroll.cfg
	run_phase enroll enroll.cfg
	EN_WALL=$WALL EN_CPU=$CPU

	# The enrolled certificates as PEM, for curl's --cert.
	python3 - <<'PY'
import base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
for line in open("tokens"):
    name = line.split()[0]
    try:
        der = base64.b64decode(open("n/%s.p7" % name, "rb").read())
        cert = pkcs7.load_der_pkcs7_certificates(der)[0]
    except Exception:
        continue  # counted as an error of the enrollment phase
    open("n/%s.crt" % name, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
	while read -r name _; do
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simplereenroll"\n' "$PORT"
		printf 'cert = "n/%s.crt"\nkey = "../keys/%s.key"\ncacert = "ca/ca.crt"\n' "$name" "$name"
		printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@../keys/%s.re.b64"\n' "$name"
		printf 'output = "n/%s.re.p7"\nwrite-out = "%%{http_code} %%{time_total}\\n"\nnext\n' "$name"
	done < tokens | sed '$d' > storm.cfg
	run_phase storm storm.cfg
	ST_WALL=$WALL ST_CPU=$CPU
	# The server's peak resident memory (KiB), connections and all.
	HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$SRV/status")
	kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true
	echo "$TOKEN_S $EN_WALL $EN_CPU $ST_WALL $ST_CPU $HWM" > result
	cd ..
}

[ -n "$BASE" ] && fleet "$BASE" base
fleet "$MTLS" mtls

python3 - "$NODES" "$PAR" "$DEADLINE" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
	${BASE:+base} mtls <<'PY'
import sys
nodes, par, deadline = (int(a) for a in sys.argv[1:4])
cores, load = sys.argv[4:6]
print("%d nodes, %d in flight, deadline %d s per phase, %s cores, load %s" % (nodes, par, deadline, cores, load))
print("| server | phase | answered 200 | errors | wall s | per wall second | p50 ms | p99 ms | CA CPU s | per CA CPU-second |")
print("|---|---|---|---|---|---|---|---|---|---|")
label = {"enroll": "simpleenroll (token, keep-alive)",
         "storm": "simplereenroll storm (own certificate, new TLS connection each)"}
srvname = {"base": "--base build", "mtls": "this build"}
tokens, peaks = [], []
for srv in sys.argv[6:]:
    token_s, en_wall, en_cpu, st_wall, st_cpu, hwm = (float(x) for x in open(srv + "/result").read().split())
    tokens.append("%s %.2f s" % (srvname[srv], token_s))
    peaks.append("%s %.1f MiB" % (srvname[srv], hwm / 1024))
    phases = {"enroll": (en_wall, en_cpu), "storm": (st_wall, st_cpu)}
    for ph in ("enroll", "storm"):
        lat, ok = [], 0
        for line in open("%s/%s.out" % (srv, ph)):
            f = line.split()
            if len(f) == 2:
                lat.append(float(f[1]) * 1000)
                ok += f[0] == "200"
        lat.sort()
        pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
        wall, cpu = phases[ph]
        print("| %s | %s | %d/%d | %d | %.1f | %.0f | %.0f | %.0f | %.2f | %.0f |" % (
            srvname[srv], label[ph], ok, nodes, nodes - ok, wall, ok / wall, pct(0.50), pct(0.99), cpu,
            ok / max(cpu, 0.01)))
print("token create --batch, %d tokens: %s" % (nodes, ", ".join(tokens)))
print("CA server peak resident memory: %s" % ", ".join(peaks))
PY
