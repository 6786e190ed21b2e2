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
# A client whose CN carries a newline and a forged log line after it
# (refused by the chain profile, so only its refusal is logged), and one
# whose CN forges fields with spaces (a valid name: served and logged).
client_cn() { # NAME CN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$2/O=mtls test" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
		-out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
}
client_cn evil "evil"$'\n'"FORGED principal=root status=200"
client_cn spacey "evil FORGED principal=root status=200"
check "test PKI was made (with a CN holding a newline)" test -s author.crt -a -s evil.crt -a -s spacey.crt

# raw PORT NAME [WAIT]: sends stdin as is over TLS, prints the response's
# status line and " ms=N" ("closed" when the server closed without one).
# One python process serves every raw request of the test (fifos on fds
# 7 and 8): starting python for each took about 1.5 s on a loaded machine.
A="python3 $(dirname "$0")/abuse.py"
[ "${0#/}" = "$0" ] && A="python3 $OLDPWD/$(dirname "$0")/abuse.py"
mkfifo raw.in raw.out
$A serve <raw.in >raw.out &
PIDS+=($!)
exec 7>raw.in 8<raw.out
RAW_N=0
raw() {
	local f line
	RAW_N=$((RAW_N + 1))
	f=$T/raw.$BASHPID.$RAW_N.req
	cat >"$f"
	echo "$1 $2 ${3:-10} $f" >&7
	if read -r -t 40 line <&8; then echo "$line"; else echo "no answer from abuse.py"; fi
}

# Servers may run side by side on one root, each with its own state
# directory (a state directory serves one receiver).
start_serve() { # start_serve LOG [options...]
	local log=$1
	shift
	P=$(free_port)
	bg "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
		--ca ca.crt --root "$T/root" --state-dir "$T/state.$log" \
		--insecure-no-map "$@" 2>"$T/$log"
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
check_fails "the client with a newline in its CN is refused (no HTTP answer)" grep -q " 200 " evil.out
check "... its refusal is logged with the newline escaped, on one line" \
	wait_log text.log 'handshake refused: certificate CN=evil[\\]+0AFORGED principal=root status=200.*control character'
req Test /content | raw $P spacey >spacey.out
check "the client whose CN holds spaces gets its answer" grep -q " 200 " spacey.out
check "... and its CN is one escaped field" \
	wait_log text.log 'principal=evil\\x20FORGED\\x20principal=root\\x20status=200'
check_fails "no forged line starts with FORGED" grep -q '^FORGED' text.log
# The chain profile refused it: the line still names whose certificate it
# was (OpenSSL keeps no peer certificate after a failed verification).
evil_fp=$(openssl x509 -in evil.crt -outform DER | sha256sum | cut -c1-64)
check "... with the presented leaf's fingerprint and escaped subject" \
	grep -qE "handshake refused: .*fp=$evil_fp subject=/CN=evil[\\]+x0AFORGED[\\]+x20principal=root" text.log
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
req Test /content | raw $P spacey >/dev/null
req Activate $'/content/\xc3' | raw $P author >/dev/null
req Test $'/content/caf\xc3\xa9' | raw $P author >/dev/null
check "four JSON request records" wait_log json.log 'caf' 5
cat >jsoncheck.py <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    for k, v in rec.items():
        # docs/json.md: a field the request did not have is null.
        if v == "(null)" or (v is None and k not in ("principal", "serial",
                "method", "uri", "action", "path", "item", "sha256", "subject")):
            sys.exit("null field in %r" % line)
    n += rec.get("event") == "request"
print(n)
sys.exit(0 if n >= 4 else 1)
PY
check "every JSON line parses, no field is null, all 4 requests are there" \
	python3 jsoncheck.py json.log
check "the invalid byte is shown, not dropped" grep -qF '"path":"/content/\\xff.html"' json.log
check "the valid UTF-8 stays as is" grep -qF '"path":"/content/café"' json.log
check "the refused CN's newline is escaped in JSON too" grep -qE 'CN=evil[\\]+0AFORGED' json.log
check "... and its record carries the leaf's fingerprint and escaped subject" \
	sh -c "grep -F '\"sha256\":\"$evil_fp\"' json.log | grep -qE '\"subject\":\"/CN=evil[\\\\]+x0AFORGED principal=root'"
check "the spaced CN is one JSON string" grep -qF '"principal":"evil FORGED principal=root status=200"' json.log

# --- deadlines, sizes, framing ---------------------------------------------
check "serve starts (short deadlines)" start_serve dl.log --header-timeout 2 \
	--body-timeout 2 --max-body 100000 --max-conns 60
t0=$(date +%s%N)
timeout 60 $A trickle $P author 20 20 >trickle.out 2>&1
check "20 clients trickling a head byte by byte are all answered and closed" \
	grep -q "closed=20 of 20" trickle.out
check "... within the 2 s header deadline (+1 s)" \
	python3 -c "import re,sys; sys.exit(float(re.search(r'last_close_s=([0-9.]+)', open('trickle.out').read()).group(1)) > 3.5)"
check "... with 408 Request Timeout" grep -q "408 Request Timeout" trickle.out
check "... logged as header_timeout" wait_log dl.log 'status=408 .*outcome=header_timeout'
cat trickle.out
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/slow\r\nContent-Length: 10\r\n\r\nab' |
	raw $P author 8 >slowbody.out
check "a body that stops arriving gets 408 at the body deadline" grep -q " 408 " slowbody.out
check "... logged as body_timeout" wait_log dl.log 'status=408 .*outcome=body_timeout'
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/big\r\nContent-Length: 1073741824\r\n\r\n' |
	raw $P author 5 >big.out
ms=$(sed -n 's/.* ms=//p' big.out)
check "a 1 GiB Content-Length is refused (413) before any body byte" grep -q " 413 " big.out
check "... at once, not after an upload or a timeout (${ms:-?} ms < 1000)" test "${ms:-9999}" -lt 1000
check_output "curl with Expect: 100-continue and a too-large body gets 413" '^413$' \
	curl -sS -o /dev/null -w '%{http_code}' --cacert ca.crt --cert author.crt --key author.key \
	-H "Action: Activate" -H "Path: /content/e" -H "Expect: 100-continue" \
	-H "Content-Length: 200000" --data-binary @/dev/null --max-time 10 \
	"https://127.0.0.1:$P/bin/receive"
head -c 300000 /dev/zero | curl -sS -o curl413.body -w '%{http_code}' --cacert ca.crt \
	--cert author.crt --key author.key -H "Action: Activate" -H "Path: /content/e2" \
	--data-binary @- --max-time 10 "https://127.0.0.1:$P/bin/receive" >curl413.out 2>&1
check "curl uploading a too-large body reads its 413 (no reset)" grep -qx 413 curl413.out
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/nul\0.txt\r\nContent-Length: 0\r\n\r\n' |
	raw $P author >nul.out
check "a NUL in a header is refused (400)" grep -q " 400 " nul.out
check_fails "... and nothing named /content/nul was written" test -e root/content/nul
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Test\r\nPath: /content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
	raw $P author >te.out
check "a chunked body is refused with 411" grep -q " 411 " te.out
printf 'BREW /bin/receive HTTP/1.1\r\nHost: x\r\n\r\n' | raw $P author >brew.out
check "an unknown method gets 501" grep -q " 501 " brew.out
check "... and is logged and counted" wait_log dl.log '"BREW /bin/receive" .*status=501'
check_output "... in /metrics too" 'action="invalid",status="501"' \
	curl -sS --cacert ca.crt --cert author.crt --key author.key "https://127.0.0.1:$P/metrics"

# --- bodies go to disk as they arrive, not to memory -----------------------
# 32 MiB at 8 MiB/s (4 s, longer than --idle-timeout 2: the body has its
# own deadline). Held in memory, the receiver's peak grew by the body.
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default) and counts as resident; keep it small so the peak measures us.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64" \
	check "serve starts (--idle-timeout 2)" start_serve body.log --idle-timeout 2 --body-timeout 30
