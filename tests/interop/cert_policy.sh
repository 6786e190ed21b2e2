#!/usr/bin/env bash
# Issuing certificatePolicies (RFC 5280 4.2.1.4): --cert-policy on issue,
# sign, policy add, ca init and ca sign-intermediate. A certificate issued
# with a policy passes the relying parties that require it - openssl verify
# -policy -explicit_policy, mtls verify --require-policy and a real
# handshake against mtls serve --require-policy - and one without it is
# refused by all three. A CA never issues a policy its own certificate
# does not assert, and a partner gets only the policies we choose.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

P=1.3.6.1.4.1.99999.7
Q=1.3.6.1.4.1.99999.8
ANY=2.5.29.32.0

# said "description" REGEX: the previous check's output matches REGEX.
said() {
	cp "$T/last.out" "$T/said"
	check "$1" grep -qE -- "$2" "$T/said"
}
# policies FILE: the certificate's policy OIDs, one a line.
policies() {
	openssl x509 -in "$1" -noout -ext certificatePolicies 2>/dev/null |
		sed -n 's/^ *Policy: //p'
}

# --- usage: one line, exit 2 ---------------------------------------------
check "root CA" "$MTLS" ca init --dir root --name "CN=Policy Root,O=Example"
export MTLS_CA_DIR=$T/root
for cmd in "issue x --profile client" "policy add x --profile client" \
	"ca init --dir bad" "ca sign-intermediate x.csr --name x --out x.pem"; do
	# shellcheck disable=SC2086
	check_status "mtls $cmd --cert-policy not.an.oid: usage (exit 2)" 2 \
		"$MTLS" $cmd --cert-policy not.an.oid
	said "... in one line naming the value" "^mtls .*'not.an.oid' is not a certificate policy OID"
	check "... one line" test "$(wc -l <"$T/said")" -eq 1
done
check_status "the same OID twice is refused (exit 2)" 2 \
	"$MTLS" issue twice --profile client --cert-policy "$P" --cert-policy "$P"
said "... citing RFC 5280" "given twice \(RFC 5280 4.2.1.4"
check "... and nothing was issued" test ! -e twice.crt

# --- a leaf of the root, with and without the policy ---------------------
check "server certificate" "$MTLS" issue server --profile server --san ip:127.0.0.1,dns:localhost
check "client issued with --cert-policy P" \
	"$MTLS" issue cp --profile client --cert-policy "$P"
check "client issued without it" "$MTLS" issue cnone --profile client
check "client issued with another policy Q" "$MTLS" issue cq --profile client --cert-policy "$Q"
check_output "the certificate asserts P" "^$P\$" policies cp.crt
check "the extension is not critical" \
	sh -c "! openssl x509 -in cp.crt -noout -text | grep -q 'Certificate Policies: critical'"
cp root/ca.crt ca.crt

check "openssl verify -policy P -explicit_policy accepts it" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy -CAfile ca.crt cp.crt
check_fails "openssl verify -policy P -explicit_policy refuses the one without" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy -CAfile ca.crt cnone.crt
check_fails "... and the one with Q" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy -CAfile ca.crt cq.crt
check "mtls verify --require-policy P accepts it" \
	"$MTLS" verify cp.crt --ca ca.crt --purpose client --require-policy "$P"
check_output "mtls verify --require-policy P refuses the one without, naming the rule" \
	"required certificate policy.*--cert-policy" \
	"$MTLS" verify cnone.crt --ca ca.crt --purpose client --require-policy "$P"
check_fails "... and the one with Q" \
	"$MTLS" verify cq.crt --ca ca.crt --purpose client --require-policy "$P"

# --- a real handshake against mtls serve --require-policy ----------------
echo "principal any cn=* allow=*:/" >map.txt
port=$(free_port)
bg "$MTLS" serve --listen "127.0.0.1:$port" --cert server.crt --key server.key --ca ca.crt \
	--root content --state-dir state --map map.txt --watch-interval 0 \
	--require-policy "$P" 2>serve.log
wait_port "$port" 15 || { cat serve.log; fail "serve did not start"; finish; }
# code NAME: the HTTP status of a Test request with NAME's certificate.
code() {
	curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt --cert "$1.crt" --key "$1.key" \
		-X POST -H 'Action: Test' -H 'Path: /' "https://127.0.0.1:$port/bin/receive"
}
check "mtls serve --require-policy P accepts the client with P (HTTP 200)" test "$(code cp)" = 200
check "... refuses the handshake of the client without (no HTTP)" test "$(code cnone)" = 000
check "... and of the client with Q" test "$(code cq)" = 000
check_output "... its log names the policy rule" "required certificate policy" cat serve.log

# --- renewal keeps the policies ------------------------------------------
check "renew cp" "$MTLS" renew cp
check_output "the renewed certificate still asserts P" "^$P\$" policies cp.crt
check "... and still passes openssl's explicit policy check" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy -CAfile ca.crt cp.crt

