#!/bin/bash
# mtls test against openssl s_server: success with a mutual-TLS server, and
# the precise reason for each way the link can be broken.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# --- PKI made at test time with the openssl CLI ---
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
mkca() { # name
	ec -x509 -keyout "$1.key" -out "$1.pem" -subj "/CN=$1" -days 30 \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign
}
issue() { # name ca eku san [extra x509 args]
	local n=$1 ca=$2 eku=$3 san=$4; shift 4
	ec -keyout "$n.key" -out "$n.csr" -subj "/CN=$n"
	printf 'extendedKeyUsage=%s\n%s' "$eku" "${san:+subjectAltName=$san}" >"$n.ext"
	openssl x509 -req -in "$n.csr" -CA "$ca.pem" -CAkey "$ca.key" \
		-CAcreateserial -out "$n.pem" -days 10 -extfile "$n.ext" "$@" 2>/dev/null
}
mkca ca
mkca otherca
issue publish ca serverAuth "DNS:localhost,IP:127.0.0.1"
issue author ca clientAuth ""
issue stranger otherca serverAuth "DNS:localhost,IP:127.0.0.1"
issue wrongname ca serverAuth "DNS:publish.example"
# An expired server certificate: issued 40 days ago for 10 days.
ec -keyout expired.key -out expired.csr -subj /CN=expired
printf 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' >expired.ext
faketime -f '-40d' openssl x509 -req -in expired.csr -CA ca.pem -CAkey ca.key \
	-CAcreateserial -out expired.pem -days 10 -extfile expired.ext 2>/dev/null
# A client identity from another CA, and an encrypted copy of ours.
issue outsider otherca clientAuth ""
openssl pkey -in author.key -aes256 -passout pass:s3cret -out author-enc.key

ID=(--cert author.pem --key author.key --ca ca.pem --timeout 5)

# s_server CERT [extra args]: starts openssl s_server -www on a fresh port.
s_server() {
	local cert=$1; shift
	PORT=$(free_port)
	bg openssl s_server -accept "127.0.0.1:$PORT" -cert "$cert.pem" \
		-key "$cert.key" -www -quiet "$@" >/dev/null 2>&1
	wait_port "$PORT" || fail "s_server did not start"
}
stop() { kill "$LAST_PID" 2>/dev/null; wait "$LAST_PID" 2>/dev/null; }

# --- success: the server requires and verifies our certificate ---
s_server publish -CAfile ca.pem -Verify 1 -verify_return_error
check_output "test succeeds against s_server -Verify 1" \
	'^Replication test succeeded$' "$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
for step in 'Connected to 127.0.0.1 port' 'TLS handshake done: TLSv1.3' \
	'Server certificate: CN=publish' 'issuer: CN=ca' 'name 127.0.0.1 matched' \
	'The server asked for a client certificate' 'acceptable CA: CN=ca' \
	'Sent our client certificate' '>> GET /bin/receive HTTP/1.1' \
	'>> Action: Test' '>> Path: /content' '<< HTTP/1.0 200 ok'; do
	if grep -qF -- "$step" "$T/last.out"; then pass "log shows '$step'"; else fail "log lacks '$step'"; fi
done
check_status "exit 0 on success" 0 "$MTLS" test "https://localhost:$PORT/" "${ID[@]}" --get
check "encrypted key with --key-pass" "$MTLS" test "https://127.0.0.1:$PORT" \
	--cert author.pem --key author-enc.key --key-pass pass:s3cret --ca ca.pem --get
check_output "wrong --key-pass is named" 'wrong password' \
	"$MTLS" test "https://127.0.0.1:$PORT" --cert author.pem --key author-enc.key \
	--key-pass pass:nope --ca ca.pem --get
check_output "a key that is not the certificate's" 'author.pem.*outsider.key|outsider.key.*author.pem' \
	"$MTLS" test "https://127.0.0.1:$PORT" --cert author.pem --key outsider.key --ca ca.pem --get
stop

# --- the server is down: no endpoint ---
DOWN=$(free_port)
check_status "no endpoint exits 1" 1 "$MTLS" test "https://127.0.0.1:$DOWN" "${ID[@]}"
check_output "no endpoint is explained" 'no endpoint: connection refused' \
	"$MTLS" test "https://127.0.0.1:$DOWN" "${ID[@]}"

# --- the server's certificate is from another CA ---
s_server stranger -CAfile ca.pem -Verify 1 -verify_return_error
check_output "unknown CA is explained" "server's certificate CN=stranger .*unknown issuer" \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
grep -q '^Replication test failed$' "$T/last.out" && pass "log ends in failure" || fail "log ends in failure"
check_status "unknown CA exits 1" 1 "$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
stop

# --- the server asks for no client certificate ---
s_server publish
check_output "no client certificate requested is explained" \
	'server asked for no client certificate' \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
grep -q 'did NOT ask for a client certificate' "$T/last.out" && pass "log notes no CertificateRequest" \
	|| fail "log notes no CertificateRequest"
check_status "no client certificate requested exits 1" 1 \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
stop

# --- the server rejects our certificate (it trusts another CA) ---
s_server publish -CAfile otherca.pem -Verify 1 -verify_return_error
check_output "rejected client certificate is explained" \
	'rejected our certificate|does not trust the CA that issued our certificate' \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