SPID=$LAST_PID
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$SPID/status"; }
head -c $((32 * 1024 * 1024)) /dev/urandom >big.bin
rss0=$(kb VmRSS)
curl -sS -o /dev/null -w '%{http_code}' --limit-rate 8M --max-time 60 --cacert ca.crt \
	--cert author.crt --key author.key -H "Action: Activate" -H "Path: /content/big.bin" \
	--data-binary @big.bin "https://127.0.0.1:$P/bin/receive" >bigup.out 2>&1 &
UP=$!
seen=0
for ((i = 0; i < 100; i++)); do
	f=$(ls root/.mtls-spool-* 2>/dev/null | head -n 1)
	if [ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -gt 1000000 ]; then
		seen=1
		break
	fi
	sleep 0.1
done
wait $UP
check "during the upload the body grows in a spool file in the root" test "$seen" = 1
check_output "the 32 MiB upload, slower than --idle-timeout, is stored (200)" '^200$' cat bigup.out
check "... intact" cmp -s big.bin root/content/big.bin
check_fails "... and no spool file is left" sh -c 'ls root/.mtls-spool-* 2>/dev/null | grep -q .'
grew=$(( ($(kb VmHWM) - rss0) / 1024 ))
check "... while the receiver's peak memory grew by less than 16 MiB (${grew} MiB)" test "$grew" -lt 16
# Two requests with bodies in one write: the second waits in TLS's input
# while the first is stored, and is read when the first is answered.
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/p1\r\nContent-Length: 3\r\n\r\none' >pipe.req
printf 'POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Activate\r\nPath: /content/p2\r\nContent-Length: 3\r\nConnection: close\r\n\r\ntwo' >>pipe.req
timeout 20 openssl s_client -quiet -ign_eof -connect 127.0.0.1:$P -CAfile ca.crt -cert author.crt \
	-key author.key <pipe.req >pipe.out 2>/dev/null
check_output "two pipelined bodies: both answered 200" '^2$' sh -c "grep -o 'HTTP/1.1 200' pipe.out | wc -l"
check_output "... and both stored" '^onetwo$' sh -c 'cat root/content/p1 root/content/p2; echo'
printf 'stale' >root/.mtls-spool-999999999-1
kill "$SPID"; wait "$SPID" 2>/dev/null
check "serve restarts" start_serve body2.log
check_fails "a spool left by a killed receiver is swept at start" test -e root/.mtls-spool-999999999-1
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null

# --- --max-conns holds under a flood --------------------------------------
check "serve starts (--max-conns 5)" start_serve mc.log --max-conns 5
timeout 60 $A hold $P author 5 100 >hold.out 2>&1
check "with 5 connections held, none of 100 new clients is served" grep -q "^ok=0 of 100" hold.out
cat hold.out

finish
