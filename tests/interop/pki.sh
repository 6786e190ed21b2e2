#!/usr/bin/env bash
# Foundation interop: every artifact mtls makes is accepted by peers nobody
# here wrote (openssl, GnuTLS certtool, NSS certutil, keytool, curl), and
# every policy check refuses what it must.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR="$T/pki"

check "ca init creates a CA" "$MTLS" ca init --name "CN=Interop Root,O=mtls tests"
check "CA key is 0600" test "$(stat -c %a pki/ca.key)" = 600
check_output "CA is CA:TRUE critical" "Basic Constraints: critical" openssl x509 -in pki/ca.crt -noout -text
check_output "CA keyUsage keyCertSign+cRLSign" "Certificate Sign, CRL Sign" openssl x509 -in pki/ca.crt -noout -text
check_output "CA has an SKI" "Subject Key Identifier" openssl x509 -in pki/ca.crt -noout -text
check_status "ca init refuses to overwrite" 1 "$MTLS" ca init
check_output "... and says how" "use --force" "$MTLS" ca init
check_status "unknown key type is a usage error" 2 "$MTLS" ca init --dir other --key-type rsa-1024
check_status "bad option is a usage error" 2 "$MTLS" ca init --bogus

for kt in ec-p384 rsa-2048 ed25519; do
	check "ca init --key-type $kt" "$MTLS" ca init --dir "ca-$kt" --key-type "$kt"
	check "issue under a $kt CA" "$MTLS" issue "n-$kt" --profile node --ca-dir "ca-$kt" --out "o-$kt"
	check "openssl verifies the $kt chain" openssl verify -CAfile "ca-$kt/ca.crt" -purpose sslclient "o-$kt/n-$kt.crt"
done

