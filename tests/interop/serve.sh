#!/bin/bash
# mtls serve against real clients: curl, openssl s_client, python's ssl.
# PKI made with the openssl CLI at test time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

# --- PKI -----------------------------------------------------------------
pki_ca . ca
pki_ca . otherca
pki_issue . ca publish server
pki_issue . ca author client
pki_issue . ca reader client
pki_issue . ca stranger client
pki_issue . otherca outsider client
PKI_FAKETIME="2020-01-01 00:00:00" pki_issue . ca expired client -days 1
check "test PKI was made" test -s author.crt -a -s expired.crt -a -s outsider.crt

# post URL NAME ACTION PATH [curl args...]: prints the HTTP status.
post() {
	local url=$1 who=$2 action=$3 path=$4
	shift 4
	curl -sS -o "$T/body" -w '%{http_code}' --cacert ca.crt \
		${who:+--cert $who.crt --key $who.key} \
		-H "Action: $action" -H "Path: $path" "$@" "$url/bin/receive"
}

# --- server without a map ------------------------------------------------
P=$(free_port)
U=https://127.0.0.1:$P
check_output "without --map, serve refuses to start (exit 2)" \
	"no --map: every certificate the CA has signed .* would get full write access" \
	"$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root"
check_status "... with the usage exit status" 2 "$MTLS" serve --listen 127.0.0.1:$P \
	--cert publish.crt --key publish.key --ca ca.crt --root "$T/root"
check_status "--insecure-no-map with --map is a usage error" 2 "$MTLS" serve \
	--listen 127.0.0.1:$P --cert publish.crt --key publish.key --ca ca.crt \
	--root "$T/root" --map /dev/null --insecure-no-map
bg "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root" --workers 2 --handshake-timeout 2 \
	--max-conns 8 --insecure-no-map 2>"$T/serve.log"
SERVE=$LAST_PID
check "serve starts and listens" wait_log serve.log "serving https" 10
check "--insecure-no-map says so at start" grep -q "insecure-no-map: no principal map" serve.log
check_output "... and in /metrics" "^mtls_insecure_no_map 1$" curl -sS --cacert ca.crt \
	--cert author.crt --key author.key "$U/metrics"

check_output "curl Test succeeds with the seed's reply" '^200$' \
	post "$U" author Test /content -X POST
check "Test body is 'ReplicationAction TEST ok.'" \
	grep -qx "ReplicationAction TEST ok." body
printf 'hello <b>world</b>\n' >page.html
check_output "curl Activate succeeds" '^200$' \
	post "$U" author Activate /content/site/page.html -H "Item-Id: it-1" \
	--data-binary @page.html
check "the file appears with the exact content" cmp page.html root/content/site/page.html
head -c 300000 /dev/urandom >blob.bin
check_output "a 300 kB Activate (Expect: 100-continue) succeeds" '^200$' \
	post "$U" author Activate /content/blob.bin --data-binary @blob.bin
check "the large file arrives intact" cmp blob.bin root/content/blob.bin
check_output "a replayed Item-Id is acknowledged (200)" '^200$' \
	post "$U" author Activate /content/site/page.html -H "Item-Id: it-1" \
	--data-binary @page.html
check "... and said to be already applied" grep -q "already applied" body
rm root/content/site/page.html
post "$U" author Activate /content/site/page.html -H "Item-Id: it-1" --data-binary @page.html >/dev/null
check_fails "a replayed Item-Id is not applied again" test -e root/content/site/page.html
printf 'changed' >changed.txt
check_output "Activate with a new Item-Id" '^200$' \
	post "$U" author Activate /content/x.txt -H "Item-Id: it-9" --data-binary @changed.txt
check_output "an Item-Id reused for other content is refused (409)" '^409$' \
	post "$U" author Activate /content/x.txt -H "Item-Id: it-9" --data-binary @page.html
check "the reused id did not overwrite the file" cmp changed.txt root/content/x.txt
check_output "Deactivate removes the file" '^200$' \
	post "$U" author Deactivate /content/x.txt -X POST
check_fails "the deactivated file is gone" test -e root/content/x.txt

check_fails "curl without a certificate is refused" \
	post "$U" "" Test /content -X POST
check "log: no certificate sent" wait_log serve.log "handshake refused: no certificate sent"
check_fails "a certificate from another CA is refused" \
	post "$U" outsider Test /content -X POST
