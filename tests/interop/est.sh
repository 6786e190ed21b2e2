#!/usr/bin/env bash
# EST (RFC 7030) against `mtls ca serve`, driven by curl exactly as the RFC
# shows (base64 PKCS#10, Content-Type application/pkcs10; answers decoded
# with openssl pkcs7 -print_certs), re-enrollment with curl's client
# certificate, the bad inputs of the enrollment issue, CRL/OCSP, and
# `mtls enroll` + `mtls renew-agent` end to end.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$T" || exit 1

$MTLS ca init --dir ca --name "CN=EST Test CA" >/dev/null || exit 1
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
EST=$URL/.well-known/est
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 1h \
	--fail-limit 100 --idle-timeout 2 2>serve.log
SERVE=$LAST_PID
wait_port "$PORT" || { cat serve.log; exit 1; }
FP=$($MTLS ca show --ca-dir ca | awk '/SHA-256/{print $2}')

# curl with the CA as trust anchor; prints the status, body into $1.
cx() { local out=$1; shift; curl -s --cacert ca/ca.crt -o "$out" -D "$out.h" -w '%{http_code}' "$@"; }
# A fresh EC key NAME.key and base64 DER CSR NAME.b64 for SUBJ [SANs].
csr() {
	local n=$1 subj=$2 san=${3:-}
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$n.key" 2>/dev/null
	if [ -n "$san" ]; then
		openssl req -new -key "$n.key" -subj "$subj" -addext "subjectAltName=$san" -outform DER -out "$n.der" 2>/dev/null
	else
		openssl req -new -key "$n.key" -subj "$subj" -outform DER -out "$n.der" 2>/dev/null
	fi
	base64 "$n.der" > "$n.b64"
}
enroll() { # NAME SECRET CSRFILE OUT
	cx "$4" -u "$1:$2" -H 'Content-Type: application/pkcs10' --data-binary "@$3" "$EST/simpleenroll"
}
p7cert() { base64 -d "$1" | openssl pkcs7 -inform DER -print_certs > "$2"; }
status_is() { [ "$1" = "$2" ]; }
body_has() { grep -qiE -- "$2" "$1"; }
valid_rows() { $MTLS list "$1" --ca-dir ca --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["status"]=="valid"))'; }

# ---- cacerts, csrattrs (RFC 7030 4.1, 4.5)
s=$(cx cacerts.b64 "$EST/cacerts")
check "cacerts answers 200" status_is "$s" 200
check "cacerts is application/pkcs7-mime, base64" grep -qi '^Content-Type: application/pkcs7-mime' cacerts.b64.h
check "cacerts says Content-Transfer-Encoding: base64" grep -qi '^Content-Transfer-Encoding: base64' cacerts.b64.h
base64 -d cacerts.b64 | openssl pkcs7 -inform DER -print_certs > cacerts.pem 2>/dev/null
check "cacerts holds the CA certificate (openssl pkcs7 -print_certs)" \
	cmp <(openssl x509 -in cacerts.pem -outform DER) <(openssl x509 -in ca/ca.crt -outform DER)
s=$(cx attrs.b64 "$EST/csrattrs")
check "csrattrs is application/csrattrs" sh -c "[ $s = 200 ] && grep -qi '^Content-Type: application/csrattrs' attrs.b64.h && base64 -d attrs.b64 | openssl asn1parse -inform DER | grep -q ecdsa-with-SHA256"

# ---- simpleenroll with a token (HTTP Basic, RFC 7030 3.2.3)
TOK=$($MTLS token create n1 --ca-dir ca --san dns:n1.test,ip:127.0.0.1 --ttl 10m 2>/dev/null)
csr n1 /CN=n1
s=$(enroll n1 "$TOK" n1.b64 n1.p7)
check "simpleenroll with a token answers 200" status_is "$s" 200
check "simpleenroll answers application/pkcs7-mime; smime-type=certs-only" \
	grep -qi '^Content-Type: application/pkcs7-mime; smime-type=certs-only' n1.p7.h
