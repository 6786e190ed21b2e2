#!/usr/bin/env bash
# CA keys in a PKCS#11 token (SoftHSM2 through OpenSSL's pkcs11 engine):
# a root whose key never touches the disk signs certificates, CRLs and
# OCSP answers; an intermediate whose key is in the same token is signed
# by a file-based root; PINs come through password specs only.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

if ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
	skip "softhsm2 / opensc not installed"; finish
fi
MODULE=/usr/lib/softhsm/libsofthsm2.so
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >softhsm2.conf
export SOFTHSM2_CONF=$T/softhsm2.conf
export MTLS_PKCS11_MODULE=$MODULE
export PIN=4711
softhsm2-util --init-token --free --label mtls-ca --pin $PIN --so-pin 98765 >/dev/null
check "EC P-256 key made in the token" pkcs11-tool --module $MODULE --token-label mtls-ca \
	--login --pin $PIN --keypairgen --key-type EC:prime256v1 --label root-key --id 01
check "RSA 3072 key made in the token" pkcs11-tool --module $MODULE --token-label mtls-ca \
	--login --pin $PIN --keypairgen --key-type rsa:3072 --label online-key --id 02
ROOT_URI="pkcs11:token=mtls-ca;object=root-key;type=private"
ONLINE_URI="pkcs11:token=mtls-ca;object=online-key;type=private"

check_status "a PIN inside the URI is refused" 2 \
	"$MTLS" ca init --dir bad --key "$ROOT_URI;pin-value=$PIN"
check_status "a path instead of a URI is a usage error" 2 \
	"$MTLS" ca init --dir bad --key /etc/passwd --pass env:PIN
check "a root CA on the token's key" \
	"$MTLS" ca init --dir root --key "$ROOT_URI" --pass env:PIN --name "CN=Token Root,O=Example" \
	--ocsp-url http://127.0.0.1:1/ocsp
check "no key file was written" test ! -e root/ca.key
check_output "ca.json names the token key, not a PIN" "object=root-key" cat root/ca.json
check_fails "...and no PIN" grep -q "$PIN" root/ca.json
check "the root is self-signed by the token key" \
	openssl verify -x509_strict -CAfile root/ca.crt root/ca.crt
check_status "a wrong PIN fails cleanly" 1 \
	"$MTLS" issue --ca-dir root --ca-pass pass:0000 nope --profile server
check "nothing was issued with the wrong PIN" test ! -e nope.key
check "a server certificate signed in the token" \
	"$MTLS" issue --ca-dir root --ca-pass env:PIN web --profile server --san dns:web.test,ip:127.0.0.1
check "openssl verifies it" openssl verify -x509_strict -CAfile root/ca.crt -purpose sslserver web.crt
check "mtls revoke + crl signed in the token" sh -c \
	"'$MTLS' issue --ca-dir root --ca-pass env:PIN gone --profile client >/dev/null &&
	 '$MTLS' revoke --ca-dir root gone >/dev/null &&
	 '$MTLS' crl --ca-dir root --ca-pass env:PIN --out root.crl >/dev/null"
check_output "openssl verifies the CRL's signature" "verify OK" \
	openssl crl -in root.crl -CAfile root/ca.crt -noout
check_output "and finds the revoked certificate" "certificate revoked" \
	openssl verify -crl_check -CAfile root/ca.crt -CRLfile root.crl gone.crt

PORT=$(free_port)
bg "$MTLS" ocsp serve --listen 127.0.0.1:$PORT --ca-dir root --ca-pass env:PIN
if wait_port $PORT 10; then
	check_output "OCSP answers signed in the token verify" "Response verify OK" \
		openssl ocsp -issuer root/ca.crt -cert web.crt -url http://127.0.0.1:$PORT/ -CAfile root/ca.crt
	check_output "and say revoked for the revoked one" "gone.crt: revoked" \
		openssl ocsp -issuer root/ca.crt -cert gone.crt -url http://127.0.0.1:$PORT/ -CAfile root/ca.crt
else
	fail "ocsp serve did not start"
fi

# An intermediate on an RSA key in the token, under a file-based root.
"$MTLS" ca init --dir offline --name "CN=Offline Root" >/dev/null
check "an intermediate request with the token's key" \
	"$MTLS" ca init --intermediate --dir online --key "$ONLINE_URI" --pass env:PIN \
	--name "CN=Token Online CA"
check "no key file for it either" test ! -e online/ca.key
check "the CSR is signed by the token key" openssl req -in online/ca.csr -verify -noout
check "the root signs it" "$MTLS" ca sign-intermediate --ca-dir offline online/ca.csr \
	--name online --permit dns:.example.com --out online.chain.pem
check "installed" "$MTLS" ca install --dir online online.chain.pem
check_output "the installed CA still names its token key" "object=online-key" cat online/ca.json
check "the intermediate issues with the token key" \
	"$MTLS" issue --ca-dir online --ca-pass env:PIN app --profile server --san dns:app.example.com
check "openssl verifies leaf -> token intermediate -> root" \
	openssl verify -x509_strict -CAfile online/root.crt -untrusted online/ca.crt app.crt
check_output "signed with RSA by the token" "sha256WithRSAEncryption" \
	openssl x509 -in app.crt -noout -text

finish
