#!/bin/bash
# CA rollover under load: a receiver (mtls serve) and a push stream keep
# working, with no refused handshake, from before the new issuer exists,
# through 'ca rollover begin', the renewal of the server and then of the
# client, until 'ca rollover finish'. A peer that trusts only the old root
# verifies new certificates through the cross certificate; finish refuses
# while certificates depend on the old issuer.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca

"$MTLS" ca init --name "CN=Rollover Root CA,O=Example" >/dev/null || exit 1
"$MTLS" issue srv --profile server --san dns:localhost,ip:127.0.0.1 --out srv >/dev/null || exit 1
"$MTLS" issue cli --profile client --out cli >/dev/null || exit 1
# Revoked during the overlap: the old issuer's CRL and OCSP must say so.
"$MTLS" issue victim --profile client --out victim >/dev/null || exit 1
cp ca/ca.crt old-root.pem
# Trust files change under a live push loop and receiver: replace them the
# way an operator's tooling must (a rename), never truncate-and-write.
install_atomic() { cp "$1" "$2.new" && mv -f "$2.new" "$2"; }
cp ca/ca.crt srv/trust.pem
cp ca/ca.crt cli/trust.pem
cp cli/cli.crt cli-old.crt

# An enrolled node too: EST through 'mtls ca serve', renewed by the agent.
PE=$(free_port)
ca_serve() {
	bg "$MTLS" ca serve --listen "127.0.0.1:$PE" --cert-lifetime 1h 2>>ca-serve.log
	CASERVE=$LAST_PID
	wait_port "$PE" || fail "ca serve started"
}
ca_serve
# ca_log_after LINE RE: RE in ca-serve.log after line LINE, within 10 s.
ca_log_after() {
	local i
	for ((i = 0; i < 200; i++)); do
		tail -n "+$1" ca-serve.log | grep -qE -- "$2" && return 0
		sleep 0.05
	done
	tail -n "+$1" ca-serve.log | tail -3 >&2
	return 1
}
FP=$("$MTLS" ca show | awk '/SHA-256/{print $2}')
TOK=$("$MTLS" token create n1 --ttl 10m 2>/dev/null)
check "a node enrolls over EST before the rollover" \
	"$MTLS" enroll "https://127.0.0.1:$PE" --token "$TOK" --ca-fingerprint "$FP" --dir n1 n1

P=$(free_port)
U=https://127.0.0.1:$P
bg "$MTLS" serve --listen "127.0.0.1:$P" --cert srv/srv.chain.pem --key srv/srv.key \
	--ca srv/trust.pem --root root --insecure-no-map --watch-interval 1 2>>serve.log
SERVE=$LAST_PID
wait_port "$P" || { fail "the receiver started"; finish; exit 1; }

# The stream: one push after another, each waited for; every result kept.
stream() {
	local i=0
	mkdir -p src
	while [ ! -e stop ]; do
		i=$((i + 1))
		echo "item $i" >"src/$i.txt"
		if "$MTLS" push "$U" --cert cli/cli.chain.pem --key cli/cli.key --ca cli/trust.pem \
			--state st --wait --deadline 20 "/s/$i.txt=src/$i.txt" >>push.log 2>&1; then
			echo "$i" >>stream.ok
		else
			echo "$i" >>stream.fail
		fi
		sleep 0.1
	done
}
stream &
STREAM=$!
PIDS+=("$STREAM")

# until_more N: waits until the stream delivered N more pushes.
until_more() {
	local want=$(($(wc -l <stream.ok 2>/dev/null || echo 0) + $1)) i
	for ((i = 0; i < 300; i++)); do
		[ "$(wc -l <stream.ok 2>/dev/null || echo 0)" -ge "$want" ] && return 0
		sleep 0.05
	done
	return 1
}
check "the stream delivers before the rollover" until_more 3
# Judged from here: wait_port's bare TCP probe is logged as a refusal.
FROM=$(($(wc -l <serve.log) + 1))

# --- begin ---
check_output "rollover begin" "rollover begun" "$MTLS" ca rollover begin
check "trust.pem holds two roots" test "$(grep -c 'BEGIN CERT' ca/trust.pem)" = 2
check "the old root is one of them" openssl verify -CAfile ca/trust.pem old-root.pem
check_output "the new root has a generation suffix" "Rollover Root CA G2" \
	openssl x509 -in ca/ca.crt -noout -subject
check "new-by-old verifies under the old root" \
	openssl verify -CAfile old-root.pem ca/rollover/new-by-old.crt
