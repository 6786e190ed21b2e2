#!/bin/bash
# mtls serve under abuse: what a hostile but authenticated client (or a
# client certificate with a hostile name) can do to the receiver and its
# log. Raw requests go through python's ssl module, so the bytes sent are
# exactly the bytes written here.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

pki_ca . ca
pki_issue . ca publish server
pki_issue . ca author client
# A client whose CN carries a newline and a forged log line after it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout evil.key -out evil.csr \
	-subj "/CN=evil"$'\n'"FORGED principal=root status=200/O=mtls test" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >evil.ext
openssl x509 -req -in evil.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out evil.crt -days 30 -extfile evil.ext 2>/dev/null
check "test PKI was made (with a CN holding a newline)" test -s author.crt -a -s evil.crt

# raw PORT CERT: sends stdin as is over TLS, prints the response's status
# line ("closed" when the server closed without one, "timeout").
cat >raw.py <<'PY'
import socket, ssl, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
wait = float(sys.argv[3]) if len(sys.argv) > 3 else 10
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain(name + ".crt", name + ".key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=wait),
                    server_hostname="127.0.0.1")
data = sys.stdin.buffer.read()
try:
    s.sendall(data)
    buf = b""
    while b"\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            break
        buf += b
    print(buf.split(b"\r\n")[0].decode("latin-1") if buf else "closed")
except socket.timeout:
    print("timeout")
except (ConnectionError, ssl.SSLError) as e:
    print("closed")
PY
raw() { timeout 30 python3 raw.py "$@"; }

start_serve() { # start_serve LOG [options...]
	local log=$1
	shift
	P=$(free_port)
	bg "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
		--ca ca.crt --root "$T/root" --insecure-no-map "$@" 2>"$T/$log"
	wait_log "$log" "serving https" 15
}

req() { # req ACTION PATH [extra header lines...]: a request with an empty body
	local a=$1 p=$2 h
	shift 2
	printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: %s\r\nPath: %s\r\n' "$a" "$p"
	for h in "$@"; do printf '%s\r\n' "$h"; done
	printf 'Content-Length: 0\r\nConnection: close\r\n\r\n'
}

# --- the text log: one request, one line -----------------------------------
check "serve starts (text log)" start_serve text.log
req Test /content | raw $P evil >evil.out
check "the client with a newline in its CN gets its answer" grep -q " 200 " evil.out
check "the CN is logged escaped, on its own line" \
	wait_log text.log 'principal=evil\\x0aFORGED\\x20principal=root\\x20status=200'
check_fails "no forged line starts with FORGED" grep -q '^FORGED' text.log
req Activate $'/content/a b status=200 x' | raw $P author >sp.out
check "a Path with spaces is a field, not three" \
	wait_log text.log 'path=/content/a\\x20b\\x20status=200\\x20x item'
req Activate $'/content/\xff\xfe.html' | raw $P author >utf.out
check "a Path that is not UTF-8 is refused (400)" grep -q " 400 " utf.out
check_fails "... and nothing was written" sh -c 'ls root/content | grep -q html'
check "... and the log shows its bytes" wait_log text.log 'path=/content/\\xff\\xfe\.html'
req Activate $'/content/c1\xc2\x85x' | raw $P author >c1.out
check "a Path with a C1 control character is refused (400)" grep -q " 400 " c1.out
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/one\r\nPath: /content/two\r\nContent-Length: 2\r\n\r\nhi' |
	raw $P author >dup.out
check "two Path headers are refused (400)" grep -q " 400 " dup.out
check_fails "... and neither file was written" sh -c 'test -e root/content/one || test -e root/content/two'
check "... logged as repeated_header" wait_log text.log 'status=400 .*outcome=repeated_header'
# Of two Content-Length headers, which one frames the body is in doubt:
# "GET /metrics" hidden in the body must never be answered.
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Test\r\nPath: /content\r\nContent-Length: 0\r\nContent-Length: 24\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n' |
	raw $P author >cl.out
check "two Content-Length headers are refused (400)" grep -q " 400 " cl.out
check_fails "... and the smuggled request is not served" grep -q '"GET /metrics"' text.log

# --- the JSON log: never a dropped or broken record ------------------------
check "serve starts (JSON log)" start_serve json.log --log-format json
req Activate $'/content/\xff.html' | raw $P author >/dev/null
req Test /content | raw $P evil >/dev/null
req Activate $'/content/\xc3' | raw $P author >/dev/null
req Test $'/content/caf\xc3\xa9' | raw $P author >/dev/null
check "four JSON request records" wait_log json.log 'caf' 5
cat >jsoncheck.py <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    for k, v in rec.items():
        if v == "(null)" or (v is None and k != "outcome"):
            sys.exit("null field in %r" % line)
    n += rec.get("event") == "request"
print(n)
sys.exit(0 if n >= 4 else 1)
PY
check "every JSON line parses, no field is null, all 4 requests are there" \
	python3 jsoncheck.py json.log
check "the invalid byte is shown, not dropped" grep -qF '"path":"/content/\\xff.html"' json.log
check "the valid UTF-8 stays as is" grep -qF '"path":"/content/café"' json.log
check "the CN's newline is escaped in JSON too" grep -qF '"principal":"evil\\x0aFORGED' json.log

finish
