#!/usr/bin/env bash
# What the inventory says a certificate is now: list shows expired,
# superseded and revoked certificates as such (never "valid").
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
command -v faketime >/dev/null || { skip "faketime missing"; finish; }

"$MTLS" ca init --name "CN=State CA" >/dev/null
"$MTLS" issue cur --profile client >/dev/null
"$MTLS" issue ren --profile client >/dev/null
"$MTLS" renew ren >/dev/null
"$MTLS" issue rev --profile client >/dev/null
"$MTLS" revoke rev --reason keyCompromise >/dev/null
faketime -f '-400d' "$MTLS" issue old --profile client --days 30 >/dev/null 2>&1
"$MTLS" list > list.txt
"$MTLS" list --all > all.txt

check_output "an expired certificate shows as expired" "^[0-9A-F]+ +old +client +expired " cat list.txt
check_output "a revoked certificate shows as revoked" "^[0-9A-F]+ +rev +client +revoked " cat list.txt
check_output "a current certificate shows as valid" "^[0-9A-F]+ +cur +client +valid " cat list.txt
check_fails "superseded certificates are hidden by default" grep -q superseded list.txt
check_output "--all shows the superseded one" "^[0-9A-F]+ +ren +client +superseded " cat all.txt
check "--all shows both of ren's certificates" test "$(grep -c ' ren ' all.txt)" = 2
check "by default only ren's current one" test "$(grep -c ' ren ' list.txt)" = 1
check_output "--status filters" "old" "$MTLS" list --status expired
check_fails "--status expired leaves out the rest" sh -c "'$MTLS' list --status expired | grep -qE ' (cur|rev|ren) '"
check_status "--status with an unknown word is a usage error" 2 "$MTLS" list --status bogus
check_output "--json carries the same status" '"status": "expired"' "$MTLS" list old --json
check "--json: superseded, with the serial that replaced it" python3 -c "
import json, subprocess, sys
rows = json.loads(subprocess.check_output(['$MTLS', 'list', 'ren', '--all', '--json']))
st = sorted(r['status'] for r in rows)
assert st == ['superseded', 'valid'], st
old = [r for r in rows if r['status'] == 'superseded'][0]
assert old['superseded_by'] == [r for r in rows if r['status'] == 'valid'][0]['serial']
"
check_fails "--expiring does not list long-expired certificates" \
	sh -c "'$MTLS' list --expiring 30d 2>/dev/null | grep -q ' old '"
check_output "... but names them apart" "already expired" "$MTLS" list --expiring 30d
check_status "... and exits 1 (something needs doing)" 1 "$MTLS" list --expiring 30d

# verify and doctor consult the inventory (and a CRL) when they can.
cp ren.crt ren-new.crt
"$MTLS" list ren --all --json | python3 -c 'import json,sys; print([r["pem"] for r in json.load(sys.stdin) if r["status"]=="superseded"][0], end="")' > ren-old.crt
check_status "verify: a revoked certificate is invalid (the inventory says so)" 1 "$MTLS" verify rev.crt
check_output "... saying since when and what to do" "revoked on .* \(keyCompromise\) in the CA's inventory: stop using it: 'mtls issue rev --profile client --force'" "$MTLS" verify rev.crt
check_status "verify: a superseded certificate is valid" 0 "$MTLS" verify ren-old.crt
check_output "... with a warning naming the current one" "warning: ren-old.crt: superseded .*deploy ren's current certificate" "$MTLS" verify ren-old.crt
check_fails "verify: the current one has no warning" sh -c "'$MTLS' verify ren-new.crt 2>&1 | grep -q warning"
check_status "verify --ca-dir of another CA: the inventory does not know it" 0 "$MTLS" verify rev.crt --ca-dir nowhere --ca pki/ca.crt
mkdir node && cp rev.crt rev.key ren-old.crt pki/ca.crt node/
check_status "doctor: a revoked certificate is an error" 1 "$MTLS" doctor node
check_output "... cert_revoked with the fix" "error cert_revoked: node/rev.crt: revoked on .*fix: stop using it" sh -c "'$MTLS' doctor node | tr '\n' ' '"
check_output "doctor: a superseded one is a warning" "warn +cert_superseded: node/ren-old.crt" "$MTLS" doctor node
"$MTLS" crl >/dev/null
check_output "doctor --crl without the inventory: revoked by the CRL" "cert_revoked: node/rev.crt: revoked: listed in the CRL" \
	"$MTLS" doctor node --ca-dir nowhere --crl pki/crl.pem
finish
