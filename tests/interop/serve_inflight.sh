#!/bin/bash
# The same item twice at once: a sender that retries after a timeout
# while its first attempt is still uploading (or being placed) sends the
# same Item-Id again. While a live request holds an item, `mtls serve`
# answers the second 503 with Retry-After (the sender's "retry later"),
# neither applying it nor taking the first's record for a crash's
# leftover; the item is applied exactly once, and once the first is done
# a resend is answered as already applied. Two workers, so the two
# requests may meet on different threads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/receiver_lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

pki_ca . ca
pki_issue . ca publish server
pki_issue . ca author client
check "test PKI was made" test -s author.crt -a -s publish.crt
printf 'item one, the first attempt\n' >one.txt

P=$(free_port)
U=https://127.0.0.1:$P
: >serve.log
bg "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root" --state-dir "$T/rstate" --workers 2 \
	--insecure-no-map 2>>serve.log
wait_log serve.log "serving https" 20

# post ACTION PATH ID [curl args...]: the status, headers and body.
post() { receiver_post "$@" -D -; }

# The first attempt: its head, and once the receiver has answered 100
# Continue (it holds the item then) half its body; then it waits for "go"
# before sending the rest (a slow upload, deterministically).
rm -f go first.out
python3 - "$P" one.txt >first.out 2>&1 <<'EOF' &
import os, socket, ssl, sys, time
port, body = int(sys.argv[1]), open(sys.argv[2], "rb").read()
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("author.crt", "author.key")
ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
s.sendall(b"POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\n"
          b"Path: /content/one.txt\r\nItem-Id: it-1\r\n"
          b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
# The receiver answers 100 once it has taken the head (and the item).
s.settimeout(20)
cont = b""
while b"\r\n\r\n" not in cont:
    chunk = s.recv(1)
    if not chunk:
        break
    cont += chunk
if not cont.startswith(b"HTTP/1.1 100"):
    print("no 100 Continue: %r" % cont)
    sys.exit(1)
s.sendall(body[:5])
open("sent-half", "w").close()
for _ in range(300):
    if os.path.exists("go"):
        break
    time.sleep(0.1)
s.sendall(body[5:])
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
n = 0
for line in head.split(b"\r\n"):
    if line.lower().startswith(b"content-length:"):
        n = int(line.split(b":")[1])
while len(rest) < n:
    chunk = s.recv(4096)
    if not chunk:
        break
    rest += chunk
data = head + b"\r\n\r\n" + rest
print(data.decode(errors="replace"))
EOF
FIRST=$!
for _ in $(seq 100); do [ -e sent-half ] && break; sleep 0.1; done
check "the first attempt is uploading" test -e sent-half

printf 'item one, the retry\n' >retry.txt
post Activate /content/one.txt it-1 --data-binary @retry.txt >second.out
check "the retry of an item in flight is answered 503" grep -q '^HTTP/1.1 503' second.out
check "... with Retry-After" grep -qi '^Retry-After: 1' second.out
check "... saying why" grep -q 'being sent by another request' second.out
check_fails "... and is not applied" test -e root/content/one.txt
check "the access log names it" grep -q 'in_flight' serve.log

touch go
wait "$FIRST"
check "the first attempt is applied" grep -q 'ACTIVATE ok\.$' first.out
check "... with its content" cmp one.txt root/content/one.txt
check_output "... recorded exactly once" '^applied=1 placing=0$' receiver_rows it-1
post Activate /content/one.txt it-1 --data-binary @one.txt >third.out
check "a resend after it is answered as already applied" \
	grep -q 'already applied' third.out
check "... and the id is free again (200)" grep -q '^HTTP/1.1 200' third.out
check_output "... still recorded once" '^applied=1 placing=0$' receiver_rows it-1
check "the file kept the first attempt's content" cmp one.txt root/content/one.txt

# One receiver per state directory: the guard above lives in one process.
P2=$(free_port)
timeout 10 "$MTLS" serve --listen 127.0.0.1:$P2 --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root2" --state-dir "$T/rstate" \
	--insecure-no-map >second-serve.out 2>&1
check_output "a second receiver on the same state directory exits 1" '^1$' echo $?
check "... saying another receiver uses it" \
	grep -q 'another mtls serve uses the state directory' second-serve.out

finish
