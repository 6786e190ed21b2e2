#!/bin/bash
# The deployment record: issue, export and bundle note where an identity
# went and in which format; renew writes every copy again. After a renewal
# the key/cert/chain directory, a JKS and a legacy PKCS#12 export, a PEM
# export, an nginx bundle and a Tomcat bundle all carry the new serial
# (read back by openssl and keytool), and nginx, reloaded, serves it.
# Identities issued by issue --batch are recorded too.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

$MTLS ca init --ca-dir pki >/dev/null || { echo "ca init failed"; exit 1; }
export MTLS_CA_DIR=$T/pki
echo "store-secret-1" >store.pass
chmod 600 store.pass
P=$(free_port)
mkdir -p deployed

check "issue into servers/web" $MTLS issue web --profile server \
	--san dns:localhost,ip:127.0.0.1 --out servers/web
check "issue a client" $MTLS issue cli --profile client --out clients
check "export JKS (password by file:)" $MTLS export web --to jks --from servers/web \
	--pass "file:$T/store.pass" --out deployed/web.jks
check "export legacy PKCS#12" $MTLS export web --to p12 --legacy \
	--from servers/web --pass "file:$T/store.pass" --out deployed/web.p12
check "export PEM (key + chain)" $MTLS export web --to pem --from servers/web \
	--out deployed/web.pem
check "bundle for nginx" $MTLS bundle web --for nginx --from servers/web \
	--out b-nginx --listen 127.0.0.1:$P
check "bundle for tomcat (password given literally)" $MTLS bundle web \
	--for tomcat --from servers/web --pass pass:tomcat-secret --out b-tomcat
check_output "list --deployments shows every copy" \
	"bundle:tomcat" $MTLS list web --deployments
check_output "list --deployments --json: format and path" \
	'"format": "jks"' $MTLS list web --deployments --json
check_output "the literal password is not recorded" '^0$' \
	sh -c "sqlite3 pki/inventory.db \"SELECT count(*) FROM deployments WHERE args LIKE '%tomcat-secret%'\" 2>/dev/null || echo 0"

# nginx serves the bundle, with a master process so that it can reload.
nginx_conf "$T/nginx" "$T/b-nginx/nginx.conf"
bg nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;'
wait_port "$P" 15 || { fail "nginx did not start"; cat nginx/logs/error.log; }
served() {
	openssl s_client -connect 127.0.0.1:$P -servername localhost \
		-cert clients/cli.crt -key clients/cli.key </dev/null 2>/dev/null |
		openssl x509 -noout -serial | sed 's/serial=//'
}
OLD=$(openssl x509 -in servers/web/web.crt -noout -serial | sed 's/serial=//')
check_output "nginx serves the first certificate" "^$OLD\$" served

# A copy whose password was given as pass: needs --store-pass: renew says so.
check_status "renew without --store-pass: the Tomcat copy is named, exit 1" 1 \
	$MTLS renew web
cp last.out renew1.out
check_output "the message names the copy and --store-pass" \
	"b-tomcat.*store-pass" cat renew1.out
check "renew with --store-pass rewrites everything" $MTLS renew web \
	--store-pass pass:tomcat-secret
NEW=$(openssl x509 -in servers/web/web.crt -noout -serial | sed 's/serial=//')
check "renew wrote the new certificate where web was issued" \
	test -n "$NEW" -a "$NEW" != "$OLD"
check_output "chain file: new serial" "^serial=$NEW\$" \
	openssl x509 -in servers/web/web.chain.pem -noout -serial
lower=$(echo "$NEW" | tr 'A-F' 'a-f' | sed 's/^0*//')
check_output "JKS (keytool): new serial" "Serial number: 0*$lower\$" \
	sh -c "keytool -list -v -keystore deployed/web.jks -storepass store-secret-1 2>/dev/null | grep -m1 'Serial number'"
check_output "legacy PKCS#12 (openssl): new serial" "^serial=$NEW\$" \
	sh -c "openssl pkcs12 -legacy -in deployed/web.p12 -passin file:store.pass -nokeys -clcerts 2>/dev/null | openssl x509 -noout -serial"
check_output "legacy PKCS#12 stays legacy" "3DES|des-ede3|pbeWithSHA1And3-KeyTripleDES" \
	sh -c "openssl pkcs12 -legacy -in deployed/web.p12 -passin file:store.pass -info -noout 2>&1"
check_output "PEM export: new serial" "^serial=$NEW\$" \
	openssl x509 -in deployed/web.pem -noout -serial
check_output "PEM export is still 0600" '^600$' stat -c %a deployed/web.pem
check_output "nginx bundle: new serial" "^serial=$NEW\$" \
	openssl x509 -in b-nginx/web.chain.pem -noout -serial
check_output "nginx bundle: key matches the new certificate" \
	"$(openssl x509 -in servers/web/web.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)" \
	sh -c "openssl pkey -in b-nginx/web.key -pubout -outform DER | sha256sum | cut -c1-64"
check_output "nginx bundle: snippet keeps its --listen" "127.0.0.1:$P" cat b-nginx/nginx.conf
check_output "Tomcat bundle (keytool): new serial" "Serial number: 0*$lower\$" \
	sh -c "keytool -list -v -keystore b-tomcat/web.p12 -storetype PKCS12 -storepass tomcat-secret 2>/dev/null | grep -m1 'Serial number'"

