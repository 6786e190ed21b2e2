#!/bin/bash
# A CRL URL per issuer through a rollover: 'rollover begin --crl-url' gives
# the new issuer's certificates a URL of their own, and 'mtls ca serve'
# answers each certificate's URL with its issuer's CRL: a verifier that
# follows an old-issuer certificate's URL gets the old issuer's CRL (the
# final one after finish), one that follows a new certificate's gets the
# new issuer's. Judged by fetching the URL written in each certificate and
# verifying the CRL against that certificate's issuer with openssl.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca

PE=$(free_port)
B=https://127.0.0.1:$PE
"$MTLS" ca init --name "CN=CRL Root CA" --crl-url "$B/crl.der" >/dev/null || exit 1
"$MTLS" issue old-ok --profile client --out o >/dev/null || exit 1
"$MTLS" issue old-gone --profile client --out o >/dev/null || exit 1
cp ca/ca.crt old-root.pem
bg "$MTLS" ca serve --listen "127.0.0.1:$PE" 2>>ca-serve.log
CASERVE=$LAST_PID
wait_port "$PE" || { fail "ca serve started"; finish; exit 1; }

check_status "begin refuses the old issuer's URL as the new one's" 2 \
	"$MTLS" ca rollover begin --crl-url "$B/crl.der"
check_status "... and a URL that is not http(s)" 2 \
	"$MTLS" ca rollover begin --crl-url "ftp://127.0.0.1/crl"
check "rollover begin with the new issuer's own CRL URL" \
	"$MTLS" ca rollover begin --crl-url "$B/crl-g2.der"
check "ca.json keeps the old issuer's URL" grep -q "\"previous_crl_url\": \"$B/crl.der\"" ca/ca.json
"$MTLS" issue new-ok --profile client --out n >/dev/null || exit 1
"$MTLS" issue new-gone --profile client --out n >/dev/null || exit 1
"$MTLS" revoke old-gone >/dev/null || exit 1
"$MTLS" revoke new-gone >/dev/null || exit 1
kill -HUP "$CASERVE"
check "ca serve reloads the new issuer" wait_log ca-serve.log "SIGHUP: reloaded the CA" 5

cdp() { openssl x509 -in "$1" -noout -ext crlDistributionPoints | grep -o 'https://[^ ]*'; }
check_output "an old certificate names the old URL" "^$B/crl.der$" cdp o/old-ok.crt
check_output "a new certificate names the new URL" "^$B/crl-g2.der$" cdp n/new-ok.crt

# fetched CERT ISSUER OUT: the CRL at CERT's URL, verified against ISSUER.
fetched() {
	curl -sf --max-time 5 --cacert ca/trust.pem -o "$3" "$(cdp "$1")" &&
		openssl crl -inform DER -in "$3" -noout -CAfile "$2" 2>&1 | grep -q "verify OK"
}
check "the old certificate's URL gives a CRL signed by the old issuer" \
	fetched o/old-ok.crt old-root.pem old.crl
check "the new certificate's URL gives a CRL signed by the new issuer" \
	fetched n/new-ok.crt ca/ca.crt new.crl
check_fails "... which the old issuer did not sign" \
	sh -c 'openssl crl -inform DER -in new.crl -noout -CAfile old-root.pem 2>&1 | grep -q "verify OK"'
for f in old new; do openssl crl -inform DER -in $f.crl -out $f.crl.pem || exit 1; done
check "openssl verify -crl_check: the old certificate with its URL's CRL" \
	openssl verify -crl_check -CAfile old-root.pem -CRLfile old.crl.pem o/old-ok.crt
check_output "... a revoked old certificate is refused" "certificate revoked" \
	openssl verify -crl_check -CAfile old-root.pem -CRLfile old.crl.pem o/old-gone.crt
check "openssl verify -crl_check: the new certificate with its URL's CRL" \
	openssl verify -crl_check -CAfile ca/ca.crt -CRLfile new.crl.pem n/new-ok.crt
check_output "... a revoked new certificate is refused" "certificate revoked" \
	openssl verify -crl_check -CAfile ca/ca.crt -CRLfile new.crl.pem n/new-gone.crt

# After finish the old URL serves the retired issuer's final CRL.
LINE=$(($(wc -l <ca-serve.log) + 1))
check "rollover finish" "$MTLS" ca rollover finish --force
kill -HUP "$CASERVE"
check "ca serve reloads after finish" \
	sh -c "for i in \$(seq 100); do tail -n +$LINE ca-serve.log | grep -q 'reloaded the CA' && exit 0; sleep 0.05; done; exit 1"
check "the old URL gives the final CRL, signed by the old issuer" \
	fetched o/old-ok.crt old-root.pem final.crl
check "... the one finish wrote" sh -c \
	'openssl crl -inform DER -in final.crl -outform PEM | cmp -s - ca/retired/*/final.crl'
check "the new URL still gives the new issuer's CRL" fetched n/new-ok.crt ca/ca.crt new2.crl
finish
