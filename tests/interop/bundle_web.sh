#!/bin/bash
# mtls bundle against the real web servers: nginx, Apache httpd, HAProxy and
# stunnel from Debian's packages, each started on 127.0.0.1 with the files
# and the unmodified snippet from `mtls bundle` (the test only wraps the
# snippet in the few global lines a standalone server needs). For each: the
# curl bundle's client succeeds; no client certificate, and a certificate
# from a foreign CA, are refused.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# Apache's child runs as www-data and must reach the document root.
chmod 711 "$T"

# --- PKI: our CA, a server, a client bundle; a foreign CA and its client ----
$MTLS ca init --ca-dir pki >/dev/null || { echo "ca init failed"; exit 1; }
$MTLS ca init --ca-dir rogue-pki --name "CN=Rogue CA" >/dev/null || exit 1
export MTLS_CA_DIR=$T/pki
mkdir -p ids rogue www
$MTLS issue web --profile server --san dns:localhost,ip:127.0.0.1 --out ids >/dev/null || exit 1
$MTLS issue rogue --profile client --ca-dir rogue-pki --out rogue >/dev/null || exit 1
echo "backend ok" >www/index.html
chmod -R a+rX www

check "curl bundle (issued on the spot)" $MTLS bundle cli --for curl \
	--issue client --from ids --out cb
CURL_SH=$T/cb/curl.sh

# --- the command's own rules ---------------------------------------------------
check_status "unknown target is a usage error" 2 $MTLS bundle web --for iis --from ids
check_status "--for is required" 2 $MTLS bundle web --from ids
check_status "--pass refused where no store needs it" 2 \
	$MTLS bundle web --for nginx --from ids --pass pass:x --out x1
check_output "server target refuses a client-only certificate" \
	"not valid for nginx.*lacks serverAuth" $MTLS bundle cli --for nginx --from ids --out x2
check_output "curl refuses a server-only certificate" "lacks clientAuth" \
	$MTLS bundle web --for curl --from ids --out x3
check_output "an identity from another CA is refused" "does not verify against the CA" \
	$MTLS bundle rogue --for nginx --from rogue --out x4
check_output "missing identity names the file" "ids/nobody.key does not exist" \
	$MTLS bundle nobody --for nginx --from ids --out x5
check_output "bad --listen" "bad --listen" \
	$MTLS bundle web --for nginx --from ids --listen 127.0.0.1:99999 --out x6

mode() { stat -c %a "$1"; }

# bg_log LOG CMD...: like bg, output into LOG (shown when a server fails).
bg_log() {
	local log=$1; shift
	bg sh -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' sh "$log" "$@"
}

# ok_client PORT NAME: the valid client gets the page; the two others fail.
clients() {
	local port=$1 what=$2 want=$3
	check_output "$what: client with our certificate succeeds" "$want" \
		"$CURL_SH" "https://127.0.0.1:$port/" -sS --fail --max-time 10
	check_fails "$what: client without a certificate is refused" \
		curl -sS --fail --max-time 10 --cacert "$T/cb/ca.crt" "https://127.0.0.1:$port/"
	check_fails "$what: client with a foreign CA's certificate is refused" \
		curl -sS --fail --max-time 10 --cacert "$T/cb/ca.crt" \
		--cert rogue/rogue.chain.pem --key rogue/rogue.key "https://127.0.0.1:$port/"
}

# stop PID: ends one server we started, bounded.
stop() {
	kill "$1" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}

# --- nginx -------------------------------------------------------------------
P=$(free_port)
check "bundle for nginx" $MTLS bundle web --for nginx --from ids --out b-nginx \
	--listen 127.0.0.1:$P
check_status "second run refused without --force" 1 \
	$MTLS bundle web --for nginx --from ids --out b-nginx --listen 127.0.0.1:$P
check "second run with --force" $MTLS bundle web --for nginx --from ids \
	--out b-nginx --listen 127.0.0.1:$P --force
check_output "nginx: key is 0600" '^600$' mode b-nginx/web.key
check_output "nginx: README names the snippet" "nginx.conf" cat b-nginx/README.txt
check_output "nginx: snippet enforces client certificates" "ssl_verify_client +on;" \
	cat b-nginx/nginx.conf
