#!/usr/bin/env bash
# ACME dns-01 (RFC 8555 8.4) in `mtls ca serve --acme-dns-resolver`: a
# real DNS server (BIND 9's named on 127.0.0.1, a zone acme.test taking
# RFC 2136 updates from 127.0.0.1) and a real client (lego, whose rfc2136
# provider adds and removes the TXT record): lego obtains a certificate
# by dns-01 and it verifies against our CA. A TXT record with another
# value makes the authorization and order invalid, names the value found,
# and issues nothing. Skipped only when named cannot start.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

NAMED=$(command -v named || echo /usr/sbin/named)
if [ ! -x "$NAMED" ] || ! command -v lego >/dev/null; then
	echo "skip - named (bind9) or lego is not installed (scripts/deps.sh test)"
	exit 77
fi

# ---- the DNS server: authoritative for acme.test, updates from 127.0.0.1
DP=$(free_port)
mkdir -p dns
cat > dns/named.conf <<CONF
options {
	directory "$T/dns";
	pid-file "$T/dns/named.pid";
	session-keyfile "$T/dns/session.key";
	listen-on port $DP { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
zone "acme.test" {
	type primary;
	file "$T/dns/acme.test.zone";
	allow-update { 127.0.0.1; };
};
CONF
cat > dns/acme.test.zone <<'ZONE'
$TTL 5
@	IN SOA	ns.acme.test. admin.acme.test. 1 60 60 600 5
@	IN NS	ns.acme.test.
ns	IN A	127.0.0.1
web	IN A	127.0.0.1
bad	IN A	127.0.0.1
_acme-challenge.bad	IN TXT	"not-the-digest-of-any-key-authorization"
ZONE
bg "$NAMED" -g -4 -c "$T/dns/named.conf" 2>dns/named.log
if ! wait_port "$DP" 10; then
	echo "skip - named could not start:"; tail -5 dns/named.log
	exit 77
fi

$MTLS ca init --dir ca --name "CN=ACME DNS Test CA" >/dev/null || exit 1
PORT=$(free_port)
DIR=https://127.0.0.1:$PORT/acme/directory
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 2d \
	--acme-no-eab --acme-allow 'dns:*.acme.test' --acme-validate-timeout 8 \
	--acme-dns-resolver "127.0.0.1:$DP" 2>serve.log
wait_port "$PORT" || { cat serve.log; exit 1; }

# lego with state in DIR ($1); the rest are its arguments.
lg() {
	local d=$1; shift
	SSL_CERT_FILE=$T/ca/ca.crt timeout 60 lego --path "$T/$d" --server "$DIR" \
		--email dns@acme.test --accept-tos --key-type ec256 \
		--dns.resolvers "127.0.0.1:$DP" --dns.disable-cp "$@"
}

# ---- dns-01 through RFC 2136 updates
export RFC2136_NAMESERVER=127.0.0.1:$DP RFC2136_TTL=5 \
	RFC2136_PROPAGATION_TIMEOUT=20 RFC2136_POLLING_INTERVAL=1
check "lego obtains a certificate by dns-01 (rfc2136 into named)" \
	lg ok --dns rfc2136 --domains web.acme.test run
check "its certificate verifies against our CA" \
	openssl verify -CAfile ca/ca.crt ok/certificates/web.acme.test.crt
check_output "its SAN is the order's identifier" 'DNS:web.acme.test$' \
	openssl x509 -in ok/certificates/web.acme.test.crt -noout -ext subjectAltName
check_output "the server validated it by dns-01 against the resolver" \
	"acme dns-01 of dns:web.acme.test at 127.0.0.1:$DP: valid" cat serve.log

# ---- a TXT record with another value: lego's exec provider changes
# nothing, so the zone's own record for bad.acme.test is what is found.
printf '#!/bin/sh\nexit 0\n' > noop.sh; chmod +x noop.sh
lg_bad() {
	EXEC_PATH=$T/noop.sh EXEC_PROPAGATION_TIMEOUT=5 EXEC_POLLING_INTERVAL=1 \
		lg bad --dns exec --domains bad.acme.test run
}
check_fails "a wrong TXT value: lego gets no certificate" lg_bad
cp last.out lego-bad.out
check_output "lego is told the value is wrong (unauthorized)" \
	'urn:ietf:params:acme:error:unauthorized' cat lego-bad.out
check_output "the server names the value it found" \
	"dns-01 of dns:bad.acme.test .*invalid: .*not-the-digest" cat serve.log
check_output "the audit trail records the failed validation" \
	'acme-validation +invalid +bad.acme.test' $MTLS audit --ca-dir ca
check "nothing was issued for bad.acme.test" sh -c \
	"! $MTLS list --ca-dir ca | grep -q bad.acme.test"
finish
