#!/bin/bash
# One JSON vocabulary (docs/json.md): every command with --json runs here and
# its output is checked against the field table of docs/json.md by
# tests/json/vocab.py (snake_case names from the table, RFC 3339 UTC dates,
# arrays for lists, lower-case hex fingerprints, one error object). The
# checker is shown to fail on planted violations, and every source file of
# src/ that offers --json must be covered by a run below.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
VOCAB=$SRC/docs/json.md
CHECK=(python3 "$SRC/tests/json/vocab.py" "$VOCAB")
cd "$T" || exit 1
mkdir -p out

$MTLS ca init --ca-dir pki >/dev/null || { echo "ca init failed"; exit 1; }
export MTLS_CA_DIR=$T/pki
$MTLS issue web --profile server --san dns:localhost,ip:127.0.0.1 --out servers/web >/dev/null &&
	$MTLS issue cli --profile client --out clients >/dev/null &&
	$MTLS issue old --profile client --out clients >/dev/null &&
	$MTLS revoke old --reason keyCompromise >/dev/null 2>&1 &&
	cp clients/cli.crt clients/old-cli.crt &&
	$MTLS renew cli >/dev/null 2>&1 &&
	$MTLS export web --to p12 --from servers/web --pass pass:pw-123456 --out web.p12 >/dev/null &&
	$MTLS export web --to jks --from servers/web --pass pass:pw-123456 --out web.jks >/dev/null &&
	$MTLS csr part --out csr >/dev/null 2>&1 &&
	$MTLS policy add partner --profile client --subject-allow 'CN=*' --san-allow 'dns:*.partner.example' >/dev/null &&
	$MTLS token create n1 --profile client --san dns:n1.example >/dev/null 2>&1 ||
	{ fail "the PKI for the outputs"; finish; exit 1; }
echo data >f.txt
$MTLS push https://127.0.0.1:1 --cert clients/cli.crt --key clients/cli.key \
	--ca pki/ca.crt --state st /content/f.txt=f.txt >/dev/null 2>&1
mkdir -p sysdir

# A TLS server that asks for client certificates, for probe.
P=$(free_port)
bg openssl s_server -quiet -accept "$P" -cert servers/web/web.crt -key servers/web/web.key \
	-cert_chain servers/web/web.chain.pem -CAfile pki/ca.crt -Verify 1 -www
wait_port "$P" 10 || fail "openssl s_server started"

# json NAME SOURCE EXPECTED-STATUS CMD...: runs CMD into out/NAME.json,
# checks the exit status and the document; SOURCE is the file of src/ whose
# --json this covers.
COVERED=" "
json() {
	local name=$1 src=$2 want=$3 got; shift 3
	COVERED+="$src "
	"$@" >"out/$name.json" 2>"out/$name.err"; got=$?
	if [ "$got" != "$want" ]; then
		fail "$name: exit $got, wanted $want"; sed 's/^/    /' "out/$name.err" | head -5
		return
	fi
	check "$name: follows docs/json.md" "${CHECK[@]}" "out/$name.json"
}

json list cmd_list.c 0 $MTLS list --all --json
json list_deployments cmd_list.c 0 $MTLS list web --deployments --json
json inspect_cert cmd_inspect.c 0 $MTLS inspect servers/web/web.chain.pem --json
json inspect_key cmd_inspect.c 0 $MTLS inspect servers/web/web.key --json
json inspect_csr cmd_inspect.c 0 $MTLS inspect csr/part.csr --json
json inspect_p12 cmd_inspect.c 0 $MTLS inspect web.p12 --pass pass:pw-123456 --json
json keystore_jks cmd_keystore.c 0 $MTLS keystore list web.jks --pass pass:pw-123456 --json
json keystore_p12 cmd_keystore.c 0 $MTLS keystore list web.p12 --pass pass:pw-123456 --json
json doctor_dir cmd_doctor.c 3 $MTLS doctor servers/web --json
json doctor_files cmd_doctor.c 0 $MTLS doctor servers/web/web.crt servers/web/web.key --ca pki/ca.crt --json
json probe cmd_probe.c 0 $MTLS probe "127.0.0.1:$P" --ca pki/ca.crt --cert clients/cli.crt --key clients/cli.key --json
json probe_closed cmd_probe.c 1 $MTLS probe "127.0.0.1:$(free_port)" --ca pki/ca.crt --json
json policy cmd_policy.c 0 $MTLS policy list --json
json token cmd_token.c 0 $MTLS token list --all --json
json audit cmd_token.c 0 $MTLS audit --json
json eab_create cmd_acme.c 0 $MTLS acme eab create shop --allow 'dns:*.shop.example' --json
json eab_list cmd_acme.c 0 $MTLS acme eab list --json
json queue cmd_queue.c 0 $MTLS queue --state st --json
json trust cmd_trust.c 1 $MTLS trust status --system --system-dir sysdir --json
json ca_show cmd_ca.c 0 $MTLS ca show --json
json issue cmd_issue.c 0 $MTLS issue jsonid --profile node --san dns:j.example --p12 \
	--pass pass:pw-123456 --out ids --json