check "old-by-new verifies under the new root" \
	openssl verify -CAfile ca/ca.crt ca/rollover/old-by-new.crt
check_status "status --quiet: certificates depend on the old issuer" 3 \
	"$MTLS" ca rollover status --quiet
check_output "status names them" "srv .*server" "$MTLS" ca rollover status
check_output "... both" "cli .*client" "$MTLS" ca rollover status
check_status "a second begin is refused" 1 "$MTLS" ca rollover begin

check_status "doctor: the server's files depend on the old issuer (warning, exit 3)" 3 \
	"$MTLS" doctor srv --rollover ca
cp "$T/last.out" doctor.out
check "... naming the certificate" grep -qE "srv/srv.crt is issued by .*retires" doctor.out
check "... and the truststore without the new root" grep -q "does not hold the new issuer" doctor.out

# The online CA takes up the new issuer without a restart: SIGHUP reloads
# it (it also follows the files by itself, see finish below). EST answers
# both roots, OCSP and the CRLs both issuers, from the same process.
kill -HUP "$CASERVE"
check "ca serve reloads the CA on SIGHUP and names the new issuer" \
	ca_log_after 1 "SIGHUP: reloaded the CA: issuer .*G2.*rollover under way"
check "... in the same process, still serving" kill -0 "$CASERVE"
curl -s --cacert ca/trust.pem "https://127.0.0.1:$PE/.well-known/est/cacerts" |
	base64 -d | openssl pkcs7 -inform DER -print_certs >cacerts.pem 2>/dev/null
check "EST cacerts holds the new root, the old root and new-by-old" \
	test "$(grep -c 'BEGIN CERT' cacerts.pem)" = 3
# Per-issuer revocation: a certificate of the old issuer revoked during
# the overlap is in a CRL signed by the old key; the new issuer's CRL is
# its own; OCSP answers for both issuers.
check_output "revoke an old-issuer certificate during the overlap" "revoked victim" \
	"$MTLS" revoke victim
VSER=$(openssl x509 -in victim/victim.crt -noout -serial | cut -d= -f2)
check "crl --previous writes the retiring issuer's CRL" \
	"$MTLS" crl --previous --out old.crl
check "... signed by the old key" openssl crl -in old.crl -noout -CAfile old-root.pem
check_output "... listing the revoked certificate" "$VSER" openssl crl -in old.crl -noout -text
check_output "openssl verify -crl_check with the old CRL refuses it" "certificate revoked" \
	openssl verify -crl_check -CAfile old-root.pem -CRLfile old.crl victim/victim.crt
check "... and accepts an old-issuer certificate that is not revoked" \
	openssl verify -crl_check -CAfile old-root.pem -CRLfile old.crl cli-old.crt
check "the new issuer's CRL" "$MTLS" crl --out new.crl
check_output "... is issued by the new issuer" "G2" openssl crl -in new.crl -noout -issuer
check_fails "... and does not list the old issuer's certificate" \
	sh -c "openssl crl -in new.crl -noout -text | grep -q '$VSER'"
curl -s --cacert ca/trust.pem "https://127.0.0.1:$PE/crl-previous.der" -o served-old.der
check_output "ca serve publishes the old issuer's CRL at /crl-previous.der" "$VSER" \
	openssl crl -inform DER -in served-old.der -noout -text
check "... signed by the old key" openssl crl -inform DER -in served-old.der -noout -CAfile old-root.pem
curl -s --cacert ca/trust.pem "https://127.0.0.1:$PE/crl.der" -o served-new.der
check "... and the new issuer's at /crl.der, signed by the new key" \
	openssl crl -inform DER -in served-new.der -noout -CAfile ca/ca.crt
openssl ocsp -issuer old-root.pem -cert victim/victim.crt -reqout victim.req -no_nonce 2>/dev/null
curl -s --cacert ca/trust.pem -H 'Content-Type: application/ocsp-request' \
	--data-binary @victim.req "https://127.0.0.1:$PE/ocsp" -o victim.resp
check_output "OCSP (ca serve) says the old issuer's certificate is revoked, signed by the old key" \
	"victim.crt: revoked" openssl ocsp -respin victim.resp -issuer old-root.pem \
	-CAfile old-root.pem -cert victim/victim.crt
check_output "... and the answer verifies under the old root" "Response verify OK" \
	openssl ocsp -respin victim.resp -issuer old-root.pem -CAfile old-root.pem -cert victim/victim.crt
