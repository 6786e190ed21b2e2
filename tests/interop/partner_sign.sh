#!/usr/bin/env bash
# mtls sign: a partner's CSR is signed under our policy, never its own. A
# table of CSRs (made by openssl req) and policies: each row says whether
# mtls signs, and if so the exact subject and SANs openssl reads back; a
# refusal names the rule. Then the attacks reproduced on the old code: a
# partner CSR named like our server, renew/rotate of a partner identity.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/pki
"$MTLS" ca init --name "CN=Partner Sign Test CA" >/dev/null
"$MTLS" issue publish --profile server --san dns:publish.example --out ours >/dev/null
n=0

# csr SUBJ [SAN]: a fresh P-256 CSR in csr$n.csr
csr() {
	n=$((n + 1))
	local ext=()
	[ -n "${2:-}" ] && ext=(-addext "subjectAltName=$2")
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "csr$n.key" -subj "$1" "${ext[@]}" -out "csr$n.csr" 2>/dev/null ||
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "csr$n.key" -subj "$1" -multivalue-rdn "${ext[@]}" -out "csr$n.csr" 2>/dev/null
}

# row SUBJ SAN EXPECT WANT_SUBJ WANT_SANS -- SIGN-ARGS...
#   EXPECT: "ok" or a regex of the refusal.
row() {
	local subj=$1 san=$2 expect=$3 wsubj=$4 wsans=$5
	shift 6
	csr "$subj" "$san"
	if [ "$expect" = ok ]; then
		if ! "$MTLS" sign "csr$n.csr" --out "out$n.crt" "$@" >"row$n.log" 2>&1; then
			fail "row $n ($subj; $*) refused: $(cat "row$n.log")"
			return
		fi
		local got_subj got_sans
		got_subj=$(openssl x509 -in "out$n.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
		got_sans=$(openssl x509 -in "out$n.crt" -noout -ext subjectAltName 2>/dev/null |
			tail -n +2 | tr -d ' ')
		check "row $n: subject is '$wsubj'" test "$got_subj" = "$wsubj"
		check "row $n: SANs are '$wsans'" test "$got_sans" = "$wsans"
		check "row $n: verifies as a chain to our CA" openssl verify -x509_strict \
			-CAfile pki/ca.crt "out$n.chain.pem"
	else
		check_output "row $n refused: $expect" "$expect" "$MTLS" sign "csr$n.csr" --out "out$n.crt" "$@"
		check "row $n: nothing written" test ! -e "out$n.crt" -a ! -e "out$n.chain.pem"
	fi
}

row "/CN=publish/O=Partner" "" "belongs to an identity of ours" "" "" -- --profile client
row "/CN=p1" "DNS:p1.partner.example" "closed by default" "" "" -- --profile client
row "/CN=p2" "DNS:p2.partner.example" ok "CN=p2" "DNS:p2.partner.example" -- --profile client --san-allow 'dns:*.partner.example'
row "/CN=p3" "DNS:*.example.com" "does not permit" "" "" -- --profile client --san-allow 'dns:*'
row "/CN=p4" "DNS:x.partner.example.evil" "does not permit" "" "" -- --profile client --san-allow 'dns:*.partner.example'
row "/CN=p5/O=Partner/O=Example" "" ok "CN=p5" "" -- --profile client
row "/CN=author-p/O=Partner/O=Example" "" "matches no --subject-allow" "" "" -- --profile client --name p6 --subject-allow 'CN=author*,O=Example'
row "/CN=api.partner.example/O=Partner" "" ok "O=Partner,CN=api.partner.example" "" -- --profile client --name p7 --subject-allow 'CN=*.partner.example,O=Partner'
row "/CN=p8" "DNS:p8.partner.example" ok "O=Acme,CN=p8" "DNS:p8.partner.example" -- --profile server --subject 'CN=p8,O=Acme' --san dns:p8.partner.example
row "/CN=p9" "" "needs subject alternative names" "" "" -- --profile server
row "/CN=p10" "DNS:other.example" "closed by default" "" "" -- --profile node --san dns:p10.partner.example
row "/CN=p11" "" ok "CN=p11" "DNS:p11.partner.example,IPAddress:192.0.2.11" -- --profile node --san dns:p11.partner.example,ip:192.0.2.11
row "/CN=p12/O=x" "" "control character" "" "" -- --profile client --name p12 --subject "CN=p12,O=a$(printf '\a')b"
row "/O=Partner" "" "no CN to name it by" "" "" -- --profile client
row "/CN=p14" "" "ocsp profile" "" "" -- --profile ocsp
row "/CN=p15/title=$(printf 'a%.0s' $(seq 65))" "" "title has 65 characters" "" "" -- --profile client --name p15 --subject-allow 'CN=*,title=*'
row "/CN=p16" "email:ops@partner.example,URI:https://partner.example/x" ok "CN=p16" "email:ops@partner.example,URI:https://partner.example/x" -- --profile client --san-allow 'email:*@partner.example,uri:https://partner.example/*'
row "/CN=p17" "IP:10.9.8.7" "does not permit" "" "" -- --profile client --san-allow 'ip:10.0.*'

# Control characters straight from the CSR's subject (openssl writes them).
python3 - <<'PY'
from subprocess import run
run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
     "-nodes", "-keyout", "ctl.key", "-subj", "/CN=ctl\x1b[2J/O=x", "-out", "ctl.csr"],
    check=True, capture_output=True)
