#!/usr/bin/env bash
# OCSP interop: `openssl ocsp` (a client nobody here wrote) against
# `mtls ocsp serve`: good, revoked with reason, unknown, signature verified,
# with and without nonce, delegated signer, GET, and `mtls verify --ocsp`.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR="$T/pki"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"

# Marks a certificate revoked in the inventory (as `mtls revoke` does).
revoke() { # CERTFILE REASON
	local serial
	serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
	sqlite3 pki/inventory.db "UPDATE certs SET status='revoked', revoked_at=strftime('%s','now'), reason='$2' WHERE serial=upper('$serial')"
}

# openssl ocsp against our responder; extra arguments appended.
ask() { # CERTFILE [openssl ocsp options...]
	local cert=$1; shift
	openssl ocsp -issuer pki/ca.crt -cert "$cert" -url "$URL" -CAfile pki/ca.crt "$@"
}

check "ca init with an OCSP URL" "$MTLS" ca init --ocsp-url "$URL"
for n in alice bob carol; do
	check "issue $n" "$MTLS" issue $n --profile client
done
check "issue a delegated responder" "$MTLS" issue responder --profile ocsp
check_output "issued certificates carry the AIA OCSP URL" "OCSP - URI:$URL" openssl x509 -in alice.crt -noout -ext authorityInfoAccess
check "revoke bob (keyCompromise)" revoke bob.crt keyCompromise

# A certificate from another CA with the same name (issuer key hash
# differs), and one signed by our CA key but never recorded.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-out other.crt -subj "/CN=mtls Root CA" -days 2 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -out x.csr -subj "/CN=stranger" 2>/dev/null
check "foreign CA has our CA's name" test "$(openssl x509 -in other.crt -noout -subject)" = "$(openssl x509 -in pki/ca.crt -noout -subject)"
check "make a foreign certificate" openssl x509 -req -in x.csr -CA other.crt -CAkey other.key -set_serial 0x77 -days 1 -out foreign.crt
check "make an unrecorded certificate under our CA key" openssl x509 -req -in x.csr -CA pki/ca.crt -CAkey pki/ca.key -set_serial 0x123456789 -days 1 -out ghost.crt

bg "$MTLS" ocsp serve --listen "127.0.0.1:$PORT" --refresh 200
SERVER=$LAST_PID
check "responder listens" wait_port "$PORT"
check_output "bound to 127.0.0.1 only" "127.0.0.1:$PORT" ss -ltnH "sport = :$PORT"

for nonce in "" -no_nonce; do
	tag=${nonce:-with nonce}
	check_output "openssl: alice good ($tag)" "^alice.crt: good" ask alice.crt $nonce
	check_output "openssl: signature verifies ($tag)" "^Response verify OK" ask alice.crt $nonce
	check_output "openssl: bob revoked ($tag)" "^bob.crt: revoked" ask bob.crt $nonce
	check_output "openssl: revocation reason ($tag)" "Reason: keyCompromise" ask bob.crt $nonce
	check_output "openssl: revocation time ($tag)" "Revocation Time: " ask bob.crt $nonce
	check_output "openssl: unrecorded serial unknown ($tag)" "^ghost.crt: unknown" ask ghost.crt $nonce
	check_output "openssl: foreign issuer unknown ($tag)" "^foreign.crt: unknown" \
		openssl ocsp -issuer other.crt -cert foreign.crt -url "$URL" -CAfile pki/ca.crt -VAfile pki/ca.crt $nonce
done
check_output "nonce echoed" "OCSP Nonce" ask alice.crt -resp_text
ask alice.crt >"$T/n.out" 2>&1
check "no nonce warning" test "$(grep -c 'WARNING' "$T/n.out")" = 0
check_output "responder ID by key hash" "Responder Id: [0-9A-F]{40}" ask alice.crt -resp_text
check_output "thisUpdate and nextUpdate" "Next Update: " ask alice.crt -resp_text
# openssl ocsp trusts the -issuer certificate as a signer when the first
# check fails (3.0.x does), so judge a saved response with no -issuer:
# our CA certificate offered as the signer, trusted or not.
check "save a response" ask alice.crt -no_nonce -respout alice.ocsp
check_output "saved response verifies against our CA" "^Response verify OK" \
	openssl ocsp -respin alice.ocsp -verify_other pki/ca.crt -CAfile pki/ca.crt -no_nonce
