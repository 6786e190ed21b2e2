#!/usr/bin/env bash
# ACME (RFC 8555) in `mtls ca serve` with two more clients from Debian,
# both with External Account Binding and http-01 answered on 127.0.0.1 by
# a plain web server the test starts over the clients' challenge folder:
# - uacme (C, libcurl-gnutls) with its hook script protocol (the hook
#   writes and removes the challenge file); libcurl-gnutls reads only the
#   system CA bundle, so uacme runs in a mount namespace where our CA is
#   that bundle;
# - dehydrated (bash + curl) with WELLKNOWN, trusting our CA through
#   CURL_CA_BUNDLE.
# Each obtains a certificate (verified against our CA, its only SAN the
# name asked for), renews it (a new serial) and revokes it (the inventory
# and the CRL say so).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

for p in uacme dehydrated unshare; do
	if ! command -v $p >/dev/null; then
		skip "$p is not installed (scripts/deps.sh test)"
		finish; exit
	fi
done

$MTLS ca init --dir ca --name "CN=ACME Clients CA" >/dev/null || exit 1
PORT=$(free_port)
HP=$(free_port)
DIR=https://127.0.0.1:$PORT/acme/directory
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 2d \
	--acme-http-port "$HP" --acme-validate-timeout 6 \
	--acme-resolve "u1.acme.test:$HP:127.0.0.1" \
	--acme-resolve "d1.acme.test:$HP:127.0.0.1" \
	--acme-validate-allow 127.0.0.0/8 2>serve.log
wait_port "$PORT" || { cat serve.log; exit 1; }

# The http-01 answerer: a static web server over www/ (the clients put
# their files in www/.well-known/acme-challenge/).
mkdir -p www/.well-known/acme-challenge
bg python3 -m http.server "$HP" --bind 127.0.0.1 --directory www
wait_port "$HP" || { echo "no web server"; exit 1; }

serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
status_of() { # SERIAL -> inventory status
	$MTLS list --ca-dir ca --all --json | python3 -c 'import json,sys
s=sys.argv[1].lower().lstrip("0")
print([r["status"] for r in json.load(sys.stdin) if r["serial"].lower().lstrip("0")==s][0])' "$1"
}
eab() { $MTLS acme eab create "$1" --allow "dns:$2" --ca-dir ca 2>/dev/null | paste -sd' '; }

# ---- uacme
read -r KID KEY < <(eab uacme u1.acme.test)
cat ca/ca.crt > bundle.pem
cat > uacme-hook.sh <<EOF
#!/bin/sh
# uacme hook: METHOD TYPE IDENT TOKEN KEY_AUTH (uacme(1), HOOKS)
[ "\$2" = http-01 ] || exit 1
f=$T/www/.well-known/acme-challenge/\$4
case \$1 in
begin) printf '%s' "\$5" > "\$f" ;;
done|failed) rm -f "\$f" ;;
esac
EOF
chmod +x uacme-hook.sh
# uacme in a mount namespace whose system CA bundle is our CA (as root a
# plain mount namespace; otherwise one inside a user namespace).
NS=-m
[ "$(id -u)" = 0 ] || NS=-rm
ua() {
	timeout 60 unshare $NS sh -c 'T=$1 DIR=$2; shift 2
		mount --bind "$T/bundle.pem" /etc/ssl/certs/ca-certificates.crt &&
		exec uacme -a "$DIR" -c "$T/uacme" -h "$T/uacme-hook.sh" -t EC -y -v "$@"' \
		sh "$T" "$DIR" "$@" >>uacme.log 2>&1
}
if ! unshare $NS sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt' "$T/bundle.pem" 2>/dev/null; then
	skip "uacme: no mount namespace here to give it our CA as its system bundle"
	UACME=0