p7cert n1.p7 n1.crt
check "the certificate verifies against the CA (openssl verify)" openssl verify -CAfile ca/ca.crt n1.crt
check_output "it carries the token's SANs and the node profile" "DNS:n1.test, IP Address:127.0.0.1" \
	openssl x509 -in n1.crt -noout -ext subjectAltName
check "it lives an hour (--cert-lifetime 1h): valid in 58 minutes" openssl x509 -in n1.crt -noout -checkend 3480
check_fails "but not in 2 hours" openssl x509 -in n1.crt -noout -checkend 7200
S1=$(openssl x509 -in n1.crt -noout -serial | cut -d= -f2)

# The same token again: the same key is a retry (same certificate), another
# key is refused and the first certificate stays intact.
s=$(enroll n1 "$TOK" n1.b64 n1again.p7)
p7cert n1again.p7 n1again.crt
check "a retry with the same key gets the same certificate" \
	sh -c "[ $s = 200 ] && [ \"\$(openssl x509 -in n1again.crt -noout -serial)\" = 'serial=$S1' ]"
csr n1other /CN=n1
s=$(enroll n1 "$TOK" n1other.b64 twice.txt)
check "a token used twice is refused (403)" status_is "$s" 403
check "and the refusal says it was used" body_has twice.txt "already used"
check "the first certificate is intact (one valid n1)" test "$(valid_rows n1)" = 1

# ---- authentication failures
s=$(cx noauth.txt -H 'Content-Type: application/pkcs10' --data-binary @n1.b64 "$EST/simpleenroll")
check "no credentials: 401" status_is "$s" 401
check "with WWW-Authenticate: Basic" grep -qi '^WWW-Authenticate: Basic' noauth.txt.h
TOK2=$($MTLS token create n2 --ca-dir ca --ttl 10m 2>/dev/null)
csr n2 /CN=n2
s=$(enroll n2 "wrong$TOK2" n2.b64 wrong.txt)
check "a wrong secret: 401" status_is "$s" 401
s=$(enroll n3 "$TOK2" n2.b64 other.txt)
check "a token for another name (n2's secret as n3): 401" status_is "$s" 401
csr n3 /CN=n3
s=$(enroll n2 "$TOK2" n3.b64 othercn.txt)
check "a CSR for another name than the token's: 403" sh -c "[ $s = 403 ] && grep -q 'not CN=n2' othercn.txt"
TOKX=$($MTLS token create nx --ca-dir ca --ttl 1s 2>/dev/null)
csr nx /CN=nx
sleep 2
s=$(enroll nx "$TOKX" nx.b64 expired.txt)
check "an expired token: 403 saying expired" sh -c "[ $s = 403 ] && grep -q expired expired.txt"
TOKR=$($MTLS token create nr --ca-dir ca --ttl 10m 2>/dev/null)
$MTLS token revoke nr --ca-dir ca >/dev/null
csr nr /CN=nr
s=$(enroll nr "$TOKR" nr.b64 revoked.txt)
check "a revoked token: 403 saying revoked" sh -c "[ $s = 403 ] && grep -q revoked revoked.txt"

# ---- malformed requests
printf 'this is not base64 !!!' > garbage.b64
s=$(enroll n2 "$TOK2" garbage.b64 garbage.txt)
check "garbage base64: 400" sh -c "[ $s = 400 ] && grep -q 'not base64' garbage.txt"
head -c 300 /dev/urandom | base64 > random.b64
s=$(enroll n2 "$TOK2" random.b64 random.txt)
check "base64 of something else: 400, not a PKCS#10" sh -c "[ $s = 400 ] && grep -q 'PKCS#10' random.txt"
python3 - n2.der badsig.der <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-5] ^= 0x55  # inside the signature value
open(sys.argv[2], 'wb').write(d)
EOF
base64 badsig.der > badsig.b64
s=$(enroll n2 "$TOK2" badsig.b64 badsig.txt)
check "a CSR with a broken signature: 400" sh -c "[ $s = 400 ] && grep -q 'signature does not verify' badsig.txt"
csr n2evil /CN=n2 "DNS:evil.example"
s=$(enroll n2 "$TOK2" n2evil.b64 sans.txt)
check "a CSR asking for other SANs: 403 naming the SAN" sh -c "[ $s = 403 ] && grep -q 'evil.example' sans.txt"
s=$(cx ctype.txt -u "n2:$TOK2" -H 'Content-Type: text/plain' --data-binary @n2.b64 "$EST/simpleenroll")
check "a wrong Content-Type: 415" status_is "$s" 415
head -c 40000 /dev/zero | base64 > big.b64
s=$(enroll n2 "$TOK2" big.b64 big.txt)
check "an oversized request: 413" status_is "$s" 413
check "none of those spent n2's token" sh -c "$MTLS token list --ca-dir ca | grep -q 'n2 .*usable'"
check "no certificate was recorded for n2, nx, nr" sh -c "[ \$($MTLS list --ca-dir ca --json | grep -cE '\"name\": \"(n2|nx|nr)\"') = 0 ]"
s=$(enroll n2 "$TOK2" n2.b64 n2.p7)
check "n2's token still works after the refusals" status_is "$s" 200