# --- an intermediate: it must assert what its leaves carry ----------------
check "intermediate request" \
	"$MTLS" ca init --intermediate --dir online --name "CN=Policy Online CA,O=Example"
check "the root signs it with --cert-policy P" \
	"$MTLS" ca sign-intermediate online/ca.csr --name online-1 --cert-policy "$P" --out online.chain.pem
check "... installed" "$MTLS" ca install --dir online online.chain.pem
check "a leaf of it with P" "$MTLS" issue --ca-dir online ip --profile client --cert-policy "$P"
check "openssl verify -policy P -explicit_policy accepts the three-level chain" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy \
	-CAfile ca.crt -untrusted online.chain.pem ip.crt
check "mtls verify --require-policy P accepts it" \
	"$MTLS" verify ip.chain.pem --ca ca.crt --purpose client --require-policy "$P"
check_status "a leaf with Q, which the intermediate does not assert, is refused" 1 \
	"$MTLS" issue --ca-dir online iq --profile client --cert-policy "$Q"
said "... naming the rule and the way out" "does not assert certificate policy $Q .*--cert-policy $Q"
check "... and nothing was issued" test ! -e iq.crt
check "... nor recorded" sh -c "! '$MTLS' list --ca-dir online | grep -q '^iq '"

check "intermediate 2 request" "$MTLS" ca init --intermediate --dir any --name "CN=Any CA"
check "the root signs it with anyPolicy" \
	"$MTLS" ca sign-intermediate any/ca.csr --name any-1 --cert-policy "$ANY" --out any.chain.pem
check "... installed" "$MTLS" ca install --dir any any.chain.pem
check "under anyPolicy a leaf may carry Q" "$MTLS" issue --ca-dir any aq --profile client --cert-policy "$Q"
check "openssl verify -policy Q -explicit_policy accepts that chain" \
	openssl verify -x509_strict -purpose sslclient -policy "$Q" -explicit_policy \
	-CAfile ca.crt -untrusted any.chain.pem aq.crt

check "intermediate 3 request" "$MTLS" ca init --intermediate --dir bare --name "CN=Bare CA"
check "the root signs it without policies" \
	"$MTLS" ca sign-intermediate bare/ca.csr --name bare-1 --out bare.chain.pem
check "... installed" "$MTLS" ca install --dir bare bare.chain.pem
check_status "a CA without policies issues no policy" 1 \
	"$MTLS" issue --ca-dir bare bp --profile client --cert-policy "$P"

# --- partners: our signing policy decides ---------------------------------
check "signing policy acme gives P" \
	"$MTLS" policy add acme --profile client --subject "CN=acme,O=Acme" --cert-policy "$P"
check_output "policy show lists it" "cert-policies: +$P" "$MTLS" policy show acme
check_output "policy list --json has it (an array, docs/json.md)" "$P" sh -c \
	"'$MTLS' policy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"cert_policies\"] == [\"$P\"])' | sed 's/^True\$/$P/'"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout acme.key \
	-subj "/CN=acme" -out plain.csr 2>/dev/null
openssl req -new -key acme.key -subj "/CN=acme" -addext "certificatePolicies=$Q" \
	-out askq.csr 2>/dev/null
openssl req -new -key acme.key -subj "/CN=acme" -addext "certificatePolicies=$P" \
	-out askp.csr 2>/dev/null
check_status "a CSR asking for Q, which the policy does not give, is refused" 1 \
	"$MTLS" sign askq.csr --policy acme
said "... naming the OID" "asks for certificate policy $Q, which our signing policy does not give"
check "a CSR asking for P is signed" "$MTLS" sign askp.csr --policy acme --out askp.crt
check "a CSR asking for none gets P" "$MTLS" sign plain.csr --policy acme --name acme2 --out acme.crt
check_output "... which it asserts" "^$P\$" policies acme.crt
check "openssl verify -policy P -explicit_policy accepts the partner's certificate" \
	openssl verify -x509_strict -purpose sslclient -policy "$P" -explicit_policy -CAfile ca.crt acme.crt
check_status "--policy NAME is the whole policy: no --cert-policy beside it" 2 \
	"$MTLS" sign plain.csr --policy acme --cert-policy "$Q"
check "without a stored policy, sign --cert-policy gives it" \
	"$MTLS" sign plain.csr --profile client --name acme3 --cert-policy "$Q" --out acme3.crt
check_output "... which it asserts" "^$Q\$" policies acme3.crt
check_status "a policy without --cert-policy gives none, and refuses a CSR asking for one" 1 \
	"$MTLS" sign askp.csr --profile client --name acme4 --out acme4.crt
said "... saying it gives none" "does not give \(it gives none\)"

finish