check "log: unknown issuer" wait_log serve.log "handshake refused: certificate CN=outsider.*unknown issuer"
check_fails "a server-profile certificate is refused" \
	post "$U" publish Test /content -X POST
check "log: not a client certificate" wait_log serve.log "CN=publish.*is not a client certificate"
check_fails "an expired certificate is refused" \
	post "$U" expired Test /content -X POST
check "log: expired on DATE" wait_log serve.log "CN=expired.*expired on 2020-01-0[12] "

openssl s_client -connect 127.0.0.1:$P -CAfile ca.crt </dev/null >sclient.out 2>&1
check "s_client: the server requests a certificate naming our CA" \
	grep -A1 "Acceptable client certificate CA names" sclient.out
check_output "s_client: ... and the CA named is ours" "CN ?= ?ca, O ?= ?mtls test" \
	grep -A1 "Acceptable client certificate CA names" sclient.out
# Sessions resume: needs a close_notify before the server closes, or
# OpenSSL 3 clients discard the session as truncated.
timeout 20 openssl s_time -connect 127.0.0.1:$P -reuse -www / -tls1_3 -cert author.crt \
	-key author.key -CAfile ca.crt -time 1 >stime.out 2>&1
check_output "s_time -reuse: TLS 1.3 sessions are resumed" '^mtls_handshakes_resumed_total [1-9]' \
	curl -sS --cacert ca.crt --cert author.crt --key author.key "$U/metrics"
# The seed manual's request, byte for byte in spirit: HTTP/1.0, a query
# string, Handle and Referer headers, an empty body.
printf 'POST /bin/receive?sling:authRequestLogin=1 HTTP/1.0\r\nAction: Test\r\nPath: /content\r\nHandle: /content\r\nReferer: about:blank\r\nContent-Length: 0\r\nContent-Type: application/octet-stream\r\n\r\n' >seed.req
(cat seed.req; sleep 1) | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$P \
	-cert author.crt -key author.key -CAfile ca.crt 2>/dev/null | tr -d '\r' >seed.out
check "the seed's Test request gets 200 OK" grep -qxE "HTTP/1.[01] 200 OK" seed.out
check "... with the body 'ReplicationAction TEST ok.'" grep -q "^ReplicationAction TEST ok\.$" seed.out
# Keep-alive latency: 30 requests on one connection. A response written as
# two TLS records without TCP_NODELAY waits ~40 ms for the client's delayed
# ACK each time (>= 1.2 s in all); healthy is well under 0.2 s.
URLS=$(for i in $(seq 30); do printf '%s ' "$U/bin/receive"; done)
start=$(date +%s%N)
curl -sS -o /dev/null -w '%{num_connects}\n' --cacert ca.crt --cert author.crt \
	--key author.key -H "Action: Test" -H "Path: /" -X POST $URLS >ka.out
ka_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "keep-alive: 30 requests over one connection" test "$(grep -c '1$' ka.out)" = 1
check "keep-alive: no delayed-ACK stall (30 requests in ${ka_ms} ms < 800)" test "$ka_ms" -lt 800
check_output "TLS 1.2 works" '^200$' post "$U" author Test /content -X POST --tls-max 1.2
check_fails "TLS 1.1 is refused" post "$U" author Test /content -X POST --tls-max 1.1 --tlsv1.1

# Path checks: traversal and symlink escapes.
for bad in "/content/../../etc/passwd" "content/rel" "/content/./x" "/.mtls-receiver.db" "/"; do
	check_output "path '$bad' is rejected (400)" '^400$' \
		post "$U" author Activate "$bad" --data-binary @page.html
done
mkdir -p outside root/content
ln -s "$T/outside" root/content/link
check_output "a symlink escape is refused (403)" '^403$' \
	post "$U" author Activate /content/link/evil.txt --data-binary @page.html
check_fails "nothing was written outside the root" test -e outside/evil.txt
check_output "a path with an escape character is a 400" '^400$' \
	post "$U" author Activate $'/content/a\x1b[2Jb' --data-binary @page.html
check "... refused with the head, before evhttp parses it, on one log line" \
	wait_log serve.log 'status=400 .*outcome=bad_head'
check_output "a missing Action header is a 400" '^400$' \
	curl -sS -o /dev/null -w '%{http_code}' --cacert ca.crt --cert author.crt \
	--key author.key -H "Path: /content/a" -X POST "$U/bin/receive"

