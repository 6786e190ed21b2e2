#!/usr/bin/env bash
# mtls serve enforcing revocation (CRL and OCSP) and picking up renewed
# certificates while it runs; the push agent picking up a renewed client
# certificate. PKI by mtls ca init / issue / revoke / crl / renew.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR="$T/pki"
OP=$(free_port)
"$MTLS" ca init --name "CN=Enforce Test CA" --ocsp-url "http://127.0.0.1:$OP/" >/dev/null
"$MTLS" issue publish --profile server --san dns:localhost,ip:127.0.0.1 --out id >/dev/null
for n in good bad later ocspbad author; do
	"$MTLS" issue $n --profile client --out id >/dev/null
done
MTLS_CA_DIR="$T/other" "$MTLS" ca init --name "CN=Foreign CA" >/dev/null
MTLS_CA_DIR="$T/other" "$MTLS" crl --out foreign.crl >/dev/null
check "test PKI was made" test -s id/good.crt -a -s id/publish.key -a -s foreign.crl

# hs URL NAME: a Test request as NAME; prints curl's exit status and HTTP code.
hs() {
	curl -sS -o /dev/null -w '%{http_code}' --cacert pki/ca.crt \
		--cert "id/$2.crt" --key "id/$2.key" -X POST \
		-H "Action: Test" -H "Path: /content" "$1/bin/receive" 2>/dev/null
	echo " exit=$?"
}
metric() { # URL NAME REGEX: /metrics (as good) has a line matching REGEX
	curl -sS --cacert pki/ca.crt --cert id/good.crt --key id/good.key "$1/metrics" |
		grep -qE -- "$2"
}
# start NAME LOG ARGS...: mtls serve on a free port; sets URL and PID.
start() {
	local log=$1
	shift
	PORT=$(free_port)
	URL=https://127.0.0.1:$PORT
	bg "$MTLS" serve --listen 127.0.0.1:$PORT --cert id/publish.chain.pem \
		--key id/publish.key --ca pki/ca.crt --root "$T/root" \
		--watch-interval 0.5 --insecure-no-map "$@" 2>"$T/$log"
	PID=$LAST_PID
	wait_log "$T/$log" "serving https" 10
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }

# --- CRL -----------------------------------------------------------------
"$MTLS" revoke bad --reason keyCompromise >/dev/null
"$MTLS" crl --out crl.pem >/dev/null
check "serve --crl starts" start crl.log --crl crl.pem
check_output "a good client is served" '^200 exit=0$' hs "$URL" good
check_output "a revoked client is refused in the handshake" '^000 exit=(35|55|56)$' hs "$URL" bad
check_output "... the log says revoked on DATE (keyCompromise)" \
	"certificate CN=bad \(serial [0-9A-F]+\) revoked on [0-9-]+ [0-9:]+ UTC \(keyCompromise\)" cat crl.log
check "... /metrics counts it by reason" metric "$URL" 'mtls_handshake_failures_total\{reason="revoked"\} 1$'
check "... /metrics: the CRL is fresh" metric "$URL" '^mtls_crl_stale 0$'
check_output "the revoked client is refused again (verify cache never bypasses)" '^000 exit=(35|55|56)$' hs "$URL" bad
check_output "a second good handshake (cache hit) still passes" '^200 exit=0$' hs "$URL" good

# A keep-alive connection of the good client stays open across reloads:
# ka_start NAME opens it; ka_req sends one Test on it and prints the status
# line and the server certificate's serial.
cat >ka.py <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="pki/ca.crt")
ctx.load_cert_chain("id/%s.crt" % sys.argv[2], "id/%s.key" % sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="127.0.0.1")
for line in sys.stdin:
    s.sendall(b"POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Test\r\n"
              b"Path: /content\r\nContent-Length: 0\r\n\r\n")
    data = b""
    while b"ok." not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.split(b"\r\n")[0].decode() or "closed", flush=True)
