#!/usr/bin/env bash
# `mtls ca migrate-db`: a CA kept in SQLite moves into PostgreSQL (a real
# server started here) with every certificate, revocation, token, audit
# event, signing policy (with its certificate policy OIDs) and deployment
# record, all or nothing; a database holding state is refused without
# --force; the CA then serves from PostgreSQL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
cd "$T" || exit 1
pg_begin
pg_createdb moved
pg_createdb trap

check_output "migrate-db --help shows usage and exit statuses" "exit status" \
	$MTLS ca migrate-db --help
check_status "migrate-db without --to is a usage error (2)" 2 $MTLS ca migrate-db --ca-dir ca

$MTLS ca init --dir ca --name "CN=Moving CA" >/dev/null || exit 1
for n in c1 c2 c3 c4 c5; do $MTLS issue --ca-dir ca --profile client --out out "$n" >/dev/null || exit 1; done
# Deployment records (schema migration 6): issue notes out/, export a copy.
$MTLS export c1 --ca-dir ca --to pem --from out --out "$T/c1-copy.pem" >/dev/null || exit 1
# A signing policy with a certificate policy OID (schema migration 7).
$MTLS policy add partners --ca-dir ca --profile client --cert-policy 1.3.6.1.4.1.99999.7.1 >/dev/null || exit 1
$MTLS revoke --ca-dir ca c2 --reason keyCompromise >/dev/null
$MTLS revoke --ca-dir ca c4 >/dev/null
$MTLS crl --ca-dir ca --out before.crl >/dev/null
USED=$($MTLS token create used1 --ca-dir ca --ttl 10m 2>/dev/null)
FREE=$($MTLS token create free1 --ca-dir ca --san dns:free1.test --ttl 10m 2>/dev/null)
$MTLS token create gone1 --ca-dir ca --ttl 10m >/dev/null 2>&1
$MTLS token revoke gone1 --ca-dir ca >/dev/null 2>&1
# Spend one token through the online CA, so a used token moves too.
PORT=$(free_port)
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --quiet 2>serve1.log
SERVE=$LAST_PID
wait_port "$PORT" 20 || exit 1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null
csr() { openssl req -new -key k.pem -subj "/CN=$1" -outform DER 2>/dev/null | base64 >"$1.b64"; }
enroll() { # NAME SECRET -> status
	curl -s --cacert ca/ca.crt -u "$1:$2" -o "$1.p7" -w '%{http_code}' \
		-H 'Content-Type: application/pkcs10' --data-binary "@$1.b64" \
		"https://127.0.0.1:$PORT/.well-known/est/simpleenroll"
}
csr used1
check "a token is spent on SQLite" test "$(enroll used1 "$USED")" = 200
kill "$SERVE"; wait "$SERVE" 2>/dev/null
$MTLS list --ca-dir ca >list.before
$MTLS token list --ca-dir ca --all >tokens.before
$MTLS audit --ca-dir ca 2>/dev/null | wc -l >audit.before
$MTLS list --ca-dir ca --deployments >deploy.before
$MTLS policy show partners --ca-dir ca >policy.before
check "deployments are recorded before the move (c1: out/ and its PEM copy)" \
	test "$(grep -c '^c1 ' deploy.before)" -ge 2

# All or nothing: a target that fails at the third certificate keeps none,
# and the CA stays on SQLite.
$MTLS ca init --dir scratch --db "$(pg_url trap)" >/dev/null
pg_sql trap "CREATE FUNCTION no_c3() RETURNS trigger AS \$\$ BEGIN IF NEW.name='c3' THEN RAISE EXCEPTION 'planted failure'; END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql; CREATE TRIGGER no_c3 BEFORE INSERT ON certs FOR EACH ROW EXECUTE FUNCTION no_c3();" >/dev/null
check_status "a migration failing half-way exits 1" 1 $MTLS ca migrate-db --ca-dir ca --to "$(pg_url trap)"
check "and leaves nothing in the target" test "$(pg_sql trap "SELECT count(*) FROM certs")" = 0
check_fails "and ca.json without a database" grep -q '"db"' ca/ca.json

# A database that holds state: refused, then replaced with --force.
$MTLS issue --ca-dir scratch --profile client --out out2 other >/dev/null
pg_sql trap "DROP TRIGGER no_c3 ON certs" >/dev/null
$MTLS ca migrate-db --ca-dir ca --to "$(pg_url trap)" >refused.out 2>&1
rc=$?
check "a target holding another CA's state is refused (exit 1)" test "$rc" = 1
check "saying so" grep -q "not empty" refused.out
check_status "the URL may not carry a password (usage, exit 2)" 2 \
	$MTLS ca migrate-db --ca-dir ca --to "postgresql://mtls:hunter2@127.0.0.1:$PG_PORT/moved"
check_fails "and the password is not repeated back" grep -q hunter2 "$T/last.out"

check "migrate-db into an empty database" $MTLS ca migrate-db --ca-dir ca --to "$(pg_url moved)"
check "ca.json names the database" grep -q "\"db\": \"$(pg_url moved)\"" ca/ca.json
$MTLS list --ca-dir ca >list.after
check "every certificate and revocation is there (mtls list identical)" cmp list.before list.after
$MTLS token list --ca-dir ca --all >tokens.after
check "every token is there, used, unused and revoked alike" cmp tokens.before tokens.after
$MTLS list --ca-dir ca --deployments >deploy.after
check "every deployment record moved (list --deployments identical)" cmp deploy.before deploy.after
check "the deployment rows live in PostgreSQL" test \
	"$(pg_sql moved "SELECT count(*) FROM deployments WHERE name='c1'")" -ge 2
$MTLS policy show partners --ca-dir ca >policy.after
check "the signing policy moved with its certificate policy OID" cmp policy.before policy.after
check "... stored in PostgreSQL" test \
	"$(pg_sql moved "SELECT cert_policies FROM policies WHERE name='partners'")" = 1.3.6.1.4.1.99999.7.1
check "the audit trail moved" test "$($MTLS audit --ca-dir ca 2>/dev/null | wc -l)" = "$(cat audit.before)"
check "the rows now live in PostgreSQL" test \
	"$(pg_sql moved "SELECT count(*)||' '||sum(CASE WHEN status='revoked' THEN 1 ELSE 0 END) FROM certs")" = \
	"$(($(wc -l <list.before) - 1)) 2"
$MTLS crl --ca-dir ca --out after.crl >/dev/null
crl_serials() { openssl crl -in "$1" -noout -text | awk '/Serial Number:/{print $3}' | sort; }
check "the CRL lists the same revocations" test "$(crl_serials before.crl)" = "$(crl_serials after.crl)"
check "and its number continues past the old one" test \
	"$(printf %d "$(openssl crl -in after.crl -noout -crlnumber | cut -d= -f2)")" -gt \
	"$(printf %d "$(openssl crl -in before.crl -noout -crlnumber | cut -d= -f2)")"

bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --quiet 2>serve2.log
wait_port "$PORT" 20 || exit 1
csr free1
check "an unused token enrolls on PostgreSQL" test "$(enroll free1 "$FREE")" = 200
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null
csr used1
check "a token spent before the move stays spent (403)" test "$(enroll used1 "$USED")" = 403
check_status "migrating again is refused: the CA is on PostgreSQL already" 2 \
	$MTLS ca migrate-db --ca-dir ca --to "$(pg_url trap)" --force
finish