grep -q 'acceptable CA: CN=otherca' "$T/last.out" && pass "log shows the CA the server wants" \
	|| fail "log shows the CA the server wants"
check_status "rejected client certificate exits 1" 1 \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
stop

# --- the server's certificate does not name the host ---
s_server wrongname -CAfile ca.pem -Verify 1 -verify_return_error
check_output "name mismatch is explained" 'name mismatch: the IP address' \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
check_output "name mismatch on a DNS name" 'name mismatch: the host name' \
	"$MTLS" test "https://localhost:$PORT" "${ID[@]}" --get
# Reaching a named server at another address (curl's --resolve), and an
# address checked against a name (--servername): the name is still checked.
check_output "--resolve connects to the address and checks the name" \
	'Resolving publish.example: 127.0.0.1 \(given by --resolve\)' \
	"$MTLS" test "https://publish.example:$PORT" --resolve "publish.example:$PORT:127.0.0.1" "${ID[@]}" --get
check_status "--resolve: test succeeds" 0 \
	"$MTLS" test "https://publish.example:$PORT" --resolve "publish.example:$PORT:127.0.0.1" "${ID[@]}" --get
check_status "MTLS_RESOLVE does the same" 0 \
	env MTLS_RESOLVE="other:1:10.0.0.1,publish.example:$PORT:127.0.0.1" "$MTLS" test "https://publish.example:$PORT" "${ID[@]}" --get
check_output "--resolve does not lift the name check" 'name mismatch: the host name' \
	"$MTLS" test "https://wrong.example:$PORT" --resolve "wrong.example:$PORT:127.0.0.1" "${ID[@]}" --get
check_status "--servername checks that name at an address" 0 \
	"$MTLS" test "https://127.0.0.1:$PORT" --servername publish.example "${ID[@]}" --get
check_output "--servername with a name the certificate lacks fails" 'name mismatch' \
	"$MTLS" test "https://127.0.0.1:$PORT" --servername other.example "${ID[@]}" --get
check_status "a malformed --resolve is a usage error" 2 \
	"$MTLS" test "https://publish.example:$PORT" --resolve publish.example:x:127.0.0.1 "${ID[@]}"
check_status "a malformed MTLS_RESOLVE is a usage error" 2 \
	env MTLS_RESOLVE=nonsense "$MTLS" test "https://publish.example:$PORT" "${ID[@]}"
stop

# --- the server's certificate has expired ---
s_server expired -CAfile ca.pem -Verify 1 -verify_return_error
check_output "expired server certificate is explained with its date" \
	"server's certificate CN=expired .* expired on 20" \
	"$MTLS" test "https://127.0.0.1:$PORT" "${ID[@]}" --get
stop

# --- a port that accepts but never answers, and a plain HTTP server ---
SILENT=$(free_port)
bg python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", '"$SILENT"')); s.listen(5); c=s.accept(); time.sleep(30)'
wait_port "$SILENT"
check_output "a silent server times out with the step named" 'TLS handshake: no answer within 2 s' \
	"$MTLS" test "https://127.0.0.1:$SILENT" "${ID[@]}" --timeout 2
stop
HTTP=$(free_port)
bg python3 -m http.server --bind 127.0.0.1 "$HTTP" >/dev/null 2>&1
wait_port "$HTTP"
check_output "a plain HTTP port is recognised" 'does not speak TLS on this port' \
	"$MTLS" test "https://127.0.0.1:$HTTP" "${ID[@]}"
stop

# --- our own certificate has expired: said before connecting ---
faketime -f '+20d' "$MTLS" test "https://127.0.0.1:$DOWN" "${ID[@]}" >"$T/last.out" 2>&1
grep -q 'our certificate expired on' "$T/last.out" && pass "our expired certificate is named" \
	|| { fail "our expired certificate is named"; cat "$T/last.out"; }

# --- against mtls serve: success, and a principal not allowed to Test ---
SP=$(free_port)
printf 'principal author cn=author allow=test:/content allow=activate:/\n' >map.txt
bg "$MTLS" serve --listen "127.0.0.1:$SP" --cert publish.pem --key publish.key \
	--ca ca.pem --root serve.root --map map.txt 2>serve.log
wait_port "$SP"
check_output "test succeeds against mtls serve" '^Replication test succeeded$' \
	"$MTLS" test "https://127.0.0.1:$SP" "${ID[@]}"
grep -q '<< ReplicationAction TEST ok.' "$T/last.out" && pass "log shows the receiver's answer" \
	|| fail "log shows the receiver's answer"
check_output "a Test outside the principal's ACL is refused with 403" \
	'refused the Test of /other: 403' "$MTLS" test "https://127.0.0.1:$SP" "${ID[@]}" --path /other
check_output "a client certificate from another CA is rejected by mtls serve" \
	'our certificate was rejected by the server' \
	"$MTLS" test "https://127.0.0.1:$SP" --cert outsider.pem --key outsider.key --ca ca.pem
stop

# --- usage errors exit 2 ---
check_status "http:// URL is a usage error" 2 "$MTLS" test "http://127.0.0.1:1" "${ID[@]}"
check_status "missing --ca is a usage error" 2 "$MTLS" test "https://127.0.0.1:1" \
	--cert author.pem --key author.key
check_status "--help exits 0" 0 "$MTLS" test --help

finish