check_output "/healthz answers ok" '^ok$' \
	curl -sS --cacert ca.crt --cert author.crt --key author.key "$U/healthz"
curl -sS --cacert ca.crt --cert author.crt --key author.key "$U/metrics" >metrics.txt
check "/metrics counts handshakes" grep -qE '^mtls_handshakes_total [1-9]' metrics.txt
check "/metrics counts failures by reason" \
	grep -q 'mtls_handshake_failures_total{reason="not_client_cert"} 1' metrics.txt
check "/metrics counts requests by action and status" \
	grep -q 'mtls_requests_total{action="activate",status="200"}' metrics.txt
check "access log has principal, serial, action, path, status" \
	grep -qE 'principal=author serial=[0-9A-F]+ "POST /bin/receive" action=Activate path=/content/site/page.html item=it-1 status=200' serve.log

# Limits: a silent TCP client is cut off at the handshake timeout and does
# not stop others; --max-conns refuses the excess.
cat >limits.py <<'PY'
import socket, ssl, subprocess, sys, time
port, args = int(sys.argv[1]), sys.argv[2:]
def curl():
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", "POST",
        "-H", "Action: Test", "-H", "Path: /", *args,
        "https://127.0.0.1:%d/bin/receive" % port]).returncode
idle = socket.create_connection(("127.0.0.1", port))
assert curl() == 0, "a client was blocked by an idle one"
idle.settimeout(5)
t = time.time()
assert idle.recv(1) == b"", "idle connection not closed"
assert 1.5 < time.time() - t < 4, "idle connection not closed at the timeout"
# Eight established TLS connections (counted once their handshake is done,
# so no race with the accept loop), then one more is refused.
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("author.crt", "author.key")
held = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
        server_hostname="localhost") for _ in range(8)]
assert curl() != 0, "--max-conns did not refuse"
for s in held: s.close()
for _ in range(20):
    time.sleep(0.2)
    if curl() == 0: break
else: raise SystemExit("not served again after the excess left")
print("limits ok")
PY
check_output "handshake timeout, no blocking, max-conns" "limits ok" \
	timeout 30 python3 limits.py $P --cacert ca.crt --cert author.crt --key author.key
check "log: handshake timeout" wait_log serve.log "no complete handshake within 2.0 s"
check "log: max connections" wait_log serve.log "refused: 8 connections are open"

