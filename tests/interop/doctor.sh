#!/usr/bin/env bash
# mtls doctor on node directories made with the openssl CLI: a good one,
# and one broken in each way a node breaks (mismatched key, 0644 key,
# missing issuer in the truststore, expired, wrong EKU, name, chain).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/diag_pki.sh"
make_pki

check_json() {
	local d=$1 f=$2; shift 2
	"$@" >"$T/last.json" 2>"$T/last.err"
	if jq -e "$f" "$T/last.json" >/dev/null 2>&1; then pass "$d"; else
		fail "$d (jq: $f)"; head -c 2000 "$T/last.json" | sed 's/^/    /'; fi
}
has() { echo "any(.findings[]; .check == \"$1\" and .severity == \"$2\")"; }

# node DIR CERT KEY [CA]: a node directory as an operator lays it out.
node() {
	mkdir -p "$T/$1"
	cp "$P/$2.crt" "$T/$1/node.crt"
	cp "$P/$3.key" "$T/$1/node.key"
	chmod 600 "$T/$1/node.key"
	[ -n "${4:-}" ] && cp "$P/$4.crt" "$T/$1/ca.crt"
	return 0
}
doc() { "$MTLS" doctor "$@"; }

echo "# good node (server certificate with its chain, root truststore)"
mkdir -p "$T/good"
cp "$P/server-full.pem" "$T/good/server.crt"
cp "$P/server.key" "$T/good/server.key"; chmod 600 "$T/good/server.key"
cp "$P/ca.crt" "$T/good/ca.crt"
check_status "good: exit 0" 0 doc "$T/good" --role server --host localhost
check_output "good: verdict ok" "verdict: ok \(0 errors, 0 warnings" doc "$T/good" --role server --host localhost
check_json "good: every check passed" "$(has key_matches ok) and $(has chain_verified ok) and $(has key_permissions ok) and $(has eku_role ok) and $(has san_host ok) and .worst == \"ok\"" \
	doc "$T/good" --role server --host localhost --json
check_json "good: files listed (FILE arguments)" "$(has key_matches ok) and .truststore == \"$T/good/ca.crt\"" \
	doc "$T/good/server.crt" "$T/good/server.key" --ca "$T/good/ca.crt" --json

echo "# broken nodes"
node mismatch client client-other ca
check_output "mismatched key" "key_mismatch: the private key .*/node.key does not belong to the certificate" doc "$T/mismatch"
check_status "mismatched key: exit 1" 1 doc "$T/mismatch"

node perms client client ca
chmod 644 "$T/perms/node.key"
check_output "0644 key" "key_permissions: the private key .*node.key is readable by every user \(mode 0644\)" doc "$T/perms"
check_status "0644 key: exit 1" 1 doc "$T/perms"
chmod 640 "$T/perms/node.key"
check_status "0640 key: warning only, exit 3" 3 doc "$T/perms"

node noissuer client client other
check_output "missing issuer in truststore" "issuer_not_trusted: the truststore .*ca.crt does not contain 'CN=Probe Root CA'" doc "$T/noissuer"
check_status "missing issuer: exit 1" 1 doc "$T/noissuer"
check_status "missing issuer: --ca overrides the directory's ca.crt" 0 doc "$T/noissuer" --ca "$P/ca.crt"

node expired client-expired client-expired ca
check_output "expired" "cert_expired: .*node.crt \(CN=expired client\) expired on 2020-01-31" doc "$T/expired"
check_json "expired: json" "$(has cert_expired error) and .certificates[0].days_left < 0" doc "$T/expired" --json
check_status "expiring within --warn-days: exit 3" 3 doc "$T/good" --warn-days 400

node eku client-noeku client-noeku ca
check_output "wrong EKU for a client" "eku_role: .*cannot serve as a client: its extended key usage is serverAuth" doc "$T/eku" --role client
check_status "wrong EKU: exit 1" 1 doc "$T/eku" --role client
check_status "same cert as a server: exit 0" 0 doc "$T/eku" --role server

check_output "SAN mismatch" "san_mismatch: .*server.crt is not valid for 'db.example': its names are dns:localhost,ip:127.0.0.1" doc "$T/good" --host db.example

