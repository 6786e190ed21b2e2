#!/bin/bash
# Keystore benchmark: mtls vs keytool in the same run.
#   bench/stores.sh [MTLS_BINARY]
# BENCH_N      certificates in the bulk truststore (default 1000)
# BENCH_LOOP   certificates added one command at a time (default 100)
# Prints each time and the keytool/mtls ratio. Not a test: numbers vary
# with the machine; docs/performance.md records one run.
set -eu
MTLS=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/src/mtls}
N=${BENCH_N:-1000}
LOOP=${BENCH_LOOP:-100}
PW=changeit
W=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

now() { date +%s.%N; }
# timeit VAR CMD...: runs CMD, stores seconds in VAR
timeit() {
	local var=$1 t0 t1; shift
	t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
	printf -v "$var" '%.3f' "$(echo "$t1 - $t0" | bc -l)"
}
row() { # label mtls keytool
	printf '%-46s %9.3fs %9.3fs %8.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"
}

echo "preparing $N certificates (not timed)..." >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -subj "/CN=Bench CA" -days 30 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out leaf.key 2>/dev/null
# One CSR signed N times with distinct subjects is the cheapest way to get
# N distinct certificates from the CLI.
for i in $(seq 1 "$N"); do
	openssl req -new -key leaf.key -subj "/CN=bench-$i" 2>/dev/null |
		openssl x509 -req -CA ca.pem -CAkey ca.key -set_serial "$i" \
			-days 30 2>/dev/null >"c$i.pem"
done
cat c[0-9]*.pem >bundle.pem   # not ca.pem
openssl req -newkey rsa:2048 -nodes -keyout srv.key -subj "/CN=server" \
	-out srv.csr 2>/dev/null
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 1 \
	-days 30 -out srv.pem 2>/dev/null
cat srv.pem ca.pem >chain.pem
openssl pkcs12 -export -inkey srv.key -in srv.pem -certfile ca.pem \
	-name server -out srv-openssl.p12 -passout pass:$PW

printf '%-46s %10s %10s %9s\n' "task" "mtls" "keytool" "ratio"
for t in jks p12; do
	kt_type=$([ $t = jks ] && echo JKS || echo PKCS12)
	# Bulk: N certificates into a truststore, one process each tool.
	# keytool imports one trusted certificate per call, so its one-process
	# way is -importkeystore from a PKCS#12 truststore holding them all.
	"$MTLS" convert bundle.pem src-$N.p12 --out-pass pass:$PW --force >/dev/null 2>&1
	timeit m "$MTLS" convert bundle.pem ts-m.$t --to $t --out-pass pass:$PW
	timeit k keytool -importkeystore -noprompt -srckeystore src-$N.p12 \
		-srcstoretype PKCS12 -srcstorepass $PW -destkeystore ts-k.$t \
		-deststoretype $kt_type -deststorepass $PW
	row "truststore, $N certs, one command ($t)" "$m" "$k"
	# One certificate per command, the way the manuals do it.
	timeit m bash -c "for i in \$(seq 1 $LOOP); do '$MTLS' keystore trust loop-m.$t --alias c\$i --cert c\$i.pem --pass pass:$PW || exit 1; done"
	timeit k bash -c "for i in \$(seq 1 $LOOP); do keytool -importcert -noprompt -alias c\$i -file c\$i.pem -keystore loop-k.$t -storetype $kt_type -storepass $PW || exit 1; done"
	row "truststore, $LOOP certs, one command each ($t)" "$m" "$k"
	# Listing the big truststore.
	timeit m "$MTLS" keystore list ts-m.$t --pass pass:$PW
	timeit k keytool -list -keystore ts-k.$t -storepass $PW
	row "list the $N-cert truststore ($t)" "$m" "$k"
	# A keystore with one key + chain from PEM (keytool needs a PKCS#12
	# made by openssl first; that step is not counted).
	timeit m "$MTLS" keystore add ks-m.$t --alias server --key srv.key \
		--cert chain.pem --pass pass:$PW
	timeit k keytool -importkeystore -noprompt -srckeystore srv-openssl.p12 \
		-srcstoretype PKCS12 -srcstorepass $PW -destkeystore ks-k.$t \
		-deststoretype $kt_type -deststorepass $PW
	row "keystore with one key + chain ($t)" "$m" "$k"
	for f in ts-m.$t ks-m.$t loop-m.$t; do
		keytool -list -keystore $f -storepass $PW >/dev/null 2>&1 ||
			{ echo "keytool cannot read $f" >&2; exit 1; }
	done
done
echo "entries: $(keytool -list -keystore ts-m.jks -storepass $PW 2>/dev/null | grep -c trustedCertEntry) in ts-m.jks (keytool count)"