PY
check_output "a CSR subject with an escape character is refused" "control character" \
	"$MTLS" sign ctl.csr --profile client --name ctl --subject-allow 'CN=*,O=*'

# --- the reproduced attack: after signing, renew publish stays ours -----
sha_before=$(sha256sum ours/publish.key ours/publish.crt)
check "renew publish (ours) still works" "$MTLS" renew publish --out ours
check_output "... and renewed our server, not a partner's subject" "subject=CN = publish$" \
	openssl x509 -in ours/publish.crt -noout -subject
check_fails "... with a new key" test "$sha_before" = "$(sha256sum ours/publish.key ours/publish.crt)"
check_output "a local identity cannot take a partner's name" "belongs to a certificate signed from a partner's CSR" \
	"$MTLS" issue p2 --profile client --out ours

# --- partner identities: renewed only from a new CSR ----------------------
check_output "renew refuses a partner's certificate" "partner holds its key" "$MTLS" renew p2
check_output "rotate skips it and says why" "skipped p2: signed from a partner's CSR" \
	"$MTLS" rotate --expiring 3650d --dry-run
check_output "list --json records the origin" '"origin": "partner"' "$MTLS" list p2 --json
csr "/CN=p2" "DNS:p2b.partner.example"
check_output "a second CSR for p2 needs --renew" "give --renew" \
	"$MTLS" sign "csr$n.csr" --profile client --san-allow 'dns:*.partner.example' --out p2b.crt
check_output "--renew signs the successor" "supersedes serial" \
	"$MTLS" sign "csr$n.csr" --profile client --san-allow 'dns:*.partner.example' --out p2b.crt --renew
check_output "--renew of an unknown name is refused" "no valid partner certificate" \
	"$MTLS" sign "csr$n.csr" --profile client --san-allow 'dns:*.partner.example' --name nobody --renew --out nobody.crt

# --- stored policies: the next CSR is signed exactly like the first -------
csr "/CN=whatever/O=Acme" "DNS:api.acme.example"
check "sign --save-policy stores the policy" "$MTLS" sign "csr$n.csr" --name acme \
	--profile client --subject 'CN=acme,O=Acme' --san-allow 'dns:*.acme.example' \
	--days 30 --save-policy acme --out acme1.crt
check_output "policy show" "san-allow: +dns:\*.acme.example" "$MTLS" policy show acme
csr "/CN=other/O=Evil" "DNS:api.acme.example,DNS:evil.example"
check_output "--policy refuses what the policy does not admit" "dns:evil.example" \
	"$MTLS" sign "csr$n.csr" --policy acme --renew --out acme2.crt
csr "/CN=other/O=Evil" "DNS:api2.acme.example"
check "--policy signs the next CSR" "$MTLS" sign "csr$n.csr" --policy acme --renew --out acme2.crt
check_output "... with the policy's subject" "subject=CN = acme, O = Acme" \
	openssl x509 -in acme2.crt -noout -subject
check_status "--policy with policy options is a usage error" 2 \
	"$MTLS" sign "csr$n.csr" --policy acme --profile server
check_output "an unknown policy is named" "no signing policy named 'nope'" \
	"$MTLS" sign "csr$n.csr" --policy nope

# --- the CSR's SHA-256, the same in csr, sign and inspect ---------------
"$MTLS" csr mine --subject "CN=mine" --out mine >mine.out
fp_csr=$(sed -n 's/^CSR SHA-256 //p' mine.out)
fp_openssl=$(openssl req -in mine/mine.csr -outform der | sha256sum | cut -d' ' -f1 | tr a-f A-F | sed 's/../&:/g; s/:$//')
check "csr prints the SHA-256 of the DER request" test "$fp_csr" = "$fp_openssl"
check_output "inspect prints the same" "SHA-256: *$fp_csr" "$MTLS" inspect mine/mine.csr
check_output "sign prints the same" "CSR SHA-256 $fp_csr" "$MTLS" sign mine/mine.csr --profile client --out mine.crt
finish
