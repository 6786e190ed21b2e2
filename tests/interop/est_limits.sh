#!/usr/bin/env bash
# The limits of `mtls ca serve` and the node side's guards: --max-conns
# (further clients wait in the listen queue), --request-timeout (a client
# trickling its request loses the connection), a busy inventory answered
# 202 + Retry-After (RFC 7030 4.2.3) and the retry that then succeeds, a
# lifetime beyond --max-lifetime or past the CA refused with 403, the
# server's own certificate never outliving the CA, the metrics of all
# that; enroll.json without secrets, and renew-agent refusing a state file
# that others may change.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# ---- help and exit statuses
for c in "ca serve" enroll renew-agent; do
	check_output "mtls $c --help shows examples and exit statuses" "Exit status" $MTLS $c --help
done
check_status "ca serve: --cert-lifetime over --max-lifetime is a usage error" 2 \
	$MTLS ca serve --listen 127.0.0.1:1 --cert-lifetime 10d --max-lifetime 1d

# A CA that lives 10 days: everything it serves must end before it does.
$MTLS ca init --dir ca --days 10 --name "CN=Limits CA" >/dev/null || exit 1
FP=$($MTLS ca show --ca-dir ca | awk '/SHA-256/{print $2}')
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
EST=$URL/.well-known/est
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 1h --max-lifetime 30d \
	--max-conns 4 --idle-timeout 30 --request-timeout 4 --fail-limit 100 2>serve.log
wait_port "$PORT" 20 || { cat serve.log; exit 1; }

end_of() { date -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s; }
openssl s_client -connect 127.0.0.1:$PORT -servername 127.0.0.1 </dev/null 2>/dev/null | openssl x509 > served.crt
check "the server's own certificate ends no later than the CA's (10-day CA)" \
	test "$(end_of served.crt)" -le "$(end_of ca/ca.crt)"
check "and it verifies against the CA" openssl verify -CAfile ca/ca.crt served.crt

# ---- --max-conns 4: a fifth client waits until one of the four closes
check "at --max-conns the fifth handshake waits; it completes once one closes" python3 - "$PORT" <<'PY'
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context(cafile="ca/ca.crt")
def conn(timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")
held = [conn(5) for _ in range(4)]
try:
    conn(1.5)
    sys.exit("the fifth connection was served beyond --max-conns")
except (socket.timeout, TimeoutError, ssl.SSLError, OSError):
    pass
held.pop().close()
t = time.time()
c = conn(5)
c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = c.recv(200)
assert b"200" in data, data
print("waited %.2f s" % (time.time() - t))
PY
metric() { curl -s --cacert ca/ca.crt "$URL/metrics" | awk -v m="$1" '$1==m{print $2}'; }
check "metrics: accepting paused at least once" test "$(metric mtls_ca_accept_paused_total)" -ge 1
check "metrics: --max-conns is exported" test "$(metric mtls_ca_connections_max)" = 4

# ---- --request-timeout 4: one byte a second never trips the idle timeout,
# but the whole request must come within 4 s
check "a request trickled byte by byte is cut off after --request-timeout" python3 - "$PORT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile="ca/ca.crt")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15),
                    server_hostname="127.0.0.1")
t = time.time()
req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40
try:
    for b in req:
        s.send(bytes([b]))
        time.sleep(0.5)
    sys.exit("the server read 20 s of trickle")
except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
    pass
took = time.time() - t
print("closed after %.1f s" % took)
sys.exit(0 if 3 <= took <= 10 else 1)
PY
check "metrics: the timed-out request is counted" test "$(metric mtls_ca_requests_timed_out_total)" -ge 1

