#!/usr/bin/env bash
# Revocation at every certificate of the client's chain, and resumption
# checked again: mtls serve with a root, an intermediate (mtls ca init
# --intermediate, ca sign-intermediate) and clients under each; the
# intermediate is revoked by the root and its clients must go, while the
# root's own clients stay. Then TLS sessions saved by openssl s_client
# (-sess_out) are offered again (-sess_in) after the client was revoked or
# its certificate expired: the server must not resume them.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

"$MTLS" ca init --dir root --name "CN=Chain Root" >/dev/null
"$MTLS" ca init --intermediate --dir inter --name "CN=Chain Inter" >/dev/null
"$MTLS" ca sign-intermediate --ca-dir root inter/ca.csr --name inter --out inter.chain.pem >/dev/null
"$MTLS" ca install --dir inter inter.chain.pem >/dev/null
"$MTLS" issue --ca-dir root publish --profile server --san dns:localhost,ip:127.0.0.1 --out id >/dev/null
for n in carol erin; do
	"$MTLS" issue --ca-dir root "$n" --profile client --out id >/dev/null
done
for n in alice bob dave; do
	"$MTLS" issue --ca-dir inter "$n" --profile client --out id >/dev/null
done
cat root/ca.crt inter/ca.crt >cas.pem
"$MTLS" crl --ca-dir root --out root.crl >/dev/null
"$MTLS" crl --ca-dir inter --out inter.crl >/dev/null
check "test PKI was made (root, intermediate, clients under both)" \
	test -s id/alice.chain.pem -a -s id/carol.crt -a -s root.crl -a -s inter.crl
echo "principal any cn=* allow=*:/" >map.txt

