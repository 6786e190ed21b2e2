#!/bin/bash
# mtls bundle against the real Java servers: Tomcat 10 and ActiveMQ from
# Debian's packages, each started on 127.0.0.1 with the stores and the
# unmodified snippet from `mtls bundle` placed into a minimal server.xml /
# activemq.xml. For each: a client with our certificate succeeds (curl for
# Tomcat; for ActiveMQ a Java client using client.ks/client.ts through the
# bundle's client-ssl.args, and openssl s_client), and a client without a
# certificate or with a foreign CA's certificate is refused. The java
# target's javax-net-ssl.args drive a Java client against Tomcat.
. "$(dirname "$0")/lib.sh"
JAVA_SRC=$(cd "$(dirname "$0")/java" && pwd)
cd "$T" || exit 1

$MTLS ca init --ca-dir pki >/dev/null || { echo "ca init failed"; exit 1; }
$MTLS ca init --ca-dir rogue-pki --name "CN=Rogue CA" >/dev/null || exit 1
export MTLS_CA_DIR=$T/pki
mkdir -p ids rogue classes
$MTLS issue rogue --profile client --ca-dir rogue-pki --out rogue >/dev/null || exit 1
$MTLS issue cli --profile client --out ids >/dev/null || exit 1
javac -d classes "$JAVA_SRC/SslProbe.java" || { echo "javac failed"; exit 1; }
export STORE_PASS=changeit-$$

mode() { stat -c %a "$1"; }
bg_log() {
	local log=$1; shift
	bg sh -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' sh "$log" "$@"
}
stop() {
	kill "$1" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}

# --- the command's own rules ---------------------------------------------------
check_output "tomcat without --pass is refused" "needs a password|--pass" \
	$MTLS bundle cli --for java --from ids --out x1 </dev/null
check_output "password from an unset variable is refused" "NO_SUCH_VAR" \
	$MTLS bundle cli --for java --from ids --out x2 --pass env:NO_SUCH_VAR
check_status "--legacy is not for activemq (JKS)" 2 \
	$MTLS bundle cli --for activemq --from ids --out x3 --pass env:STORE_PASS --legacy
check_output "a password Tomcat would expand is refused" "would expand" \
	$MTLS bundle cli --for java --from ids --out x4 --pass 'pass:a${b}c'

# --- Tomcat --------------------------------------------------------------------
P=$(free_port)
check "bundle for tomcat (issued on the spot)" $MTLS bundle tc --for tomcat \
	--issue server --san dns:localhost,ip:127.0.0.1 --from ids --out b-tomcat \
	--listen 127.0.0.1:$P --pass env:STORE_PASS
check_output "tomcat: server.xml (holds the password) is 0600" '^600$' mode b-tomcat/server.xml
check_output "tomcat: keystore is 0600" '^600$' mode b-tomcat/tc.p12
check_output "tomcat: snippet requires client certificates" \
	'certificateVerification="required"' cat b-tomcat/server.xml
check_output "keytool: truststore has the CA as trustedCertEntry" "trustedCertEntry" \
	keytool -list -keystore b-tomcat/truststore.p12 -storepass "$STORE_PASS"
check_output "keytool: keystore has the key" "PrivateKeyEntry" \
	keytool -list -keystore b-tomcat/tc.p12 -storepass "$STORE_PASS"
check "curl bundle" $MTLS bundle cli --for curl --from ids --out cb
check "java bundle" $MTLS bundle cli --for java --from ids --out jb --pass env:STORE_PASS
check_output "java: argument file is 0600" '^600$' mode jb/javax-net-ssl.args

CB=$T/tomcat
mkdir -p "$CB"/conf "$CB"/logs "$CB"/temp "$CB"/work "$CB"/webapps/ROOT
cp /usr/share/tomcat10/etc/web.xml /usr/share/tomcat10/etc/catalina.properties \
	/usr/share/tomcat10/etc/logging.properties "$CB"/conf/
echo "tomcat ok" >"$CB"/webapps/ROOT/index.html
{
	echo '<?xml version="1.0" encoding="UTF-8"?>'
	echo '<Server port="-1" shutdown="SHUTDOWN">'
	echo '  <Service name="Catalina">'
	cat b-tomcat/server.xml
	echo '    <Engine name="Catalina" defaultHost="localhost">'
	echo '      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>'
	echo '    </Engine>'
	echo '  </Service>'
	echo '</Server>'
} >"$CB"/conf/server.xml
bg_log tomcat.log env CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE="$CB" \
	CATALINA_TMPDIR="$CB/temp" JAVA_OPTS="-Xmx256m" \
	/usr/share/tomcat10/bin/catalina.sh run