# ---- a busy inventory: 202 + Retry-After, nothing spent, the retry works
# hold_inventory SECONDS: another writer (as a batch `mtls issue` would)
# holds the inventory; returns once it does, the holder in $LOCKER.
hold_inventory() {
	rm -f locked
	python3 - "$1" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect("ca/inventory.db", isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open("locked", "w").close()
time.sleep(float(sys.argv[1]))
db.execute("ROLLBACK")
PY
	LOCKER=$!
	for ((i = 0; i < 50; i++)); do [ -e locked ] && break; sleep 0.1; done
}
TOK=$($MTLS token create b1 --ca-dir ca --ttl 10m 2>/dev/null)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out b1.key 2>/dev/null
openssl req -new -key b1.key -subj /CN=b1 -outform DER 2>/dev/null | base64 > b1.b64
hold_inventory 4
s=$(curl -s --cacert ca/ca.crt -o busy.txt -D busy.h -w '%{http_code}' -u "b1:$TOK" \
	-H 'Content-Type: application/pkcs10' --data-binary @b1.b64 "$EST/simpleenroll")
check "a request that finds the inventory held answers 202" test "$s" = 202
check "with Retry-After" grep -qi '^Retry-After: [0-9]' busy.h
check "and the token is not spent" sh -c "$MTLS token list --ca-dir ca | grep -q 'b1 .*usable'"
wait "$LOCKER"
s=$(curl -s --cacert ca/ca.crt -o b1.p7 -w '%{http_code}' -u "b1:$TOK" \
	-H 'Content-Type: application/pkcs10' --data-binary @b1.b64 "$EST/simpleenroll")
check "the same request sent again once it is free: 200" test "$s" = 200
check "metrics: the busy answer is counted" test "$(metric mtls_ca_requests_busy_total)" -ge 1
# mtls enroll rides it out by itself (Retry-After, then the same request).
TOK2=$($MTLS token create b2 --ca-dir ca --ttl 10m 2>/dev/null)
hold_inventory 3
check_output "mtls enroll waits out a busy CA and enrolls" "answered 202: retrying" \
	$MTLS enroll "$URL" --token "$TOK2" --ca-fingerprint "$FP" --dir b2 b2
wait "$LOCKER"
check "and b2 got its certificate" openssl verify -CAfile ca/ca.crt b2/b2.crt

# ---- lifetimes: beyond --max-lifetime, or past the CA itself
csr() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
	openssl req -new -key "$1.key" -subj "/CN=$1" -outform DER 2>/dev/null | base64 > "$1.b64"; }
TL=$($MTLS token create long1 --ca-dir ca --ttl 10m --cert-lifetime 60d 2>/dev/null)
csr long1
s=$(curl -s --cacert ca/ca.crt -o long1.txt -w '%{http_code}' -u "long1:$TL" \
	-H 'Content-Type: application/pkcs10' --data-binary @long1.b64 "$EST/simpleenroll")
check "a token asking for more than --max-lifetime: 403 naming the limit" \
	sh -c "[ $s = 403 ] && grep -q 'max-lifetime' long1.txt"
TP=$($MTLS token create past1 --ca-dir ca --ttl 10m --cert-lifetime 20d 2>/dev/null)
csr past1
s=$(curl -s --cacert ca/ca.crt -o past1.txt -w '%{http_code}' -u "past1:$TP" \
	-H 'Content-Type: application/pkcs10' --data-binary @past1.b64 "$EST/simpleenroll")
check "a lifetime that would outlive the CA: 403 with the reason, not 500" \
	sh -c "[ $s = 403 ] && grep -q 'outlive the CA' past1.txt"
check "neither spent its token" sh -c "[ \$($MTLS token list --ca-dir ca | grep -cE '(long1|past1) .*usable') = 2 ]"
check_output "both refusals are audit events with the reason" "max-lifetime" $MTLS audit --ca-dir ca --json

# ---- enroll.json keeps the password spec, never the password
export STOREPASS=sup3r-s3cret-store
TOK3=$($MTLS token create j1 --ca-dir ca --ttl 10m 2>/dev/null)
check_status "--store-pass pass:SECRET is refused (it would be kept in enroll.json)" 2 \
	$MTLS enroll "$URL" --token "$TOK3" --ca-fingerprint "$FP" --dir j1 j1 --format jks --store-pass pass:sup3r-s3cret-store
check "and the token was not spent" sh -c "$MTLS token list --ca-dir ca | grep -q 'j1 .*usable'"
check "enroll with --store-pass env:STOREPASS" \
	$MTLS enroll "$URL" --token "$TOK3" --ca-fingerprint "$FP" --dir j1 j1 --format jks --store-pass env:STOREPASS
check "enroll.json holds the spec" grep -q '"env:STOREPASS"' j1/j1.enroll.json
check_fails "and not the password" grep -rq "sup3r-s3cret-store" j1/j1.enroll.json
check "enroll.json is 0600" test "$(stat -c %a j1/j1.enroll.json)" = 600

# ---- renew-agent refuses a state file others may change (it names the hook)
chmod 666 j1/j1.enroll.json
check_output "a world-writable enroll.json is refused, saying why" "may be changed by others.*chmod 600" \
	$MTLS renew-agent --once --force j1
check_status "with exit status 1" 1 $MTLS renew-agent --once --force j1
chmod 620 j1/j1.enroll.json
check_status "group-writable too" 1 $MTLS renew-agent --once --force j1
chmod 600 j1/j1.enroll.json
check "0600: renewed" $MTLS renew-agent --once --force j1
finish
