# Test PKI for the diagnostics interop tests (sourced after lib.sh).
# Everything is made with the openssl CLI at test time in $T/pki.

P=$T/pki
mkdir -p "$P"
cat >"$P/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[node]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, DNS:node1.example, IP:127.0.0.1
[wrongname]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
[serveronly]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
CNF

# mk_key NAME [ALGO-ARGS...]: NAME.key (default EC P-256).
mk_key() {
	local n=$1; shift
	if [ $# -eq 0 ]; then set -- -algorithm EC -pkeyopt ec_paramgen_curve:P-256; fi
	openssl genpkey "$@" -out "$P/$n.key" 2>/dev/null
	chmod 600 "$P/$n.key"
}

# mk_root NAME CN
mk_root() {
	mk_key "$1"
	openssl req -x509 -new -key "$P/$1.key" -subj "/CN=$2" -days 3650 \
		-config "$P/ext.cnf" -extensions ca -out "$P/$1.crt" 2>/dev/null
}

# mk_cert NAME CN ISSUER SECTION [DAYS] [extra x509 -req args...]
mk_cert() {
	local n=$1 cn=$2 iss=$3 sec=$4 days=${5:-365}
	shift 4; [ $# -gt 0 ] && shift
	[ -f "$P/$n.key" ] || mk_key "$n"
	openssl req -new -key "$P/$n.key" -subj "/CN=$cn" -out "$P/$n.csr" 2>/dev/null
	openssl x509 -req -in "$P/$n.csr" -CA "$P/$iss.crt" -CAkey "$P/$iss.key" \
		-CAcreateserial -days "$days" -extfile "$P/ext.cnf" -extensions "$sec" \
		"$@" -out "$P/$n.crt" 2>/dev/null
}

# mk_expired NAME CN ISSUER SECTION: valid for 30 days from 2020-01-01.
mk_expired() {
	[ -f "$P/$1.key" ] || mk_key "$1"
	openssl req -new -key "$P/$1.key" -subj "/CN=$2" -out "$P/$1.csr" 2>/dev/null
	faketime '2020-01-01 00:00:00' openssl x509 -req -in "$P/$1.csr" \
		-CA "$P/$3.crt" -CAkey "$P/$3.key" -CAcreateserial -days 30 \
		-extfile "$P/ext.cnf" -extensions "$4" -out "$P/$1.crt" 2>/dev/null
}

make_pki() {
	mk_root ca "Probe Root CA"
	mk_root other "Other Root CA"
	mk_key int
	openssl req -new -key "$P/int.key" -subj "/CN=Probe Intermediate CA" -out "$P/int.csr" 2>/dev/null
	openssl x509 -req -in "$P/int.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
		-days 3650 -extfile "$P/ext.cnf" -extensions ca -out "$P/int.crt" 2>/dev/null
	mk_cert server localhost int server
	cat "$P/server.crt" "$P/int.crt" >"$P/server-full.pem"
	mk_cert client client ca client
	mk_cert client-other "client of other CA" other client
	mk_cert client-noeku "server-only cert" ca serveronly
	mk_expired client-expired "expired client" ca client
	mk_cert client-int "client via intermediate" int client
	mk_expired server-expired localhost ca server
	mk_cert server-wrongname localhost ca wrongname
	mk_cert server-root localhost ca server
	cat "$P/ca.crt" "$P/int.crt" >"$P/ca-bundle.pem"
}
