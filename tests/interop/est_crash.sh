#!/usr/bin/env bash
# Crash safety of `mtls ca serve`: SIGKILL at random moments during an
# enrollment storm. Afterwards no token is consumed without its
# certificate (or the reverse), no name got two certificates, no serial
# was used twice, and every client's retries succeeded (a retry with the
# same key gets the certificate its token already paid for).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
N=${EST_CRASH_NODES:-40}
KILLS=${EST_CRASH_KILLS:-4}

$MTLS ca init --dir ca >/dev/null || exit 1
PORT=$(free_port)
EST=https://127.0.0.1:$PORT/.well-known/est
start() {
	$MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --quiet --fail-limit 1000 2>>serve.log &
	SRV=$!
	wait_port "$PORT" 20 || { cat serve.log; exit 1; }
}
mkdir -p nodes
for ((i = 0; i < N; i++)); do
	$MTLS token create "n$i" --ca-dir ca --ttl 10m 2>/dev/null > "nodes/n$i.tok" || exit 1
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "nodes/n$i.key" 2>/dev/null
	openssl req -new -key "nodes/n$i.key" -subj "/CN=n$i" -outform DER 2>/dev/null | base64 > "nodes/n$i.b64"
done
start
# One client per node: retry until the CA answers 200 (bounded).
client() {
	local i=$1 tries s rc
	for ((tries = 0; tries < 200; tries++)); do
		rm -f "nodes/n$i.p7"
		s=$(curl -s --max-time 5 --cacert ca/ca.crt -o "nodes/n$i.p7" -u "n$i:$(cat "nodes/n$i.tok")" \
			-H 'Content-Type: application/pkcs10' --data-binary "@nodes/n$i.b64" "$EST/simpleenroll" -w '%{http_code}')
		rc=$?
		# A kill between the status line and the body leaves curl with
		# "200" and a cut or missing answer (exit 18, 52 or 56): not an
		# answer; send it again. Only a whole answer (exit 0) counts.
		if [ "$s" = 200 ] && [ -s "nodes/n$i.p7" ] &&
			base64 -d "nodes/n$i.p7" 2>/dev/null | openssl pkcs7 -inform DER -noout 2>/dev/null; then
			echo "$tries" > "nodes/n$i.done"; return 0
		fi
		if [ "$rc" = 0 ] && [ "$s" != 503 ] && [ "$s" != 202 ]; then echo "n$i: HTTP $s: $(cat "nodes/n$i.p7")" >> refused.log; fi
		sleep 0.1
	done
	return 1
}
# The first kill waits until the storm is under way (a first client is
# served) instead of a fixed time: a fast CA serves all the nodes within
# the fraction of a second a fixed sleep would wait, and the kills would
# then hit an idle server. The later ones come at random moments.
first_served() { local i; for ((i = 0; i < 2000; i++)); do ls nodes/*.done >/dev/null 2>&1 && return 0; sleep 0.01; done; return 1; }
for ((i = 0; i < N; i++)); do client "$i" & done
for ((k = 0; k < KILLS; k++)); do
	if [ "$k" = 0 ]; then first_served; else sleep "0.$((RANDOM % 3))$((RANDOM % 10))"; fi
	kill -9 "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null
	start
done
wait_clients() { local i; for ((i = 0; i < 300; i++)); do [ "$(ls nodes/*.done 2>/dev/null | wc -l)" -ge "$N" ] && return 0; sleep 0.1; done; return 1; }
check "every client's retries succeeded ($N nodes, $KILLS SIGKILLs)" wait_clients
kill "$SRV"; wait "$SRV" 2>/dev/null
RETRIED=$(cat nodes/*.done | awk '$1 > 0' | wc -l)
echo "# $RETRIED of $N clients had to retry"
check "the kills hit the storm (some clients had to retry)" test "$RETRIED" -gt 0
check_fails "no client was refused on the way" test -s refused.log
[ -s refused.log ] && head -5 refused.log
q() { sqlite3 ca/inventory.db "$1"; }
check "the inventory is intact (integrity_check)" test "$(q 'PRAGMA integrity_check')" = ok
check "no token consumed without its certificate" test "$(q "SELECT count(*) FROM tokens t WHERE used_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM certs c WHERE c.serial = t.used_serial)")" = 0
check "no enrolled certificate without its token" test "$(q "SELECT count(*) FROM certs c WHERE name LIKE 'n%' AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.used_serial = c.serial)")" = 0
check "one certificate per name" test "$(q "SELECT count(*) FROM (SELECT name FROM certs WHERE name LIKE 'n%' GROUP BY name HAVING count(*) > 1)")" = 0
check "every token was used exactly once" test "$(q "SELECT count(*) FROM tokens WHERE used_at IS NOT NULL")" = "$N"
for ((i = 0; i < N; i++)); do
	base64 -d "nodes/n$i.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
done | sort > got.txt
check "no serial was handed out twice" test "$(sort -u got.txt | wc -l)" = "$N"
check "each client holds the certificate its token paid for" \
	diff got.txt <(q "SELECT used_serial FROM tokens ORDER BY used_serial" | sort)
finish
