#!/bin/bash
# Keystores against the real Java tools: keytool reads what mtls writes,
# mtls reads what keytool writes, openssl reads our PKCS#12 (legacy too,
# without -legacy), a Java client with our JKS stores completes mutual TLS
# with openssl s_server, and a Java server with our PKCS#12 stores accepts
# curl with a client certificate and refuses it without one.
. "$(dirname "$0")/lib.sh"
JAVA_SRC=$(cd "$(dirname "$0")/java" && pwd)
cd "$T" || exit 1
PW=changeit

# --- PKI made with the openssl CLI -----------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -subj "/CN=Keystore Test CA" -days 2 \
	-addext basicConstraints=critical,CA:true 2>/dev/null
issue() { # name cn eku
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
		-subj "/CN=$2" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
	cat "$1.pem" ca.pem >"$1-chain.pem"
}
issue server localhost serverAuth
issue client "Java Client" clientAuth
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout rogue.key -out rogue.pem -subj "/CN=Rogue CA" -days 2 2>/dev/null

kt_list() { keytool -list -v -keystore "$1" -storepass "$2" 2>&1; }

# --- keytool reads every store mtls writes ----------------------------------
for t in jks p12; do
	check "mtls keystore add ($t)" $MTLS keystore add "server.$t" \
		--alias Server --key server.key --cert server-chain.pem --pass pass:$PW
done
check_output "unset password variable: clear error" "TSPW_UNSET is not set" \
	$MTLS keystore trust never.jks --cert ca.pem --pass env:TSPW_UNSET
export TSPW=$PW
for t in jks p12; do
	check "mtls keystore trust ($t)" $MTLS keystore trust "trust.$t" \
		--alias RootCA --cert ca.pem --pass env:TSPW
	check_output "keytool: $t keystore has the key entry, chain 2" \
		"Alias name: server" kt_list "server.$t" $PW
	check_output "keytool: $t chain length 2" \
		"Certificate chain length: 2" kt_list "server.$t" $PW
	check_output "keytool: $t truststore has a trustedCertEntry" \
		"Entry type: trustedCertEntry" kt_list "trust.$t" $PW
	check_fails "keytool: $t wrong password fails" \
		keytool -list -keystore "server.$t" -storepass wrongpass
done
check_output "keytool: JKS type" "Keystore type: JKS" kt_list server.jks $PW
check_output "keytool: PKCS12 type" "Keystore type: PKCS12" kt_list server.p12 $PW
check "mtls convert -> legacy PKCS#12" $MTLS convert server.p12 legacy.p12 \
	--legacy --in-pass pass:$PW --out-pass pass:$PW
check_output "keytool reads legacy PKCS#12" "PrivateKeyEntry" kt_list legacy.p12 $PW
# Key and certificate as separate files (no world-readable "cat key chain").
check "mtls convert chain --key key -> legacy PKCS#12" $MTLS convert server-chain.pem \
	sep.p12 --key server.key --legacy --out-pass pass:$PW
check_output "keytool reads it, chain of 2" "Certificate chain length: 2" kt_list sep.p12 $PW
check_output "the PKCS#12 holding the key is 0600" '^600$' stat -c %a sep.p12
check_output "convert --key with another identity's key is refused" "does not belong" \
	$MTLS convert server-chain.pem sep2.p12 --key client.key --out-pass pass:$PW
check_status "convert --key with a keystore input is a usage error" 2 \
	$MTLS convert server.p12 sep3.p12 --key server.key --in-pass pass:$PW --out-pass pass:$PW
check "mtls keystore trust (legacy p12)" $MTLS keystore trust trust-legacy.p12 \
	--legacy --cert ca.pem --alias rootca --pass pass:$PW
check_output "keytool reads legacy truststore" "trustedCertEntry" \
	kt_list trust-legacy.p12 $PW

# --- openssl reads our PKCS#12, legacy one without -legacy ------------------
check_output "openssl pkcs12 reads ours (modern)" "PBES2, PBKDF2, AES-256-CBC" \
	openssl pkcs12 -in server.p12 -info -noout -passin pass:$PW
check_output "openssl pkcs12 reads ours (legacy, no -legacy)" \
	"pbeWithSHA1And3-KeyTripleDES-CBC" \
	openssl pkcs12 -in legacy.p12 -info -nodes -passin pass:$PW
check_output "legacy MAC is SHA-1" "MAC: sha1" \
	openssl pkcs12 -in legacy.p12 -info -noout -passin pass:$PW
check_fails "openssl: wrong password on ours fails" \
	openssl pkcs12 -in server.p12 -noout -passin pass:wrongpass

