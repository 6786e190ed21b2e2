#!/usr/bin/env bash
# ACME (RFC 8555) in `mtls ca serve` with certbot and lego from Debian:
# external account binding, http-01 (certbot standalone on a chosen port),
# obtain, renew, revoke (CRL and OCSP then say so), nginx serving the
# certificate and curl verifying it against our CA; and the refusals a
# real client meets: no binding, a wrong MAC, a binding used twice, a name
# the binding does not allow, a challenge nobody answers (the order becomes
# invalid, nothing issued), and a stalled validation that does not stall
# the server. lego (Go) obtains by tls-alpn-01, renews by http-01, revokes.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

if ! command -v certbot >/dev/null; then
	skip "certbot is not installed (scripts/deps.sh test)"
	finish; exit
fi

$MTLS ca init --dir ca --name "CN=ACME Test CA" >/dev/null || exit 1
PORT=$(free_port)
HP=$(free_port)      # where certbot's standalone http-01 server listens
TP=$(free_port)      # where lego answers tls-alpn-01
DIR=https://127.0.0.1:$PORT/acme/directory
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 2d \
	--acme-http-port "$HP" --acme-tls-port "$TP" --acme-validate-timeout 6 \
	--acme-resolve "web3.acme.test:$HP:127.0.0.1" \
	--acme-resolve "web3.acme.test:$TP:127.0.0.1" \
	--acme-resolve "web1.acme.test:$HP:127.0.0.1" \
	--acme-resolve "web2.acme.test:$HP:127.0.0.1" \
	--acme-resolve "nobody.acme.test:$HP:127.0.0.3" \
	--acme-validate-allow 127.0.0.0/8 2>serve.log
wait_port "$PORT" || { cat serve.log; exit 1; }
export REQUESTS_CA_BUNDLE=$T/ca/ca.crt

# certbot with its own state in DIR ($1); the rest are its arguments.
cb() {
	local d=$1; shift
	timeout 60 certbot --config-dir "$d/config" --work-dir "$d/work" \
		--logs-dir "$d/logs" --non-interactive --agree-tos \
		--register-unsafely-without-email --server "$DIR" "$@"
}
standalone() { echo --standalone --http-01-port "$HP" --http-01-address 127.0.0.1; }
count_valid() { $MTLS list --ca-dir ca --json | python3 -c 'import json,sys; n=sys.argv[1]; print(sum(1 for r in json.load(sys.stdin) if r["name"]==n and r["status"]=="valid"))' "$1"; }
eq() { [ "$1" = "$2" ]; }

# ---- the directory
check_output "directory lists the five resources and requires EAB" \
	'"externalAccountRequired": true' curl -sf --cacert ca/ca.crt "$DIR"
check_output "new-nonce answers with a Replay-Nonce" '^[Rr]eplay-[Nn]once: [A-Za-z0-9_-]{32}' \
	curl -sI --cacert ca/ca.crt "https://127.0.0.1:$PORT/acme/new-nonce"
check_output "an unsigned POST is a malformed problem document" \
	'urn:ietf:params:acme:error:malformed' curl -s --cacert ca/ca.crt \
	-H 'Content-Type: application/jose+json' -d '{"protected":"e30","payload":"","signature":""}' \
	"https://127.0.0.1:$PORT/acme/new-order"

# ---- accounts: the binding decides
read -r KID KEY < <($MTLS acme eab create web --allow 'dns:*.acme.test' --ca-dir ca 2>/dev/null | paste -sd' ')
check "eab create prints a key id and an HMAC key" sh -c "[ -n '$KID' ] && [ -n '$KEY' ]"
check_output "certbot without a binding is refused (externalAccountRequired)" \
	'externalAccountRequired|external account' cb noeab register
check_fails "certbot with a wrong HMAC key is refused" \
	cb badmac register --eab-kid="$KID" --eab-hmac-key="AAAA${KEY:4}"
check_output "the refusal says the MAC is wrong" 'MAC is wrong' cat badmac/logs/letsencrypt.log