PY
ka_start() { # PORT NAME
	rm -f ka.in ka.out
	mkfifo ka.in
	python3 ka.py "$1" "$2" <ka.in >ka.out 2>&1 &
	KA=$!
	exec 3>ka.in
}
ka_req() {
	local n
	n=$(wc -l <ka.out)
	echo >&3
	for ((i = 0; i < 100; i++)); do
		[ "$(wc -l <ka.out)" -gt "$n" ] && break
		sleep 0.05
	done
	tail -1 ka.out
}
ka_stop() { exec 3>&-; wait "$KA" 2>/dev/null; }

ka_start "$PORT" good
check_output "keep-alive connection of good works" '^HTTP/1.1 200' ka_req
check_output "'later' is served before its revocation" '^200 exit=0$' hs "$URL" later
"$MTLS" revoke later --reason cessationOfOperation >/dev/null
"$MTLS" crl --out crl.pem >/dev/null
refused_soon() { # within 5 s
	for ((i = 0; i < 50; i++)); do
		hs "$URL" later | grep -qE '^000 exit=(35|55|56)$' && return 0
		sleep 0.1
	done
	return 1
}
check "a client revoked while serve runs is refused within 5 s (CRL file change)" refused_soon
check_output "... the log names cessationOfOperation" "CN=later .*revoked on .*\(cessationOfOperation\)" cat crl.log
check "... the reload is logged" grep -q "CRL file changed: reloaded" crl.log
check_output "the open keep-alive connection still works" '^HTTP/1.1 200' ka_req
check_output "new connections of the good client still pass" '^200 exit=0$' hs "$URL" good
kill -HUP "$PID"
check "SIGHUP reloads the CRLs" wait_log crl.log "SIGHUP: reloaded CRLs"
check_output "the keep-alive connection survives SIGHUP" '^HTTP/1.1 200' ka_req
ka_stop
cp crl.pem crl.good
echo garbage >crl.pem
check "a broken CRL rewrite is refused, the old CRL stays" wait_log crl.log "CRL reload failed, still enforcing"
check_output "... the revoked client is still refused" '^000 exit=(35|55|56)$' hs "$URL" bad
check_output "... the good one still served" '^200 exit=0$' hs "$URL" good
cp crl.good crl.pem
stop

# Resumption: a session of a client revoked since cannot be resumed.
"$MTLS" issue resumer --profile client --out id >/dev/null
"$MTLS" crl --out crl.pem >/dev/null
start resume.log --crl crl.pem
check "resumer: first connection, session saved" sh -c \
	"echo | openssl s_client -connect 127.0.0.1:$PORT -CAfile pki/ca.crt -cert id/resumer.crt -key id/resumer.key -sess_out sess.pem -ign_eof >/dev/null 2>&1 </dev/null; test -s sess.pem"
check_output "resumer: the session resumes while valid" "^Reused" sh -c \
	"printf 'GET /healthz HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$PORT -CAfile pki/ca.crt -cert id/resumer.crt -key id/resumer.key -sess_in sess.pem -ign_eof 2>&1"
"$MTLS" revoke resumer --reason keyCompromise >/dev/null
"$MTLS" crl --out crl.pem >/dev/null
wait_log resume.log "CRL file changed: reloaded" >/dev/null
check_fails "resumer: after revocation, no resumption (full handshake, refused)" sh -c \
	"printf 'GET /healthz HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$PORT -CAfile pki/ca.crt -cert id/resumer.crt -key id/resumer.key -sess_in sess.pem -ign_eof 2>&1 | grep -E '^Reused|^HTTP/1'"
check_output "... and the log says revoked" "CN=resumer .*revoked on" cat resume.log
check "... counted as a refused resumption" metric "$URL" '^mtls_resumptions_refused_total 1$'
stop

# Stale CRL: nextUpdate in the past.
faketime -f "-3d" "$MTLS" crl --out stale.pem --days 1 >/dev/null
check "stale CRL made" test -s stale.pem
check "keep policy (default) starts" start stale.log --crl stale.pem
check "... warns in the log" grep -q "past its next update.*still enforcing it" stale.log
check "... /metrics says mtls_crl_stale 1" metric "$URL" '^mtls_crl_stale 1$'
check_output "... still refuses the revoked client" '^000 exit=(35|55|56)$' hs "$URL" bad
stop
check "reject policy starts" start stale2.log --crl stale.pem --crl-stale reject
check_output "... refuses a good client" '^000 exit=(35|55|56)$' hs "$URL" good
check_output "... saying why" "past its next update .*--crl-stale is reject" cat stale2.log
stop