printf 'b1 client\nb2 server dns:b2.example\n' >batch.txt
json issue_batch cmd_issue.c 0 $MTLS issue --batch batch.txt --out batch --json
json issue_batch_again cmd_issue.c 0 $MTLS issue --batch batch.txt --out batch --json
json sign cmd_sign.c 0 $MTLS sign csr/part.csr --profile client --name partjson \
	--subject-allow 'CN=*' --out part.crt --json
json sign_renew cmd_sign.c 0 $MTLS sign csr/part.csr --profile client --name partjson \
	--subject-allow 'CN=*' --renew --out part2.crt --json
json test_ok cmd_test.c 0 $MTLS test "https://127.0.0.1:$P" --get --cert clients/cli.crt \
	--key clients/cli.key --ca pki/ca.crt --json
json test_closed cmd_test.c 1 $MTLS test "https://127.0.0.1:$(free_port)" --cert clients/cli.crt \
	--key clients/cli.key --ca pki/ca.crt --timeout 3 --json
json rotate_dry cmd_renew.c 0 $MTLS rotate --expiring 36500d --dry-run --json
json verify_ok cmd_verify.c 0 $MTLS verify servers/web/web.chain.pem --purpose server --host localhost --json
json verify_revoked cmd_verify.c 1 $MTLS verify clients/old.crt --json
json verify_superseded cmd_verify.c 0 $MTLS verify clients/old-cli.crt --json
json error_list cmd_list.c 1 $MTLS list --json --ca-dir "$T/none"
json error_inspect cmd_inspect.c 1 $MTLS inspect "$T/none.pem" --json

# The outputs say what the vocabulary promises, not only what it allows.
check "list: dates are RFC 3339, sans an array, sha256 lower hex, revoked row carries revoked_at" python3 -c '
import json, re
rows = json.load(open("out/list.json"))
web = [r for r in rows if r["name"] == "web"][0]
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", web["not_after"]), web["not_after"]
assert web["sans"] == ["dns:localhost", "ip:127.0.0.1"], web["sans"]
assert re.fullmatch(r"[0-9a-f]{64}", web["sha256"]), web["sha256"]
old = [r for r in rows if r["name"] == "old"][0]
assert old["status"] == "revoked" and old["reason"] == "keyCompromise" and old["revoked_at"].endswith("Z")
assert any(r.get("superseded_by") for r in rows if r["name"] == "cli")
'
check "the same certificate, the same fingerprint and dates in list, inspect and probe" python3 -c '
import json
web = [r for r in json.load(open("out/list.json")) if r["name"] == "web"][0]
ins = json.load(open("out/inspect_cert.json"))["objects"][0]
pro = json.load(open("out/probe.json"))["chain"][0]
for o in (ins, pro):
    assert (o["sha256"], o["not_after"], o["serial"], o["sans"]) == (web["sha256"], web["not_after"], web["serial"], web["sans"]), o
'
check_output "inspect: the text keeps AB:CD fingerprints and readable dates" \
	'SHA-256: +([0-9A-F]{2}:){31}[0-9A-F]{2}$' $MTLS inspect servers/web/web.crt