# --- mtls reads what keytool writes -----------------------------------------
keytool -genkeypair -alias KtServer -keyalg RSA -dname CN=kt -validity 2 \
	-keystore kt.jks -storetype JKS -storepass $PW -keypass $PW >/dev/null 2>&1
keytool -importcert -noprompt -trustcacerts -alias ktca -file ca.pem \
	-keystore kt.jks -storepass $PW >/dev/null 2>&1
keytool -genkeypair -alias eckey -keyalg EC -dname CN=ec -validity 2 \
	-keystore kt.p12 -storetype PKCS12 -storepass $PW >/dev/null 2>&1
keytool -importcert -noprompt -alias ktca -file ca.pem \
	-keystore kt.p12 -storepass $PW >/dev/null 2>&1
keytool -importkeystore -srckeystore kt.jks -srcstorepass $PW \
	-destkeystore imported.p12 -deststoretype PKCS12 -deststorepass $PW \
	-noprompt >/dev/null 2>&1
keytool -genkeypair -alias jk -keyalg RSA -dname CN=jk -validity 2 \
	-keystore kt.jceks -storetype JCEKS -storepass $PW >/dev/null 2>&1
keytool -genseckey -alias aes -keyalg AES -keysize 128 \
	-keystore sec.jceks -storetype JCEKS -storepass $PW >/dev/null 2>&1
for f in kt.jks kt.p12 imported.p12; do
	check_output "mtls lists $f (key entry)" "Entry type: PrivateKeyEntry \(" \
		$MTLS keystore list $f --pass pass:$PW
	check_output "mtls lists $f (trusted entry)" "Alias: ktca" \
		$MTLS keystore list $f --pass pass:$PW
	check_output "mtls: $f integrity verified" "integrity verified" \
		$MTLS keystore list $f --pass pass:$PW
	check_output "mtls: $f wrong password" "wrong password for $f" \
		$MTLS keystore list $f --pass pass:wrongpass
	check_status "mtls: $f wrong password exits 1" 1 \
		$MTLS keystore list $f --pass pass:wrongpass
done
check_output "mtls reads keytool's JCEKS key" "PrivateKeyEntry \(RSA 2048\)" \
	$MTLS keystore list kt.jceks --pass pass:$PW
check_output "JCEKS secret key refused with a pointer to keytool" \
	"secret-key entry.*-deststoretype PKCS12" \
	$MTLS keystore list sec.jceks --pass pass:$PW
check_output "mtls keystore list --json" '"type": "trusted"' \
	$MTLS keystore list kt.jks --pass pass:$PW --json
check "mtls convert keytool JKS -> PEM" $MTLS convert kt.jks kt-out.pem \
	--alias ktserver --in-pass pass:$PW
check_output "PEM output holds the key" "BEGIN PRIVATE KEY" cat kt-out.pem
check_output "PEM with a key is 0600" "^-rw-------" ls -l kt-out.pem

# --- conversions keytool then reads ------------------------------------------
openssl pkcs12 -export -nokeys -in ca.pem -name rootca -out o-trust.p12 \
	-passout pass:$PW
check_output "keytool sees 0 entries in openssl's cert-only p12 (control)" \
	"contains 0 entries" kt_list o-trust.p12 $PW
check "mtls convert openssl truststore -> PKCS#12" $MTLS convert o-trust.p12 \
	fixed.p12 --in-pass pass:$PW --out-pass pass:$PW
check_output "keytool sees the trusted entry after mtls convert" \
	"trustedCertEntry" kt_list fixed.p12 $PW
cat client.key client-chain.pem >client-bundle.pem
check "mtls convert PEM bundle -> JKS" $MTLS convert client-bundle.pem \
	client.jks --alias Client --out-pass pass:$PW
check "mtls convert PEM bundle -> PKCS#12" $MTLS convert client-bundle.pem \
	client.p12 --alias client --out-pass pass:$PW
check "mtls convert JKS -> PKCS#12" $MTLS convert server.jks server2.p12 \
	--in-pass pass:$PW --out-pass pass:$PW
check_output "keytool reads converted p12" "Certificate chain length: 2" \
	kt_list server2.p12 $PW
check "mtls convert JKS -> DER cert" $MTLS convert server.jks server.der \
	--in-pass pass:$PW
check_output "DER cert is the server's" "CN ?= ?localhost" \
	openssl x509 -inform der -in server.der -noout -subject
check "mtls keystore export --der" $MTLS keystore export server.jks \
	--alias server --der --out exported.der --pass pass:$PW
check "export matches keytool -exportcert" bash -c \
	"keytool -exportcert -alias server -keystore server.jks -storepass $PW -file kt.der >/dev/null 2>&1 && cmp kt.der exported.der"