openssl ocsp -issuer old-root.pem -cert cli-old.crt -reqout good.req -no_nonce 2>/dev/null
curl -s --cacert ca/trust.pem -H 'Content-Type: application/ocsp-request' \
	--data-binary @good.req "https://127.0.0.1:$PE/ocsp" -o good.resp
check_output "... and one it issued that is not revoked good" "cli-old.crt: good" \
	openssl ocsp -respin good.resp -issuer old-root.pem -CAfile old-root.pem -cert cli-old.crt

# A first enrollment during the overlap, pinned to the new root: its chain
# carries new-by-old, so a peer trusting only the old root verifies it.
TOK2=$("$MTLS" token create n2 --ttl 10m 2>/dev/null)
NFP=$("$MTLS" ca show | awk '/SHA-256/{print $2}')
check "a first enrollment during the overlap (pinned to the new root)" \
	"$MTLS" enroll "https://127.0.0.1:$PE" --token "$TOK2" --ca-fingerprint "$NFP" --dir n2 n2
check "... its chain carries the cross certificate (new-by-old)" \
	sh -c "openssl x509 -in ca/rollover/new-by-old.crt -noout -fingerprint >want.fp &&
	awk '/BEGIN CERT/{n++} n==2' n2/n2.chain.pem | openssl x509 -noout -fingerprint | cmp -s - want.fp"
check "... and verifies under the old root alone" \
	openssl verify -CAfile old-root.pem -untrusted n2/n2.chain.pem n2/n2.crt

# One OCSP request naming both issuers: each CertID gets its own status.
# One signature covers both: the new key, for the old issuer's CertIDs as
# its designated responder (the certificate the response carries).
openssl ocsp -issuer old-root.pem -cert victim/victim.crt -issuer ca/ca.crt \
	-cert n2/n2.crt -reqout mixed.req -no_nonce 2>/dev/null
# The responder reads the inventory once a second: n2 is seconds old.
for i in $(seq 1 50); do
	curl -s --cacert ca/trust.pem -H 'Content-Type: application/ocsp-request' \
		--data-binary @mixed.req "https://127.0.0.1:$PE/ocsp" -o mixed.resp
	openssl ocsp -respin mixed.resp -issuer old-root.pem -cert victim/victim.crt \
		-issuer ca/ca.crt -cert n2/n2.crt -VAfile ca/ca.crt >mixed.out 2>&1
	grep -q "n2.crt: unknown" mixed.out || break
	sleep 0.1
done
check "a mixed-issuer OCSP request: the old issuer's certificate is revoked" \
	grep -q "victim.crt: revoked" mixed.out
check "... and the new issuer's good (not unknown)" grep -q "n2.crt: good" mixed.out
check "... in one response signed by the new key" grep -q "Response verify OK" mixed.out
openssl ocsp -respin mixed.resp -resp_text -noverify 2>/dev/null |
	sed -n '/BEGIN CERT/,/END CERT/p' >deleg.pem
check "... carrying the old issuer's designation of that key for OCSP" \
	openssl verify -CAfile old-root.pem deleg.pem
check_output "... for OCSP signing only" "OCSP Signing" \
	openssl x509 -in deleg.pem -noout -ext extendedKeyUsage
check "... of the new key itself" sh -c "openssl x509 -in deleg.pem -noout -pubkey >d.pub &&
	openssl x509 -in ca/ca.crt -noout -pubkey | cmp -s - d.pub"

check "the node pinned to the old root renews over EST (renew-agent)" \
	"$MTLS" renew-agent --once --force n1
check_output "... and gets a certificate of the new issuer" "G2" \
	openssl x509 -in n1/n1.crt -noout -issuer
check "... whose chain verifies to the root it pinned" \
	openssl verify -CAfile old-root.pem -untrusted n1/n1.chain.pem n1/n1.crt
check "... and its ca.pem now holds the new root too (learned through new-by-old)" \
	test "$(grep -c 'BEGIN CERT' n1/ca.pem)" = 2

# The server loads the trust bundle (both roots) before anything new exists.
install_atomic ca/trust.pem srv/trust.pem
kill -HUP "$SERVE"
wait_log serve.log "reloaded" 10 || fail "serve reloaded the bundle"
check "the stream delivers with the bundle loaded" until_more 3