# ---- obtain (http-01)
check "certbot obtains a certificate for web1.acme.test (http-01)" \
	cb c1 certonly $(standalone) --eab-kid="$KID" --eab-hmac-key="$KEY" -d web1.acme.test
LIVE=c1/config/live/web1.acme.test
check "the chain verifies against our CA (openssl verify)" \
	openssl verify -CAfile ca/ca.crt "$LIVE/cert.pem"
check_output "its only SAN is the order's identifier" 'DNS:web1.acme.test$' \
	openssl x509 -in "$LIVE/cert.pem" -noout -ext subjectAltName
check_output "it is a server certificate (EKU serverAuth)" 'TLS Web Server Authentication' \
	openssl x509 -in "$LIVE/cert.pem" -noout -ext extendedKeyUsage
check_output "its lifetime is the server's short default (2 days)" 'ok' sh -c \
	"openssl x509 -in $LIVE/cert.pem -noout -checkend 86400 >/dev/null && ! openssl x509 -in $LIVE/cert.pem -noout -checkend 200000 >/dev/null && echo ok"
check_output "the inventory has it, with the account in the audit trail" \
	'acme-finalize +issued +web1.acme.test' $MTLS audit --ca-dir ca
check_fails "the binding cannot make a second account" \
	cb c2 register --eab-kid="$KID" --eab-hmac-key="$KEY"
check_output "certbot is told the key already made an account" 'already made account' \
	cat c2/logs/letsencrypt.log

# ---- nginx serves it, curl verifies it against our CA
if command -v nginx >/dev/null; then
	NP=$(free_port)
	mkdir -p nginx/logs
	cat >nginx/nginx.conf <<EOF
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log info;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    server {
        listen 127.0.0.1:$NP ssl;
        server_name web1.acme.test;
        ssl_certificate $T/$LIVE/fullchain.pem;
        ssl_certificate_key $T/$LIVE/privkey.pem;
        location / { return 200 "hello from web1\n"; }
    }
}
EOF
	bg nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off; master_process off;'
	NGINX=$LAST_PID
	if wait_port "$NP" 15; then
		check_output "curl verifies nginx's ACME certificate against our CA" \
			'hello from web1' curl -sS --cacert ca/ca.crt \
			--resolve "web1.acme.test:$NP:127.0.0.1" "https://web1.acme.test:$NP/"
	else
		fail "nginx did not start"; cat nginx/logs/error.log
	fi
	kill "$NGINX" 2>/dev/null; wait "$NGINX" 2>/dev/null
else
	skip "nginx is not installed"
fi

# ---- renew
OLD=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
check "certbot renews it (--force-renewal)" cb c1 renew --force-renewal --no-random-sleep-on-renew \
	--http-01-port "$HP" --http-01-address 127.0.0.1
NEW=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
check "the renewal is a new certificate" sh -c "[ '$OLD' != '$NEW' ]"
check "two valid certificates named web1.acme.test" eq "$(count_valid web1.acme.test)" 2