check_output "... Validity in the text form" 'Validity: +[0-9-]{10} [0-9:]{8} UTC to' $MTLS inspect servers/web/web.crt
check "error object: code, message and the exit status" python3 -c '
import json
e = json.load(open("out/error_list.json"))["error"]
assert e["exit_status"] == 1 and e["code"] == "notfound" and "no CA" in e["message"], e
'
check "verify: the verdict says valid, revoked or superseded, with the certificate" python3 -c '
import json
ok = json.load(open("out/verify_ok.json"))
assert ok["valid"] is True and ok["purpose"] == "server" and ok["host"] == "localhost", ok
assert ok["certificate"]["sans"] == ["dns:localhost", "ip:127.0.0.1"], ok
rev = json.load(open("out/verify_revoked.json"))
assert rev["valid"] is False and rev["status"] == "revoked" and rev["fix"], rev
sup = json.load(open("out/verify_superseded.json"))
assert sup["valid"] is True and sup["status"] == "superseded" and sup["fix"], sup
'
check "issue --json: the files it wrote and the certificate in them" python3 -c '
import json, os, subprocess
d = json.load(open("out/issue.json"))
assert d["name"] == "jsonid" and d["profile"] == "node", d
assert d["files"] == ["ids/jsonid.key", "ids/jsonid.crt", "ids/jsonid.chain.pem", "ids/jsonid.p12"], d["files"]
assert all(os.path.exists(f) for f in d["files"])
ser = subprocess.run(["openssl", "x509", "-in", "ids/jsonid.crt", "-noout", "-serial"],
                     capture_output=True, text=True).stdout.strip().split("=")[1]
assert d["certificate"]["serial"] == ser and d["certificate"]["sans"] == ["dns:j.example"], d
'
check "issue --batch --json: each identity as issue prints it; a re-run lists them as skipped" python3 -c '
import json, subprocess
d = json.load(open("out/issue_batch.json"))
assert [i["name"] for i in d["issued"]] == ["b1", "b2"] and d["skipped"] == [], d
b2 = d["issued"][1]
assert b2["profile"] == "server" and b2["files"][1] == "batch/b2.crt", b2
ser = subprocess.run(["openssl", "x509", "-in", "batch/b2.crt", "-noout", "-serial"],
                     capture_output=True, text=True).stdout.strip().split("=")[1]
assert b2["certificate"]["serial"] == ser and b2["certificate"]["sans"] == ["dns:b2.example"], b2
again = json.load(open("out/issue_batch_again.json"))
assert again["issued"] == [] and [x["name"] for x in again["skipped"]] == ["b1", "b2"], again
'
check "sign --json: the certificate written, the CSR to compare with the partner" python3 -c '
import json, subprocess
d = json.load(open("out/sign.json"))
assert d["name"] == "partjson" and d["origin"] == "partner" and d["files"] == ["part.crt", "part.chain.pem"], d
ser = subprocess.run(["openssl", "x509", "-in", "part.crt", "-noout", "-serial"],
                     capture_output=True, text=True).stdout.strip().split("=")[1]
assert d["certificate"]["serial"] == ser and d["supersedes"] is None, d
dgst = subprocess.run("openssl req -in csr/part.csr -outform DER | openssl dgst -sha256 -r",
                      shell=True, capture_output=True, text=True).stdout.split()[0]
assert d["csr"]["sha256"] == dgst, (d["csr"], dgst)
r = json.load(open("out/sign_renew.json"))
assert r["supersedes"] == d["certificate"]["serial"] != r["certificate"]["serial"], r
'
check "test --json: the steps with their times, and the error object when it failed" python3 -c '
import json
ok = json.load(open("out/test_ok.json"))
assert ok["succeeded"] is True and "error" not in ok, ok
assert any("TLS handshake done" in s["message"] for s in ok["steps"]), ok["steps"]
bad = json.load(open("out/test_closed.json"))
assert bad["succeeded"] is False and bad["error"]["exit_status"] == 1 and bad["error"]["code"], bad
'
check "rotate --dry-run --json: the names due, nothing renewed, the partner skipped" python3 -c '
import json
d = json.load(open("out/rotate_dry.json"))
assert d["dry_run"] is True and d["renewed"] == [] and "web" in d["due"], d
assert {"name": "partjson", "reason": "signed from a partner\x27s CSR"} in d["skipped"], d["skipped"]
'
check "ca show: the CA certificate as every other certificate object" python3 -c '
import json
c = json.load(open("out/ca_show.json"))["certificate"]
assert c["ca"] is True and c["self_signed"] is True and len(c["sha256"]) == 64, c
'
check "probe findings: check and about" python3 -c '
import json
f = json.load(open("out/probe.json"))["findings"]
assert f and all("check" in x and "about" in x for x in f), f
'

