#!/usr/bin/env bash
# inspect shows what decides whether a peer can use a file: a PKCS#12's MAC
# and encryption algorithms with their iteration counts (as openssl reports
# them), and a certificate's AIA (OCSP, CA issuers) and CRL DP URLs.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export PW=inspect-pass-1

"$MTLS" ca init --name "CN=Inspect CA" --crl-url http://crl.example/ca.crl \
	--ocsp-url http://ocsp.example:2560 >/dev/null
"$MTLS" issue web --profile server --san dns:web.example >/dev/null
"$MTLS" export web --to p12 --pass env:PW --out modern.p12 >/dev/null
"$MTLS" export web --to p12 --legacy --pass env:PW --out legacy.p12 >/dev/null
openssl pkcs12 -export -legacy -in web.crt -inkey web.key -passout env:PW \
	-certpbe PBE-SHA1-RC2-40 -iter 2048 -out rc2.p12 2>/dev/null

check_output "modern PKCS#12: the MAC and its iterations" "MAC: +HMAC SHA256, 10000 iterations" \
	"$MTLS" inspect modern.p12 --pass env:PW
check_output "... the key's PBES2 parameters" "Key: +PBES2 \(PBKDF2 hmacWithSHA256, 10000 iterations, AES-256-CBC\)" \
	"$MTLS" inspect modern.p12 --pass env:PW
check_output "legacy PKCS#12: SHA-1 MAC" "MAC: +HMAC SHA1, 10000 iterations" \
	"$MTLS" inspect legacy.p12 --pass env:PW
check_output "... 3DES for the key" "Key: +PBE-SHA1-3DES, 10000 iterations" \
	"$MTLS" inspect legacy.p12 --pass env:PW
check_output "openssl's RC2-40 certificates, 2048 iterations" "Certificates: +PBE-SHA1-RC2-40, 2048 iterations" \
	"$MTLS" inspect rc2.p12 --pass env:PW
check_output "openssl agrees on the MAC" "MAC: sha1, Iteration 2048" \
	openssl pkcs12 -in rc2.p12 -info -noout -legacy -passin env:PW
check_output "--json carries them" '"mac": "HMAC SHA256, 10000 iterations"' \
	"$MTLS" inspect modern.p12 --pass env:PW --json
check_output "a certificate's OCSP URL (AIA)" "OCSP: +http://ocsp.example:2560" "$MTLS" inspect web.crt
check_output "... and its CRL distribution point" "CRL: +http://crl.example/ca.crl" "$MTLS" inspect web.crt
check_output "... in --json as arrays" '"crl_urls": \[' "$MTLS" inspect web.crt --json
finish