# ---- revoke: the CRL and OCSP say so
SERIAL=${NEW#serial=}
check "certbot revokes it (keyCompromise)" cb c1 revoke --cert-name web1.acme.test \
	--reason keycompromise --no-delete-after-revoke
check_output "the inventory says revoked" "$SERIAL +web1.acme.test +server +revoked" \
	$MTLS list --ca-dir ca
sleep 1
curl -sf --cacert ca/ca.crt "https://127.0.0.1:$PORT/crl.der" -o crl.der
check_output "the served CRL lists it with its reason" "Key Compromise" sh -c \
	"openssl crl -inform DER -in crl.der -noout -text | grep -A5 'Serial Number: $SERIAL'"
check_output "OCSP says revoked" ': revoked' openssl ocsp -issuer ca/ca.crt \
	-cert "$LIVE/cert.pem" -url "https://127.0.0.1:$PORT/ocsp" -CAfile ca/ca.crt \
	-verify_other ca/ca.crt

# ---- policy: names the binding does not allow
read -r KID2 KEY2 < <($MTLS acme eab create web2 --allow dns:web2.acme.test --ca-dir ca 2>/dev/null | paste -sd' ')
check_fails "a name outside the binding's allow list is refused" \
	cb c3 certonly $(standalone) --eab-kid="$KID2" --eab-hmac-key="$KEY2" \
	-d web2.acme.test -d other.example
check_output "as rejectedIdentifier naming it" 'rejectedIdentifier' cat c3/logs/letsencrypt.log
check "nothing was issued for other.example" eq "$(count_valid other.example)" 0

# ---- a challenge nobody answers: the order becomes invalid
read -r KID3 KEY3 < <($MTLS acme eab create nobody --allow dns:nobody.acme.test --ca-dir ca 2>/dev/null | paste -sd' ')
check_fails "a challenge nobody answers fails the order" \
	cb c4 certonly $(standalone) --eab-kid="$KID3" --eab-hmac-key="$KEY3" -d nobody.acme.test
check_output "certbot shows the connection problem" 'connection' cat c4/logs/letsencrypt.log
check "nothing was issued for nobody.acme.test" eq "$(count_valid nobody.acme.test)" 0

# ---- lego (Go's crypto/x509 is strict DER: it parses our CA and chain)
if command -v lego >/dev/null; then
	read -r KIDL KEYL < <($MTLS acme eab create lego --allow dns:web3.acme.test --ca-dir ca 2>/dev/null | paste -sd' ')
	lg() { SSL_CERT_FILE=$T/ca/ca.crt timeout 60 lego --path "$T/lego" --server "$DIR" \
		--eab --kid="$KIDL" --hmac="$KEYL" --email ops@acme.test --accept-tos \
		--domains web3.acme.test "$@"; }
	check "lego obtains a certificate by tls-alpn-01" lg --tls --tls.port "127.0.0.1:$TP" run
	check "lego's certificate verifies against our CA" openssl verify -CAfile ca/ca.crt \
		lego/certificates/web3.acme.test.crt
	check_output "the server validated it by tls-alpn-01" 'tls-alpn-01 of dns:web3.acme.test at 127.0.0.1: valid' \
		cat serve.log
	check "lego renews it by http-01" lg --http --http.port "127.0.0.1:$HP" renew --days 30 --no-random-sleep
	check "two valid certificates named web3.acme.test" eq "$(count_valid web3.acme.test)" 2
	check "lego revokes it" lg revoke
	check "one left valid" eq "$(count_valid web3.acme.test)" 1
else
	skip "lego is not installed"
fi

# ---- a validation that stalls does not stall the server
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
c = []
while True:
    c.append(s.accept()[0])
' "$HP" &
PIDS+=($!)
STALLER=$!
wait_port "$HP"
read -r KID4 KEY4 < <($MTLS acme eab create stall --allow 'dns:web2.acme.test' --ca-dir ca 2>/dev/null | paste -sd' ')
# certbot's own http-01 port is taken, so use webroot mode with a bogus
# root: the server's fetch goes to the staller.
mkdir -p webroot
cb c5 certonly --webroot -w "$T/webroot" --eab-kid="$KID4" --eab-hmac-key="$KEY4" \
	-d web2.acme.test >c5.out 2>&1 &
CB5=$!
for i in $(seq 1 100); do
	grep -q 'POST /acme/chall/' serve.log && break
	sleep 0.1
done
START=$(date +%s%N)
check_output "healthz answers while a validation hangs" '^ok$' \
	curl -sS --max-time 2 --cacert ca/ca.crt "https://127.0.0.1:$PORT/healthz"
MS=$((($(date +%s%N) - START) / 1000000))
check "before the validation gave up (${MS} ms, timeout 6 s)" \
	sh -c "! grep -q 'no answer from' serve.log"
wait "$CB5"
check_output "the stalled validation ends by its timeout" 'no answer from 127.0.0.1 within 6 s' \
	cat serve.log
kill "$STALLER" 2>/dev/null

finish
