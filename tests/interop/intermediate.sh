#!/usr/bin/env bash
# Intermediate CAs under an offline root: the three-step ceremony (request
# on the online host, signature where the root is, installation), path
# length and name constraints written by us and enforced by everyone -
# our own issue, verify and serve; OpenSSL, GnuTLS certtool, NSS certutil
# and Java's PKIX validator - and revocation of the intermediate at the root.
JAVA_SRC=$(cd "$(dirname "$0")/java" && pwd)
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# said "description" REGEX: the previous check's output matches REGEX.
said() {
	cp "$T/last.out" "$T/said"
	check "$1" grep -qE -- "$2" "$T/said"
}

export ROOT_PASS=offline-secret
check "root CA with an encrypted key" \
	"$MTLS" ca init --dir root --name "CN=Example Offline Root,O=Example" --pass env:ROOT_PASS
check_output "intermediate request: key and CSR on the online host" "ca.csr" \
	"$MTLS" ca init --intermediate --dir online --name "CN=Example Online CA 1,O=Example"
check "the online key is 0600" test "$(stat -c %a online/ca.key)" = 600
check_status "a pending intermediate cannot issue yet" 1 \
	"$MTLS" issue --ca-dir online early --profile server
said "...and says what to do" "sign-intermediate"

check_status "a bad name constraint is a usage error" 2 \
	"$MTLS" ca sign-intermediate --ca-dir root --ca-pass env:ROOT_PASS online/ca.csr \
	--name online-1 --permit 'dns:*.example.com' --out x.pem
check_status "the root's password is required" 1 \
	"$MTLS" ca sign-intermediate --ca-dir root --ca-pass pass:wrong online/ca.csr \
	--name online-1 --permit dns:.example.com --out x.pem
check "the root signs the intermediate with constraints" \
	"$MTLS" ca sign-intermediate --ca-dir root --ca-pass env:ROOT_PASS online/ca.csr \
	--name online-1 --permit dns:example.com,ip:127.0.0.0/8 \
	--exclude dns:bad.example.com --out online-1.chain.pem
check_output "the root's inventory records it as a CA" "online-1 +ca +valid" \
	"$MTLS" list --ca-dir root
openssl x509 -in online-1.chain.pem -noout -text >inter.txt
check "basicConstraints CA:TRUE, pathlen:0, critical" grep -A1 "Basic Constraints: critical" inter.txt
check "pathlen 0" grep -q "CA:TRUE, pathlen:0" inter.txt
check "name constraints are critical" grep -q "Name Constraints: critical" inter.txt
check "permitted DNS and IP subtrees" grep -q "IP:127.0.0.0/255.0.0.0" inter.txt
check "excluded subtree" grep -A8 "Excluded" inter.txt

# Installation: only the chain for this key, only a chain to a root.
"$MTLS" ca init --intermediate --dir other --name "CN=Other" >/dev/null
check_status "a chain for another key is refused" 1 \
	"$MTLS" ca install --dir other online-1.chain.pem
said "...naming the mismatch" "not for the key"
head -n "$(grep -n 'END CERTIFICATE' online-1.chain.pem | head -1 | cut -d: -f1)" \
	online-1.chain.pem >inter-only.pem
check_status "a chain without its root is refused" 1 \
	"$MTLS" ca install --dir online inter-only.pem
check "the intermediate is installed" "$MTLS" ca install --dir online online-1.chain.pem
check "root.crt is the trust anchor" cmp online/root.crt root/ca.crt
check_status "installing twice is refused" 1 "$MTLS" ca install --dir online online-1.chain.pem

# Issuance inside and outside the constraints.
check "a server inside the constraints" \
	"$MTLS" issue --ca-dir online web --profile server --san dns:web.example.com,ip:127.0.0.1
check "a client inside the constraints" \
	"$MTLS" issue --ca-dir online author --profile client --san dns:author.example.com
