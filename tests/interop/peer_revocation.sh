#!/usr/bin/env bash
# The client side checks the receiver's revocation: mtls push, mtls test
# and mtls doctor run on the receiver's chain the check mtls serve runs on
# its clients' - every certificate but the root, by CRL (--crl) and by
# OCSP (the responder each certificate names, by default; --ocsp asks
# about every one). A revoked receiver, or a receiver under a revoked
# intermediate, gets nothing and is named; a good one passes; a responder
# that does not answer refuses the receiver unless the insecure soft-fail
# option says otherwise, and that is logged.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

OP1=$(free_port)
OP2=$(free_port)
"$MTLS" ca init --dir root --name "CN=Peer Root" --ocsp-url "http://127.0.0.1:$OP1/" >/dev/null
"$MTLS" ca init --intermediate --dir inter --name "CN=Peer Inter" >/dev/null
"$MTLS" ca sign-intermediate --ca-dir root inter/ca.csr --name inter --out inter.chain.pem >/dev/null
"$MTLS" ca install --dir inter inter.chain.pem --ocsp-url "http://127.0.0.1:$OP2/" >/dev/null
# Receivers: good and bad under the root, and one under the intermediate.
for n in good bad; do
	"$MTLS" issue --ca-dir root "$n" --profile server --san ip:127.0.0.1 --out id >/dev/null
done
"$MTLS" issue --ca-dir inter deep --profile server --san ip:127.0.0.1 --out id >/dev/null
"$MTLS" issue --ca-dir root author --profile client --out id >/dev/null
cp root/ca.crt ca.crt
check "test PKI was made (root and intermediate, each with a responder)" \
	test -s id/deep.chain.pem -a -s id/good.crt -a -s id/author.crt
echo "principal any cn=* allow=*:/" >map.txt
export MTLS_CA_DIR=$T/nowhere

# serve_as NAME: a receiver presenting NAME's certificate (and chain);
# sets PORT.
serve_as() {
	PORT=$(free_port)
	local cert=id/$1.crt
	[ -s "id/$1.chain.pem" ] && cert=id/$1.chain.pem
	bg "$MTLS" serve --listen "127.0.0.1:$PORT" --cert "$cert" --key "id/$1.key" --ca ca.crt \
		--root "content-$1" --state-dir "state-$1" --map map.txt --watch-interval 0 2>"serve-$1.log"
	wait_port "$PORT" 15 || { cat "serve-$1.log"; fail "serve $1 did not start"; finish; }
	eval "PORT_$1=$PORT"
}
serve_as good
serve_as bad
serve_as deep
echo hello >f.txt
id=(--cert id/author.crt --key id/author.key --ca ca.crt)
# said "description" REGEX: the previous check's output matches REGEX.
said() {
	cp "$T/last.out" "$T/said"
	check "$1" grep -qE -- "$2" "$T/said"
}
# tst NAME [OPTION...]: mtls test against NAME's receiver.
tst() {
	local p
	p=$(eval echo "\$PORT_$1")
	shift
	"$MTLS" test "https://127.0.0.1:$p" "${id[@]}" --timeout 5 "$@"
}
# psh NAME ITEM [OPTION...]: mtls push of f.txt as ITEM to NAME's receiver,
# with its own queue.
psh() {
	local n=$1 item=$2 p
	p=$(eval echo "\$PORT_$n")
	shift 2
	"$MTLS" push "https://127.0.0.1:$p" "${id[@]}" --state "state-push-$n" "$@" "$item=f.txt"
}

# --- CRL (given CRLs replace the default OCSP lookup) ----------------------
"$MTLS" revoke --ca-dir root bad --reason keyCompromise >/dev/null
"$MTLS" crl --ca-dir root --out root.crl >/dev/null
"$MTLS" crl --ca-dir inter --out inter.crl >/dev/null
check_output "test --crl: a good receiver passes, its chain checked" \
	"Receiver's chain: revocation: [0-9]+ checks?, nothing revoked" \
	tst good --crl root.crl
check_status "test --crl: a revoked receiver is refused (exit 1)" 1 tst bad --crl root.crl
said "... naming the certificate and the CRL" \
	"certificate CN=bad \(serial [0-9A-F]+\) revoked on .*\(keyCompromise\) \(in the CRL\)"
check "... before any request was sent" sh -c "! grep -q 'Sending' '$T/last.out'"
check_output "test --crl: a receiver whose intermediate has no CRL given is refused" \
	"no CRL of the issuer CN=Peer Inter in --crl" tst deep --crl root.crl
check_output "push --crl: a revoked receiver gets nothing, named in the log" \
	"the receiver's chain is refused: certificate CN=bad \(serial [0-9A-F]+\) revoked" \
	psh bad /content/a.txt --crl root.crl
check "... the item was not delivered" test ! -e content-bad/content/a.txt
check_output "... and stays queued" "pending 1 \(failing 1\)" "$MTLS" queue --state state-push-bad
check "push --crl: a good receiver gets its item" psh good /content/a.txt --crl root.crl
check "... delivered" cmp content-good/content/a.txt f.txt

# --- OCSP, at the responders the certificates name ----------------------
# Nobody answers yet: the default (a certificate that names a responder is
# asked) fails closed.
check_output "test: the named responder does not answer: refused (fail-closed)" \
	"no OCSP answer \(fail-closed\)" tst good