check_output "signature fails against another CA of the same name" "Response Verify Failure" \
	openssl ocsp -respin alice.ocsp -verify_other pki/ca.crt -CAfile other.crt -no_nonce

# The cache follows the inventory: carol good, revoked, then revoked.
check_output "carol good (cached)" "^carol.crt: good" ask carol.crt -no_nonce
check_output "carol good again" "^carol.crt: good" ask carol.crt -no_nonce
check "revoke carol (superseded)" revoke carol.crt superseded
sleep 0.5
check_output "cached answer replaced after revocation" "Reason: superseded" ask carol.crt -no_nonce

# GET (RFC 6960 A.1): base64 of the DER request, URL-encoded.
check "openssl writes a request" openssl ocsp -issuer pki/ca.crt -cert alice.crt -no_nonce -reqout req.der
b64=$(python3 -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open("req.der","rb").read()).decode(), safe=""))')
check "GET /<base64>" curl -sf -D get.hdr -o get.der "$URL/$b64"
check_output "GET answers application/ocsp-response" "Content-Type: application/ocsp-response" cat get.hdr
check_output "GET response parses: good" "^alice.crt: good" \
	openssl ocsp -respin get.der -issuer pki/ca.crt -cert alice.crt -CAfile pki/ca.crt -no_nonce
check_output "GET response verifies" "^Response verify OK" \
	openssl ocsp -respin get.der -issuer pki/ca.crt -cert alice.crt -CAfile pki/ca.crt -no_nonce
b64=$(python3 -c 'import base64; print(base64.b64encode(open("req.der","rb").read()).decode())')
check "GET with raw (unencoded) base64" curl -sf -o get2.der "$URL/$b64"
check "... gives the same answer" cmp get.der get2.der

# Refusals and garbage.
head -c 300 /dev/urandom >junk.bin
check "garbage POST gets an answer" curl -sf -o junk.der -H 'Content-Type: application/ocsp-request' --data-binary @junk.bin "$URL/"
check_output "... malformedRequest" "malformedrequest" openssl ocsp -respin junk.der -resp_text -noverify
check "garbage GET gets an answer" curl -sf -o junk2.der "$URL/bm90IGFuIE9DU1AgcmVxdWVzdA=="
check_output "... malformedRequest" "malformedrequest" openssl ocsp -respin junk2.der -resp_text -noverify
check_output "wrong media type refused (415)" "^415$" curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data-binary @req.der "$URL/"
check_output "PUT refused (405/501)" "^(405|501)$" curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @req.der "$URL/"
check_output "/healthz" "^ok$" curl -sf "$URL/healthz"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
check_output "keep-alive: one connection for two requests" "Re-using existing connection|Reusing existing connection" \
	curl -sv -o /dev/null -o /dev/null "$URL/healthz" "$URL/healthz"
check_output "still serving after an empty connection" "^alice.crt: good" ask alice.crt

# Our own client and `mtls verify --ocsp` agree with openssl.
check_status "mtls ocsp check: good exits 0" 0 "$MTLS" ocsp check alice.crt --issuer pki/ca.crt --url "$URL"
check_output "mtls ocsp check: revoked names date and reason" "bob.crt: revoked on [0-9-]+ [0-9:]+ UTC \(keyCompromise\)" \
	"$MTLS" ocsp check bob.crt --issuer pki/ca.crt
check_status "mtls ocsp check: revoked exits 1" 1 "$MTLS" ocsp check bob.crt
check_status "mtls ocsp check: unknown exits 1" 1 "$MTLS" ocsp check ghost.crt --url "$URL"
check_output "mtls ocsp check: wrong issuer is refused" "not signed by the issuer|does not answer" \
	"$MTLS" ocsp check alice.crt --issuer other.crt --url "$URL"