check "the chain file carries leaf, intermediate and root" \
	test "$(grep -c 'BEGIN CERTIFICATE' web.chain.pem)" = 3
check_status "a name outside the permitted subtree is refused" 1 \
	"$MTLS" issue --ca-dir online evil --profile server --san dns:evil.org
said "...saying which name and why" "dns:evil.org.*permitted subtree"
check_status "an excluded name is refused" 1 \
	"$MTLS" issue --ca-dir online bad --profile server --san dns:bad.example.com
check_status "an address outside the permitted range is refused" 1 \
	"$MTLS" issue --ca-dir online far --profile server --san dns:far.example.com,ip:10.1.2.3
check "nothing of a refused identity was written" test ! -e evil.key -a ! -e bad.crt -a ! -e far.key
check_fails "nor recorded" sh -c '"$MTLS" list --ca-dir online | grep -E " (evil|bad|far) "'
check_status "path length 0: the intermediate may not sign another CA" 1 \
	"$MTLS" ca sign-intermediate --ca-dir online other/ca.csr --name sub --out sub.pem
said "...in those words" "path length is 0"

# Certificates that break the constraints, made behind the CA's back with
# the intermediate's key: every verifier must refuse them.
forge() { # NAME SAN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA online/ca.crt -CAkey online/ca.key -set_serial 0x$(openssl rand -hex 8) \
		-days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
	cat "$1.crt" online/ca.chain.pem >"$1.chain.pem"
}
forge outside DNS:evil.org
forge excluded DNS:bad.example.com
forge farip DNS:x.example.com,IP:10.9.9.9
forge inside DNS:in.example.com # the control: made the same way, allowed
check "forged certificates were made" test -s outside.crt -a -s excluded.crt -a -s farip.crt

check "openssl verify accepts the good chain" \
	openssl verify -x509_strict -CAfile online/root.crt -untrusted online/ca.crt web.crt
for f in outside excluded farip; do
	check_output "openssl verify refuses $f" "subtree violation" \
		openssl verify -CAfile online/root.crt -untrusted online/ca.crt $f.crt
	check_status "mtls verify refuses $f" 1 "$MTLS" verify $f.chain.pem --ca online/root.crt
	check_output "certtool refuses $f" "violates the signer's constraints" \
		certtool --verify-chain --infile <(cat $f.chain.pem)
done
check_output "mtls verify explains it" "constraint|subtree" \
	"$MTLS" verify outside.chain.pem --ca online/root.crt
check_output "mtls verify accepts the good chain" "OK" \
	"$MTLS" verify web.chain.pem --ca online/root.crt --purpose server
check_output "certtool accepts the good chain" "Verified. The certificate is trusted" \
	certtool --verify-chain --infile web.chain.pem

mkdir nss
certutil -N -d sql:nss --empty-password >/dev/null 2>&1
certutil -A -d sql:nss -n root -t "CT,C,C" -i online/root.crt
certutil -A -d sql:nss -n inter -t ",," -i online/ca.crt
for f in web outside excluded farip; do
	certutil -A -d sql:nss -n $f -t ",," -i $f.crt
done
check_output "NSS certutil accepts the good server" "certificate is valid" \
	certutil -V -d sql:nss -n web -u V
for f in outside excluded farip; do
	check_fails "NSS certutil refuses $f" sh -c "certutil -V -d sql:nss -n $f -u V | grep -q 'certificate is valid'"
done

mkdir classes
if javac -d classes "$JAVA_SRC/PathCheck.java" 2>"$T/javac.log"; then
	check_output "Java PKIX accepts the good chain" "^valid" \
		java -cp classes PathCheck online/root.crt web.chain.pem
	for f in outside excluded farip; do
		check_output "Java PKIX refuses $f" "name constraints" \
			java -cp classes PathCheck online/root.crt $f.chain.pem
	done
else
	fail "javac PathCheck"; cat "$T/javac.log"
fi