# A slow request is cut off after --idle-timeout (2 s).
check "a stalled request is dropped after the idle timeout" python3 - "$PORT" <<'EOF'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile="ca/ca.crt")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
s.send(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc")
s.settimeout(6)
t = time.time()
try:
    d = s.recv(100)
except Exception:
    d = b""
sys.exit(0 if time.time() - t < 5 else 1)
EOF

# ---- simplereenroll with curl's client certificate (RFC 7030 4.2.2)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out n1new.key 2>/dev/null
openssl req -new -key n1new.key -subj /CN=n1 -outform DER 2>/dev/null | base64 > n1new.b64
s=$(cx n1r.p7 --cert n1.crt --key n1.key -H 'Content-Type: application/pkcs10' --data-binary @n1new.b64 "$EST/simplereenroll")
check "simplereenroll with the current certificate: 200" status_is "$s" 200
p7cert n1r.p7 n1r.crt
S2=$(openssl x509 -in n1r.crt -noout -serial | cut -d= -f2)
check "a new serial, same subject and SANs" sh -c "[ '$S2' != '$S1' ] && [ \"\$(openssl x509 -in n1r.crt -noout -subject -ext subjectAltName)\" = \"\$(openssl x509 -in n1.crt -noout -subject -ext subjectAltName)\" ]"
check "the old certificate is recorded as superseded by the new one" \
	sh -c "$MTLS list n1 --all --ca-dir ca --json | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x[\"serial\"]==\"$S1\"][0]; sys.exit(r.get(\"superseded_by\")!=\"$S2\")'"
s=$(cx super.txt --cert n1.crt --key n1.key -H 'Content-Type: application/pkcs10' --data-binary @n1other.b64 "$EST/simplereenroll")
check "re-enrolling again with the superseded certificate: 403" sh -c "[ $s = 403 ] && grep -q 'already renewed' super.txt"
openssl req -new -key n1new.key -subj /CN=n1 -addext subjectAltName=DNS:other.test -outform DER 2>/dev/null | base64 > n1san.b64
s=$(cx resan.txt --cert n1r.crt --key n1new.key -H 'Content-Type: application/pkcs10' --data-binary @n1san.b64 "$EST/simplereenroll")
check "re-enrollment asking for other SANs: 403" sh -c "[ $s = 403 ] && grep -q 'keeps the subject and SANs' resan.txt"
s=$(cx nocert.txt -H 'Content-Type: application/pkcs10' --data-binary @n1new.b64 "$EST/simplereenroll")
check "re-enrollment without a client certificate: 403" status_is "$s" 403
faketime -f '-3d' $MTLS issue old --profile node --days 1 --ca-dir ca --out . >/dev/null 2>&1
openssl req -new -key old.key -subj /CN=old -outform DER 2>/dev/null | base64 > old.b64
s=$(cx expiredcert.txt --cert old.crt --key old.key -H 'Content-Type: application/pkcs10' --data-binary @old.b64 "$EST/simplereenroll")
check "re-enrollment with an expired certificate: 403 saying expired" sh -c "[ $s = 403 ] && grep -q 'expired' expiredcert.txt"
E1=$(curl -s --cacert ca/ca.crt -D - -o /dev/null "$URL/crl.der" | tr -d '\r' | awk 'tolower($1)=="etag:"{print $2}')
$MTLS revoke "$S2" --ca-dir ca >/dev/null
s=$(cx revcert.txt --cert n1r.crt --key n1new.key -H 'Content-Type: application/pkcs10' --data-binary @n1new.b64 "$EST/simplereenroll")
check "re-enrollment with a revoked certificate: 403 saying revoked" sh -c "[ $s = 403 ] && grep -q revoked revcert.txt"

# ---- CRL and OCSP
sleep 1.5
s=$(cx crl.pem "$URL/crl.pem")
check "the CRL lists the revocation within the refresh interval" \
	sh -c "[ $s = 200 ] && openssl crl -in crl.pem -noout -text | grep -q 'Serial Number: $S2'"
check "the CRL is signed by the CA" openssl crl -in crl.pem -CAfile ca/ca.crt -noout
E2=$(awk 'tolower($1)=="etag:"{print $2}' crl.pem.h | tr -d '\r')
check "its ETag changed with the revocation" test -n "$E2" -a "$E1" != "$E2"
check "Last-Modified is sent" grep -qi '^Last-Modified: ' crl.pem.h
s=$(cx crl304 -H "If-None-Match: $E2" "$URL/crl.der")
check "If-None-Match with the current ETag: 304" status_is "$s" 304
s=$(cx crl.der "$URL/crl.der")
check "the DER CRL is application/pkix-crl" sh -c "[ $s = 200 ] && grep -qi 'application/pkix-crl' crl.der.h && openssl crl -inform DER -in crl.der -noout"
openssl ocsp -issuer ca/ca.crt -cert n1r.crt -reqout ocsp.req -no_nonce >/dev/null 2>&1
s=$(cx ocsp.resp -H 'Content-Type: application/ocsp-request' --data-binary @ocsp.req "$URL/ocsp")
check_output "OCSP says revoked" "n1r.crt: revoked" openssl ocsp -respin ocsp.resp -issuer ca/ca.crt -cert n1r.crt -CAfile ca/ca.crt
check_output "/healthz" "^ok" curl -s --cacert ca/ca.crt "$URL/healthz"
check_output "/metrics counts issued certificates" "^mtls_ca_certificates_issued_total [1-9]" curl -s --cacert ca/ca.crt "$URL/metrics"
# Every row of the server's metrics table is on the page, the last one too
# (a fixed-size buffer once cut the page short without a word).
curl -s --cacert ca/ca.crt "$URL/metrics" > metrics.txt
check "/metrics has a sample line for every row of the server's table" python3 "$HERE/metrics_rows.py" "$HERE/../../lib/online/ca_serve_http.c" route_metrics metrics.txt

# ---- the audit trail
check_output "audit --json holds issuances and refusals with reasons" "already used" $MTLS audit --ca-dir ca --json
check "every refusal above is an audit event" sh -c "[ \$($MTLS audit --ca-dir ca --json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e[\"outcome\"]==\"refused\"))') -ge 14 ]"

# ---- token create --batch: many tokens, one transaction, all or none
printf 'b1\nb2 --san dns:b2.test,ip:127.0.0.2 # a comment\n\nb3 --profile client --ttl 1h\n' > batch.txt
check "token create --batch makes a token per line" sh -c "$MTLS token create --batch batch.txt --ca-dir ca --ttl 10m > batch.tok && [ \$(wc -l < batch.tok) = 3 ]"
check "and prints NAME SECRET lines in the file's order" sh -c "awk '{print \$1}' batch.tok | tr '\\n' ' ' | grep -qx 'b1 b2 b3 '"
check "the line's --san binds the token" sh -c "$MTLS token list --ca-dir ca | grep -q 'b2 .*dns:b2.test,ip:127.0.0.2'"
check "the line's --profile binds the token" sh -c "$MTLS token list --ca-dir ca | grep -q 'b3 *client'"
csr b2 /CN=b2 "DNS:b2.test,IP:127.0.0.2"
s=$(enroll b2 "$(awk '$1=="b2"{print $2}' batch.tok)" b2.b64 b2.p7)
check "a batch token enrolls (simpleenroll 200)" status_is "$s" 200
printf 'c1\nc2 --ttl 1x\n' > badbatch.txt
check_status "a bad line is a usage error (exit 2)" 2 $MTLS token create --batch badbatch.txt --ca-dir ca
printf 'c1\nc2..bad\n' > badbatch2.txt
check_status "a name refused on line 2 fails the batch (exit 2)" 2 $MTLS token create --batch badbatch2.txt --ca-dir ca
check_fails "and no token of that batch was made (c1 absent)" sh -c "$MTLS token list --all --ca-dir ca | grep -q ' c1 '"
check_status "--batch with a NAME is a usage error" 2 $MTLS token create --batch batch.txt extra --ca-dir ca

# ---- mtls enroll and the renewal agent
export STOREPASS=changeit
TOK4=$($MTLS token create n4 --ca-dir ca --ttl 10m 2>/dev/null)
check_fails "enroll refuses a CA with another fingerprint" \
	$MTLS enroll "$URL" --token "$TOK4" --ca-fingerprint "$(echo "$FP" | tr 0-9A-F 1-9A-F0)" --dir n4 n4
check "and the token was not spent" sh -c "$MTLS token list --ca-dir ca | grep -q 'n4 .*usable'"
check "mtls enroll with jks and p12" $MTLS enroll "$URL" --token "$TOK4" --ca-fingerprint "$FP" --dir n4 n4 \
	--format jks --format p12 --store-pass env:STOREPASS --exec 'echo "$MTLS_NAME" >> hook.log'
check "the key is 0600" test "$(stat -c %a n4/n4.key)" = 600
check "the JKS keystore opens in keytool" sh -c "keytool -list -keystore n4/n4.jks -storepass changeit 2>/dev/null | grep -q PrivateKeyEntry"
check_fails "enrolling again without --force is refused" \
	$MTLS enroll "$URL" --token "$TOK4" --ca-fingerprint "$FP" --dir n4 n4
check_status "renew-agent --once with nothing due exits 0" 0 $MTLS renew-agent --once n4
check_fails "and ran no hook" test -e n4/hook.log
J1=$(keytool -list -v -keystore n4/n4.jks -storepass changeit 2>/dev/null | awk '/Serial number/{print $3; exit}')
check "renew-agent --force renews" $MTLS renew-agent --once --force n4
J2=$(keytool -list -v -keystore n4/n4.jks -storepass changeit 2>/dev/null | awk '/Serial number/{print $3; exit}')
check "the JKS was rewritten with the new certificate" test -n "$J2" -a "$J1" != "$J2"
check "the PEM and the JKS agree" test "$(openssl x509 -in n4/n4.crt -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" = "$(echo "$J2" | tr A-F a-f | sed 's/^0*//')"
check "the hook ran once with MTLS_NAME" test "$(cat n4/hook.log)" = n4

# ---- start-up refusals, slowing down
$MTLS ca init --dir enc --pass pass:s3cret >/dev/null
P2=$(free_port)
check_output "an encrypted CA key without --ca-pass is refused at start" "encrypted.*--ca-pass" \
	timeout 10 $MTLS ca serve --ca-dir enc --listen 127.0.0.1:$P2
P3=$(free_port)
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$P3 --fail-limit 2 --quiet 2>slow.log
wait_port "$P3" || cat slow.log
for i in 1 2 3; do curl -s --cacert ca/ca.crt -o /dev/null -u n2:bad -H 'Content-Type: application/pkcs10' --data-binary @n2.b64 "https://127.0.0.1:$P3/.well-known/est/simpleenroll"; done
s=$(curl -s --cacert ca/ca.crt -o slow.txt -D slow.h -w '%{http_code}' -u n2:bad -H 'Content-Type: application/pkcs10' --data-binary @n2.b64 "https://127.0.0.1:$P3/.well-known/est/simpleenroll")
check "repeated failures from one address are slowed down (429 + Retry-After)" sh -c "[ $s = 429 ] && grep -qi '^Retry-After: [0-9]' slow.h"
finish