# renew and rotate last: they replace the files the checks above read.
# jsonid's PKCS#12 was made with a pass: password, which is never recorded:
# without --store-pass that copy keeps the old certificate.
json renew_stale cmd_renew.c 1 $MTLS renew jsonid --json
json renew cmd_renew.c 0 $MTLS renew jsonid --store-pass pass:pw-123456 --json
check "renew --json: the new identity; the error object when a copy kept the old one" python3 -c '
import json, subprocess
st = json.load(open("out/renew_stale.json"))
assert st["name"] == "jsonid" and st["error"]["exit_status"] == 1 and "ids/jsonid.p12" not in st["files"], st
d = json.load(open("out/renew.json"))
assert "error" not in d and d["files"][1].endswith("ids/jsonid.crt"), d
ser = subprocess.run(["openssl", "x509", "-in", "ids/jsonid.crt", "-noout", "-serial"],
                     capture_output=True, text=True).stdout.strip().split("=")[1]
assert d["certificate"]["serial"] == ser != st["certificate"]["serial"], (d, st)
'
json rotate cmd_renew.c 0 $MTLS rotate --expiring 36500d --store-pass pass:pw-123456 --json
check "rotate --json: every due name renewed, each as renew prints it" python3 -c '
import json, subprocess
d = json.load(open("out/rotate.json"))
assert d["dry_run"] is False and "error" not in d, d
assert sorted(r["name"] for r in d["renewed"]) == sorted(d["due"]) and "web" in d["due"], d
web = [r for r in d["renewed"] if r["name"] == "web"][0]
ser = subprocess.run(["openssl", "x509", "-in", "servers/web/web.crt", "-noout", "-serial"],
                     capture_output=True, text=True).stdout.strip().split("=")[1]
assert web["certificate"]["serial"] == ser, web
'

# Every file of src/ that offers --json is covered above.
for f in $(grep -l '{"json", no_argument' "$SRC"/src/*.c); do
	b=$(basename "$f")
	case "$COVERED" in
	*" $b "*) pass "--json of $b is checked" ;;
	*) fail "--json of $b is not run by this test" ;;
	esac
done

# The checker fails on planted violations.
plant() {
	python3 -c "
import json, sys
rows = json.load(open('out/list.json'))
$2
json.dump(rows, open('out/planted.json', 'w'))
"
	check_output "the checker refuses $1" "$3" sh -c \
		"! ${CHECK[*]} out/planted.json"
}
plant "an epoch date" 'rows[0]["not_after"] = 1830528287' 'not_after must be time'
plant "a human date in a time field" 'rows[0]["not_before"] = "2026-12-02 16:04:47 UTC"' 'not_before must be time'
plant "a list as a string" 'rows[0]["sans"] = "dns:a,dns:b"' 'sans must be strings'
plant "an upper-case colon fingerprint" 'rows[0]["sha256"] = "AB:" * 31 + "AB"' 'sha256 must be sha256'
plant "a camelCase field" 'rows[0]["notAfter"] = rows[0]["not_after"]' 'not snake_case'
plant "a field not in the vocabulary" 'rows[0]["expiry"] = rows[0]["not_after"]' 'not in the vocabulary'
plant "a date that is not RFC 3339 in a string field" 'rows[0]["name"] = "2026-12-02 16:04"' 'not RFC 3339'
plant "null where a field is never null" 'rows[0]["profile"] = None' 'profile is never null'
finish
