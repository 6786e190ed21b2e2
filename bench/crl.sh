#!/usr/bin/env bash
# bench/crl: time to produce a CRL with N revoked entries, mtls crl vs
# openssl ca -gencrl on the same revocations. Not a test.
#   bench/crl.sh [SIZES="100000 1000000"] [OPENSSL_MAX=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
MTLS=$PWD/build/src/mtls
SIZES=${1:-"100000 1000000"}
OMAX=${2:-100000}
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-crl-XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
# CPU seconds (user+sys) of each generator: wall time on this shared
# machine moves with whatever else runs; wall time is shown too.
printf '%-10s %16s %16s %8s\n' entries "mtls cpu/wall s" "openssl cpu/wall" "ratio"
cpu_wall() { awk '{printf "%.2f/%.2f", $2 + $3, $1}' "$1"; }
cpu_of() { awk '{print $2 + $3}' "$1"; }
for n in $SIZES; do
	rm -rf pki ossl && "$MTLS" ca init --dir pki >/dev/null
	# N revoked certificates straight into the inventory (issuing a million
	# real ones first would measure issuance, not CRL generation).
	python3 - pki/inventory.db "$n" <<'PY'
import sqlite3, sys, os, time
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2]); now = int(time.time())
reasons = ["keyCompromise", "superseded", "cessationOfOperation", "unspecified"]
rows = ((os.urandom(16).hex().upper().lstrip("0") or "1", f"n{i}", f"CN=n{i}", "", "client",
         now - 86400, now + 86400 * 300, "00", "revoked", now - i, reasons[i % 4], now, "")
        for i in range(n))
db.executemany("INSERT INTO certs(serial,name,subject,sans,profile,not_before,not_after,sha256,"
               "status,revoked_at,reason,issued_at,pem) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
	/usr/bin/time -f '%e %U %S' -o m.t "$MTLS" crl --ca-dir pki --out m.crl >/dev/null
	got=$(openssl crl -in m.crl -noout -text | grep -c 'Serial Number:' || true)
	[ "$got" = "$n" ] || { echo "mtls CRL has $got entries, expected $n"; exit 1; }
	o="-"; ratio="-"
	if [ "$n" -le "$OMAX" ]; then
		mkdir -p ossl/newcerts
		python3 - pki/inventory.db ossl/index.txt <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for serial, nb, na, at, reason, subj in db.execute(
            "SELECT serial,not_before,not_after,revoked_at,reason,subject FROM certs WHERE status='revoked'"):
        t = lambda x: time.strftime("%y%m%d%H%M%SZ", time.gmtime(x))
        s = serial if len(serial) % 2 == 0 else "0" + serial
        f.write(f"R\t{t(na)}\t{t(at)},{reason}\t{s}\tunknown\t/{subj.replace(', ', '/')}\n")
PY
		cat > ossl/ca.cnf <<CNF
[ ca ]
default_ca = d
[ d ]
database = $D/ossl/index.txt
crlnumber = $D/ossl/crlnumber
certificate = $D/pki/ca.crt
private_key = $D/pki/ca.key
default_md = sha256
default_crl_days = 7
unique_subject = no
CNF
		echo 01 > ossl/crlnumber
		/usr/bin/time -f '%e %U %S' -o o.t openssl ca -config ossl/ca.cnf -gencrl -out o.crl 2>/dev/null
		o=$(cpu_wall o.t)
		ratio=$(python3 -c "print(f'{$(cpu_of o.t) / max($(cpu_of m.t), 0.01):.1f}x')")
	fi
	printf '%-10s %16s %16s %8s\n' "$n" "$(cpu_wall m.t)" "$o" "$ratio"
done
