#!/usr/bin/env bash
# One chain profile for verify and serve: a table of named client
# certificates made by openssl at test time (BearSSL's way). Each row says
# whether the certificate is a good client; `mtls verify --purpose client`
# and a real handshake (curl) against `mtls serve` must both give that
# verdict, so the two commands cannot drift apart. `openssl verify
# -x509_strict -purpose sslclient` gives its opinion as a third voice,
# reported where it differs (it reads no EKU as "any purpose"), and so is
# GnuTLS (certtool --verify with purpose clientAuth at profile medium):
# each row's three verdicts are printed side by side, and a row the two
# peers both accept but we refuse (or both refuse and we accept) is listed.
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
[kuonly]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ncok]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:a.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ncviol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:evil.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_pl0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_nc]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;DNS:example.org,excluded;DNS:bad.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_srv]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_nc3]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;IP:10.0.0.0/255.0.0.0,permitted;email:example.org,permitted;URI:.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ipok]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = IP:10.1.2.3
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ipviol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = IP:192.168.1.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[emailviol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:mallory@evil.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[uriviol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:https://evil.example.com/agent
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_pol]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
certificatePolicies = 1.3.6.1.4.1.99999.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_inh]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
certificatePolicies = 1.3.6.1.4.1.99999.1
inhibitAnyPolicy = critical,0
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[pol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = 1.3.6.1.4.1.99999.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[polother]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = 1.3.6.1.4.1.99999.2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[polany]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = 2.5.29.32.0
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[wildexcl]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:*.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[wildok]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:*.a.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[badsan]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DER:30:03:82:01
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[baddns]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:bad name.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_bcnc]
basicConstraints = CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_rep]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
certificatePolicies = 1.3.6.1.4.1.99999.1
policyConstraints = critical,requireExplicitPolicy:0
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ica_badpol]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
certificatePolicies = DER:30:03:06:01:2A
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[badpol]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = DER:30:03:06:01:2A
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
# cert NAME SECTION KEYSPEC [DIGEST] [ISSUER]: NAME.crt signed by ISSUER
# (ca); under an intermediate, NAME.crt is the chain (leaf, then ISSUER's
# NAME.crt), as a client sends it.
# A row's subject (default /CN=NAME/O=chain test) and signing time (a
# faketime offset, default now) come from subj_of and when_of.
declare -A subj_of when_of
cert() {
	local name=$1 sect=$2 spec=$3 md=${4:-sha256} iss=${5:-ca}
	local when=${when_of[$name]:-}
	key "$name" "$spec"
	openssl req -new -key "$name.key" -subj "${subj_of[$name]:-/CN=$name/O=chain test}" -out "$name.csr" 2>/dev/null
	${when:+faketime -f "$when"} openssl x509 -req -in "$name.csr" -CA "$iss.pem" -CAkey "$iss.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 30 "-$md" -extfile ext.cnf -extensions "$sect" -out "$name.pem" 2>/dev/null || return
	cat "$name.pem" >"$name.crt"
	[ "$iss" = ca ] || cat "$iss.crt" >>"$name.crt"
}

key ca ec:P-256
openssl req -new -x509 -key ca.key -subj "/CN=Chain Test CA" -days 60 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" -out ca.crt 2>/dev/null
cp ca.crt ca.pem
# A second trusted root whose basicConstraints is not critical (RFC 5280
# 4.2.1.9 wants it critical in every CA certificate, anchors included).
key cab ec:P-256
openssl req -new -x509 -key cab.key -subj "/CN=Chain Test CA with non-critical basicConstraints" -days 60 \
	-addext "basicConstraints=CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" -out cab.pem 2>/dev/null