check_output "push: the same, named in the log" \
	"the receiver's chain is refused: certificate CN=good .*no OCSP answer" \
	psh good /content/b.txt
check "... nothing delivered" test ! -e content-good/content/b.txt
check_output "test --insecure-revocation-soft-fail: accepted, and the log says INSECURE" \
	"INSECURE: certificate CN=good .* accepted unchecked" \
	tst good --insecure-revocation-soft-fail
check_output "test --insecure-no-revocation: nothing checked, and the log says so" \
	"NOT checked \(INSECURE: --insecure-no-revocation\)" tst good --insecure-no-revocation
check_status "--insecure-no-revocation with --crl is a usage error" 2 \
	tst good --insecure-no-revocation --crl root.crl

bg "$MTLS" ocsp serve --ca-dir root --listen "127.0.0.1:$OP1" --refresh 200 2>ocsp-root.log
bg "$MTLS" ocsp serve --ca-dir inter --listen "127.0.0.1:$OP2" --refresh 200 2>ocsp-inter.log
check "the root's responder listens" wait_port "$OP1" 10
check "the intermediate's responder listens" wait_port "$OP2" 10
check_output "test: a good receiver passes (OCSP by default)" \
	"revocation: 1 check, nothing revoked" tst good
check_output "test: a revoked receiver is refused, named (OCSP)" \
	"certificate CN=bad \(serial [0-9A-F]+\) revoked on .*\(OCSP\)" tst bad
check_output "test: the receiver under the intermediate passes, both asked" \
	"revocation: 2 checks, nothing revoked" tst deep
check "push: a good receiver gets its item" psh good /content/b.txt
check "... delivered" cmp content-good/content/b.txt f.txt
check_output "push: a revoked receiver gets nothing (OCSP)" \
	"refused: certificate CN=bad .*revoked" psh bad /content/b.txt
check "... not delivered" test ! -e content-bad/content/b.txt

# The root revokes the intermediate: its receiver goes, the root's stays.
check "the root revokes the intermediate" "$MTLS" revoke --ca-dir root inter --reason cACompromise
# The responder re-reads its inventory every 200 ms, and answers a
# request without a nonce (as serve, push and test send) from what it
# signed before: wait (at most 10 s) until such an answer says revoked.
for _ in $(seq 50); do
	tst deep 2>&1 | grep -q "CN=Peer Inter .*revoked" && break
	sleep 0.2
done
check_output "test: the receiver under the revoked intermediate is refused, naming the intermediate" \
	"certificate CN=Peer Inter \(serial [0-9A-F]+\) revoked on .*\(cACompromise\)" tst deep
check_output "push: the same" "refused: certificate CN=Peer Inter .*revoked" psh deep /content/c.txt
check "... not delivered" test ! -e content-deep/content/c.txt
check "test: the root's good receiver still passes" tst good

# --- doctor on the receivers' own files ---------------------------------
mkdir -p dgood dbad ddeep
cp id/good.crt id/good.key ca.crt dgood/
cp id/bad.crt id/bad.key ca.crt dbad/
cp id/deep.crt id/deep.chain.pem id/deep.key ca.crt ddeep/
check_output "doctor: a good receiver's files pass the chain's revocation" \
	"chain_revocation: .*nothing revoked" "$MTLS" doctor dgood --verbose
check_status "doctor: a revoked receiver's files are an error (exit 1)" 1 \
	"$MTLS" doctor dbad
said "... naming the certificate" "chain_revoked: .*certificate CN=bad \(serial"
check_status "doctor: under the revoked intermediate, an error" 1 "$MTLS" doctor ddeep
said "... naming the intermediate" "chain_revoked: .*certificate CN=Peer Inter \(serial"
# With --crl the leaf's own standing sees the CRL too: the revocation is
# reported once, as cert_revoked (the most specific finding), not again by
# the chain walk; an intermediate is still the walk's to report.
check_status "doctor --crl: a revoked receiver by CRL, without OCSP (exit 1)" 1 \
	"$MTLS" doctor dbad --crl root.crl
said "... cert_revoked, listed in the CRL" "cert_revoked: dbad/bad.crt: revoked: listed in the CRL"
check_fails "... reported once (no chain_revoked for the same leaf)" grep -q chain_revoked "$T/said"
# Only the leaf's own repeat is dropped: a leaf the inventory revoked,
# under an intermediate only the CRLs call revoked (the intermediate's CRL
# predates the leaf's revocation), gets both findings, one each.
mkdir -p ddeep2
cp id/deep.crt id/deep.chain.pem id/deep.key ddeep2/
cat root/ca.crt inter/ca.crt >ddeep2/ca.crt
"$MTLS" crl --ca-dir root --out root2.crl >/dev/null
"$MTLS" revoke --ca-dir inter deep >/dev/null
check_status "doctor --crl: a revoked leaf under a revoked intermediate (exit 1)" 1 \
	"$MTLS" doctor ddeep2 --ca-dir inter --crl root2.crl --crl inter.crl
said "... cert_revoked for the leaf (the inventory)" "cert_revoked: ddeep2/deep.crt: revoked on"
check "... and chain_revoked for the intermediate (the CRL)" grep -qE \
	"chain_revoked: ddeep2/deep.crt: certificate CN=Peer Inter \(serial [0-9A-F]+\) revoked on .*\(in the CRL\)" "$T/said"

finish