# A CRL from another CA is refused at start, in one line.
check_status "a foreign CA's CRL: exit 1" 1 "$MTLS" serve --listen 127.0.0.1:$(free_port) \
	--cert id/publish.chain.pem --key id/publish.key --ca pki/ca.crt --root "$T/root" --crl foreign.crl
check_output "... naming the file and the rule" "^mtls: CRL foreign.crl \(issuer CN=Foreign CA\) is not signed by a CA of --ca" \
	"$MTLS" serve --listen 127.0.0.1:$(free_port) --cert id/publish.chain.pem --key id/publish.key \
	--ca pki/ca.crt --root "$T/root" --crl foreign.crl
check_status "--crl-stale with a bad word is a usage error" 2 "$MTLS" serve --crl-stale maybe

# --- OCSP ----------------------------------------------------------------
"$MTLS" revoke ocspbad --reason keyCompromise >/dev/null
bg "$MTLS" ocsp serve --listen 127.0.0.1:$OP --validity 1 --refresh 200 2>ocspd.log
OCSPD=$LAST_PID
check "the OCSP responder listens" wait_port "$OP"
check "serve --ocsp starts" start ocsp.log --ocsp --ocsp-timeout 1
check_output "OCSP: a good client is served" '^200 exit=0$' hs "$URL" good
check_output "OCSP: a revoked client is refused" '^000 exit=(35|55|56)$' hs "$URL" ocspbad
check_output "... with revoked on DATE (keyCompromise)" "CN=ocspbad \(serial [0-9A-F]+\) revoked on [0-9-]+ [0-9:]+ UTC \(keyCompromise\)" cat ocsp.log
check "... counted by reason" metric "$URL" 'mtls_handshake_failures_total\{reason="revoked"\} 1$'
kill "$OCSPD"; wait "$OCSPD" 2>/dev/null
check_output "responder down: the cached good answer still admits good" '^200 exit=0$' hs "$URL" good
check "... answered from the cache" metric "$URL" '^mtls_ocsp_cache_hits_total [1-9]'
check_output "responder down, no cached answer (author): refused (closed)" '^000 exit=(35|55|56)$' hs "$URL" author
# The refusal is logged as the server closes the connection, which may be
# after curl has given up: wait for the line rather than read at once.
check "... the log says unreachable (fail-closed)" wait_log ocsp.log "CN=author .*OCSP responder unreachable \(fail-closed\)"
check "... counted as ocsp_unreachable" metric "$URL" 'reason="ocsp_unreachable"\} 1$'
stop
check_status "--ocsp-policy open is refused: the weakening has an insecure name" 2 "$MTLS" serve --listen 127.0.0.1:1 \
	--cert id/publish.chain.pem --key id/publish.key --ca pki/ca.crt --root "$T/root" --ocsp --ocsp-policy open
check "serve --ocsp --insecure-ocsp-fail-open starts" start ocsp2.log --ocsp "http://127.0.0.1:$OP/" --insecure-ocsp-fail-open --ocsp-timeout 1
check_output "... and says it is insecure at start" "INSECURE: accept unchecked" cat ocsp2.log
check_output "open policy, responder down: accepted" '^200 exit=0$' hs "$URL" author
check_output "... with a warning" "warning.*CN=author .*accepted unchecked: OCSP responder unreachable \(fail-open\)" cat ocsp2.log
stop
check_status "--insecure-ocsp-fail-open without --ocsp is a usage error" 2 "$MTLS" serve --listen 127.0.0.1:1 \
	--cert id/publish.chain.pem --key id/publish.key --ca pki/ca.crt --root "$T/root" --insecure-ocsp-fail-open

