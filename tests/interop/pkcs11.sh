#!/usr/bin/env bash
# CA keys in a PKCS#11 token (SoftHSM2 through OpenSSL's pkcs11 engine):
# a root whose key never touches the disk signs certificates, CRLs and
# OCSP answers; an intermediate whose key is in the same token is signed
# by a file-based root; PINs come through password specs only. A rollover
# from one token key to another under a running `mtls ca serve`.
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

# A rollover of the token root to a second token key, under a running
# `mtls ca serve` that follows it without a restart; both keys sign
# through the token: the old one its CRL, OCSP answers and final CRL.
check "a second key in the token for the new root" pkcs11-tool --module $MODULE \
	--token-label mtls-ca --login --pin $PIN --keypairgen --key-type EC:prime256v1 \
	--label new-root-key --id 03
NEW_URI="pkcs11:token=mtls-ca;object=new-root-key;type=private"
PE=$(free_port)
bg "$MTLS" ca serve --ca-dir root --ca-pass env:PIN --listen 127.0.0.1:$PE 2>ca-serve.log
CASERVE=$LAST_PID
wait_port "$PE" 20 || fail "ca serve started on the token CA"
cp root/ca.crt old-root.pem
check "rollover begin onto the second token key" \
	"$MTLS" ca rollover begin --ca-dir root --ca-pass env:PIN --key "$NEW_URI" --pass env:PIN
check "no key file was written for either" sh -c "test ! -e root/ca.key && test ! -e root/rollover/old.key"
kill -HUP "$CASERVE"
check "ca serve reloads the token CA on SIGHUP (the PIN read again)" \
	wait_log ca-serve.log "SIGHUP: reloaded the CA: issuer .*G2" 10
check "a certificate of the new issuer" \
	"$MTLS" issue --ca-dir root --ca-pass env:PIN web2 --profile server --san dns:web2.test
openssl ocsp -issuer old-root.pem -cert gone.crt -issuer root/ca.crt -cert web2.crt \
	-reqout mixed.req -no_nonce 2>/dev/null
for i in $(seq 1 50); do
	curl -s --cacert root/trust.pem -H 'Content-Type: application/ocsp-request' \
		--data-binary @mixed.req "https://127.0.0.1:$PE/ocsp" -o mixed.resp
	openssl ocsp -respin mixed.resp -issuer old-root.pem -cert gone.crt \
		-issuer root/ca.crt -cert web2.crt -VAfile root/ca.crt >mixed.out 2>&1
	grep -q "web2.crt: good" mixed.out && break
	sleep 0.1
done
check "one OCSP request for both issuers: the old one's revoked" grep -q "gone.crt: revoked" mixed.out
check "... the new one's good" grep -q "web2.crt: good" mixed.out
check "... signed by the new token key" grep -q "Response verify OK" mixed.out
CAFROM=$(($(wc -l <ca-serve.log) + 1))
check "rollover finish signs the final CRL with the old token key" \
	"$MTLS" ca rollover finish --ca-dir root --ca-pass env:PIN --force
check_output "... which openssl verifies under the old root" "verify OK" \
	sh -c "openssl crl -in root/retired/*/final.crl -noout -CAfile old-root.pem 2>&1"
check_output "... listing the revoked certificate" "certificate revoked" \
	sh -c "openssl verify -crl_check -CAfile old-root.pem -CRLfile root/retired/*/final.crl gone.crt 2>&1"
follows() {
	local i
	for ((i = 0; i < 200; i++)); do
		tail -n "+$CAFROM" ca-serve.log | grep -q "files changed: reloaded the CA: issuer .*G2" && return 0
		sleep 0.05
	done
	return 1
}
check "ca serve follows finish by itself" follows
kill "$CASERVE"

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