# Reload: a renewed server certificate; the open connection stays usable,
# new connections see the new certificate.
cat >reload.py <<'PY'
import hashlib, http.client, os, signal, ssl, subprocess, sys, time
port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("author.crt", "author.key")
def test(c):
    c.request("POST", "/bin/receive", body=b"", headers={"Action": "Test", "Path": "/"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
test(c); sock = c.sock; old = sock.getpeercert(True)
subprocess.run(["bash", "-c", ". ./pki_openssl.sh; mkdir -p new; cp ca.* new/; pki_issue new ca publish server && cp new/publish.key publish.key.tmp && cp new/publish.crt publish.crt.tmp && mv publish.key.tmp publish.key && mv publish.crt.tmp publish.crt"], check=True)
n = open(log).read().count("reloaded:")
os.kill(pid, signal.SIGHUP)
for _ in range(100):
    if open(log).read().count("reloaded:") > n: break
    time.sleep(0.05)
else: raise SystemExit("no reload in the log")
test(c); assert c.sock is sock, "the keep-alive connection was replaced"
test(c)
c2 = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
test(c2); new = c2.sock.getpeercert(True)
want = subprocess.run(["openssl", "x509", "-in", "publish.crt", "-outform", "DER"], capture_output=True).stdout
assert new != old, "new connection still sees the old certificate"
assert new == want, "new connection does not see the renewed certificate"
print("reload ok")
PY
cp "$(dirname "$0")/pki_openssl.sh" . 2>/dev/null || cp "$OLDPWD/$(dirname "$0")/pki_openssl.sh" .
check_output "SIGHUP: keep-alive connection survives, new ones see the new cert" \
	"reload ok" timeout 60 python3 reload.py $P $SERVE serve.log
echo "not a key" >bad.key
cp publish.key good.key && cp bad.key publish.key
kill -HUP $SERVE
check "a failed reload is logged and the old identity kept" \
	wait_log serve.log "reload failed, keeping the previous"
cp good.key publish.key
check_output "still serving after a failed reload" '^200$' post "$U" author Test / -X POST

# Drain: SIGTERM closes an idle keep-alive connection at once, lets a
# half-sent upload finish (answered with Connection: close), then exits
# well before --drain-timeout (10 s).
cat >drain.py <<'PY'
import http.client, os, signal, socket, ssl, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("author.crt", "author.key")
idle = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
idle.request("POST", "/bin/receive", body=b"", headers={"Action": "Test", "Path": "/"})
r = idle.getresponse(); r.read(); assert r.status == 200
busy = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
busy.sendall(b"POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\n"
             b"Path: /content/drain.txt\r\nContent-Length: 10\r\n\r\nhello")
time.sleep(0.3)
t0 = time.time()
os.kill(pid, signal.SIGTERM)
idle.sock.settimeout(3)
try:
    assert idle.sock.recv(1) == b"", "idle connection got data"
except (ConnectionResetError, ssl.SSLError):
    pass
assert time.time() - t0 < 2, "idle keep-alive connection not closed promptly"
time.sleep(0.3)
busy.sendall(b"world")
busy.settimeout(5)
resp = b""
while b"\r\n\r\n" not in resp:
    chunk = busy.recv(4096)
    if not chunk: break
    resp += chunk
head = resp.split(b"\r\n\r\n")[0].decode()
assert head.startswith("HTTP/1.1 200"), head
assert "Connection: close" in head, head
def gone():
    try:
        return open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    except OSError:
        return True
for _ in range(60):
    if gone(): break
    time.sleep(0.05)
else: raise SystemExit("server still running 3 s after SIGTERM")
assert open("root/content/drain.txt").read() == "helloworld"
print("drain ok")
PY
check_output "SIGTERM: idle connection closed, upload finished, prompt exit" "drain ok" \
	timeout 30 python3 drain.py $P $SERVE
check "SIGTERM drains and exits" timeout 15 tail --pid=$SERVE -f /dev/null
check "log: stopped" wait_log serve.log "stopped"

# --- server with a map ---------------------------------------------------
cat >map.txt <<'MAP'
# principal  matchers...                 grants...
principal author cn=author subject="CN=author, O=mtls test" allow=test,activate,deactivate:/content
principal reader dns=reader allow=test:/
MAP
P2=$(free_port)
U2=https://127.0.0.1:$P2
bg "$MTLS" serve --listen 127.0.0.1:$P2 --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root2" --map map.txt --log-format json \
	--max-body 1000 2>"$T/serve2.log"
SERVE2=$LAST_PID
check "serve with a map starts" wait_log serve2.log "serving https" 10
check_output "map: author may Activate under /content" '^200$' \
	post "$U2" author Activate /content/a.txt --data-binary @changed.txt
check_output "map: author may not Activate outside /content (403)" '^403$' \
	post "$U2" author Activate /etc/a.txt --data-binary @changed.txt
check_output "map: prefixes match whole components (/contentx is outside)" '^403$' \
	post "$U2" author Activate /contentx/a.txt --data-binary @changed.txt
check_output "map: reader may Test" '^200$' post "$U2" reader Test /content -X POST
check_output "map: reader may not Activate (403)" '^403$' \
	post "$U2" reader Activate /content/b.txt --data-binary @changed.txt
check_output "map: an unmapped certificate gets 403" '^403$' \
	post "$U2" stranger Test /content -X POST
check "map: the 403 names the unmapped certificate" grep -q "CN=stranger.*not mapped" body
check_output "max body: a larger body gets 413" '^413$' \
	post "$U2" author Activate /content/big.bin --data-binary @blob.bin
check "json log lines parse and carry the principal" python3 -c '
import json, sys
lines = [json.loads(l) for l in open("serve2.log")]
assert any(l.get("principal") == "reader" and l.get("http_status") == 403 for l in lines)'
sed -i 's/allow=test:\//allow=test:\/ allow=activate:\/content\/shared/' map.txt
kill -HUP $SERVE2
check "map reload is logged" wait_log serve2.log '"message": *"reloaded'
check_output "after SIGHUP the new map grants reader /content/shared" '^200$' \
	post "$U2" reader Activate /content/shared/r.txt --data-binary @changed.txt
echo "principal broken allow=test:/" >>map.txt
kill -HUP $SERVE2
check "a broken map is refused on reload with its line" \
	wait_log serve2.log "map.txt:4: principal broken has no matcher"
check_output "the old map stays in force" '^200$' \
	post "$U2" reader Activate /content/shared/r2.txt --data-binary @changed.txt

# --- identities from our own CA (mtls ca init / mtls issue) -------------
MTLS_CA_DIR=$T/own "$MTLS" ca init --dir "$T/own" --name "CN=Own Root" >/dev/null 2>&1
MTLS_CA_DIR=$T/own "$MTLS" issue publish --profile server --san ip:127.0.0.1 --out "$T/ids" >/dev/null 2>&1
MTLS_CA_DIR=$T/own "$MTLS" issue author --profile client --out "$T/ids" >/dev/null 2>&1
check "mtls issue made the identities" test -s ids/publish.chain.pem -a -s ids/author.key
P3=$(free_port)
# The file given may end with the root (as many operators' chain files
# do); the server sends only the leaf and intermediates.
cat ids/publish.chain.pem own/ca.crt > ids/publish.withroot.pem
bg "$MTLS" serve --listen 127.0.0.1:$P3 --cert ids/publish.withroot.pem --key ids/publish.key \
	--ca own/ca.crt --root "$T/root3" --insecure-no-map 2>"$T/serve3.log"
check "serve starts with mtls-issued identities (chain file)" wait_log serve3.log "serving https" 10
check_output "... and sends its leaf without the root it was given" '^1$' sh -c \
	"openssl s_client -connect 127.0.0.1:$P3 -showcerts -CAfile own/ca.crt </dev/null 2>/dev/null | grep -c 'BEGIN CERTIFICATE'"
check_output "curl with an mtls-issued client identity: Activate" '^200$' \
	curl -sS -o /dev/null -w '%{http_code}' --cacert own/ca.crt --cert ids/author.crt \
	--key ids/author.key -H "Action: Activate" -H "Path: /content/own.txt" \
	--data-binary @changed.txt "https://127.0.0.1:$P3/bin/receive"
check "... and the file arrives" cmp changed.txt root3/content/own.txt
check_fails "the other CA's client is refused by this server" \
	curl -sS -o /dev/null --cacert own/ca.crt --cert author.crt --key author.key \
	-H "Action: Test" -H "Path: /" -X POST "https://127.0.0.1:$P3/bin/receive"

# --- --config and an encrypted key (--key-pass) ---------------------------
openssl pkcs8 -topk8 -v2 aes256 -in publish.key -out publish.enc.key -passout pass:s3cret
P4=$(free_port)
cat >serve.conf <<CONF
# mtls serve options, one per line
listen = 127.0.0.1:1
cert = publish.crt
key  = publish.enc.key
key-pass = env:KEYPASS
ca = ca.crt
root = $T/root4
log-format = json
insecure-no-map = yes
CONF
KEYPASS=s3cret bg "$MTLS" serve --config serve.conf --listen 127.0.0.1:$P4 2>"$T/serve4.log"
check "--config with an encrypted key; the command line wins" wait_log serve4.log "serving https://127.0.0.1:$P4" 10
check_output "... and it serves" '^200$' post "https://127.0.0.1:$P4" author Test / -X POST
check_output "a wrong key password is named" "wrong password" \
	env KEYPASS=nope "$MTLS" serve --config serve.conf --listen 127.0.0.1:$(free_port)
echo "colour = blue" >>serve.conf
check_output "an unknown config option is named" "unknown option 'colour'" \
	"$MTLS" serve --config serve.conf

check_status "a missing option is a usage error" 2 "$MTLS" serve --listen 127.0.0.1:1
check_output "a key that does not match is named" "does not belong to certificate" \
	"$MTLS" serve --listen 127.0.0.1:$(free_port) --cert publish.crt --key author.key \
	--ca ca.crt --root "$T/r3"
check_output "--ca with a leaf certificate is refused" "not a CA certificate" \
	"$MTLS" serve --listen 127.0.0.1:$(free_port) --cert publish.crt --key publish.key \
	--ca author.crt --root "$T/r3"
check_output "a busy port is reported" "cannot listen on 127.0.0.1:$P2" \
	"$MTLS" serve --listen 127.0.0.1:$P2 --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/r3" --insecure-no-map
finish
