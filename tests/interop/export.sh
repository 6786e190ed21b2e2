#!/usr/bin/env bash
# mtls export: an identity already issued, into PKCS#12 (modern, legacy),
# JKS, PEM and DER, read back by openssl and keytool; nothing is issued or
# revoked, nothing is overwritten without --force, dead certificates are
# refused.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export XP=export-pass-1

"$MTLS" ca init --name "CN=Export CA" >/dev/null
"$MTLS" issue web --profile server --san dns:web.example >/dev/null
serial=$(openssl x509 -in web.crt -noout -serial | cut -d= -f2)
before=$("$MTLS" list --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

check "export --to p12" "$MTLS" export web --to p12 --pass env:XP
check_output "... AES-256 and PBKDF2, SHA-256 MAC" "PBES2, PBKDF2, AES-256-CBC" \
	openssl pkcs12 -in web.p12 -info -noout -passin env:XP
check_output "... the same certificate (serial)" "serial=$serial" \
	sh -c "openssl pkcs12 -in web.p12 -nokeys -clcerts -passin env:XP | openssl x509 -noout -serial"
check_output "... with the chain" "CN ?= ?Export CA" \
	sh -c "openssl pkcs12 -in web.p12 -nokeys -cacerts -passin env:XP | openssl x509 -noout -subject"
check_output "... mode 0600" "^600$" stat -c %a web.p12
check_status "an existing file is kept without --force" 1 "$MTLS" export web --to p12 --pass env:XP
check "--legacy with --force" "$MTLS" export web --to p12 --legacy --pass env:XP --force
check_output "... SHA-1 MAC and 3DES (old Java)" "MAC: sha1" \
	openssl pkcs12 -in web.p12 -info -noout -legacy -passin env:XP
if command -v keytool >/dev/null; then
	check "export --to jks" "$MTLS" export web --to jks --pass env:XP --out web.ks
	check_output "keytool reads the key entry" "web, .*PrivateKeyEntry" \
		keytool -list -keystore web.ks -storepass "$XP"
else
	skip "keytool missing"
fi
check "export --to pem" "$MTLS" export web --to pem --out web-all.pem
check_output "... key and chain in one 0600 file" "^600 3$" sh -c "echo \$(stat -c %a web-all.pem) \$(grep -c BEGIN web-all.pem)"
check "export --to der" "$MTLS" export web --to der
check_output "... the certificate" "serial=$serial" openssl x509 -inform DER -in web.der -noout -serial
check "nothing was issued or revoked" test "$("$MTLS" list --all --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(x["status"]!="valid" for x in r))')" = "$before 0"

# Dead certificates are refused, with what to do.
mkdir old && cp web.crt web.key web.chain.pem old/
"$MTLS" renew web >/dev/null
check_status "a superseded identity is refused" 1 "$MTLS" export web --from old --to p12 --pass env:XP --out old.p12
check_output "... naming the current one" "superseded .*deploy web's current certificate" \
	"$MTLS" export web --from old --to p12 --pass env:XP --out old.p12
check "... and nothing written" test ! -e old.p12
check "the renewed one exports" "$MTLS" export web --to p12 --pass env:XP --out new.p12
check_status "--to is required" 2 "$MTLS" export web
check_status "--legacy only with p12" 2 "$MTLS" export web --to jks --legacy
finish