check "mtls keystore passwd" $MTLS keystore passwd server.jks \
	--pass pass:$PW --new-pass pass:newpass1
check_output "keytool: new password works (store and key)" "PrivateKeyEntry" \
	bash -c "keytool -list -v -keystore server.jks -storepass newpass1 -keypass newpass1 2>&1; \
	keytool -exportcert -rfc -alias server -keystore server.jks -storepass newpass1 2>&1"
check_fails "keytool: old password fails after passwd" \
	keytool -list -keystore server.jks -storepass $PW
check "mtls keystore remove" $MTLS keystore remove trust.jks --alias rootca \
	--pass pass:$PW
check_output "keytool: removed" "contains 0 entries" kt_list trust.jks $PW
check "re-add for TLS" $MTLS keystore trust trust.jks --alias rootca \
	--cert ca.pem --pass pass:$PW

# --- negative cases: truncated, tampered, not a keystore ---------------------
head -c 300 server.p12 >trunc.p12
head -c 300 client.jks >trunc.jks
cp client.jks tampered.jks
printf '\x00' | dd of=tampered.jks bs=1 seek=$(($(stat -c %s client.jks) - 3)) conv=notrunc 2>/dev/null
cp client.p12 tampered.p12
python3 - <<'EOF'
import sys
d = bytearray(open("tampered.p12", "rb").read())
d[len(d) // 2] ^= 1
open("tampered.p12", "wb").write(d)
EOF
check_output "truncated JKS: clear error" "truncated or malformed" \
	$MTLS keystore list trunc.jks --pass pass:$PW
check_status "truncated PKCS#12 fails" 1 $MTLS keystore list trunc.p12 --pass pass:$PW
check_output "tampered JKS: integrity failure" "failed its integrity check" \
	$MTLS keystore list tampered.jks --pass pass:$PW
check_status "tampered PKCS#12 fails" 1 $MTLS keystore list tampered.p12 --pass pass:$PW
check_output "not a keystore" "is not a keystore" \
	$MTLS keystore list ca.pem --pass pass:$PW
check_fails "keytool rejects our tampered JKS too" \
	keytool -list -keystore tampered.jks -storepass $PW
check_output "alias exists without --force" "already exists" \
	$MTLS keystore trust trust.p12 --alias rootca --cert ca.pem --pass pass:$PW
check_output "wrong key for cert" "belongs to its private key" \
	$MTLS keystore add x.jks --key client.key --cert server.pem --pass pass:$PW
check_output "convert refuses to overwrite" "exists" \
	$MTLS convert client-bundle.pem client.jks --out-pass pass:$PW

# --- Java client (our JKS) against openssl s_server -Verify 1 -----------------
mkdir -p classes
check "javac test programs" javac -d classes "$JAVA_SRC"/TlsClient.java "$JAVA_SRC"/TlsServer.java
PORT=$(free_port)
openssl s_server -accept "127.0.0.1:$PORT" -cert server.pem -key server.key \
	-CAfile ca.pem -Verify 1 -verify_return_error -rev -naccept 2 \
	>s_server.log 2>&1 &
PIDS+=($!)
wait_port "$PORT"
check_output "Java client with mtls JKS stores: mutual TLS OK" \
	"TLS OK .*reply=sltm olleh" \
	timeout 30 java -cp classes TlsClient 127.0.0.1 "$PORT" client.jks $PW trust.jks $PW
check_fails "Java client without a keystore is refused" \
	timeout 30 java -cp classes TlsClient 127.0.0.1 "$PORT" - $PW trust.jks $PW
check_output "s_server saw the client certificate" "CN ?= ?Java Client" cat s_server.log

# --- Java server (our PKCS#12 stores) accepting curl ---------------------------
PORT=$(free_port)
java -cp classes TlsServer "$PORT" server2.p12 $PW trust.p12 $PW >server.log 2>&1 &
PIDS+=($!)
wait_port "$PORT" 30
check_output "curl with client cert accepted by Java server" "client=CN=Java Client" \
	curl -sS --max-time 20 --cacert ca.pem --cert client.pem --key client.key \
	"https://localhost:$PORT/"
check_fails "curl without a client cert is refused" \
	curl -sS --max-time 20 --cacert ca.pem "https://localhost:$PORT/"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign.key \
	-out foreign.csr -subj "/CN=Foreign" 2>/dev/null
openssl x509 -req -in foreign.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial \
	-days 2 -out foreign.pem 2>/dev/null
check_fails "curl with a foreign client cert is refused" \
	curl -sS --max-time 20 --cacert ca.pem --cert foreign.pem --key foreign.key \
	"https://localhost:$PORT/"

finish