# Mutual TLS through the intermediate: our receiver trusts only the root.
P=$(free_port)
map=()
"$MTLS" serve --help 2>&1 | grep -q -- --insecure-no-map && map=(--insecure-no-map)
bg "$MTLS" serve --listen 127.0.0.1:$P --cert web.chain.pem --key web.key \
	--ca online/root.crt --root "$T/content" "${map[@]}" 2>"$T/serve.log"
if wait_port $P 10; then
	code() { # CERT KEY
		curl -s -o /dev/null -w '%{http_code}' --cacert online/root.crt \
			--cert "$1" --key "$2" -H "Action: Test" -H "Path: /content" \
			-X POST "https://127.0.0.1:$P/bin/receive"
	}
	check_output "a client of the intermediate is accepted" "^200$" \
		code author.chain.pem author.key
	check_output "a client forged the same way inside the constraints is accepted" "^200$" \
		code inside.chain.pem inside.key
	check_fails "a forged client outside the constraints is refused" \
		sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert online/root.crt --cert outside.chain.pem --key outside.key -H 'Action: Test' -H 'Path: /content' -X POST https://127.0.0.1:$P/bin/receive)\" = 200 ]"
	check_output "curl verifies the server through the intermediate" "^200$" \
		code author.chain.pem author.key
else
	fail "serve did not start"; cat "$T/serve.log"
fi

# The online CA: EST cacerts carries the intermediate and the root, and
# its own TLS certificate verifies against the root alone.
P2=$(free_port)
bg "$MTLS" ca serve --listen 127.0.0.1:$P2 --ca-dir online --quiet 2>"$T/caserve.log"
if wait_port $P2 10; then
	check "EST cacerts over TLS verified by the root alone" \
		curl -sS --fail --cacert online/root.crt -o cacerts.b64 \
		"https://127.0.0.1:$P2/.well-known/est/cacerts"
	base64 -d cacerts.b64 >cacerts.p7 2>/dev/null
	openssl pkcs7 -inform DER -in cacerts.p7 -print_certs -out cacerts.pem 2>/dev/null
	check "cacerts holds the intermediate and the root" \
		test "$(grep -c 'BEGIN CERTIFICATE' cacerts.pem)" = 2
	check "...the root among them" grep -qf <(sed -n 2p online/root.crt) cacerts.pem
	# A node pinning the online CA (what 'mtls ca show' prints there)
	# ends up anchored at the root, with the intermediate in its chain.
	FP=$("$MTLS" ca show --ca-dir online | awk '/^SHA-256/ {print $2}')
	TOK=$("$MTLS" token create n1 --ca-dir online --san dns:n1.example.com --ttl 10m 2>/dev/null)
	check "mtls enroll through the intermediate" \
		"$MTLS" enroll "https://127.0.0.1:$P2" --token "$TOK" --ca-fingerprint "$FP" --dir node n1
	check "the node's ca.pem is the root" cmp node/ca.pem online/root.crt
	check "its chain is leaf, intermediate, root" \
		test "$(grep -c 'BEGIN CERTIFICATE' node/n1.chain.pem)" = 3
	check "openssl verifies the node's chain against its ca.pem" \
		openssl verify -CAfile node/ca.pem -untrusted node/n1.chain.pem node/n1.crt
	RFP=$("$MTLS" ca show --ca-dir root | awk '/^SHA-256/ {print $2}')
	TOK=$("$MTLS" token create n2 --ca-dir online --san dns:n2.example.com --ttl 10m 2>/dev/null)
	check "pinning the root works as well" \
		"$MTLS" enroll "https://127.0.0.1:$P2" --token "$TOK" --ca-fingerprint "$RFP" --dir node2 n2
	check "...with the same anchor" cmp node2/ca.pem online/root.crt
else
	fail "ca serve did not start"; cat "$T/caserve.log"
fi