nginx_conf "$T/nginx" "$T/b-nginx/nginx.conf"
check "nginx -t accepts the snippet" nginx -t -p "$T/nginx" -c "$T/nginx/nginx.conf"
bg_log nginx/logs/stdout.log nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off; master_process off;'
NGINX=$LAST_PID
if wait_port "$P" 15; then
	clients "$P" nginx "hello CN=cli"
else
	fail "nginx did not start"; cat nginx/logs/error.log
fi
stop "$NGINX"

# --- Apache httpd ------------------------------------------------------------
P=$(free_port)
check "bundle for apache" $MTLS bundle web --for apache --from ids --out b-apache \
	--listen 127.0.0.1:$P
check_output "apache: snippet requires client certificates" "SSLVerifyClient require" \
	cat b-apache/apache.conf
mkdir -p apache/logs apache/run
M=/usr/lib/apache2/modules
cat >apache/httpd.conf <<EOF
ServerRoot $T/apache
ServerName localhost
PidFile $T/apache/run/httpd.pid
DefaultRuntimeDir $T/apache/run
Mutex file:$T/apache/run default
ErrorLog $T/apache/logs/error.log
LogLevel info
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule dir_module $M/mod_dir.so
LoadModule mime_module $M/mod_mime.so
LoadModule socache_shmcb_module $M/mod_socache_shmcb.so
LoadModule ssl_module $M/mod_ssl.so
User www-data
Group www-data
TypesConfig /etc/mime.types
DirectoryIndex index.html
DocumentRoot $T/www
<Directory $T/www>
    Require all granted
</Directory>
SSLSessionCache shmcb:$T/apache/run/ssl_scache(512000)
Include $T/b-apache/apache.conf
EOF
check "apache2 -t accepts the snippet" apache2 -t -f "$T/apache/httpd.conf"
bg_log apache/logs/stdout.log apache2 -X -f "$T/apache/httpd.conf"
APACHE=$LAST_PID
if wait_port "$P" 15; then
	clients "$P" apache "backend ok"
else
	fail "apache2 did not start"; cat apache/logs/error.log
fi
stop "$APACHE"

# A backend for the proxies.
BP=$(free_port)
bg_log backend.log python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$BP"
BACKEND=$LAST_PID
wait_port "$BP" 10 || fail "python backend did not start"

# --- HAProxy -----------------------------------------------------------------
P=$(free_port)
check "bundle for haproxy" $MTLS bundle web --for haproxy --from ids --out b-haproxy \
	--listen 127.0.0.1:$P --backend 127.0.0.1:$BP
check_output "haproxy: combined PEM is 0600" '^600$' mode b-haproxy/web.pem
check_output "haproxy: combined PEM holds the key" "PRIVATE KEY" cat b-haproxy/web.pem
check_output "haproxy: snippet requires client certificates" "verify required" \
	cat b-haproxy/haproxy.cfg
cat >haproxy-global.cfg <<EOF
global
    maxconn 64
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
EOF
check "haproxy -c accepts the snippet" haproxy -c -f haproxy-global.cfg -f b-haproxy/haproxy.cfg
bg_log haproxy.log haproxy -db -f haproxy-global.cfg -f b-haproxy/haproxy.cfg
HAPROXY=$LAST_PID
if wait_port "$P" 15; then
	clients "$P" haproxy "backend ok"
else
	fail "haproxy did not start"; cat haproxy.log
fi
stop "$HAPROXY"

# --- stunnel -----------------------------------------------------------------
P=$(free_port)
check "bundle for stunnel" $MTLS bundle web --for stunnel --from ids --out b-stunnel \
	--listen 127.0.0.1:$P --backend 127.0.0.1:$BP
check_output "stunnel: snippet verifies the chain" "verifyChain = yes" cat b-stunnel/stunnel.conf
{
	echo "foreground = yes"
	echo "pid ="
	cat b-stunnel/stunnel.conf
} >stunnel.conf
bg_log stunnel.log stunnel stunnel.conf
STUNNEL=$LAST_PID
if wait_port "$P" 15; then
	clients "$P" stunnel "backend ok"
else
	fail "stunnel did not start"; cat stunnel.log
fi
stop "$STUNNEL"
stop "$BACKEND"

finish