check_output "mtls verify --ocsp: good (AIA URL)" "alice.crt: OK .*OCSP: good" "$MTLS" verify --ocsp alice.crt
check_output "mtls verify --ocsp: revoked" "certificate CN=bob \(serial [0-9A-F]+\) revoked on [0-9-]+ [0-9:]+ UTC \(keyCompromise\)" \
	"$MTLS" verify --ocsp bob.crt
check_status "mtls verify --ocsp: revoked exits 1" 1 "$MTLS" verify --ocsp bob.crt
check_status "mtls verify --ocsp URL form" 0 "$MTLS" verify --ocsp "$URL" alice.crt
# Without --ocsp no responder is asked: with no inventory to consult
# either (an empty CA directory), the revoked bob verifies by chain alone.
mkdir -p no-inventory
check_status "mtls verify without --ocsp ignores OCSP" 0 \
	env MTLS_CA_DIR="$T/no-inventory" "$MTLS" verify --ca pki/ca.crt bob.crt
check_output "... while the CA's inventory still knows bob is revoked" "revoked" "$MTLS" verify bob.crt
check_output "mtls verify --ocsp: a malformed responder URL is named" "OCSP responder: .*127.0.0.1:1/a b" \
	"$MTLS" verify --ocsp="http://127.0.0.1:1/a b" alice.crt
DEAD=$(free_port)
check_output "mtls verify --ocsp: unreachable responder fails" "OCSP responder http://127.0.0.1:$DEAD" \
	"$MTLS" verify --ocsp="http://127.0.0.1:$DEAD" alice.crt

# Clean exit on SIGTERM.
kill -TERM "$SERVER"
wait "$SERVER"; st=$?
check "SIGTERM: exit 0" test "$st" = 0

# Delegated signer, sent along with each response.
PORT2=$(free_port)
bg "$MTLS" ocsp serve --listen "$PORT2" --signer-cert responder.crt --signer-key responder.key --validity 5
check "delegated responder listens" wait_port "$PORT2"
check_output "delegated: good" "^alice.crt: good" \
	openssl ocsp -issuer pki/ca.crt -cert alice.crt -url "http://127.0.0.1:$PORT2" -CAfile pki/ca.crt
check_output "delegated: signature verifies" "^Response verify OK" \
	openssl ocsp -issuer pki/ca.crt -cert bob.crt -url "http://127.0.0.1:$PORT2" -CAfile pki/ca.crt
check_output "delegated: signer certificate included" "Subject: CN ?= ?responder" \
	openssl ocsp -issuer pki/ca.crt -cert alice.crt -url "http://127.0.0.1:$PORT2" -CAfile pki/ca.crt -resp_text
check_output "--validity sets nextUpdate" "next update in 300 s|Next Update" \
	openssl ocsp -issuer pki/ca.crt -cert alice.crt -url "http://127.0.0.1:$PORT2" -CAfile pki/ca.crt -resp_text
check_output "mtls verify --ocsp via the delegated signer" "revoked on .*\(keyCompromise\)" \
	"$MTLS" verify --ocsp="http://127.0.0.1:$PORT2" bob.crt
check_output "a non-OCSP certificate cannot sign" "OCSPSigning" \
	"$MTLS" ocsp serve --listen "$(free_port)" --signer-cert alice.crt --signer-key alice.key
check_status "... exit 1" 1 "$MTLS" ocsp serve --listen "$(free_port)" --signer-cert alice.crt --signer-key alice.key
check_output "a signer from another CA is refused" "not issued by this CA" \
	"$MTLS" ocsp serve --listen "$(free_port)" --signer-cert other.crt --signer-key other.key
check_status "--signer-cert alone is a usage error" 2 "$MTLS" ocsp serve --signer-cert responder.crt
check_status "bad --listen is a usage error" 2 "$MTLS" ocsp serve --listen nowhere:port
check_output "port in use is explained" "cannot listen on 127.0.0.1:$PORT2" "$MTLS" ocsp serve --listen "$PORT2"
check_output "ocsp --help lists the options" "--signer-cert" "$MTLS" ocsp --help
finish
