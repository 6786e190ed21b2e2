#!/usr/bin/env bash
# What enrolled nodes run: nginx serving a bundle that `mtls enroll --for
# nginx` wrote, reloaded by the renewal agent's hook, serves the renewed
# certificate (curl sees the new serial); a Java client with the JKS
# keystore and truststore that `mtls enroll --format jks` wrote completes
# mutual TLS against `mtls serve`, before and after the agent rewrote them;
# a failing hook is reported with exit 1 and the files stay renewed.
JAVA_SRC=$(cd "$(dirname "$0")/java" && pwd)
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

$MTLS ca init --dir ca --name "CN=Hooks CA" >/dev/null || exit 1
FP=$($MTLS ca show --ca-dir ca | awk '/SHA-256/{print $2}')
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 1h --quiet 2>serve.log
wait_port "$PORT" 20 || { cat serve.log; exit 1; }
tok() { $MTLS token create "$@" --ca-dir ca --ttl 10m 2>/dev/null; }
serial() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }

# ---- nginx, enrolled with a bundle, reloaded by the hook
NP=$(free_port)
check "enroll web --for nginx with a reload hook" \
	$MTLS enroll "$URL" --token "$(tok web --profile server --san dns:localhost,ip:127.0.0.1)" \
	--ca-fingerprint "$FP" --dir web web --for nginx \
	--exec "nginx -p $T/nginx -c $T/nginx/nginx.conf -s reload && echo reloaded >> $T/hook.log"
check "the bundle holds the snippet" test -s web/bundle-nginx/nginx.conf
mkdir -p nginx
sed "s/listen .* ssl;/listen 127.0.0.1:$NP ssl;/" web/bundle-nginx/nginx.conf > nginx/site.conf
nginx_conf "$T/nginx" "$T/nginx/site.conf"
check "nginx -t accepts the enrolled bundle" nginx -t -p "$T/nginx" -c "$T/nginx/nginx.conf"
bg nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;'
wait_port "$NP" 15 || cat nginx/logs/error.log
check "enroll a client identity" $MTLS enroll "$URL" --token "$(tok cli --profile client)" \
	--ca-fingerprint "$FP" --dir cli cli
served() { # the serial nginx presents, after a mutual-TLS request with cli
	curl -s --cacert cli/ca.pem --cert cli/cli.crt --key cli/cli.key -o /dev/null \
		-w '%{certs}' "https://127.0.0.1:$NP/" 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
S1=$(served)
check "nginx serves web's enrolled certificate to a client with a certificate" test -n "$S1" -a "$S1" = "$(serial web/web.crt)"
check_fails "and refuses a client without one (ssl_verify_client on)" \
	sh -c "curl -sf --cacert cli/ca.pem https://127.0.0.1:$NP/ -o /dev/null"
check "renew-agent renews web and runs the hook" $MTLS renew-agent --once --force web
check "the hook ran" grep -q reloaded hook.log
S2=$(serial web/web.crt)
got=""
for ((i = 0; i < 50; i++)); do got=$(served); [ "$got" = "$S2" ] && break; sleep 0.2; done
check "nginx now serves the renewed certificate (curl sees the new serial)" test "$got" = "$S2" -a "$S2" != "$S1"
check "nginx read the bundle's copy, renewed too" test "$(serial web/bundle-nginx/web.chain.pem)" = "$S2"

# A hook that fails: exit 1 with the reason; the new files are in place.
python3 - web/web.enroll.json <<'PY'
import json, sys
p = sys.argv[1]; j = json.load(open(p)); j["exec"] = "exit 7"; json.dump(j, open(p, "w"))
PY
check_output "a failing hook is reported" "hook 'exit 7' failed \(status 7\)" $MTLS renew-agent --once --force web
check_status "with exit status 1" 1 $MTLS renew-agent --once --force web
check "and the certificate was renewed all the same" test "$(serial web/web.crt)" != "$S2"

# ---- Java with the enrolled JKS against mtls serve
export STOREPASS=jks-store-pass
check "enroll the receiver (node, PEM)" $MTLS enroll "$URL" --token "$(tok recv --san dns:localhost,ip:127.0.0.1)" \
	--ca-fingerprint "$FP" --dir recv recv
check "enroll a Java replicator with --format jks" $MTLS enroll "$URL" --token "$(tok repl1)" \
	--ca-fingerprint "$FP" --dir repl1 repl1 --format jks --store-pass env:STOREPASS
check "keytool reads the keystore" sh -c "keytool -list -keystore repl1/repl1.jks -storepass \$STOREPASS | grep -q PrivateKeyEntry"
check "keytool reads the truststore" sh -c "keytool -list -keystore repl1/truststore.jks -storepass \$STOREPASS | grep -q trustedCertEntry"
RP=$(free_port)
mkdir -p root
# The Java client sends one line, not an HTTP head: the receiver answers
# 408 at its header deadline, which must come well before the client's own
# 10 s read timeout (a slow sanitizer build missed it with the 10 s default).
bg $MTLS serve --listen 127.0.0.1:$RP --cert recv/recv.crt --key recv/recv.key --ca recv/ca.pem \
	--root root --state-dir . --insecure-no-map --header-timeout 2 2>recv.log
wait_port "$RP" 15 || cat recv.log
mkdir -p classes
check "javac TlsClient" javac -d classes "$JAVA_SRC/TlsClient.java"
jclient() { timeout 40 java -cp classes TlsClient 127.0.0.1 "$RP" "$@"; }
check_output "Java completes mutual TLS with the enrolled JKS" "TLS OK .*reply=HTTP/1.1" \
	jclient repl1/repl1.jks "$STOREPASS" repl1/truststore.jks "$STOREPASS"
check_fails "Java without a keystore is refused" jclient - "$STOREPASS" repl1/truststore.jks "$STOREPASS"
J1=$(keytool -list -v -keystore repl1/repl1.jks -storepass "$STOREPASS" | awk '/Serial number/{print $3; exit}')
check "renew-agent rewrites the JKS" $MTLS renew-agent --once --force repl1
J2=$(keytool -list -v -keystore repl1/repl1.jks -storepass "$STOREPASS" | awk '/Serial number/{print $3; exit}')
check "with the new certificate" test -n "$J2" -a "$J1" != "$J2"
check_output "Java completes mutual TLS with the renewed JKS" "TLS OK .*reply=HTTP/1.1" \
	jclient repl1/repl1.jks "$STOREPASS" repl1/truststore.jks "$STOREPASS"
finish