# --- the server first: renewed by the new issuer ---
check "renew the server" "$MTLS" renew srv --out srv
wait_log serve.log "certificate or key file changed" 10 || fail "serve took the new certificate"
check "the stream delivers to the renewed server (client trusts only the old root)" until_more 3
check_output "the server's new certificate is issued by G2" "G2" \
	openssl x509 -in srv/srv.crt -noout -issuer
check "openssl verify: new leaf, old root only, cross in the chain" \
	openssl verify -CAfile old-root.pem -untrusted srv/srv.chain.pem srv/srv.crt
check "openssl verify: new leaf against the trust bundle" \
	openssl verify -CAfile ca/trust.pem -untrusted srv/srv.chain.pem srv/srv.crt
check "openssl verify: old leaf, new root only, through old-by-new" \
	openssl verify -CAfile ca/ca.crt -untrusted ca/rollover/old-by-new.crt cli-old.crt
check_output "s_client trusting only the old root verifies the renewed server" \
	"Verify return code: 0" sh -c "echo | openssl s_client -connect 127.0.0.1:$P \
	-CAfile old-root.pem -cert cli/cli.crt -key cli/cli.key -verify_return_error 2>&1"
check_output "s_client against the trust bundle" "Verify return code: 0" \
	sh -c "echo | openssl s_client -connect 127.0.0.1:$P -CAfile ca/trust.pem \
	-cert cli/cli.crt -key cli/cli.key -verify_return_error 2>&1"

check_status "doctor: the renewed server with the bundle is clear" 0 \
	"$MTLS" doctor srv --rollover ca
check_status "doctor: the client still depends on the old issuer" 3 \
	"$MTLS" doctor cli --rollover ca/rollover/old.crt
check_status "finish is refused while the client depends on the old issuer" 1 \
	"$MTLS" ca rollover finish
grep -q "(cli)" "$T/last.out" && pass "... and says which" || fail "... and says which: $(last_output)"
check "the bundle still holds both roots" test "$(grep -c 'BEGIN CERT' ca/trust.pem)" = 2

# --- then the client ---
install_atomic ca/trust.pem cli/trust.pem
check "renew the client" "$MTLS" renew cli --out cli
check "the stream delivers with the renewed client" until_more 3
check_output "status: nothing left on the old issuer" "none" "$MTLS" ca rollover status
check_status "status --quiet: exit 0" 0 "$MTLS" ca rollover status --quiet

# --- finish ---
CAFROM=$(($(wc -l <ca-serve.log) + 1))
check_output "rollover finish" "rollover finished" "$MTLS" ca rollover finish
cp "$T/last.out" "$T/last.out.finish"
check "trust.pem holds only the new root" test "$(grep -c 'BEGIN CERT' ca/trust.pem)" = 1
check "... which is ca.crt" cmp ca/trust.pem ca/ca.crt
check "the old key is kept in retired/" sh -c 'ls ca/retired/*/old.key'
# Old-issuer certificates still valid after finish (superseded ones, or
# any kept with --force) keep a current CRL: the old key's last one,
# current until after the last of them expires.
check_output "... and finish wrote the old issuer's final CRL" "final CRL of the old issuer" \
	cat "$T/last.out.finish"