cp cab.pem cab.crt
cat cab.pem >>ca.crt
cert server server ec:P-256
# Intermediates: pathLen 0 (and a CA below it, which breaks it), name
# constraints, and a CA whose own EKU leaves out clientAuth.
cert ica_pl0 ica_pl0 ec:P-256
cert sub ica ec:P-256 sha256 ica_pl0
cert ica_nc ica_nc ec:P-256
cert ica_srv ica_srv ec:P-256
cert ica_nc3 ica_nc3 ec:P-256
cert ica_pol ica_pol ec:P-256
cert ica_bcnc ica_bcnc ec:P-256
cert ica_inh ica_inh ec:P-256
cert ica_rep ica_rep ec:P-256
cert ica_badpol ica_badpol ec:P-256
when_of[expired]=-60d       # valid for 30 days from 60 days ago
when_of[notyet]=+10d
subj_of[ctlcn]="/CN=bad$(printf '\001')name/O=chain test"
subj_of[emptysubj]="/"

# name section keyspec digest issuer verdict(ok|refused) words-in-the-refusal
rows=(
	"good good ec:P-256 sha256 ca ok -"
	"rsa2048 good rsa:2048 sha256 ca ok -"
	"noeku noeku ec:P-256 sha256 ca refused no.extended.key.usage"
	"serveronly serveronly ec:P-256 sha256 ca refused not.a.client.certificate:.its.extended.key.usage"
	"caleaf caleaf ec:P-256 sha256 ca refused it.is.a.CA.certificate"
	"certsign certsign ec:P-256 sha256 ca refused keyCertSign"
	"kuonly kuonly ec:P-256 sha256 ca refused key.usage.lacks.digitalSignature"
	"nameconstr nameconstr ec:P-256 sha256 ca refused carries.name.constraints"
	"noaki noaki ec:P-256 sha256 ca refused Authority.Key.Identifier"
	"rsa1024 good rsa:1024 sha256 ca refused too.small|too.weak|key"
	"p192 good ec:prime192v1 sha256 ca refused too.small|too.weak|key|curve"
	"sha1sig good ec:P-256 sha1 ca refused too.weak|digest|SHA"
	"underpl0 good ec:P-256 sha256 ica_pl0 ok -"
	"pathlen good ec:P-256 sha256 sub refused path.length|pathlen"
	"ncok ncok ec:P-256 sha256 ica_nc ok -"
	"ncviol ncviol ec:P-256 sha256 ica_nc refused name.constraint|permitted|subtree"
	"undersrv good ec:P-256 sha256 ica_srv refused CA.certificate.s.extended.key.usage.leaves.out.clientAuth"
	"ipok ipok ec:P-256 sha256 ica_nc3 ok -"
	"ipviol ipviol ec:P-256 sha256 ica_nc3 refused name.constraint|permitted|subtree"
	"emailviol emailviol ec:P-256 sha256 ica_nc3 refused name.constraint|permitted|subtree"
	"uriviol uriviol ec:P-256 sha256 ica_nc3 refused name.constraint|permitted|subtree"
	"expired good ec:P-256 sha256 ca refused expired.on"
	"notyet good ec:P-256 sha256 ca refused not.valid.before"
	"ctlcn good ec:P-256 sha256 ca refused subject.CN.contains.a.control.character"
	"wildexcl wildexcl ec:P-256 sha256 ica_nc refused wildcard.that.covers.names.in.bad.example.org"
	"wildok wildok ec:P-256 sha256 ica_nc ok -"
	"badsan badsan ec:P-256 sha256 ca refused subjectAltName.extension.is.malformed"
	"badsan_nc badsan ec:P-256 sha256 ica_nc refused subjectAltName.extension.is.malformed"
	"baddns baddns ec:P-256 sha256 ca refused not.a.host.name.in.preferred.name.syntax"
	"underbcnc good ec:P-256 sha256 ica_bcnc refused basicConstraints.is.not.marked.critical"
	"undercab good ec:P-256 sha256 cab refused basicConstraints.is.not.marked.critical"
	"emptysubj good ec:P-256 sha256 ca refused [Ss]ubject.*empty|names.no.one"
	# Policy processing that needs no option (RFC 5280 6.1): a CA whose
	# policyConstraints say requireExplicitPolicy 0 makes every chain
	# through it need a policy it asserts; a certificatePolicies that does
	# not decode is refused in a leaf and in a CA.
	"rep_pol pol ec:P-256 sha256 ica_rep ok -"
	"rep_none good ec:P-256 sha256 ica_rep refused required.certificate.policy"
	"rep_other polother ec:P-256 sha256 ica_rep refused required.certificate.policy"
	"badpol badpol ec:P-256 sha256 ca refused certificatePolicies.*malformed"
	"under_badpol good ec:P-256 sha256 ica_badpol refused certificatePolicies.*malformed"
)

