#!/usr/bin/env bash
# bench/issue: certificates per second, mtls issue --batch vs an openssl CLI
# loop, same CA, fresh P-256 keys, every file written. Not a test.
#   bench/issue.sh [N_MTLS=2000] [N_OPENSSL=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
MTLS=$PWD/build/src/mtls
N=${1:-2000}; NO=${2:-200}; ROUNDS=${3:-3}
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
"$MTLS" ca init --dir pki >/dev/null
for i in $(seq "$N"); do echo "c$i client"; done > batch.txt
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ext.cnf

cpu() { # prints user+sys seconds of the command
	/usr/bin/time -f '%U %S' -o t.out "$@" >/dev/null 2>&1
	awk '{print $1 + $2}' t.out
}
wall() { /usr/bin/time -f '%e' -o w.out "$@" >/dev/null 2>&1; cat w.out; }

openssl_loop() {
	mkdir -p os
	for i in $(seq "$NO"); do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "os/c$i.key" -subj "/CN=c$i" -out "os/c$i.csr" 2>/dev/null
		openssl x509 -req -in "os/c$i.csr" -CA pki/ca.crt -CAkey pki/ca.key \
			-CAcreateserial -days 397 -sha256 -extfile ext.cnf -out "os/c$i.crt" 2>/dev/null
	done
}

m_rates=(); o_rates=()
for r in $(seq "$ROUNDS"); do
	rm -rf out os
	c=$(cpu "$MTLS" issue --batch batch.txt --ca-dir pki --out "out")
	m_rates+=("$(python3 -c "print($N/$c)")")
	c=$(cpu bash -c "$(declare -f openssl_loop); NO=$NO openssl_loop")
	o_rates+=("$(python3 -c "print($NO/$c)")")
	rm -rf pki/inventory.db* && "$MTLS" ca init --dir pki --force >/dev/null
done
rm -rf out
w=$(wall "$MTLS" issue --batch batch.txt --ca-dir pki --out out)
files=$(find out -type f | wc -l)
sign=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/nistp256/ {print $(NF-1)}' | tail -1)
python3 - "$N" "$NO" "$w" "$files" "$sign" "${m_rates[*]}" "${o_rates[*]}" <<'PY'
import statistics, sys
n, no, wall, files, sign = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
m = statistics.median(map(float, sys.argv[6].split()))
o = statistics.median(map(float, sys.argv[7].split()))
# One key generation plus one signature per certificate; a P-256 key
# generation costs about one ECDSA signature (one base-point multiply).
ceiling = sign / 2
print(f"mtls issue --batch : {m:8.0f} certificates per CPU-second (median; {n} per round, {files} files written)")
print(f"                     {n / wall:8.0f} per wall-second (2 cores, last round)")
print(f"openssl CLI loop   : {o:8.1f} certificates per CPU-second (median; {no} per round)")
print(f"ratio mtls/openssl : {m / o:8.1f}x")
print(f"crypto ceiling     : {ceiling:8.0f} per core (openssl speed ecdsap256: {sign:.0f} signs/s, /2)")
print(f"fraction of ceiling: {100 * m / ceiling:7.1f}%")
PY