# Renewal with the same key: a new validity, the same subject, key
# identifier and constraints; a leaf issued before verifies under it.
cp online/ca.crt inter-old.crt
cp web.crt web-before-renewal.crt
check_status "renewing a certificate the root did not sign is refused" 1 \
	"$MTLS" ca renew-intermediate --ca-dir root --ca-pass env:ROOT_PASS web.crt --out x.pem
check_status "renewing needs --out" 2 \
	"$MTLS" ca renew-intermediate --ca-dir root --ca-pass env:ROOT_PASS inter-old.crt
check_output "the root renews the intermediate" "renewed with the same key" \
	"$MTLS" ca renew-intermediate --ca-dir root --ca-pass env:ROOT_PASS inter-old.crt \
	--days 3000 --out online-1.renewed.pem
head -n "$(grep -n 'END CERTIFICATE' online-1.renewed.pem | head -1 | cut -d: -f1)" \
	online-1.renewed.pem >inter-new.crt
check "... a new serial" test "$(openssl x509 -in inter-new.crt -noout -serial)" != \
	"$(openssl x509 -in inter-old.crt -noout -serial)"
check "... a later notAfter" test "$(openssl x509 -in inter-new.crt -noout -enddate)" != \
	"$(openssl x509 -in inter-old.crt -noout -enddate)"
for f in -subject -pubkey "-ext subjectKeyIdentifier,basicConstraints,nameConstraints"; do
	check "... the same $f" test "$(openssl x509 -in inter-new.crt -noout $f)" = \
		"$(openssl x509 -in inter-old.crt -noout $f)"
done
check_output "the root's inventory: the old certificate superseded, the new one valid" \
	"online-1 +ca +valid" "$MTLS" list --ca-dir root
check_status "install without --renewal refuses to replace it" 1 \
	"$MTLS" ca install --dir online online-1.renewed.pem
check_status "--renewal of another intermediate's chain is refused" 1 \
	"$MTLS" ca install --dir other --renewal online-1.renewed.pem
check_status "installing the old chain as a renewal is refused (not longer)" 1 \
	"$MTLS" ca install --dir online --renewal online-1.chain.pem
check "the renewal is installed" "$MTLS" ca install --dir online --renewal online-1.renewed.pem
check "ca.crt is the renewed certificate" cmp online/ca.crt inter-new.crt
check "openssl verifies a leaf issued before the renewal under the renewed intermediate" \
	openssl verify -x509_strict -CAfile root/ca.crt -untrusted inter-new.crt web-before-renewal.crt
check "the intermediate keeps issuing, its chain carrying the renewed certificate" \
	"$MTLS" issue --ca-dir online after --profile server --san dns:after.example.com
check "... which verifies too" \
	openssl verify -x509_strict -CAfile root/ca.crt -untrusted online/ca.chain.pem after.crt
check "... and its chain file holds the renewed intermediate" \
	grep -qxF "$(tail -n 2 inter-new.crt | head -n 1)" after.chain.pem

# Revoking the intermediate at the root revokes everything below it.
check "the root revokes the intermediate" \
	"$MTLS" revoke --ca-dir root online-1 --reason keyCompromise
check "the root publishes its CRL" \
	"$MTLS" crl --ca-dir root --ca-pass env:ROOT_PASS --out root.crl
check "the intermediate publishes its own CRL" "$MTLS" crl --ca-dir online --out online.crl
check_output "openssl: the leaf's chain is revoked at the intermediate" "certificate revoked" \
	openssl verify -crl_check_all -CAfile online/root.crt -untrusted online/ca.crt \
	-CRLfile root.crl -CRLfile online.crl web.crt

# Bundles hand peers the root as trust anchor and the intermediate in the chain.
check "bundle nginx from the intermediate" \
	"$MTLS" bundle web --for nginx --ca-dir online --out bundle
check "the bundle's ca.crt is the root" cmp bundle/ca.crt online/root.crt
check "the bundle's chain carries the intermediate" \
	test "$(grep -c 'BEGIN CERTIFICATE' bundle/web.chain.pem)" -ge 2

finish
