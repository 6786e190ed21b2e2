#!/usr/bin/env bash
# test and push read the client's files with the same loaders: DER
# certificates and keys, a PKCS#8 key and an encrypted key that `mtls test`
# accepts are delivered by `mtls push` too (push used to hand curl the
# paths, whose PEM-only reader refused them after the items were queued).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

"$MTLS" ca init --name "CN=Loader CA" >/dev/null
"$MTLS" issue recv --profile server --san ip:127.0.0.1 >/dev/null
"$MTLS" issue repl1 --profile client >/dev/null
openssl x509 -in repl1.crt -outform DER -out repl1.der
openssl pkey -in repl1.key -outform DER -out repl1.key.der
openssl x509 -in pki/ca.crt -outform DER -out ca.der
openssl pkey -in repl1.key -aes256 -passout pass:key-pass-1 -out repl1.enc.key
port=$(free_port)
bg "$MTLS" serve --listen "127.0.0.1:$port" --cert recv.crt --key recv.key \
	--ca pki/ca.crt --root content --state-dir . --insecure-no-map
wait_port "$port"
mkdir -p site && echo der > site/der.txt
url="https://127.0.0.1:$port"

check_output "test accepts a DER certificate, key and CA" "succeeded" \
	"$MTLS" test "$url" --cert repl1.der --key repl1.key.der --ca ca.der
check "push delivers with the same DER files" \
	"$MTLS" push "$url" --cert repl1.der --key repl1.key.der --ca ca.der \
	--state q1 --dir site --prefix /der --wait --deadline 20
check "... and the file arrived" test -s content/der/der.txt
check "push: an encrypted key with --key-pass" \
	"$MTLS" push "$url" --cert repl1.crt --key repl1.enc.key --key-pass pass:key-pass-1 \
	--ca pki/ca.crt --state q2 --dir site --prefix /enc --wait --deadline 20
check "... arrived" test -s content/enc/der.txt
check_fails "test refuses a wrong key" \
	"$MTLS" test "$url" --cert repl1.der --key recv.key --ca ca.der
check_status "push refuses the same wrong key before queueing (exit 1)" 1 \
	"$MTLS" push "$url" --cert repl1.der --key recv.key --ca ca.der \
	--state q3 --dir site --prefix /bad --wait --deadline 5
check "... nothing arrived" test ! -e content/bad
finish
