#!/bin/bash
# doctor without --crl fetches the CRL from the certificates' distribution
# point (here a plain HTTP server on 127.0.0.1), checks against it and says
# so; a revoked certificate is an error without any CA inventory at hand.
# An unreachable distribution point is a warning naming it; --no-crl-fetch
# fetches nothing.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
P=$(free_port)
URL="http://127.0.0.1:$P/root.crl"

$MTLS ca init --ca-dir pki --crl-url "$URL" >/dev/null || { echo "ca init failed"; exit 1; }
export MTLS_CA_DIR=$T/pki
check "issue good" $MTLS issue good --profile server --san dns:localhost --out good
check "issue bad" $MTLS issue bad --profile server --san dns:localhost --out bad
check_output "the certificates carry the distribution point" "$URL" \
	openssl x509 -in bad/bad.crt -noout -ext crlDistributionPoints
check "revoke bad" $MTLS revoke bad --reason keyCompromise
mkdir -p www
check "the CRL, DER, where the distribution point says" $MTLS crl --der --out www/root.crl
cp pki/ca.crt good/ca.crt
cp pki/ca.crt bad/ca.crt
mkdir -p noca
bg python3 -m http.server "$P" --bind 127.0.0.1 --directory www
wait_port "$P" 10 || fail "http server started"
# No inventory at hand: only the CRL can tell.
doc() {
	local rc
	$MTLS doctor "$@" --ca-dir "$T/noca" --json >"$T/doc.json"; rc=$?
	cat "$T/doc.json"
	return $rc
}
has() { python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not any(f["check"] == sys.argv[2] and f["severity"] == sys.argv[3] for f in d["findings"]))' "$T/doc.json" "$1" "$2"; }
# count_revoked FILE: how many findings report FILE revoked.
count_revoked() { python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(1 for f in d["findings"] if f["check"] in ("cert_revoked", "chain_revoked")
    and f.get("about") == sys.argv[2]))' "$T/doc.json" "$1"; }

check_status "revoked certificate, no --crl: exit 1" 1 doc bad
check "... cert_revoked (error), from the fetched CRL" has cert_revoked error
check "... crl_fetched (info) names the distribution point" has crl_fetched info
check_output "... the text report says it fetched the CRL" "fetched from their distribution point $URL" \
	$MTLS doctor bad --ca-dir "$T/noca"
check_status "good certificate: exit 0" 0 doc good
check "... crl_fetched (info)" has crl_fetched info
check_status "--no-crl-fetch: nothing fetched, the revocation goes unseen (exit 0)" 0 \
	doc bad --no-crl-fetch
check_fails "... no crl_fetched finding" has crl_fetched info
check_status "--crl given: it is used, nothing fetched" 1 doc bad --crl www/root.crl
check_fails "... no crl_fetched finding" has crl_fetched info
check "... cert_revoked (error)" has cert_revoked error
# The chain walk (every certificate but the root) reaches the same leaf
# through the same CRL: one finding for it, the one naming its standing.
check_output "... reported once: one revocation finding for bad.crt" '^1$' \
	count_revoked bad/bad.crt
check_fails "... no second report of it as chain_revoked" has chain_revoked error
check_status "--crl, good certificate: exit 0" 0 doc good --crl www/root.crl
check "... the chain's revocation was checked" has chain_revocation ok

kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null
check_status "distribution point down: a warning (exit 3)" 3 doc bad
check "... crl_fetch_failed (warn)" has crl_fetch_failed warn
check_output "... naming the URL" "$URL" cat "$T/doc.json"

# A server that never answers: the fetch gives up within its bound.
python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$P"')); s.listen(8); time.sleep(60)' &
PIDS+=($!); SILENT=$!
wait_port "$P" 10
start=$(date +%s)
check_status "distribution point that never answers: a warning (exit 3)" 3 doc bad
check "... gives up on its own (bounded, not the 60 s the server holds it)" test $(($(date +%s) - start)) -le 30
check "... crl_fetch_failed (warn)" has crl_fetch_failed warn
kill "$SILENT" 2>/dev/null
finish