# hs NAME [CERTFILE]: a Test request; prints the HTTP code and curl's exit.
hs() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert root/ca.crt \
		--cert "${2:-id/$1.crt}" --key "id/$1.key" -X POST \
		-H "Action: Test" -H "Path: /" "$URL/bin/receive" 2>/dev/null
	echo " exit=$?"
}
# start LOG CA ARGS...: mtls serve on a free port; sets URL, PORT and PID.
start() {
	local log=$1 ca=$2
	shift 2
	PORT=$(free_port)
	URL=https://127.0.0.1:$PORT
	bg "$MTLS" serve --listen 127.0.0.1:$PORT --cert id/publish.chain.pem \
		--key id/publish.key --ca "$ca" --root "$T/root-dir" --state-dir "$T/state" \
		--map map.txt --watch-interval 0.3 "$@" 2>"$T/$log"
	PID=$LAST_PID
	wait_log "$T/$log" "serving https" 10
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
metric() { # REGEX: /metrics (as erin) has a line matching it
	curl -sS --max-time 10 --cacert root/ca.crt --cert id/erin.crt --key id/erin.key \
		"$URL/metrics" | grep -qE -- "$1"
}

# --- every certificate of the chain ------------------------------------
check "serve with both CRLs starts" start crl.log cas.pem --crl root.crl --crl inter.crl
check_output "a client of the intermediate is served" '^200 exit=0$' hs alice
check_output "a client of the root is served" '^200 exit=0$' hs carol
stop
check "serve with only the intermediate's CRL starts" start nocrl.log cas.pem --crl inter.crl
check_output "... but refuses the intermediate's clients: its own revocation is unknown" \
	'^000 exit=(35|55|56)$' hs alice
check_output "... the log names the missing CRL (the root's)" \
	"no CRL of the issuer CN=Chain Root in --crl" cat nocrl.log
stop

check "the root revokes the intermediate" "$MTLS" revoke --ca-dir root inter --reason cACompromise
"$MTLS" crl --ca-dir root --out root.crl >/dev/null
check "serve with both CRLs starts again" start crl2.log cas.pem --crl root.crl --crl inter.crl
check_output "a client under the revoked intermediate is refused" '^000 exit=(35|55|56)$' hs alice
check_output "... also when it sends the chain itself" '^000 exit=(35|55|56)$' hs alice id/alice.chain.pem
check_output "... the log names the intermediate and the reason" \
	"certificate CN=Chain Inter \(serial [0-9A-F]+\) revoked on .*\(cACompromise\)" cat crl2.log
check_output "a client of the root is still served" '^200 exit=0$' hs carol
check "... counted as revoked" metric 'mtls_handshake_failures_total\{reason="revoked"\} 2$'
stop
check "--insecure-revocation-leaf-only starts" start leaf.log cas.pem --crl root.crl --crl inter.crl \
	--insecure-revocation-leaf-only
check_output "... and says at start what it gives up" \
	"INSECURE: only client certificates are checked, not their intermediate" cat leaf.log
check_output "... then the revoked intermediate's client passes (the option is the only way)" \
	'^200 exit=0$' hs alice
stop
check_status "--insecure-revocation-leaf-only without --crl/--ocsp is a usage error" 2 \
	"$MTLS" serve --listen 127.0.0.1:1 --cert id/publish.chain.pem --key id/publish.key \
	--ca cas.pem --root "$T/root-dir" --map map.txt --insecure-revocation-leaf-only

# The same chain through mtls verify and openssl verify.
cat root.crl inter.crl >both.crl
check_output "mtls verify refuses it, naming the intermediate" "CN=Chain Inter.*revoked" \
	"$MTLS" verify id/alice.crt --ca cas.pem --crl both.crl --purpose client
check_fails "openssl verify -crl_check_all agrees" openssl verify -x509_strict -crl_check_all \
	-CAfile root/ca.crt -untrusted inter/ca.crt -CRLfile both.crl id/alice.crt

# --- an intermediate revoked through OCSP ---------------------------------
# A second root and intermediate, each with its own responder (the AIA of
# each certificate points at its issuer's): verify --ocsp and serve --ocsp
# ask about the intermediate too, not only the client.
OP1=$(free_port)
OP2=$(free_port)
"$MTLS" ca init --dir oroot --name "CN=OCSP Root" --ocsp-url "http://127.0.0.1:$OP1/" >/dev/null
"$MTLS" ca init --intermediate --dir ointer --name "CN=OCSP Inter" >/dev/null
"$MTLS" ca sign-intermediate --ca-dir oroot ointer/ca.csr --name ointer --out ointer.chain.pem >/dev/null
"$MTLS" ca install --dir ointer ointer.chain.pem --ocsp-url "http://127.0.0.1:$OP2/" >/dev/null
"$MTLS" issue --ca-dir ointer olga --profile client --out id >/dev/null
check "the OCSP test PKI was made" test -s id/olga.chain.pem
bg "$MTLS" ocsp serve --ca-dir oroot --listen "127.0.0.1:$OP1" --refresh 200 2>ocsp-root.log
bg "$MTLS" ocsp serve --ca-dir ointer --listen "127.0.0.1:$OP2" --refresh 200 2>ocsp-inter.log
check "the root's responder listens" wait_port "$OP1" 10
check "the intermediate's responder listens" wait_port "$OP2" 10
cat oroot/ca.crt ointer/ca.crt >ocas.pem
check_output "verify --ocsp: olga and her intermediate are good" "OK .*OCSP: good" \
	"$MTLS" verify id/olga.chain.pem --ca oroot/ca.crt --purpose client --ocsp --ca-dir ointer
check "the OCSP root revokes the intermediate" "$MTLS" revoke --ca-dir oroot ointer --reason cACompromise
# The responder re-reads its inventory every --refresh 200 ms: wait (at
# most 5 s) for it to answer "revoked" before asking through verify.
for _ in $(seq 25); do
	"$MTLS" ocsp check ointer/ca.crt --issuer oroot/ca.crt --url "http://127.0.0.1:$OP1/" 2>&1 |
		grep -q revoked && break
	sleep 0.2
done
check_output "verify --ocsp refuses olga, naming the revoked intermediate" \
	"certificate CN=OCSP Inter \(serial [0-9A-F]+\) revoked on .*\(cACompromise\)" \
	"$MTLS" verify id/olga.chain.pem --ca oroot/ca.crt --purpose client --ocsp --ca-dir ointer
check_status "... exit 1, also with the intermediate in --ca" 1 \
	"$MTLS" verify id/olga.crt --ca ocas.pem --purpose client --ocsp --ca-dir ointer
check "serve --ocsp starts" start ocsp-serve.log oroot/ca.crt --ocsp
check_output "serve --ocsp refuses olga too" '^000 exit=(35|55|56)$' hs olga id/olga.chain.pem
check_output "... naming the intermediate" "certificate CN=OCSP Inter \(serial [0-9A-F]+\) revoked" cat ocsp-serve.log
stop

# --- resumption ----------------------------------------------------------
# sess NAME CERT VERSION OUT|IN FILE: one s_client handshake saving or
# offering a session; prints one line: "Reused" or "New", then "ok" or
# "refused" (whether the request got its answer).
sess() {
	local how=-sess_out
	[ "$4" = in ] && how=-sess_in
	(sleep 1; printf 'GET /metrics HTTP/1.0\r\n\r\n'; sleep 1) |
		timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -CAfile root/ca.crt \
			-cert "$2" -cert_chain "$2" -key "id/$1.key" "$3" "$how" "$5" >"$T/sess.out" 2>&1
	local r=refused
	grep -q 'HTTP/1.[01] 200' "$T/sess.out" && r=ok
	echo "$(grep -oE '^(Reused|New)' "$T/sess.out" | head -1) $r"
}

for v in -tls1_3 -tls1_2; do
	check "serve with both CRLs for resumption ($v)" start "res$v.log" cas.pem --crl root.crl --crl inter.crl
	check_output "carol's first handshake ($v)" '^New ok$' sess carol id/carol.crt "$v" out "carol$v.sess"
	check_output "carol resumes her session ($v)" '^Reused ok$' sess carol id/carol.crt "$v" in "carol$v.sess"
	stop
done
# Revoked after the first handshake: the ticket must not carry her through.
check "serve for the revocation case starts" start resrev.log cas.pem --crl root.crl --crl inter.crl
check_output "carol's first handshake" '^New ok$' sess carol id/carol.crt -tls1_3 out carol.sess
check "the root revokes carol" "$MTLS" revoke --ca-dir root carol --reason keyCompromise
"$MTLS" crl --ca-dir root --out root.crl.new >/dev/null && mv root.crl.new root.crl
check "... the receiver reloads the CRL" wait_log resrev.log "CRL file changed: reloaded" 10
check_output "carol's saved session is not resumed, and she is refused" '^New refused$' \
	sess carol id/carol.crt -tls1_3 in carol.sess
check_output "... the full handshake says why" "CN=carol .*revoked on .*\(keyCompromise\)" cat resrev.log
check "... counted as a refused resumption" metric '^mtls_resumptions_refused_total 1$'
stop

# Without revocation and with only the root in --ca: the intermediate
# comes from the client, and the ticket keeps it for the new verification.
check "serve without revocation, root only, starts" start plain0.log root/ca.crt
check_output "dave's first handshake, sending his chain" '^New ok$' \
	sess dave id/dave.chain.pem -tls1_3 out dave.sess
check_output "dave resumes: the ticket carried his intermediate" '^Reused ok$' \
	sess dave id/dave.chain.pem -tls1_3 in dave.sess
stop

# Expired after the first handshake, with no revocation configured at all:
# a client certificate valid for a few seconds more (openssl, one-off CA).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tca.key 2>/dev/null
openssl req -new -x509 -key tca.key -subj "/CN=Short CA" -days 2 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out tca.crt 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out id/short.key 2>/dev/null
python3 - <<'PY'
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
load = lambda p: open(p, "rb").read()
ca = x509.load_pem_x509_certificate(load("tca.crt"))
cakey = serialization.load_pem_private_key(load("tca.key"), None)
key = serialization.load_pem_private_key(load("id/short.key"), None)
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateBuilder()
     .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short")]))
     .issuer_name(ca.subject).public_key(key.public_key())
     .serial_number(x509.random_serial_number())
     .not_valid_before(now - datetime.timedelta(minutes=1))
     .not_valid_after(now + datetime.timedelta(seconds=8))
     .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
     .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
     .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
     .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(cakey.public_key()), False))
open("id/short.crt", "wb").write(b.sign(cakey, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
PY
cat root/ca.crt tca.crt >cas2.pem
check "serve without revocation starts" start plain.log cas2.pem
check_output "short's first handshake" '^New ok$' sess short id/short.crt -tls1_3 out short.sess
check_output "short resumes while valid" '^Reused ok$' sess short id/short.crt -tls1_3 in short.sess
sleep 9
check_output "after expiry the saved session is not resumed, and short is refused" '^New refused$' \
	sess short id/short.crt -tls1_3 in short.sess
check_output "... the full handshake says expired" "CN=short .*expired" cat plain.log
stop
finish
