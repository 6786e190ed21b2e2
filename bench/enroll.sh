#!/usr/bin/env bash
# bench/enroll: EST simpleenroll per CA CPU-second with `mtls ca serve`,
# side by side with `cfssl serve` (Debian's golang-cfssl) signing the same
# CSRs through its API, both over TLS on loopback, with a new connection
# per request and with keep-alive; then a bounded re-enrollment storm
# (simplereenroll, mutual TLS with each node's own certificate). The CA's
# CPU time is read from /proc before and after. Not a test.
#   bench/enroll.sh [N=400] [STORM=N]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
MTLS=$PWD/build/src/mtls
N=${1:-400}; STORM=${2:-$N}
command -v cfssl >/dev/null || { echo "cfssl missing: apt-get install golang-cfssl"; exit 1; }
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$D"' EXIT
cd "$D"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for ((i = 0; i < 200; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

"$MTLS" ca init --dir ca --name "CN=Bench CA" >/dev/null
# The same TLS identity for both servers, issued by the CA.
"$MTLS" issue srv --ca-dir ca --profile server --san ip:127.0.0.1 --out . >/dev/null
MP=$(free_port); CP=$(free_port)
"$MTLS" ca serve --ca-dir ca --listen 127.0.0.1:$MP --cert srv.chain.pem --key srv.key \
	--quiet --fail-limit 1000 --max-conns 2048 2>mtls.log &
MPID=$!; PIDS+=("$MPID")
cat > cfssl.json <<'J'
{"signing": {"default": {"expiry": "168h", "usages": ["digital signature", "client auth", "server auth"]}}}
J
cfssl serve -address 127.0.0.1 -port "$CP" -ca ca/ca.crt -ca-key ca/ca.key -config cfssl.json \
	-tls-cert srv.crt -tls-key srv.key -loglevel 4 2>cfssl.log &
CPID=$!; PIDS+=("$CPID")
wait_port "$MP"; wait_port "$CP"

# N nodes per round: keys, CSRs (base64 DER for EST, JSON for cfssl), tokens.
python3 - "$N" <<'PY'
import base64, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
for r in ("close", "keep"):
    for i in range(int(sys.argv[1])):
        n = "%s%d" % (r, i)
        k = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n)])).sign(k, hashes.SHA256())
        open(n + ".key", "wb").write(k.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        open(n + ".b64", "wb").write(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
        json.dump({"certificate_request": csr.public_bytes(serialization.Encoding.PEM).decode()},
                  open(n + ".json", "w"))
PY
for r in close keep; do
	for ((i = 0; i < N; i++)); do
		echo "$r$i $("$MTLS" token create "$r$i" --ca-dir ca --ttl 1h 2>/dev/null)"
	done > "$r.tokens"
done

# One curl process per run: a config with one request per node (curl
# keeps the connection unless the request says Connection: close).
est_config() { # MODE
	while read -r n t; do
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simpleenroll"\nuser = "%s:%s"\n' "$MP" "$n" "$t"
		printf 'cacert = "ca/ca.crt"\n'  # "next" resets every option
		printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@%s.b64"\noutput = "%s.p7"\n' "$n" "$n"
		[ "$1" = close ] && printf 'header = "Connection: close"\n'
		printf 'next\n'
	done < "$1.tokens"
}
cfssl_config() { # MODE
	for ((i = 0; i < N; i++)); do
		printf 'url = "https://127.0.0.1:%s/api/v1/cfssl/sign"\ncacert = "ca/ca.crt"\n' "$CP"
		printf 'header = "Content-Type: application/json"\ndata-binary = "@%s%d.json"\noutput = "%s%d.cf"\n' "$1" "$i" "$1" "$i"
		[ "$1" = close ] && printf 'header = "Connection: close"\n'
		printf 'next\n'
	done
}
run() { # PID CONFIG -> "cpu wall"
	local c0 c1 t0 t1
	c0=$(cpu_of "$1"); t0=$(date +%s.%N)
	curl -s --cacert ca/ca.crt -K "$2" -w '%{http_code}\n' > "$2.codes" || true
	t1=$(date +%s.%N); c1=$(cpu_of "$1")
	echo "$(python3 -c "print($c1 - $c0)") $(python3 -c "print($t1 - $t0)")"
}
ok_count() { grep -c '^200$' "$1.codes" || true; }
printf '%-34s %8s %10s %12s %10s\n' "" "answered" "CA cpu s" "per cpu-s" "per s"
for mode in close keep; do
	# (no "next" after the last request: curl would want one more URL)
	est_config "$mode" | sed '$d' > "est-$mode.cfg"
	cfssl_config "$mode" | sed '$d' > "cfssl-$mode.cfg"
	read -r mc mw < <(run "$MPID" "est-$mode.cfg")
	read -r cc cw < <(run "$CPID" "cfssl-$mode.cfg")
	mo=$(ok_count "est-$mode.cfg"); co=$(ok_count "cfssl-$mode.cfg")
	label=$([ "$mode" = close ] && echo "new TLS connection per request" || echo "keep-alive")
	printf '%-34s %8s %10.2f %12.0f %10.0f\n' "mtls ca serve, $label" "$mo/$N" "$mc" \
		"$(python3 -c "print($mo/max($mc,1e-9))")" "$(python3 -c "print($mo/$mw)")"
	printf '%-34s %8s %10.2f %12.0f %10.0f\n' "cfssl serve, $label" "$co/$N" "$cc" \
		"$(python3 -c "print($co/max($cc,1e-9))")" "$(python3 -c "print($co/$cw)")"
	echo "  ratio per CA cpu-second: $(python3 -c "print('%.1fx' % (($mo/max($mc,1e-9)) / max($co/max($cc,1e-9),1e-9)))")"
done

# Re-enrollment storm: STORM nodes renew with their own certificate
# (mutual TLS: one connection each), new key, same names; several
# curl processes at once, bounded by a deadline.
k=0
for ((i = 0; i < N && k < STORM; i++)); do
	for r in keep close; do
		[ "$k" -ge "$STORM" ] && break
		n=$r$i
		base64 -d "$n.p7" | openssl pkcs7 -inform DER -print_certs -out "$n.crt" 2>/dev/null || continue
		openssl req -new -key "$n.key" -subj "/CN=$n" -outform DER 2>/dev/null | base64 > "$n.re.b64"
		printf 'url = "https://127.0.0.1:%s/.well-known/est/simplereenroll"\ncert = "%s.crt"\nkey = "%s.key"\ncacert = "ca/ca.crt"\n' "$MP" "$n" "$n"
		printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@%s.re.b64"\noutput = "%s.re.p7"\nnext\n' "$n" "$n"
		k=$((k + 1))
	done
done > storm.all
split -n l/4 storm.all storm.part.
for f in storm.part.*; do sed -i '$d' "$f"; done
c0=$(cpu_of "$MPID"); t0=$(date +%s.%N)
SP=()
for f in storm.part.*; do
	timeout 120 curl -s -K "$f" -w '%{http_code}\n' > "$f.codes" &
	SP+=($!)
done
wait "${SP[@]}" || true
t1=$(date +%s.%N); c1=$(cpu_of "$MPID")
ok=$(cat storm.part.*.codes | grep -c '^200$' || true)
echo "re-enrollment storm: $ok/$k renewed in $(python3 -c "print('%.1f' % ($t1 - $t0))") s," \
	"$(python3 -c "print('%.0f' % ($ok / ($t1 - $t0)))")/s, CA $(python3 -c "print('%.2f' % ($c1 - $c0))") cpu s" \
	"($(python3 -c "print('%.0f' % ($ok / max($c1 - $c0, 1e-9)))") per cpu-s), 4 clients"