check "nginx reload" nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -s reload
# After a reload the old workers answer until they let go of the listening
# socket, which on a loaded machine can take seconds: wait up to 20 s for
# the new certificate (the check below still requires it).
deadline=$((SECONDS + 20))
while [ "$(served)" != "$NEW" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
check_output "nginx, reloaded, serves the renewed certificate" "^$NEW\$" served

# --- issue --p12: NAME.p12 is a recorded copy, rewritten by renew ---
check "issue --p12 --legacy (password by file:)" $MTLS issue vault --profile client \
	--p12 --legacy --pass "file:$T/store.pass" --out servers/vault
check_output "list --deployments names the issued PKCS#12" \
	"p12-legacy +.*servers/vault/vault.p12" $MTLS list vault --deployments
check "renew vault" $MTLS renew vault
VNEW=$(openssl x509 -in servers/vault/vault.crt -noout -serial | sed 's/serial=//')
check_output "the issued PKCS#12 carries the renewed certificate" "^serial=$VNEW\$" \
	sh -c "openssl pkcs12 -legacy -in servers/vault/vault.p12 -passin file:store.pass -nokeys -clcerts 2>/dev/null | openssl x509 -noout -serial"
check_output "... and stays legacy" "3DES|des-ede3|pbeWithSHA1And3-KeyTripleDES" \
	sh -c "openssl pkcs12 -legacy -in servers/vault/vault.p12 -passin file:store.pass -info -noout 2>&1"

# --- a relative --crl is recorded (and written) absolute ---
check "mtls crl" $MTLS crl --out crl.pem
check "bundle for nginx with a relative --crl" $MTLS bundle web --for nginx \
	--from servers/web --crl crl.pem --out b-crl --listen 127.0.0.1:$(free_port)
check_output "the snippet names the CRL by its absolute path" \
	"ssl_crl +$T/crl.pem;" cat b-crl/nginx.conf
check_output "the record holds the absolute path" "^1\$" \
	sqlite3 pki/inventory.db "SELECT count(*) FROM deployments WHERE path = '$T/b-crl' AND args LIKE '%--crl	$T/crl.pem%'"
mkdir -p elsewhere
check "renew from another directory" sh -c "cd elsewhere && $MTLS renew web --store-pass pass:tomcat-secret"
check_output "... the rebuilt snippet still names $T/crl.pem" \
	"ssl_crl +$T/crl.pem;" cat b-crl/nginx.conf
nginx_conf "$T/nginx-crl" "$T/b-crl/nginx.conf"
check "nginx -t accepts the rebuilt bundle (it reads the CRL)" \
	nginx -t -p "$T/nginx-crl" -c "$T/nginx-crl/nginx.conf"

# --- issue --batch records each name's directory and PKCS#12, as issue does ---
printf 'f1 client\nf2 server dns:f2.example\n' >fleet.txt
check "issue --batch --p12 into fleet/" $MTLS issue --batch fleet.txt --out fleet \
	--p12 --pass "file:$T/store.pass"
check_output "list --deployments names f2's directory" "files +.*/fleet\$" \
	$MTLS list f2 --deployments
check_output "... and f2's PKCS#12 (with its password reference)" "p12 +.*/fleet/f2.p12" \
	$MTLS list f2 --deployments
F2=$(openssl x509 -in fleet/f2.crt -noout -serial)
mkdir -p batch-elsewhere
check "renew f2 from another directory" sh -c "cd batch-elsewhere && $MTLS renew f2"
F2NEW=$(openssl x509 -in fleet/f2.crt -noout -serial)
check "renew wrote f2's files where the batch put them" test "$F2NEW" != "$F2"
check "... not into the directory it ran in" test ! -e batch-elsewhere/f2.crt
check_output "fleet/f2.p12 carries the renewed certificate" "^$F2NEW\$" \
	sh -c "openssl pkcs12 -in fleet/f2.p12 -passin file:store.pass -nokeys -clcerts 2>/dev/null | openssl x509 -noout -serial"
check_output "fleet/f2.key matches the renewed certificate" \
	"$(openssl x509 -in fleet/f2.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)" \
	sh -c "openssl pkey -in fleet/f2.key -pubout -outform DER | sha256sum | cut -c1-64"

# --- rotate goes on past a copy it cannot write ---
for n in r1 r2; do
	check "issue $n (due soon)" $MTLS issue $n --profile client --days 10 --out servers/$n
	check "export $n to JKS with a literal password" $MTLS export $n --to jks \
		--from servers/$n --pass pass:literal-1 --out deployed/$n.jks
done
R1=$(openssl x509 -in servers/r1/r1.crt -noout -serial)
R2=$(openssl x509 -in servers/r2/r2.crt -noout -serial)
check_status "rotate without --store-pass: exit 1" 1 $MTLS rotate --expiring 30d
cp last.out rotate.out
check_output "rotate names the r1 copy" "deployed/r1.jks" cat rotate.out
check_output "rotate names the r2 copy" "deployed/r2.jks" cat rotate.out
check_output "rotate says how many renewals left stale copies" "2 of 2 renewed" cat rotate.out
check "rotate renewed r1 anyway" test "$(openssl x509 -in servers/r1/r1.crt -noout -serial)" != "$R1"
check "rotate renewed r2 anyway" test "$(openssl x509 -in servers/r2/r2.crt -noout -serial)" != "$R2"
finish
