#!/bin/bash
# 'mtls ca serve' reloads the CA without stalling behind the CA lock: a
# command holding the lock and an inventory transaction (as a long 'mtls
# issue --batch' does) while SIGHUP takes up a rollover's new issuer must not
# stop the server answering. It reloads the rest, keeps its own TLS
# certificate from the old issuer, and moves that certificate once the
# lock is free, on a later tick.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca

"$MTLS" ca init --name "CN=Reload Root CA" >/dev/null || exit 1
PE=$(free_port)
bg "$MTLS" ca serve --listen "127.0.0.1:$PE" 2>>ca-serve.log
CASERVE=$LAST_PID
wait_port "$PE" || { fail "ca serve started"; finish; exit 1; }

served_issuer() {
	openssl s_client -connect "127.0.0.1:$PE" </dev/null 2>/dev/null |
		openssl x509 -noout -issuer
}
check_output "its TLS certificate is from the first issuer" "Reload Root CA$" served_issuer

# The server sleeps through 'rollover begin', so the reload below is the
# one that finds the lock held (whether SIGHUP or the files' tick runs it).
kill -STOP "$CASERVE"
"$MTLS" ca rollover begin >/dev/null || { fail "rollover begin"; kill -CONT "$CASERVE"; finish; exit 1; }
# The holder does what a command does: the CA lock, then a write
# transaction on the inventory, held until told to release.
bg python3 -c '
import fcntl, os, sqlite3, time
fd = os.open("ca/lock", os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
db = sqlite3.connect("ca/inventory.db", isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open("held", "w").close()
while not os.path.exists("release"):
    time.sleep(0.05)
db.execute("ROLLBACK")
'
HOLD=$LAST_PID
for ((i = 0; i < 100; i++)); do [ -e held ] && break; sleep 0.05; done
kill -CONT "$CASERVE"
kill -HUP "$CASERVE"
sleep 0.3
# Without the fix the loop waits for the lock ($MTLS_LOCK_WAIT, 30 s).
check "/cacerts answers within a second while the CA lock is held" \
	curl -sf --max-time 1 --cacert ca/trust.pem -o cacerts.b64 \
	"https://127.0.0.1:$PE/.well-known/est/cacerts"
base64 -d <cacerts.b64 2>/dev/null | openssl pkcs7 -inform DER -print_certs >cacerts.pem 2>/dev/null
check "... with both roots and the cross certificate (the CA was reloaded)" \
	test "$(grep -c 'BEGIN CERT' cacerts.pem)" = 3
check "... and again a second later" \
	curl -sf --max-time 1 --cacert ca/trust.pem -o /dev/null \
	"https://127.0.0.1:$PE/.well-known/est/cacerts"
check "the log says it keeps its TLS certificate for now, the CA being busy" \
	wait_log ca-serve.log "keeps its TLS certificate for now: the CA is busy.*tried again" 2
check_output "... and it still serves the old issuer's certificate" "Reload Root CA$" served_issuer
check "... and names the new issuer as reloaded" \
	wait_log ca-serve.log "reloaded the CA: issuer .*G2" 2

touch release
wait "$HOLD" 2>/dev/null
check "after the lock is released it moves its own certificate by itself" \
	wait_log ca-serve.log "the CA lock is free: serves its TLS certificate" 5
check_output "... and serves one from the new issuer" "Reload Root CA G2$" served_issuer
check "... which verifies under the new root" sh -c \
	"openssl s_client -connect 127.0.0.1:$PE </dev/null 2>/dev/null | openssl x509 >srv.pem &&
	 openssl verify -CAfile ca/ca.crt srv.pem"
check "the server is still running" kill -0 "$CASERVE"
finish