fi
if [ "${UACME:-1}" = 1 ]; then
check_fails "uacme without a binding is refused (externalAccountRequired)" ua new
check_output "uacme read externalAccountRequired from our directory" 'requires external credentials' cat uacme.log
check "uacme makes an account with its binding (-e KID:KEY)" ua -e "$KID:$KEY" new
check "uacme obtains a certificate for u1.acme.test (http-01 through its hook)" ua issue u1.acme.test
UC=uacme/u1.acme.test/cert.pem
check "the chain verifies against our CA" openssl verify -CAfile ca/ca.crt "$UC"
check_output "its only SAN is the name asked for" 'DNS:u1.acme.test$' \
	openssl x509 -in "$UC" -noout -ext subjectAltName
check "the hook removed the challenge file afterwards" \
	sh -c '[ -z "$(ls www/.well-known/acme-challenge)" ]'
S1=$(serial_of "$UC")
check "uacme renews it (-f: a new certificate)" ua -f issue u1.acme.test
S2=$(serial_of "$UC")
check "the renewal has a new serial" test -n "$S2" -a "$S1" != "$S2"
check "uacme revokes it" ua revoke "$UC"
check_output "the inventory says revoked" '^revoked$' status_of "$S2"
US=$S2
fi

# ---- dehydrated
# dehydrated hex-encodes the EAB key with hexdump (bsdextrautils), which its
# Debian package does not pull in; without it registration fails on a
# minimal machine with "hexdump: command not found".
check "hexdump is installed for dehydrated's EAB (bsdextrautils; scripts/deps.sh test)" \
	command -v hexdump
read -r KID KEY < <(eab dehydrated d1.acme.test)
mkdir -p dh
cat > dh/config <<EOF
CA="$DIR"
BASEDIR="$T/dh"
WELLKNOWN="$T/www/.well-known/acme-challenge"
CHALLENGETYPE="http-01"
KEY_ALGO="prime256v1"
EAB_KID="$KID"
EAB_HMAC_KEY="$KEY"
RENEW_DAYS="1"
EOF
export CURL_CA_BUNDLE=$T/ca/ca.crt
dh() { timeout 60 dehydrated -f "$T/dh/config" "$@" >>dehydrated.log 2>&1; }
# A failed registration says why (dehydrated's own words), so a run on
# another machine names its cause.
if dh --register --accept-terms; then
	pass "dehydrated registers with its binding (EAB_KID, EAB_HMAC_KEY)"
else
	fail "dehydrated registers with its binding (EAB_KID, EAB_HMAC_KEY)"
	tail -n 20 dehydrated.log | sed 's/^/    dehydrated: /'
fi
check "dehydrated obtains a certificate for d1.acme.test (http-01)" dh -c -d d1.acme.test
DC=dh/certs/d1.acme.test/cert.pem
check "the chain verifies against our CA" openssl verify -CAfile ca/ca.crt "$DC"
check_output "its only SAN is the name asked for" 'DNS:d1.acme.test$' \
	openssl x509 -in "$DC" -noout -ext subjectAltName
check_output "fullchain.pem carries our CA after the leaf" "$(openssl x509 -noout -subject -in ca/ca.crt)" \
	sh -c "openssl crl2pkcs7 -nocrl -certfile dh/certs/d1.acme.test/fullchain.pem | openssl pkcs7 -print_certs -noout"
S1=$(serial_of "$DC")
check "dehydrated renews it (--force)" dh -c -d d1.acme.test --force
S2=$(serial_of "$DC")
check "the renewal has a new serial" test -n "$S2" -a "$S1" != "$S2"
check "dehydrated revokes it" dh -r "$DC"
check_output "the inventory says revoked" '^revoked$' status_of "$S2"
curl -sf --cacert ca/ca.crt "https://127.0.0.1:$PORT/crl.pem" > crl.pem
# An empty serial would match any CRL: a client that got no certificate
# must fail here too.
if [ "${UACME:-1}" = 1 ]; then
	check_output "the CRL lists uacme's revoked serial" "${US:-no serial}" openssl crl -in crl.pem -noout -text
fi
check_output "the CRL lists dehydrated's revoked serial" "${S2:-no serial}" openssl crl -in crl.pem -noout -text
check_output "the audit trail names both clients' issuances" 'd1.acme.test' $MTLS audit --ca-dir ca
finish