mkdir -p "$T/incomplete"
cp "$P/server.crt" "$P/server.key" "$P/ca.crt" "$T/incomplete/"; chmod 600 "$T/incomplete/server.key"
cp "$P/int.crt" "$T/incomplete/intermediate.pem"
check_output "incomplete chain" "chain_incomplete: the chain of .*server.crt lacks the intermediate CA 'CN=Probe Intermediate CA'" doc "$T/incomplete"
mv "$T/incomplete/intermediate.pem" "$T/incomplete/server.chain.pem"
check_status "NAME.chain.pem completes it" 0 doc "$T/incomplete" --role server

mkdir -p "$T/weak"
mk_key weak1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
mk_cert weak1024 weak ca client
mk_key sha1
mk_cert sha1 sha1 ca client 365 -sha1
cp "$P/weak1024.crt" "$P/weak1024.key" "$P/sha1.crt" "$P/sha1.key" "$P/ca.crt" "$T/weak/"
check_json "RSA 1024 and SHA-1 flagged" "$(has cert_weak_key error) and $(has cert_weak_signature error)" doc "$T/weak" --json

mkdir -p "$T/junk"
cp -p "$T/good/"* "$T/junk/"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB broken\n' >"$T/junk/partner.crt"
check_output "corrupted file" "unreadable: .*partner.crt holds no certificate or private key that can be read: it may be corrupted" doc "$T/junk"

mkdir -p "$T/p12"
openssl pkcs12 -export -in "$P/client.crt" -inkey "$P/client.key" -passout pass:s3cret -out "$T/p12/client.p12" 2>/dev/null
cp "$P/ca.crt" "$T/p12/"
check_output "p12 without a password: not opened" "store_not_opened" doc "$T/p12"
check_output "p12 with a wrong password" "store_password: the password given does not open" doc "$T/p12" --pass pass:wrong
check_json "p12 with its password: opened and checked" "$(has store_opened ok) and $(has key_matches ok) and $(has chain_verified ok)" doc "$T/p12" --pass pass:s3cret --json

echo "# Java keystores (keytool-made JKS keystore and truststore.ts)"
mkdir -p "$T/jks"
openssl pkcs12 -export -in "$P/server-full.pem" -inkey "$P/server.key" -name node -passout pass:changeit -out "$T/node.p12" 2>/dev/null
keytool -importkeystore -srckeystore "$T/node.p12" -srcstoretype PKCS12 -srcstorepass changeit \
	-destkeystore "$T/jks/node.jks" -deststoretype JKS -deststorepass changeit -noprompt >/dev/null 2>&1
keytool -importcert -noprompt -alias root -file "$P/ca.crt" -keystore "$T/jks/truststore.ts" \
	-storetype JKS -storepass changeit >/dev/null 2>&1
check_json "jks: opened, key paired, chain verified against truststore.ts" \
	"$(has store_opened ok) and $(has key_matches ok) and $(has chain_verified ok) and $(has eku_role ok) and .truststore == \"$T/jks/truststore.ts\"" \
	doc "$T/jks" --pass pass:changeit --role server --json
check_output "jks: wrong password" "store_password: the password given does not open .*node.jks" doc "$T/jks" --pass pass:wrong
check_output "jks: no password: read, not verified" "store_not_verified: .*node.jks \(JKS\) was read without its password" doc "$T/jks" --verbose
mkdir -p "$T/jks2"
keytool -importkeystore -srckeystore "$T/node.p12" -srcstoretype PKCS12 -srcstorepass changeit \
	-destkeystore "$T/jks2/node.jks" -deststoretype JKS -deststorepass changeit -destkeypass otherpass -noprompt >/dev/null 2>&1
check_output "jks: key password differs from the store password" "store_key_locked: the key 'node' in .*node.jks does not open" doc "$T/jks2" --pass pass:changeit
mkdir -p "$T/p12trust"
openssl pkcs12 -export -nokeys -in "$P/ca.crt" -passout pass:changeit -out "$T/p12trust/truststore.p12" 2>/dev/null
check_output "p12 truststore without Java's trust attribute" "store_trust_attr: .*truststore.p12 lacks Java's trust attribute" doc "$T/p12trust" --pass pass:changeit
printf 'not a keystore at all' >"$T/jks/broken.jks"
check_output "jks: garbage named .jks is reported" "unreadable: .*broken.jks" doc "$T/jks" --pass pass:changeit

echo "# usage"
check_status "unknown role: usage error" 2 doc "$T/good" --role peer
check_status "missing path: exit 1" 1 doc "$T/does-not-exist"
mkdir -p "$T/empty"
check_output "empty dir: says what it looked for" "no certificate, key or keystore files" doc "$T/empty"
check_output "--help documents exit status 3" "3 warnings but no error" doc --help

finish
