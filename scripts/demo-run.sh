#!/usr/bin/env bash
# The mtls demo, on loopback only: a CA, an author (client) and a publish
# (server) identity, the publish server's mutual-TLS receiver, a
# step-by-step connection test, content pushed and arriving, and a client
# without a certificate being refused.
set -euo pipefail
MTLS=$(realpath "${1:-build/src/mtls}")
D=$(mktemp -d "${TMPDIR:-/tmp}/mtls-demo-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$D"' EXIT
cd "$D"
export MTLS_CA_DIR="$D/pki"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

step "1. A private CA with an inventory"
show "$MTLS" ca init --name "CN=Demo Replication CA,O=Example"

step "2. Identities: the author pushes (client), the publish server receives (server)"
show "$MTLS" issue author --profile client --out author
show "$MTLS" issue publish --profile server --san dns:localhost,ip:127.0.0.1 --out publish
show "$MTLS" list

step "3. What was made"
show "$MTLS" inspect publish/publish.crt
show "$MTLS" verify author/author.crt --purpose client

P=$(port)
if "$MTLS" --help | grep -q '^  serve '; then
	step "4. The publish server's receiver: mutual TLS required"
	mkdir content receiver-state
	echo 'principal author cn=author allow=*:/content' > map.txt
	show cat map.txt
	printf '$ %s\n' "mtls serve --listen 127.0.0.1:$P --cert publish/publish.crt --key publish/publish.key --ca pki/ca.crt --root content --state-dir receiver-state --map map.txt &"
	"$MTLS" serve --listen "127.0.0.1:$P" --cert publish/publish.crt --key publish/publish.key \
		--ca pki/ca.crt --root content --state-dir receiver-state --map map.txt >serve.log 2>&1 &
	PIDS+=($!)
	wait_port "$P"
	URL="https://localhost:$P/bin/receive"

	step "5. Test the connection, step by step"
	show "$MTLS" test "$URL" --cert author/author.crt --key author/author.key --ca pki/ca.crt

	step "6. Push content and see it arrive"
	mkdir site
	echo "<h1>Hello from the author</h1>" > site/index.html
	echo "body { color: navy }" > site/site.css
	show "$MTLS" push "$URL" --cert author/author.crt --key author/author.key --ca pki/ca.crt \
		--state state --dir site --prefix /content --wait
	show find content -type f
	show cat content/content/index.html

	step "7. A client without a certificate is refused"
	printf '$ %s\n' "curl --cacert pki/ca.crt $URL"
	if curl -sS --cacert pki/ca.crt -X POST -H 'Action: Test' -H 'Path: /content' "$URL"; then
		echo "UNEXPECTED: accepted without a certificate"; exit 1
	else
		echo "(refused, as it must be)"
	fi
	step "The receiver's log"
	cat serve.log
else
	step "4. A mutual-TLS handshake (openssl s_server requiring a client certificate)"
	openssl s_server -accept "127.0.0.1:$P" -cert publish/publish.crt -key publish/publish.key \
		-CAfile pki/ca.crt -Verify 1 -verify_return_error -www -quiet >/dev/null 2>&1 &
	PIDS+=($!)
	wait_port "$P"
	show curl -sS -o /dev/null -w 'HTTP %{http_code} with the author certificate\n' \
		--cacert pki/ca.crt --cert author/author.crt --key author/author.key "https://localhost:$P/"
	step "5. Without a client certificate the handshake is refused"
	if curl -sS -o /dev/null --cacert pki/ca.crt "https://localhost:$P/"; then
		echo "UNEXPECTED: accepted without a certificate"; exit 1
	else
		echo "(refused, as it must be)"
	fi
fi
step "Done: every file lived in $D and is removed now."
