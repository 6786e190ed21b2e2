#!/bin/bash
# mtls trust install|uninstall|status against the real consumers: curl
# through Debian's system store (update-ca-certificates, run inside a
# private mount namespace over a small store of its own, so the machine's
# store never changes), NSS (certutil -V and tstclnt) and Java (the
# JDK's KeyStore, which keytool reads with, and a TLS client using the
# truststore). update-ca-certificates runs without its hooks there (Java's
# cacerts would take half a minute a run). Removal takes out exactly our
# CA: another CA already in each store stays.
. "$(dirname "$0")/lib.sh"
JAVA_SRC=$(cd "$(dirname "$0")/java" && pwd)
cd "$T" || exit 1

$MTLS ca init --ca-dir pki >/dev/null || { echo "ca init failed"; exit 1; }
$MTLS ca init --ca-dir other --name "CN=Other CA" >/dev/null || exit 1
export MTLS_CA_DIR=$T/pki
$MTLS issue web --profile server --san dns:localhost,ip:127.0.0.1 --out ids >/dev/null || exit 1
P=$(free_port)
bg openssl s_server -accept "127.0.0.1:$P" -cert ids/web.crt -key ids/web.key \
	-cert_chain pki/ca.crt -www -quiet
wait_port "$P" 10 || fail "openssl s_server did not start"
FPR=$(openssl x509 -in pki/ca.crt -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | cut -c1-16 | tr 'A-F' 'a-f')
NICK=mtls-$FPR

# --- usage -------------------------------------------------------------
check_status "no verb is a usage error" 2 $MTLS trust
check_status "no store is a usage error" 2 $MTLS trust install
check_status "unknown verb" 2 $MTLS trust add --system
check_output "--help has examples and exit statuses" "Exit status.*examples" \
	sh -c "$MTLS trust --help | tr '\n' ' '"

# --- the system store, in a private mount namespace ----------------------
if unshare -m --propagation private true 2>/dev/null; then
	# A system store of three of the machine's CAs (rehashing all of
	# them on every update-ca-certificates run cost seconds under load):
	# the same program and the same files, fewer certificates.
	mkdir -p sys/certs sys/local sys/hooks
	grep -v '^[#!]' /etc/ca-certificates.conf | grep . | head -3 >sys/ca-certificates.conf
	cp -a /usr/local/share/ca-certificates/. sys/local/ 2>/dev/null
	cat >sys/run.sh <<EOS
set -e
mount --bind "$T/sys/certs" /etc/ssl/certs
mount --bind "$T/sys/local" /usr/local/share/ca-certificates
mount --bind "$T/sys/ca-certificates.conf" /etc/ca-certificates.conf
# Without the hooks (ca-certificates-java rebuilds Java's cacerts for
# half a minute); the Java truststore has its own checks below.
mount --bind "$T/sys/hooks" /etc/ca-certificates/update.d
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
update-ca-certificates --fresh >/dev/null 2>&1
echo "baseline=\$(grep -c 'BEGIN CERT' /etc/ssl/certs/ca-certificates.crt)"
before=\$(grep -c 'BEGIN CERT' /etc/ssl/certs/ca-certificates.crt)
if curl -sS -o /dev/null https://localhost:$P/ 2>/dev/null; then echo "curl-before=ok"; else echo "curl-before=refused"; fi
$MTLS trust install --system
$MTLS trust status --system >/dev/null && echo "status-installed=0"
if curl -sS -o /dev/null https://localhost:$P/; then echo "curl-installed=ok"; else echo "curl-installed=refused"; fi
echo "anchor=\$(ls /usr/local/share/ca-certificates | grep -c '^$NICK.crt\$')"
$MTLS trust install --system >/dev/null && echo "install-twice=0"
$MTLS trust uninstall --system
if curl -sS -o /dev/null https://localhost:$P/ 2>/dev/null; then echo "curl-removed=ok"; else echo "curl-removed=refused"; fi
after=\$(grep -c 'BEGIN CERT' /etc/ssl/certs/ca-certificates.crt)
echo "bundle-count-same=\$([ "\$before" = "\$after" ] && echo yes || echo "no \$before \$after")"
$MTLS trust status --system >/dev/null || echo "status-removed=1"
EOS
	unshare -m --propagation private bash sys/run.sh >sys.out 2>&1
	check_output "system: the private store was built (three CAs and any local ones)" "^baseline=([3-9]|[1-9][0-9]+)$" cat sys.out
	check_output "system: curl refuses before install" "^curl-before=refused" cat sys.out
	check_output "system: curl trusts the server after install" "^curl-installed=ok" cat sys.out
	check_output "system: status says installed (exit 0)" "^status-installed=0" cat sys.out
	check_output "system: one anchor file named after the fingerprint" "^anchor=1" cat sys.out
	check_output "system: installing twice is fine" "^install-twice=0" cat sys.out
	check_output "system: curl refuses again after uninstall" "^curl-removed=refused" cat sys.out
	check_output "system: every other CA is still in the bundle" "^bundle-count-same=yes" cat sys.out
	check_output "system: status exits 1 once removed" "^status-removed=1" cat sys.out
	check_output "the machine's own store never saw our CA" "^0$" \
		sh -c "ls /usr/local/share/ca-certificates /etc/ssl/certs | grep -c '$NICK'"