cp ca/retired/*/final.crl final.crl
check "the final CRL is signed by the old key" openssl crl -in final.crl -noout -CAfile old-root.pem
check_output "openssl verify -crl_check with it refuses the revoked old-issuer certificate" \
	"certificate revoked" openssl verify -crl_check -CAfile old-root.pem -CRLfile final.crl victim/victim.crt
LAST=$(($(date -d "$(openssl x509 -in cli-old.crt -noout -enddate | cut -d= -f2)" +%s) - 3600))
check "... and accepts a still-valid old one, even an hour before it expires (CRL still current)" \
	openssl verify -crl_check -attime "$LAST" -CAfile old-root.pem -CRLfile final.crl cli-old.crt
check_output "... where a CRL of the usual lifetime would have lapsed" "CRL has expired" \
	openssl verify -crl_check -attime "$LAST" -CAfile old-root.pem -CRLfile old.crl cli-old.crt
check_output "status: no rollover" "no rollover under way" "$MTLS" ca rollover status
install_atomic ca/trust.pem srv/trust.pem
install_atomic ca/trust.pem cli/trust.pem
kill -HUP "$SERVE"
check "the stream delivers after finish" until_more 3
check_status "finish again: nothing to finish" 1 "$MTLS" ca rollover finish
# The online CA drops the old root by itself, no signal and no restart:
# it saw the CA's files change. The node's pin moves to the successor it
# learned during the overlap.
check "ca serve follows finish by itself (the files changed)" \
	ca_log_after "$CAFROM" "the CA's files changed: reloaded the CA: issuer .*G2"
check_fails "... and no rollover is under way for it" \
	sh -c "tail -n +$CAFROM ca-serve.log | grep 'reloaded the CA' | tail -1 | grep -q 'rollover under way'"
curl -s --cacert ca/trust.pem "https://127.0.0.1:$PE/.well-known/est/cacerts" |
	base64 -d | openssl pkcs7 -inform DER -print_certs >cacerts2.pem 2>/dev/null
check "EST cacerts after finish holds the new root alone" \
	test "$(grep -c 'BEGIN CERT' cacerts2.pem)" = 1
check "... from the process that served before the rollover" kill -0 "$CASERVE"
curl -s --cacert ca/trust.pem "https://127.0.0.1:$PE/crl-previous.der" -o served-final.der
check "ca serve publishes the retired issuer's final CRL at /crl-previous.der" \
	sh -c "openssl crl -inform DER -in served-final.der -outform PEM | cmp -s - final.crl"
check "the enrolled node renews after finish (its pin moved to the new root)" \
	"$MTLS" renew-agent --once --force n1
check "... its certificate verifies under the new root alone" \
	openssl verify -CAfile ca/ca.crt -untrusted n1/n1.chain.pem n1/n1.crt
NEWFP=$("$MTLS" ca show | awk '/SHA-256/{print $2}' | tr -d : | tr A-F a-f)
check "... and its state pins the new root" grep -qi "\"ca_fingerprint\": \"$NEWFP\"" n1/n1.enroll.json
check_fails "the old client certificate is refused by openssl against the new bundle" \
	openssl verify -CAfile ca/trust.pem cli-old.crt

touch stop
wait "$STREAM"
ok=$(wc -l <stream.ok)
[ "$ok" -ge 15 ] && pass "the stream delivered $ok pushes" || fail "the stream delivered only $ok pushes"
[ ! -s stream.fail ] && pass "no push failed" || fail "pushes failed: $(tr '\n' ' ' <stream.fail)"
# A refused handshake would be retried by the queue: judge the receiver's log.
if tail -n "+$FROM" serve.log | grep -iE "handshake|refused|alert|verify" | grep -viE "reload|started|listening" >hs.txt; [ -s hs.txt ]; then
	fail "the receiver refused no handshake: $(head -3 hs.txt)"
else
	pass "the receiver refused no handshake"
fi
grep -vE "delivered [0-9]+, failed 0, pending 0|enqueued 1 item" push.log >push.odd
[ -s push.odd ] && fail "the push log is clean: $(head -2 push.odd)" \
	|| pass "the push log is clean"
# A CA whose key is encrypted gets an encrypted new key, or no rollover.
"$MTLS" ca init --dir enc --name "CN=Encrypted Root" --pass pass:old-secret >/dev/null || exit 1
check_status "begin on an encrypted CA without --pass is refused" 2 \
	"$MTLS" ca rollover begin --ca-dir enc --ca-pass pass:old-secret
check "... and left no rollover behind" test ! -e enc/rollover
check "begin with --pass succeeds" \
	"$MTLS" ca rollover begin --ca-dir enc --ca-pass pass:old-secret --pass pass:new-secret
check "... and the new key is encrypted" grep -q "BEGIN ENCRYPTED PRIVATE KEY" enc/ca.key
check "... the retiring key too, under the new password" \
	grep -q "BEGIN ENCRYPTED PRIVATE KEY" enc/rollover/old.key
check "one --ca-pass signs the retiring issuer's CRL" \
	"$MTLS" crl --previous --ca-dir enc --ca-pass pass:new-secret --out enc-old.crl
check "... with the old key" openssl crl -in enc-old.crl -noout -CAfile enc/rollover/old.crt
check_fails "finish on an encrypted CA without --ca-pass is refused (the final CRL needs the old key)" \
	"$MTLS" ca rollover finish --ca-dir enc --force
check "... and left the rollover as it was" test -e enc/rollover/old.key
check "finish with --ca-pass" "$MTLS" ca rollover finish --ca-dir enc --force --ca-pass pass:new-secret
check "... the final CRL is signed by the old key" \
	sh -c 'openssl crl -in enc/retired/*/final.crl -noout -CAfile enc/retired/*/old.crt'
check_status "crl --previous outside a rollover is an error" 1 "$MTLS" crl --previous --out x.crl
finish