# Policy rows, for a receiver and a verify that require policy P (and,
# being required, explicit policy: RFC 5280 6.1.6): under a CA asserting P,
# a leaf asserting P or anyPolicy passes; none, another OID, or anyPolicy
# under a CA with inhibitAnyPolicy 0 does not; a chain with no policies
# anywhere (the plain good row) does not either.
P=1.3.6.1.4.1.99999.1
policy_rows=(
	"pol_ok pol ec:P-256 sha256 ica_pol ok -"
	"pol_any polany ec:P-256 sha256 ica_pol ok -"
	"pol_none good ec:P-256 sha256 ica_pol refused required.certificate.policy"
	"pol_other polother ec:P-256 sha256 ica_pol refused required.certificate.policy"
	"pol_inhibited polany ec:P-256 sha256 ica_inh refused required.certificate.policy"
	"pol_nochain good ec:P-256 sha256 ca refused required.certificate.policy"
)

echo "principal any cn=* allow=*:/" >map.txt
# serve_on PORT LOG [OPTION...]: a receiver trusting ca.crt
serve_on() {
	local p=$1 log=$2
	shift 2
	bg "$MTLS" serve --listen "127.0.0.1:$p" --cert server.crt --key server.key --ca ca.crt \
		--root root --state-dir "state-$p" --map map.txt --watch-interval 0 "$@" 2>"$log"
	wait_port "$p" 15 || { cat "$log"; fail "serve did not start"; finish; }
}
port=$(free_port)
serve_on "$port" serve.log
pport=$(free_port)
serve_on "$pport" serve-policy.log --require-policy "$P"

