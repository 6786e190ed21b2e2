#!/bin/bash
# mtls serve --log-format json speaks the vocabulary of docs/json.md: a
# receiver on 127.0.0.1 gets a good request, a refused one (a certificate
# the map does not allow: 403) and a refused handshake (another CA's
# client); every line it logs is checked by tests/json/vocab.py, and the
# records carry what happened (principal, http_status, the refused
# client's sha256 as openssl computes it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=(python3 "$SRC/tests/json/vocab.py" "$SRC/docs/json.md")
cd "$T" || exit 1

pki_ca . ca
pki_ca . otherca
pki_issue . ca publish server
pki_issue . ca author client
pki_issue . ca stranger client
pki_issue . otherca outsider client
check "test PKI was made" test -s author.crt -a -s stranger.crt -a -s outsider.crt
echo "principal author dns=author allow=test:/ allow=activate:/content" >map.txt

post() {
	local who=$1 action=$2
	curl -sS -o /dev/null -w '%{http_code}' --cacert ca.crt --cert "$who.crt" \
		--key "$who.key" -H "Action: $action" -H "Path: /content" -X POST \
		"https://127.0.0.1:$P/bin/receive"
}

P=$(free_port)
bg "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/root" --map map.txt --log-format json 2>"$T/serve.log"
SERVE=$LAST_PID
check "serve starts (JSON log)" wait_log serve.log "serving https" 10
check_output "a mapped client's Test: 200" '^200$' post author Test
check_output "an unmapped client: 403" '^403$' post stranger Test
check_fails "another CA's client: the handshake is refused" curl -sS -o /dev/null \
	--cacert ca.crt --cert outsider.crt --key outsider.key "https://127.0.0.1:$P/bin/receive"
check "the refusal is logged" wait_log serve.log handshake_failed 10
kill "$SERVE" 2>/dev/null
wait "$SERVE" 2>/dev/null

# One document per line, each checked against the vocabulary.
mkdir -p lines
check "every line is one JSON object" python3 -c '
import json, sys
for i, line in enumerate(open("serve.log", encoding="utf-8")):
    json.dump(json.loads(line), open("lines/%03d.json" % i, "w"))
'
check "every line follows docs/json.md" "${CHECK[@]}" lines/*.json
FP=$(openssl x509 -in outsider.crt -outform DER | openssl dgst -sha256 -r | cut -c1-64)
SER=$(openssl x509 -in author.crt -noout -serial | sed 's/serial=//')
check "the records say what happened" python3 -c '
import json, sys
recs = [json.loads(l) for l in open("serve.log", encoding="utf-8")]
req = [r for r in recs if r.get("event") == "request"]
good = [r for r in req if r["principal"] == "author"]
assert good and good[0]["http_status"] == 200 and good[0]["serial"] == sys.argv[2], good
assert good[0]["action"] == "Test" and "outcome" not in good[0], good
assert isinstance(good[0]["duration_us"], int), good
bad = [r for r in req if r["http_status"] == 403]
assert bad and bad[0]["principal"] == "stranger" and bad[0]["outcome"] == "unmapped", bad
assert bad[0]["item"] is None, bad
hs = [r for r in recs if r.get("event") == "handshake_failed"]
assert hs and hs[0]["sha256"] == sys.argv[1] and "outsider" in hs[0]["subject"], hs
ev = [r for r in recs if "level" in r]
assert ev and all(r["level"] in ("info", "warning", "error") for r in ev), ev
' "$FP" "$SER"
finish