# verify --crl and verify --ocsp say the same sentence.
"$MTLS" crl --out crl.pem >/dev/null
bg "$MTLS" ocsp serve --listen 127.0.0.1:$OP 2>ocspd2.log
check "the OCSP responder is back" wait_port "$OP"
# The sentence is "certificate CN=... (serial ...) revoked on DATE (REASON)";
# verify --ocsp then names its source, as serve's log does.
sentence='certificate CN=[^;]* revoked on [0-9-]+ [0-9:]+ UTC \([A-Za-z]+\)'
"$MTLS" verify id/bad.crt --ca pki/ca.crt --crl crl.pem >vcrl.out 2>&1
"$MTLS" verify id/bad.crt --ca pki/ca.crt --ocsp >vocsp.out 2>&1
vc=$(grep -oE "$sentence" vcrl.out)
vo=$(grep -oE "$sentence" vocsp.out)
check "verify --crl names the revocation" test -n "$vc"
check "verify --crl and verify --ocsp give the same sentence ($vc)" test "$vc" = "$vo"
check_output "verify --ocsp says the answer came from OCSP" "$sentence \(OCSP\)" cat vocsp.out

# --- renewal with the server running ---------------------------------------
check "serve (for renewal) starts" start renew.log
srv_serial() {
	openssl s_client -connect 127.0.0.1:$PORT -CAfile pki/ca.crt -cert id/good.crt \
		-key id/good.key </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2
}
s0=$(srv_serial)
check "the server shows its certificate" test -n "$s0"
ka_start "$PORT" good
check_output "keep-alive connection before renewal" '^HTTP/1.1 200' ka_req
"$MTLS" renew publish --out id >/dev/null
s1=$(openssl x509 -in id/publish.crt -noout -serial | cut -d= -f2)
new_serial_soon() { # $1: expected serial, within 6 s
	for ((i = 0; i < 60; i++)); do
		[ "$(srv_serial)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
check "a new connection sees the renewed certificate without SIGHUP" new_serial_soon "$s1"
check "... the reload is logged" grep -q "reloaded (certificate or key file changed)" renew.log
check_output "the open keep-alive connection keeps working" '^HTTP/1.1 200' ka_req
# Half a rotation (new certificate, old key): not fatal, retried.
# The renewal goes to a side directory so the running server can never see
# the complete new pair before the half-rotated one is in place.
mkdir -p staged
"$MTLS" renew publish --out staged >/dev/null
s2=$(openssl x509 -in staged/publish.crt -noout -serial | cut -d= -f2)
cp staged/publish.key new.key
cp staged/publish.chain.pem id/publish.chain.pem
check "a mismatching pair mid-rotation is reported, not fatal" wait_log renew.log "does not load yet"
check "... the old certificate is still served" test "$(srv_serial)" = "$s1"
cp new.key id/publish.key
check "... and the completed pair is picked up" new_serial_soon "$s2"
"$MTLS" renew publish --out id >/dev/null
s3=$(openssl x509 -in id/publish.crt -noout -serial | cut -d= -f2)
kill -HUP "$PID"
check "SIGHUP also reloads the renewed certificate" new_serial_soon "$s3"
check_output "the keep-alive connection survived both reloads" '^HTTP/1.1 200' ka_req
ka_stop
kill -0 "$PID"
check "serve is still running" test $? -eq 0
stop

# --- the push agent picks up a renewed client certificate -------------------
check "serve (for push) starts" start push.log
echo one >one.html
check "push as author" "$MTLS" push "$URL" --cert id/author.crt --key id/author.key \
	--ca pki/ca.crt --state st /content/one.html=one.html
a0=$(openssl x509 -in id/author.crt -noout -serial | cut -d= -f2)
"$MTLS" renew author --out id >/dev/null
a1=$(openssl x509 -in id/author.crt -noout -serial | cut -d= -f2)
check "push again after renewal" "$MTLS" push "$URL" --cert id/author.crt --key id/author.key \
	--ca pki/ca.crt --state st /content/one.html=one.html
check "the receiver logged the old serial for the first push" grep -q "$a0" push.log
check "... and the new serial for the second" grep -q "$a1" push.log
stop

finish
