#!/usr/bin/env bash
# Rough edges a new user hit while following the guides, one check each.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/pki
"$MTLS" ca init --name "CN=Edges CA" >/dev/null

# mtls help CMD is CMD --help (not the global page).
check_output "help issue shows issue's page" "usage: mtls issue" "$MTLS" help issue
check_output "help ca init shows ca's page" "usage: mtls ca init" "$MTLS" help ca init
check_status "help of an unknown command is a usage error" 2 "$MTLS" help bogus

# issue --out NAME makes a directory called NAME: revoke NAME still means
# the inventory's NAME, not that directory.
"$MTLS" issue author --profile client --out author >/dev/null
check_output "revoke NAME beside a directory NAME" "revoked author" \
	"$MTLS" revoke author --reason keyCompromise
check_output "revoke a certificate file still works" "revoked|already revoked" \
	"$MTLS" revoke author/author.crt

# --out into a missing directory creates it, as issue does.
check "crl --out creates the directory" "$MTLS" crl --out pub/crl/ca.crl
check "the CRL is there" test -s pub/crl/ca.crl
"$MTLS" issue web --profile server --san dns:web.example >/dev/null
check "renew --out creates the directory" "$MTLS" renew web --out deployed/web
check "the renewed files are there" test -s deployed/web/web.crt -a -s deployed/web/web.key

# verify --purpose node checks both roles, as doctor --role node does.
"$MTLS" issue repl1 --profile node --out nodes >/dev/null
check_output "verify --purpose node" "valid client and server certificate" \
	"$MTLS" verify nodes/repl1.crt --purpose node
check_output "verify --purpose node refuses a client-only certificate" "not a server certificate: its extended key usage" \
	"$MTLS" verify author/author.crt --purpose node

# doctor: NAME.key beside NAME.jks holding the same key is not an orphan,
# and DIR/ does not print DIR//FILE.
"$MTLS" keystore add nodes/repl1.jks --alias repl1 --key nodes/repl1.key \
	--cert nodes/repl1.chain.pem --pass pass:storepass >/dev/null
cp pki/ca.crt nodes/
check_status "doctor: key + keystore of one identity is all well" 0 \
	"$MTLS" doctor nodes/ --role node --pass pass:storepass
cp "$T/last.out" doctor.out
check_output "doctor DIR/ names DIR/FILE" "^nodes/repl1.crt:" cat doctor.out
check_fails "doctor DIR/ never names DIR//FILE" grep -q "nodes//" doctor.out

# A receiver keeps its item-id database out of its content root by default,
# and push --dir of a receiver's root never carries a receiver's files.
port=$(free_port)
"$MTLS" issue recv --profile node --san ip:127.0.0.1 --out nodes >/dev/null
bg "$MTLS" serve --listen "127.0.0.1:$port" --cert nodes/recv.crt --key nodes/recv.key \
	--ca pki/ca.crt --root content --insecure-no-map
wait_port "$port"
mkdir -p site && echo hi > site/a.txt && echo db > site/.mtls-receiver.db
check_output "push --dir skips .mtls* files" "skipped 1 file" \
	"$MTLS" push "https://127.0.0.1:$port" --cert nodes/repl1.crt --key nodes/repl1.key \
	--ca pki/ca.crt --dir site --prefix / --wait --deadline 20
check "the content arrived" test -s content/a.txt
check_fails "no database inside the content root" test -e content/.mtls-receiver.db
check "the database is in the user's state directory" \
	test -s "$XDG_STATE_HOME/mtls/receiver/$(echo "${T#/}/content" | tr / _)/.mtls-receiver.db"
check_output "an explicit reserved path is refused at enqueue" "reserved" \
	"$MTLS" push "https://127.0.0.1:$port" --cert nodes/repl1.crt --key nodes/repl1.key \
	--ca pki/ca.crt /.mtls-receiver.db=site/a.txt

# An encrypted CA asks for --ca-pass (the option that unlocks it), not --pass.
"$MTLS" ca init --dir encca --name "CN=Locked CA" --pass pass:ca-secret >/dev/null
check_output "encrypted CA: the error names --ca-pass" "give --ca-pass" \
	"$MTLS" issue locked --profile client --ca-dir encca
check "encrypted CA: --ca-pass unlocks it" \
	"$MTLS" issue locked --profile client --ca-dir encca --ca-pass pass:ca-secret
finish