# hs_code NAME PORT: a Test request with NAME.crt (its chain) and NAME.key
# through openssl s_client at security level 0, so that the client sends
# whatever the row holds (weak keys, SHA-1, a malformed extension) and the
# verdict is the receiver's; prints the HTTP status, 000 when none.
hs_code() {
	local out code v=
	# TLS 1.3 ties ECDSA signatures to P-256/384/521: a P-192 client
	# could not sign and would send no certificate at all.
	[ "$1" = p192 ] && v=-tls1_2
	out=$(printf 'POST /bin/receive HTTP/1.0\r\nAction: Test\r\nPath: /\r\nContent-Length: 0\r\n\r\n' |
		timeout 10 openssl s_client $v -quiet -ign_eof -connect "127.0.0.1:$2" -CAfile ca.crt \
			-cipher 'DEFAULT:@SECLEVEL=0' -sigalgs "$SIGALGS" -cert "$1.crt" -cert_chain "$1.crt" -key "$1.key" 2>/dev/null)
	code=$(printf '%s\n' "$out" | sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\).*|\1|p' | head -1)
	echo "${code:-000}"
}
SIGALGS=ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA1:RSA-PSS+SHA256:RSA+SHA256:RSA+SHA1
# peer_verdict CMD...: "ok" when CMD exits 0, else "refused".
peer_verdict() { if "$@" >/dev/null 2>&1; then echo ok; else echo refused; fi; }
disagree=""
# run_row PORT ROW [VERIFY-OPTION...]: the row through mtls verify (with
# the options) and a handshake with the receiver on PORT; the openssl and
# GnuTLS verdicts beside them (given the same policy options).
run_row() {
	local p=$1 log=serve.log name sect spec md iss verdict words code ossl gtls
	read -r name sect spec md iss verdict words <<<"$2"
	shift 2
	[ "$p" = "$port" ] || log=serve-policy.log
	cert "$name" "$sect" "$spec" "$md" "$iss"
	if [ ! -s "$name.pem" ]; then
		skip "$name: this openssl cannot make it"
		return
	fi
	code=$(hs_code "$name" "$p")
	local opol=() gpol=()
	if [ $# -gt 0 ]; then
		opol=(-policy "$P" -explicit_policy)
		gpol=()
	fi
	ossl=$(peer_verdict openssl verify -x509_strict -purpose sslclient "${opol[@]}" -CAfile ca.crt \
		-untrusted "$name.crt" "$name.pem")
	gtls=$(peer_verdict certtool --verify --load-ca-certificate ca.crt --infile "$name.crt" \
		--verify-purpose 1.3.6.1.5.5.7.3.2 --verify-profile medium "${gpol[@]}")
	if [ "$verdict" = ok ]; then
		check "$name: mtls verify --purpose client $* accepts it" "$MTLS" verify "$name.crt" --ca ca.crt --purpose client "$@"
		check "$name: mtls serve accepts it (HTTP $code)" test "$code" = 200
	else
		check_output "$name: mtls verify --purpose client $* refuses it, naming the rule" "$words" \
			"$MTLS" verify "$name.crt" --ca ca.crt --purpose client "$@"
		# 000: no HTTP at all. A 403 from the map would hide a chain
		# profile that let the certificate through.
		check "$name: mtls serve refuses the handshake (HTTP $code)" test "$code" = 000
		# ... itself, having seen the certificate: a client library that
		# will not send it (curl and OpenSSL's own security level, GnuTLS
		# on a malformed extension) would make the row prove nothing.
		check_output "$name: ... the receiver's log names that certificate" \
			"handshake refused: .*fp=$(openssl x509 -in "$name.pem" -outform DER | sha256sum | cut -c1-64)" \
			cat "$log"
	fi
	echo "note - $name: table $verdict, openssl verify -x509_strict $ossl, certtool --verify $gtls"
	# certtool has no policy options: its voice counts on plain rows only.
	if [ $# -eq 0 ] && [ "$ossl" = "$gtls" ] && [ "$ossl" != "$verdict" ]; then
		disagree="$disagree $name($verdict/both-peers-$ossl)"
	fi
}
for r in "${rows[@]}"; do
	run_row "$port" "$r"
done
for r in "${policy_rows[@]}"; do
	run_row "$pport" "$r" --require-policy "$P"
done
# Without a required policy the policy rows are good clients.
for n in pol_ok pol_other pol_inhibited; do
	check "$n: accepted when no policy is required" "$MTLS" verify "$n.crt" --ca ca.crt --purpose client
done
check "--require-explicit-policy: a chain asserting one policy throughout passes" \
	"$MTLS" verify pol_ok.crt --ca ca.crt --purpose client --require-explicit-policy
check_output "--require-explicit-policy: CA and leaf asserting different policies are refused" \
	"required.certificate.policy" \
	"$MTLS" verify pol_other.crt --ca ca.crt --purpose client --require-explicit-policy
check_output "--require-explicit-policy: a chain without policies is refused" "required.certificate.policy" \
	"$MTLS" verify good.crt --ca ca.crt --purpose client --require-explicit-policy
check_output "verify refuses a --require-policy that is no OID (usage)" "not a certificate policy OID" \
	"$MTLS" verify good.crt --ca ca.crt --require-policy anyPolicy
check_output "serve's log names the wildcard under an excluded subtree" \
	"CN=wildexcl, O=chain test .*wildcard that covers names in bad.example.org" cat serve.log
check_output "serve's log names the malformed SAN extension" \
	"CN=badsan, O=chain test .*subjectAltName extension is malformed" cat serve.log
check_output "serve's log names the policy rule" "required certificate policy" cat serve-policy.log
echo "note - rows where openssl and GnuTLS agree with each other but not with us:${disagree:- none}"
# Where both real peers accept, we may be stricter (the profile is); where
# both refuse, accepting would be a hole: no such row may exist.
check "no row is accepted by us and refused by both openssl and GnuTLS" \
	sh -c "! echo '$disagree' | grep -q '(ok/both-peers-refused)'"
check_output "serve's log names the rule for a client without EKU" \
	"CN=noeku, O=chain test .*no extended key usage" cat serve.log
finish