check "issue server" "$MTLS" issue publish --profile server --san dns:localhost,ip:127.0.0.1 --out id
check "issue client" "$MTLS" issue author --profile client --out id
check "issue node" "$MTLS" issue replicator --profile node --out id
check "leaf key is 0600" test "$(stat -c %a id/author.key)" = 600
check_output "server without --san gets dns:NAME" "DNS:replicator" openssl x509 -in id/replicator.crt -noout -ext subjectAltName
check "openssl verify -purpose sslserver (server)" openssl verify -CAfile pki/ca.crt -purpose sslserver id/publish.crt
check "openssl verify -purpose sslclient (client)" openssl verify -CAfile pki/ca.crt -purpose sslclient id/author.crt
check "openssl verify: node is a server" openssl verify -CAfile pki/ca.crt -purpose sslserver id/replicator.crt
check "openssl verify: node is a client" openssl verify -CAfile pki/ca.crt -purpose sslclient id/replicator.crt
check_fails "openssl verify: client is not a server" openssl verify -CAfile pki/ca.crt -purpose sslserver id/author.crt
check_output "leaf is CA:FALSE" "CA:FALSE" openssl x509 -in id/author.crt -noout -text
check_output "leaf has AKI" "Authority Key Identifier" openssl x509 -in id/author.crt -noout -text
serial_hex=$(openssl x509 -in id/author.crt -noout -serial | cut -d= -f2)
check "serial has at least 64 bits" test "${#serial_hex}" -ge 16
days=$(( ( $(date -d "$(openssl x509 -in id/author.crt -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ) / 86400 ))
check "default validity is at most 397 days" test "$days" -le 397
check "chain.pem is leaf + CA" test "$(grep -c 'BEGIN CERTIFICATE' id/publish.chain.pem)" = 2
check_status "issue refuses to overwrite" 1 "$MTLS" issue author --profile client --out id
check "issue --force replaces" "$MTLS" issue author --profile client --out id --force

# GnuTLS and NSS as independent verifiers.
cat id/publish.crt pki/ca.crt > gnutls-chain.pem
check_output "GnuTLS certtool verifies the chain" "Chain verification output: Verified" certtool --verify-chain --infile gnutls-chain.pem
mkdir nssdb
certutil -N -d sql:nssdb --empty-password >/dev/null 2>&1
certutil -A -d sql:nssdb -n ca -t "CT,C,C" -i pki/ca.crt
certutil -A -d sql:nssdb -n author -t ",," -i id/author.crt
certutil -A -d sql:nssdb -n publish -t ",," -i id/publish.crt
check_output "NSS certutil: client certificate valid for SSL client" "certificate is valid" certutil -V -d sql:nssdb -n author -u C
check_output "NSS certutil: server certificate valid for SSL server" "certificate is valid" certutil -V -d sql:nssdb -n publish -u V
check_fails "NSS certutil: client certificate is not an SSL server" certutil -V -d sql:nssdb -n author -u V

# PKCS#12, modern and legacy, read by OpenSSL and keytool.
export P12PW=changeit
check "issue --p12 (modern)" "$MTLS" issue modern --profile client --p12 --pass env:P12PW --out p12
check "issue --p12 --legacy" "$MTLS" issue legacy --profile client --p12 --legacy --pass env:P12PW --out p12
check_output "modern p12 uses AES-256 + PBKDF2" "PBES2, PBKDF2, AES-256-CBC" openssl pkcs12 -in p12/modern.p12 -info -noout -passin env:P12PW
check_output "modern p12 has a SHA-256 MAC" "MAC: sha256" openssl pkcs12 -in p12/modern.p12 -info -noout -passin env:P12PW
check_output "legacy p12 uses 3DES" "pbeWithSHA1And3-KeyTripleDES-CBC" openssl pkcs12 -in p12/legacy.p12 -info -noout -passin env:P12PW
check_output "legacy p12 has a SHA-1 MAC" "MAC: sha1" openssl pkcs12 -in p12/legacy.p12 -info -noout -passin env:P12PW
# One iteration policy for every PKCS#12 mtls writes: 10,000, legacy included.
for f in modern legacy; do
	openssl pkcs12 -in "p12/$f.p12" -info -noout -passin env:P12PW >"$T/p12info.out" 2>&1
	n=$(grep -c 'Iteration 10000' "$T/p12info.out")
	other=$(grep -o 'Iteration [0-9]*' "$T/p12info.out" | grep -vc 'Iteration 10000')
	[ "$n" -ge 2 ] && [ "$other" = 0 ] && pass "$f p12: the MAC and every bag use 10000 iterations" \
		|| { fail "$f p12: the MAC and every bag use 10000 iterations"; sed 's/^/    /' "$T/p12info.out"; }
done
check_output "keytool lists the modern p12" "PrivateKeyEntry" keytool -list -v -storetype PKCS12 -keystore p12/modern.p12 -storepass changeit
check_output "keytool lists the legacy p12" "Certificate chain length: 2" keytool -list -v -storetype PKCS12 -keystore p12/legacy.p12 -storepass changeit
check_fails "keytool refuses a wrong p12 password" keytool -list -storetype PKCS12 -keystore p12/modern.p12 -storepass wrongpass
check_output "mtls inspect reports a wrong p12 password" "wrong password for p12/modern.p12" "$MTLS" inspect p12/modern.p12 --pass pass:nope

# A real mutual-TLS handshake: openssl s_server requires a client certificate.
port=$(free_port)
bg openssl s_server -accept "127.0.0.1:$port" -cert id/publish.crt -key id/publish.key \
	-CAfile pki/ca.crt -Verify 1 -verify_return_error -www -quiet >s_server.log 2>&1
wait_port "$port"
check_output "openssl s_client completes mTLS with our client cert" "Verify return code: 0" \
	sh -c "echo | openssl s_client -connect 127.0.0.1:$port -servername localhost -cert id/author.crt -key id/author.key -CAfile pki/ca.crt -verify_return_error"
check "curl completes mTLS with our client cert" curl -sf --cacert pki/ca.crt --cert id/author.crt --key id/author.key "https://localhost:$port/"
check_fails "curl without a client certificate is refused" curl -sf --cacert pki/ca.crt "https://localhost:$port/"

# CSR exchange with a partner.
check "csr makes a key and a CSR" "$MTLS" csr partner --subject "CN=partner,O=Partner" --san dns:partner.example --out csr
check_output "openssl accepts our CSR" "verify OK" openssl req -in csr/partner.csr -noout -verify
check_output "sign prints the SHA-256 fingerprint" "SHA-256 Fingerprint=" "$MTLS" sign csr/partner.csr --profile client --san-allow dns:partner.example --out csr/partner.crt
fp_ours=$(grep -o 'SHA-256 Fingerprint=.*' "$T/last.out" | cut -d= -f2)
check "signed CSR verifies as client" openssl verify -CAfile pki/ca.crt -purpose sslclient csr/partner.crt
fp_openssl=$(openssl x509 -in csr/partner.crt -noout -fingerprint -sha256 | cut -d= -f2)
check "printed fingerprint matches openssl's" test "$fp_ours" = "$fp_openssl"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr/evil.key -subj "/CN=evil" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "subjectAltName=DNS:evil.example" -out csr/evil.csr 2>/dev/null
check_output "a CSR asking for CA:TRUE is refused" "CA:TRUE" "$MTLS" sign csr/evil.csr --profile server
check "... and nothing was written" test ! -e csr/evil.crt
openssl req -new -newkey rsa:1024 -nodes -keyout csr/weak.key -subj "/CN=weak" -out csr/weak.csr 2>/dev/null
check_output "an RSA-1024 CSR is refused" "at least 2048 bits" "$MTLS" sign csr/weak.csr --profile client
openssl req -in csr/partner.csr -outform der -out csr/partner.der
python3 - csr/partner.der csr/broken.der <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-3] ^= 0x55                      # inside the signature value
open(sys.argv[2], 'wb').write(d)
PY
check_output "a CSR with a broken signature is refused" "signature does not verify" "$MTLS" sign csr/broken.der --profile client
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr/x.key -subj "/CN=x" \
	-addext "subjectAltName=DNS:other.example" -out csr/x.csr 2>/dev/null
check_output "--san-allow refuses a SAN outside the pattern" "does not permit" "$MTLS" sign csr/x.csr --profile server --san-allow 'dns:*.partner.example'
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr/ext.key -subj "/CN=ext" \
	-addext "subjectAltName=DNS:ext.partner.example" -addext "extendedKeyUsage=codeSigning" \
	-addext "keyUsage=critical,keyCertSign" -out csr/ext.csr 2>/dev/null
check "requested extensions are never copied" "$MTLS" sign csr/ext.csr --profile server --san-allow "dns:*.partner.example" --out csr/ext.crt
check_fails "... no codeSigning EKU" sh -c "openssl x509 -in csr/ext.crt -noout -text | grep -q 'Code Signing'"
check_fails "... no keyCertSign" sh -c "openssl x509 -in csr/ext.crt -noout -text | grep -q 'Certificate Sign'"

# verify explains each failure.
check_output "verify: wrong purpose" "not a server certificate: its extended key usage" "$MTLS" verify id/author.crt --purpose server
check_output "verify: expired on DATE" "expired on 20" "$MTLS" verify id/author.crt --at 2035-01-01
check_output "verify: not yet valid" "not valid before" "$MTLS" verify id/author.crt --at 2020-01-01
check_output "verify: name mismatch" "name mismatch" "$MTLS" verify id/publish.crt --host wrong.example
"$MTLS" ca init --dir foreign >/dev/null
"$MTLS" issue stranger --profile client --ca-dir foreign --out foreign-id >/dev/null
check_output "verify: foreign certificate has an unknown issuer" "unknown issuer" "$MTLS" verify foreign-id/stranger.crt --ca pki/ca.crt
check_output "verify: self-signed" "self-signed" "$MTLS" verify pki/ca.crt --ca foreign/ca.crt
check "verify: good client" "$MTLS" verify id/author.crt --purpose client
check_output "verify: the CN alone never matches a host (RFC 6125)" "name mismatch" "$MTLS" verify id/author.crt --host author
check "issue an OCSP signer" "$MTLS" issue responder --profile ocsp --out id
check_output "OCSP signer has EKU OCSPSigning" "OCSP Signing" openssl x509 -in id/responder.crt -noout -text
check_output "OCSP signer has id-pkix-ocsp-nocheck" "OCSP No Check" openssl x509 -in id/responder.crt -noout -text
faketime -f '-800d' "$MTLS" issue old --profile client --out id --days 30 >/dev/null
check_output "verify: a really expired certificate" "expired on" "$MTLS" verify id/old.crt
check_fails "openssl agrees it is expired" openssl verify -CAfile pki/ca.crt id/old.crt

# Bad input: clear one-line errors, exit 1, nothing lost.
head -c 200 id/author.crt > trunc.crt
check_status "truncated certificate: exit 1" 1 "$MTLS" inspect trunc.crt
check_output "truncated certificate: says so" "truncated" "$MTLS" inspect trunc.crt
echo "hello world" > notacert.txt
check_output "a non-certificate file" "not a certificate, key, CSR" "$MTLS" inspect notacert.txt
check_output "verify of a non-certificate" "holds no certificate" "$MTLS" verify notacert.txt
check_output "missing file" "cannot open missing.crt" "$MTLS" inspect missing.crt
check "encrypted key" "$MTLS" issue enc --profile client --key-pass pass:s3cret --out id
check_output "key is PKCS#8 encrypted" "ENCRYPTED PRIVATE KEY" cat id/enc.key
check_output "wrong password for an encrypted key" "wrong password for id/enc.key" "$MTLS" inspect id/enc.key --pass pass:wrong
check_output "right password opens it" "Matches|EC P-256" "$MTLS" inspect id/enc.key --pass pass:s3cret
check "openssl opens our encrypted key" openssl pkey -in id/enc.key -passin pass:s3cret -noout
check_output "malformed SAN is a usage error" "bad SAN" "$MTLS" issue bad --profile server --san dns:bad_host!
check_status "... exit 2" 2 "$MTLS" issue bad --profile server --san dns:bad_host!
check_status "missing --profile: exit 2" 2 "$MTLS" issue x
check "ca init --pass encrypts the CA key" "$MTLS" ca init --dir encca --pass pass:capass
check_output "... as encrypted PKCS#8" "ENCRYPTED PRIVATE KEY" cat encca/ca.key
check_output "an encrypted CA key needs its password" "is encrypted: give --ca-pass" "$MTLS" issue y --profile client --ca-dir encca </dev/null
check_output "wrong CA password" "wrong password" "$MTLS" issue y --profile client --ca-dir encca --ca-pass pass:nope
check "right CA password" "$MTLS" issue y --profile client --ca-dir encca --ca-pass pass:capass --out encout

# Batch and inventory.
printf '# fleet\nh1 node dns:h1.example\nh2 client\nh3 server dns:h3.example,ip:10.0.0.3\n' > fleet.txt
check "issue --batch" "$MTLS" issue --batch fleet.txt --out fleet
check "batch wrote all files" test -e fleet/h3.chain.pem -a -e fleet/h1.key
printf 'ok1 client\nbad nosuchprofile\n' > badfleet.txt
check_output "batch with a bad line stops before issuing" "line 2" "$MTLS" issue --batch badfleet.txt --out badfleet
check "... nothing issued" test ! -e badfleet/ok1.crt
check_output "list shows the inventory" "h3 +server" "$MTLS" list
"$MTLS" list --json > inv.json
check "list --json is valid and complete" python3 -c "
import json,sys
rows=json.load(open('inv.json'))
names={r['name'] for r in rows}
assert {'publish','author','h1','h2','h3','partner'} <= names, names
assert len({r['serial'] for r in rows}) == len(rows)
import re; assert all(re.fullmatch('[0-9a-f]{64}', r['sha256']) for r in rows)
"
check_status "mtls --version" 0 "$MTLS" --version
check_status "unknown command exits 2" 2 "$MTLS" frobnicate
for c in ca issue csr sign list inspect verify; do
	check "mtls $c --help" "$MTLS" "$c" --help
done
finish
