#!/usr/bin/env bash
# The commands that work on a CA, on a CA whose state is in PostgreSQL (a
# real server started here): renew, rotate, sign, policy, export, ca show,
# sign-intermediate, ACME EAB, ocsp serve and a whole rollover, each checked against
# the rows it must leave in the database. Then a rollover under two
# `mtls ca serve` instances sharing it: each follows when its copy of the
# CA directory changes, without a restart. (pg_shared covers issue,
# revoke, crl, list, token and audit; pg_migrate covers migrate-db.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
cd "$T" || exit 1
pg_begin 'tail -5 ca_a.log ca_b.log 2>/dev/null'
pg_createdb sub

$MTLS ca init --dir ca --name "CN=PG Root" --db "$(pg_url)" >/dev/null || exit 1
export MTLS_CA_DIR=$T/ca
check_fails "no inventory file: the state is in PostgreSQL" test -e ca/inventory.db
rows() { pg_sql "SELECT count(*) FROM certs WHERE $1"; }

# ca show
check_output "ca show reads the CA (and names its database)" "PG Root" $MTLS ca show

# renew: a new row that supersedes the old one
$MTLS issue web --profile server --san dns:web.test --out out >/dev/null || exit 1
OLD=$(openssl x509 -in out/web.crt -noout -serial | cut -d= -f2)
check "renew" $MTLS renew web --out out
NEW=$(openssl x509 -in out/web.crt -noout -serial | cut -d= -f2)
check "... recorded: the old row is superseded by the new serial" test \
	"$(pg_sql "SELECT superseded_by FROM certs WHERE serial='$OLD'")" = "$NEW"
check "... and the new row is valid" test "$(rows "serial='$NEW' AND status='valid'")" = 1

# rotate: everything expiring within the window, in one run
$MTLS issue app1 --profile client --days 5 --out out >/dev/null || exit 1
$MTLS issue app2 --profile client --days 5 --out out >/dev/null || exit 1
check "rotate --expiring 10d" $MTLS rotate --expiring 10d --out out
check "... two new rows, two superseded" test \
	"$(rows "name IN ('app1','app2') AND superseded_by IS NOT NULL")" = 2
check "... and two current ones" test \
	"$(rows "name IN ('app1','app2') AND superseded_by IS NULL AND status='valid'")" = 2

# policy and sign
check "policy add" $MTLS policy add partners --profile client --subject-allow 'CN=*.partner.test' --days 30
check "... stored in PostgreSQL" test "$(pg_sql "SELECT count(*) FROM policies WHERE name='partners'")" = 1
check_output "policy list reads it back" "partners" $MTLS policy list
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p.key \
	-subj "/CN=a.partner.test" -out p.csr 2>/dev/null
check "sign a partner's CSR under the policy" $MTLS sign p.csr --policy partners --name a-partner --out p.crt
check "... recorded as a partner's certificate" test "$(rows "name='a-partner' AND origin='partner'")" = 1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout q.key \
	-subj "/CN=intruder.test" -out q.csr 2>/dev/null
check_fails "... and the policy refuses another subject" $MTLS sign q.csr --policy partners --name q --out q.crt
check "... which left no row" test "$(rows "name='q'")" = 0

# export (reads the identity and the CA)
check "export to PKCS#12" $MTLS export web --from out --to p12 --pass pass:secret --out web.p12
check "... which openssl reads" openssl pkcs12 -in web.p12 -passin pass:secret -noout

# EAB credentials for ACME
check "acme eab create" sh -c "$MTLS acme eab create web1 --allow 'dns:*.test' >eab.out"
check "... stored in PostgreSQL" test "$(pg_sql "SELECT count(*) FROM acme_eab")" = 1
KID=$(awk '{print $1; exit}' eab.out)
check_output "acme eab list" "web1" $MTLS acme eab list
check "acme eab revoke" $MTLS acme eab revoke "$KID"
check_output "... listed as revoked" "revoked" $MTLS acme eab list

# sign-intermediate: a sub-CA on its own database, signed by this root
$MTLS ca init --intermediate --dir sub --name "CN=PG Sub" --db "$(pg_url sub)" >/dev/null 2>&1 ||
	$MTLS ca init --intermediate --dir sub --name "CN=PG Sub" >/dev/null || exit 1
check "ca sign-intermediate" $MTLS ca sign-intermediate sub/ca.csr --name sub --out sub.chain.pem \
	--path-len 0 --permit dns:.test
check "... recorded in the root's database" test "$(rows "name='sub'")" = 1
check "ca install" $MTLS ca install --dir sub sub.chain.pem
check "the intermediate issues" $MTLS issue --ca-dir sub leaf --profile server --san dns:leaf.test --out sub-out
# renew-intermediate: the same key, a new row in the root's database, the
# old one superseded; the leaf issued before verifies under the renewal
check "ca renew-intermediate" $MTLS ca renew-intermediate sub/ca.crt --days 2000 --out sub.renewed.pem
check "... recorded in the root's database, the old row superseded" \
	test "$(rows "name='sub'")" = 2 -a "$(rows "name='sub' AND superseded_by IS NOT NULL")" = 1