TOMCAT=$LAST_PID
if wait_port "$P" 60; then
	check_output "tomcat: client with our certificate succeeds" "tomcat ok" \
		cb/curl.sh "https://127.0.0.1:$P/" -sS --fail --max-time 60
	check_fails "tomcat: client without a certificate is refused" \
		curl -sS --fail --max-time 15 --cacert cb/ca.crt "https://127.0.0.1:$P/"
	check_fails "tomcat: client with a foreign CA's certificate is refused" \
		curl -sS --fail --max-time 15 --cacert cb/ca.crt \
		--cert rogue/rogue.chain.pem --key rogue/rogue.key "https://127.0.0.1:$P/"
	check_output "java bundle: default SSLContext client succeeds against tomcat" \
		"tomcat ok" java @jb/javax-net-ssl.args -cp classes \
		SslProbe 127.0.0.1 "$P" http
	grep -v keyStore jb/javax-net-ssl.args >trust-only.args
	check_fails "java client without a keystore is refused by tomcat" \
		java @trust-only.args -cp classes SslProbe 127.0.0.1 "$P" http
else
	fail "tomcat did not start within 60s"; tail -30 tomcat.log
fi
stop "$TOMCAT"

# --- ActiveMQ ------------------------------------------------------------------
P=$(free_port)
check "bundle for activemq (broker and client issued on the spot)" \
	$MTLS bundle broker --for activemq --issue server \
	--san dns:localhost,ip:127.0.0.1 --from ids --out b-amq \
	--listen 127.0.0.1:$P --pass env:STORE_PASS
for f in broker.ks broker.ts client.ks client.ts activemq.xml client-ssl.args; do
	check_output "activemq: $f is 0600" '^600$' mode "b-amq/$f"
done
check_output "activemq: transport needs client auth" "needClientAuth=true" cat b-amq/activemq.xml
check_output "keytool: broker.ks is JKS with the broker's key" "broker, .*PrivateKeyEntry" \
	keytool -list -keystore b-amq/broker.ks -storepass "$STORE_PASS"
check_output "keytool: client.ts trusts the CA" "trustedCertEntry" \
	keytool -list -keystore b-amq/client.ts -storepass "$STORE_PASS"

AB=$T/amq
mkdir -p "$AB"/conf "$AB"/data
cp /etc/activemq/instances-available/main/log4j2.properties "$AB"/conf/
{
	cat <<'EOF'
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false"
          persistent="false" brokerName="mtls-test">
EOF
	cat b-amq/activemq.xml
	echo '  </broker>'
	echo '</beans>'
} >"$AB"/conf/activemq.xml
bg_log amq.log java -Xmx256m -Dactivemq.home=/usr/share/activemq \
	-Dactivemq.base="$AB" -Dactivemq.conf="$AB/conf" -Dactivemq.data="$AB/data" \
	-jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$AB/conf/activemq.xml"
AMQ=$LAST_PID

# s_read ARGS...: what the broker sends to an openssl client (OpenWire
# speaks first: its WireFormatInfo names "ActiveMQ").
s_read() {
	(sleep 3) | timeout 15 openssl s_client -connect "127.0.0.1:$P" \
		-CAfile b-amq/ca.crt -verify_return_error -quiet "$@" 2>&1 | tr -c '[:print:]\n' .
}
if wait_port "$P" 60; then
	check_output "activemq: Java client with client.ks/client.ts succeeds" \
		"ActiveMQ" java @b-amq/client-ssl.args -cp classes SslProbe 127.0.0.1 "$P" read
	grep -v keyStore b-amq/client-ssl.args >amq-trust-only.args
	check_fails "activemq: Java client without client.ks is refused" \
		java @amq-trust-only.args -cp classes SslProbe 127.0.0.1 "$P" read
	check_output "activemq: openssl client with our certificate gets OpenWire" \
		"ActiveMQ" s_read -cert ids/broker-client.chain.pem -key ids/broker-client.key
	s_read >s-nocert.out
	check_fails "activemq: openssl client without a certificate gets nothing" \
		grep -q ActiveMQ s-nocert.out
	check_output "activemq: ... the broker sends an alert" "SSL alert number" cat s-nocert.out
	s_read -cert rogue/rogue.chain.pem -key rogue/rogue.key >s-rogue.out
	check_fails "activemq: client with a foreign CA's certificate gets nothing" \
		grep -q ActiveMQ s-rogue.out
	check_output "activemq: ... the broker sends an alert" "SSL alert number" cat s-rogue.out
	check_fails "activemq: TLS 1.1 is refused" grep -q ActiveMQ \
		<(s_read -cert ids/broker-client.chain.pem -key ids/broker-client.key -tls1_1)
else
	fail "activemq did not start within 60s"; tail -30 amq.log
fi
stop "$AMQ"

finish