else
	skip "system store: no private mount namespace here (unshare -m refused)"
fi

# --- NSS -----------------------------------------------------------------
mkdir nss
certutil -N -d sql:nss --empty-password || fail "certutil -N"
certutil -A -d sql:nss -n other-ca -t C,, -i other/ca.crt || fail "certutil -A other"
certutil -A -d sql:nss -n web -t ,, -i ids/web.crt || fail "certutil -A web"
check_fails "nss: web not valid before install" certutil -V -u V -n web -d sql:nss
check "nss: install" $MTLS trust install --nss nss
check_output "nss: certutil -V calls web valid" "certificate is valid" \
	certutil -V -u V -n web -d sql:nss
check_output "nss: trusted as a CA for TLS (C,C,)" "^$NICK +C,C," certutil -L -d sql:nss
check "nss: tstclnt completes a handshake trusting only the database" \
	sh -c "echo | timeout 10 tstclnt -h 127.0.0.1 -p $P -d sql:nss -Q"
check_output "nss: status --json" '"installed": true' $MTLS trust status --nss nss --json
check "nss: uninstall" $MTLS trust uninstall --nss nss
check_fails "nss: web not valid after uninstall" certutil -V -u V -n web -d sql:nss
check_output "nss: the other CA is still there" "^other-ca +C,," certutil -L -d sql:nss
check_fails "nss: tstclnt refuses after uninstall" \
	sh -c "echo | timeout 10 tstclnt -h 127.0.0.1 -p $P -d sql:nss -Q"
check_status "nss: status exits 1 when missing" 1 $MTLS trust status --nss nss
check_output "nss: a missing database is named with the fix" "certutil -N" \
	$MTLS trust install --nss nowhere

# --- Java ------------------------------------------------------------------
$MTLS keystore trust ts.jks --cert other/ca.crt --alias other --pass pass:changeit \
	>/dev/null || fail "keystore trust other"
# One JVM per state (installed, removed) does the two Java checks: the
# store as the JDK's KeyStore reads it (keytool's reader) and a TLS client
# trusting only that store. JVM starts dominated this test's time.
javac -d classes "$JAVA_SRC/TrustProbe.java" || fail "javac TrustProbe"
jprobe() {
	timeout 30 java -cp classes -Djavax.net.ssl.trustStore="$T/ts.jks" \
		-Djavax.net.ssl.trustStorePassword=changeit \
		TrustProbe 127.0.0.1 "$P" >"$1" 2>&1
}
check "java: install" $MTLS trust install --java ts.jks
jprobe java-installed.out
check_output "java: the JDK's KeyStore lists our CA as trusted" "^$NICK, .*trustedCertEntry" \
	cat java-installed.out
check_output "java: the client trusts the server" "^tls: ok .*HTTP/1" cat java-installed.out
check "java: uninstall" $MTLS trust uninstall --java ts.jks
jprobe java-after.out
check_output "java: the other CA is still listed" "^other, .*trustedCertEntry" cat java-after.out
check_fails "java: our CA is gone" grep -q "^$NICK" java-after.out
check_output "java: the client refuses again" "^tls: refused" cat java-after.out
check_output "java: wrong password is named" "wrong password" \
	$MTLS trust install --java ts.jks --java-pass pass:nope
finish