check "ca install --renewal" $MTLS ca install --dir sub --renewal sub.renewed.pem
check "openssl verifies the earlier leaf under the renewed intermediate" \
	openssl verify -CAfile ca/ca.crt -untrusted sub/ca.crt sub-out/leaf.crt

# ocsp serve answers from PostgreSQL, and sees a revocation made by
# another process
$MTLS issue gone --profile client --out out >/dev/null || exit 1
PO=$(free_port)
bg $MTLS ocsp serve --listen "127.0.0.1:$PO" --refresh 100 2>ocsp.log
OCSP_PID=$LAST_PID
wait_port "$PO" 20 || fail "ocsp serve started"
check_output "ocsp serve: a certificate is good" ": good" \
	$MTLS ocsp check out/gone.crt --issuer ca/ca.crt --url "http://127.0.0.1:$PO"
$MTLS revoke gone >/dev/null
check "... the revocation is in PostgreSQL" test "$(rows "name='gone' AND status='revoked'")" = 1
for i in $(seq 1 50); do
	$MTLS ocsp check out/gone.crt --issuer ca/ca.crt --url "http://127.0.0.1:$PO" >ocsp.out 2>&1
	grep -q "revoked" ocsp.out && break
	sleep 0.1
done
check "... and ocsp serve answers revoked, without a restart" grep -q "revoked" ocsp.out
kill "$OCSP_PID"

# A rollover on PostgreSQL, with two online instances that each have
# their own copy of the CA directory (as on their own hosts).
cp -a ca ca_a && cp -a ca ca_b
start_serve() { # DIR PORT
	bg $MTLS ca serve --ca-dir "$1" --listen "127.0.0.1:$2" --cert-lifetime 1h 2>>"$1.log"
	wait_port "$2" 20
}
PA=$(free_port); PB=$(free_port)
start_serve ca_a "$PA" || exit 1
A_PID=$LAST_PID
start_serve ca_b "$PB" || exit 1
B_PID=$LAST_PID
check_output "rollover begin" "rollover begun" $MTLS ca rollover begin
check_output "rollover status lists what the old issuer signed, from PostgreSQL" "web" \
	$MTLS ca rollover status
# The new issuer reaches each host: here, a copy of the directory.
cp -a ca/. ca_a/
cp -a ca/. ca_b/
check "instance A follows the new directory without a restart" \
	wait_log ca_a.log "reloaded the CA: issuer .*G2" 15
check "instance B too" wait_log ca_b.log "reloaded the CA: issuer .*G2" 15
check "... both still the processes started before" sh -c "kill -0 $A_PID && kill -0 $B_PID"
for u in "$PA" "$PB"; do
	curl -s --cacert ca/trust.pem "https://127.0.0.1:$u/.well-known/est/cacerts" |
		base64 -d | openssl pkcs7 -inform DER -print_certs >"cacerts-$u.pem" 2>/dev/null
done
check "both publish the new root, the old one and the cross certificate" \
	test "$(grep -c 'BEGIN CERT' "cacerts-$PA.pem") $(grep -c 'BEGIN CERT' "cacerts-$PB.pem")" = "3 3"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null
for n in e1 e2; do
	openssl req -new -key k.pem -subj "/CN=$n" -outform DER 2>/dev/null | base64 >"$n.b64"
done
TOK1=$($MTLS token create e1 --ttl 10m 2>/dev/null)
TOK2=$($MTLS token create e2 --ttl 10m 2>/dev/null)
enroll() { # NAME SECRET PORT -> status
	curl -s --cacert ca/trust.pem -u "$1:$2" -o "$1.p7" -w '%{http_code}' \
		-H 'Content-Type: application/pkcs10' --data-binary "@$1.b64" \
		"https://127.0.0.1:$3/.well-known/est/simpleenroll"
}
check "an enrollment on A after begin" test "$(enroll e1 "$TOK1" "$PA")" = 200
check "an enrollment on B after begin" test "$(enroll e2 "$TOK2" "$PB")" = 200
for n in e1 e2; do
	base64 -d "$n.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -noout -issuer >"$n.issuer"
done
check "... both issued by the new issuer" sh -c "grep -q G2 e1.issuer && grep -q G2 e2.issuer"
check_output "renew everything on the old issuer (rotate)" "renewed app2" \
	$MTLS rotate --expiring 3650d --out out --store-pass pass:secret
cp "$T/last.out" rotate.out
check "... skipping the intermediate, whose key is elsewhere" \
	grep -q "skipped sub: an intermediate CA" rotate.out
check "... and the partner's" grep -q "skipped a-partner" rotate.out
check_fails "status no longer lists what rotate renewed" \
	sh -c "$MTLS ca rollover status | grep -qwE 'web|app1|app2'"
check "a partner certificate is renewed from a new CSR" \
	$MTLS sign p.csr --policy partners --name a-partner --renew --out p2.crt
check_output "rollover finish" "rollover finished" $MTLS ca rollover finish --force
check "... its final CRL in the retired directory" sh -c 'ls ca/retired/*/final.crl'
check_output "rollover status after finish" "no rollover under way" $MTLS ca rollover status
finish
