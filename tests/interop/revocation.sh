#!/usr/bin/env bash
# Revocation and rotation against real peers: openssl crl/verify, nginx
# with ssl_crl, and the exit codes cron relies on.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR="$T/pki"
"$MTLS" ca init --name "CN=Revocation Test CA" >/dev/null
"$MTLS" issue srv --profile server --san dns:localhost,ip:127.0.0.1 --out id >/dev/null
"$MTLS" issue good --profile client --out id >/dev/null
"$MTLS" issue bad --profile client --out id >/dev/null
"$MTLS" issue gone --profile client --out id >/dev/null

check_output "revoke by name" "revoked bad" "$MTLS" revoke bad --reason keyCompromise
serial=$(openssl x509 -in id/gone.crt -noout -serial | cut -d= -f2)
check "revoke by serial" "$MTLS" revoke "$serial" --reason cessationOfOperation
check_output "revoking twice is an error that says when" "already revoked on" "$MTLS" revoke bad
check_status "... exit 1" 1 "$MTLS" revoke bad
check_output "revoking an unknown serial is an error" "neither a certificate file, a serial nor a name" "$MTLS" revoke 0123456789ABCDEF
check_status "unknown reason is a usage error" 2 "$MTLS" revoke good --reason because

check "crl writes a CRL" "$MTLS" crl --out crl.pem --days 3
check_output "openssl crl -text reads it (v2)" "Version 2" openssl crl -in crl.pem -noout -text
check_output "CRL has a CRL number" "X509v3 CRL Number" openssl crl -in crl.pem -noout -text
check_output "CRL has an AKI" "Authority Key Identifier" openssl crl -in crl.pem -noout -text
check_output "CRL carries the keyCompromise reason" "Key Compromise" openssl crl -in crl.pem -noout -text
check_output "CRL carries cessationOfOperation" "Cessation Of Operation" openssl crl -in crl.pem -noout -text
check_output "the CRL's signature verifies" "verify OK" openssl crl -in crl.pem -noout -CAfile pki/ca.crt
check_output "openssl verify -crl_check rejects the revoked cert" "certificate revoked" \
	openssl verify -crl_check -CAfile pki/ca.crt -CRLfile crl.pem id/bad.crt
check "openssl verify -crl_check accepts a good cert" openssl verify -crl_check -CAfile pki/ca.crt -CRLfile crl.pem id/good.crt
check_output "mtls verify --crl names date and reason" "revoked on .*\(keyCompromise\)" "$MTLS" verify id/bad.crt --crl crl.pem
check "mtls verify --crl accepts a good cert" "$MTLS" verify id/good.crt --crl crl.pem
n1=$(openssl crl -in crl.pem -noout -crlnumber | cut -d= -f2)
"$MTLS" crl --out crl2.der --der >/dev/null
n2=$(openssl crl -inform der -in crl2.der -noout -crlnumber | cut -d= -f2)
check "CRL numbers increase" test $((n2)) -gt $((n1))
check_output "DER CRL verifies" "verify OK" openssl crl -inform der -in crl2.der -noout -CAfile pki/ca.crt

# nginx enforcing our CRL.
port=$(free_port)
mkdir -p ng/logs
cat > ng/nginx.conf <<NG
worker_processes 1;
error_log $T/ng/logs/error.log;
pid $T/ng/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/ng/tmp; proxy_temp_path $T/ng/tmp; fastcgi_temp_path $T/ng/tmp;
  uwsgi_temp_path $T/ng/tmp; scgi_temp_path $T/ng/tmp;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $T/id/srv.chain.pem;
    ssl_certificate_key $T/id/srv.key;
    ssl_client_certificate $T/pki/ca.crt;
    ssl_verify_client on;
    ssl_crl $T/crl.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "hello \$ssl_client_s_dn\n"; }
  }
}
NG
mkdir -p ng/tmp
bg nginx -p "$T/ng" -c "$T/ng/nginx.conf" -g 'daemon off; master_process off;'
wait_port "$port"
check_output "nginx with our CRL accepts a good client" "hello CN=good" \
	curl -sS --cacert pki/ca.crt --cert id/good.crt --key id/good.key "https://localhost:$port/"
check_output "nginx with our CRL refuses the revoked client" "400|revoked" \
	curl -sS --cacert pki/ca.crt --cert id/bad.crt --key id/bad.key "https://localhost:$port/"

# Rotation.
check_status "list --expiring 30d: nothing due, exit 0" 0 "$MTLS" list --expiring 30d
check_status "list --expiring 500d: due, exit 1" 1 "$MTLS" list --expiring 500d
check_output "... and lists them" "good" "$MTLS" list --expiring 500d
old=$(openssl x509 -in id/good.crt -noout -serial | cut -d= -f2)
oldkey=$(openssl pkey -in id/good.key -pubout | sha256sum)
check "renew keeps the identity" "$MTLS" renew good --out id --days 30
check "renewed cert has the same subject" test "$(openssl x509 -in id/good.crt -noout -subject)" = "subject=CN = good"
check "renewed cert has a new serial" test "$(openssl x509 -in id/good.crt -noout -serial | cut -d= -f2)" != "$old"
check "renew makes a new key by default" test "$(openssl pkey -in id/good.key -pubout | sha256sum)" != "$oldkey"
check "renewed cert verifies" openssl verify -CAfile pki/ca.crt -purpose sslclient id/good.crt
check "key still matches" test "$(openssl x509 -in id/good.crt -noout -pubkey | sha256sum)" = "$(openssl pkey -in id/good.key -pubout | sha256sum)"
k2=$(openssl pkey -in id/good.key -pubout | sha256sum)
check "renew --reuse-key" "$MTLS" renew good --out id --reuse-key
check "... keeps the key" test "$(openssl pkey -in id/good.key -pubout | sha256sum)" = "$k2"
# The 30-day renewal of 'good' was itself renewed (397 days): superseded,
# it must not be reported as expiring, though it does expire within 31d.
check_output "a superseded 30-day certificate exists in the inventory" "good" sh -c "'$MTLS' list --all --json | python3 -c \"import json,sys,time,calendar; [print(r['name']) for r in json.load(sys.stdin) if r['name']=='good' and calendar.timegm(time.strptime(r['not_after'], '%Y-%m-%dT%H:%M:%SZ')) < time.time() + 31*86400]\""
check_fails "... but superseded certificates do not count as expiring" sh -c "'$MTLS' list --expiring 31d | grep -q good"
check_output "current certificates still do" "srv" "$MTLS" list --expiring 500d
check "rotate renews everything due" "$MTLS" rotate --expiring 500d --out id
check_status "after rotate with a window shorter than the new validity, nothing is due" 0 "$MTLS" list --expiring 30d
s_before=$(openssl x509 -in id/srv.crt -noout -serial | cut -d= -f2)
check_output "issue --force after a breach revokes the old certificate" "revoked the previous certificate" \
	"$MTLS" issue srv --profile server --san dns:localhost --out id --force
check_output "... with keyCompromise" "keyCompromise" sh -c "'$MTLS' list --json | python3 -c \"import json,sys; [print(r['reason']) for r in json.load(sys.stdin) if r['serial']=='$s_before']\""
finish
