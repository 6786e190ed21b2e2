#!/usr/bin/env bash
# The README's five-minute tour, run as written (with the files it needs
# made first), so the front page cannot drift from what mtls does.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export P12_PASS=tour-p12-pass STOREPASS=tour-store-pass
printf 'fleet1 node dns:fleet1.example\nfleet2 client\n' > fleet.txt

check "ca init" "$MTLS" ca init --name "CN=Replication CA,O=Example"
check "issue server" "$MTLS" issue publish --profile server --san dns:publish.example,ip:127.0.0.1
check "issue client (legacy p12)" "$MTLS" issue author --profile client --p12 --legacy --pass env:P12_PASS
check "issue node" "$MTLS" issue repl1 --profile node
check "issue --batch" "$MTLS" issue --batch fleet.txt --out certs/
"$MTLS" ca init --dir partnerca >/dev/null
"$MTLS" csr partner --subject "CN=partner,O=Partner" --san dns:api.partner.example --out p >/dev/null
cp p/partner.csr partner.csr
check "sign a partner CSR" "$MTLS" sign partner.csr --profile client --san-allow 'dns:*.partner.example'
check "csr for the partner's CA" "$MTLS" csr api-client --subject "CN=api-client,O=Example" --san dns:client.example
check "list" "$MTLS" list
check_output "inspect the p12" "author" "$MTLS" inspect author.p12 --pass env:P12_PASS
check_output "verify explains the wrong purpose" "wrong purpose" "$MTLS" verify author.crt --purpose server
check "keystore trust" "$MTLS" keystore trust truststore.jks --alias ca --cert pki/ca.crt --pass env:STOREPASS
check "convert p12 to jks" "$MTLS" convert author.p12 author.jks --in-pass env:P12_PASS --out-pass env:STOREPASS
check "bundle for nginx" "$MTLS" bundle publish --for nginx
check "bundle for activemq" "$MTLS" bundle broker --for activemq --issue server --pass env:STOREPASS
check "revoke and crl" sh -c "'$MTLS' revoke author --reason keyCompromise && '$MTLS' crl"
port=$(free_port)
bg "$MTLS" ocsp serve --listen "127.0.0.1:$port"
wait_port "$port"
check_output "the OCSP responder answers" "revoked" "$MTLS" ocsp check author.crt --issuer pki/ca.crt --url "http://127.0.0.1:$port"
check "list --expiring || rotate" sh -c "'$MTLS' list --expiring 30d || '$MTLS' rotate --expiring 30d"

# 7. The replication link (the tour uses port 8443; a free one here).
sport=$(free_port)
mkdir -p srv site && echo "<p>tour</p>" > site/index.html
echo 'principal repl1 cn=repl1 allow=*:/content' > map.txt
bg "$MTLS" serve --listen "127.0.0.1:$sport" --cert publish.crt --key publish.key \
	--ca pki/ca.crt --root srv --state-dir . --crl pki/crl.pem --map map.txt
wait_port "$sport"
check_output "mtls test succeeds" "Replication test succeeded" "$MTLS" test "https://127.0.0.1:$sport/bin/receive" --cert repl1.crt --key repl1.key --ca pki/ca.crt
check "mtls push delivers" "$MTLS" push "https://127.0.0.1:$sport/bin/receive" --cert repl1.crt --key repl1.key \
	--ca pki/ca.crt --state pushstate --dir ./site --prefix /content --wait
check "the content arrived" grep -q tour srv/content/index.html
check_fails "the revoked author is refused" "$MTLS" test "https://127.0.0.1:$sport/bin/receive" --cert author.crt --key author.key --ca pki/ca.crt
finish
