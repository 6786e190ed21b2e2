#!/usr/bin/env bash
# One chain profile for verify and serve: a table of named client
# certificates made by openssl at test time (BearSSL's way). Each row says
# whether the certificate is a good client; `mtls verify --purpose client`
# and a real handshake (curl) against `mtls serve` must both give that
# verdict, so the two commands cannot drift apart. `openssl verify
# -x509_strict -purpose sslclient` gives its opinion as a third voice,
# reported where it differs (it reads no EKU as "any purpose").
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

cat >ext.cnf <<'CNF'
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[good]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[serveronly]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[caleaf]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[certsign]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[nameconstr]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
nameConstraints = critical,permitted;DNS:example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[noaki]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = none
authorityKeyIdentifier = none
CNF

# key NAME SPEC: SPEC is "ec:CURVE" or "rsa:BITS"
key() {
	case $2 in
	ec:*) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${2#ec:}" -out "$1.key" 2>/dev/null ;;
	rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2#rsa:}" -out "$1.key" 2>/dev/null ;;
	esac
}
# cert NAME SECTION KEYSPEC [DIGEST] [ISSUER]: NAME.crt signed by ISSUER (ca)
cert() {
	local name=$1 sect=$2 spec=$3 md=${4:-sha256} iss=${5:-ca}
	key "$name" "$spec"
	openssl req -new -key "$name.key" -subj "/CN=$name/O=chain test" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA "$iss.crt" -CAkey "$iss.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 30 "-$md" -extfile ext.cnf -extensions "$sect" -out "$name.crt" 2>/dev/null
}

key ca ec:P-256
openssl req -new -x509 -key ca.key -subj "/CN=Chain Test CA" -days 60 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" -out ca.crt 2>/dev/null
cert server server ec:P-256

# name section keyspec digest verdict(ok|refused) words-in-the-refusal
rows=(
	"good good ec:P-256 sha256 ok -"
	"rsa2048 good rsa:2048 sha256 ok -"
	"noeku noeku ec:P-256 sha256 refused no.extended.key.usage"
	"serveronly serveronly ec:P-256 sha256 refused clientAuth|not.a.client|wrong.purpose"
	"caleaf caleaf ec:P-256 sha256 refused CA.certificate|not.a.client|purpose"
	"certsign certsign ec:P-256 sha256 refused keyCertSign|not.a.client|purpose"
	"nameconstr nameconstr ec:P-256 sha256 refused name.constraints|not.a.client|purpose"
	"noaki noaki ec:P-256 sha256 refused Authority.Key.Identifier"
	"rsa1024 good rsa:1024 sha256 refused too.small|too.weak|key"
	"p192 good ec:prime192v1 sha256 refused too.small|too.weak|key|curve"
	"sha1sig good ec:P-256 sha1 refused too.weak|digest|SHA"
)

port=$(free_port)
echo "principal any cn=* allow=*:/" >map.txt
bg "$MTLS" serve --listen "127.0.0.1:$port" --cert server.crt --key server.key --ca ca.crt \
	--root root --state-dir state --map map.txt --watch-interval 0 2>serve.log
wait_port "$port" 15 || { cat serve.log; fail "serve did not start"; finish; }

for r in "${rows[@]}"; do
	read -r name sect spec md verdict words <<<"$r"
	cert "$name" "$sect" "$spec" "$md"
	if [ ! -s "$name.crt" ]; then
		skip "$name: this openssl cannot make it"
		continue
	fi
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.crt \
		--cert "$name.crt" --key "$name.key" -X POST -H 'Action: Test' -H 'Path: /' \
		"https://127.0.0.1:$port/bin/receive" 2>/dev/null)
	if openssl verify -x509_strict -purpose sslclient -CAfile ca.crt "$name.crt" >/dev/null 2>&1; then
		ossl=ok
	else
		ossl=refused
	fi
	if [ "$verdict" = ok ]; then
		check "$name: mtls verify --purpose client accepts it" "$MTLS" verify "$name.crt" --ca ca.crt --purpose client
		check "$name: mtls serve accepts it (HTTP $code)" test "$code" = 200
	else
		check_output "$name: mtls verify --purpose client refuses it, naming the rule" "$words" \
			"$MTLS" verify "$name.crt" --ca ca.crt --purpose client
		check "$name: mtls serve refuses the handshake (HTTP $code)" test "$code" != 200
	fi
	[ "$ossl" = "$verdict" ] || echo "note - $name: openssl verify -x509_strict says $ossl, the table says $verdict"
done
check_output "serve's log names the rule for a client without EKU" \
	"CN=noeku, O=chain test .*no extended key usage" cat serve.log
finish
