# Test PKI made with the openssl CLI (sourced by interop scripts).
# pki_ca DIR NAME                      -> DIR/NAME.crt, DIR/NAME.key (P-256 root)
# pki_issue DIR CA NAME PROFILE [..]   -> DIR/NAME.crt/.key signed by DIR/CA;
#     PROFILE client|server|node; extra args go to `openssl x509 -req`
#     (e.g. -days 1). PKI_FAKETIME="2020-01-01" back-dates the issuance.

pki_ca() {
	local d=$1 n=$2
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$d/$n.key" -out "$d/$n.crt" -days 30 \
		-subj "/CN=$n/O=mtls test" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

pki_issue() {
	local d=$1 ca=$2 n=$3 profile=$4 eku ext
	shift 4
	case $profile in
	client) eku=clientAuth ;;
	server) eku=serverAuth ;;
	node) eku=serverAuth,clientAuth ;;
	*) echo "pki_issue: unknown profile $profile" >&2; return 1 ;;
	esac
	ext=$d/$n.ext
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$eku"
		echo "subjectAltName=DNS:$n,DNS:localhost,IP:127.0.0.1${PKI_SAN:+,$PKI_SAN}"
	} >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/$n.key" -out "$d/$n.csr" -subj "/CN=$n/O=mtls test" 2>/dev/null || return 1
	${PKI_FAKETIME:+faketime "$PKI_FAKETIME"} openssl x509 -req -in "$d/$n.csr" \
		-CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
		-out "$d/$n.crt" -days 30 -extfile "$ext" "$@" 2>/dev/null
}
