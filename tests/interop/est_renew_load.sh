#!/usr/bin/env bash
# Renewal under load: NODES nodes enrolled with `mtls enroll` (two-minute
# certificates) renew ROUNDS times each through `mtls renew-agent --once
# --force`, many agents at once, against one `mtls ca serve` that is
# serving new enrollments (`mtls enroll` with fresh tokens) at the same
# time. Afterwards: no renewal or enrollment lost, no serial issued twice,
# every node holds the current certificate of its name (the newest in
# the inventory, valid, verifying against the CA, its key matching), and
# every older one is recorded as superseded. Through it all a `mtls
# serve` receiver and a `mtls push` stream, both ends enrolled and renewed
# every round, deliver every item with no refused handshake.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODES=${NODES:-40} ROUNDS=${ROUNDS:-3} LATE=${LATE:-12} PAR=${PAR:-12}

$MTLS ca init --dir ca --name "CN=Renew Load CA" >/dev/null || exit 1
FP=$($MTLS ca show --ca-dir ca | awk '/SHA-256/{print $2}')
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --cert-lifetime 2m \
	--fail-limit 1000 --max-conns 256 --quiet 2>serve.log
wait_port "$PORT" 20 || { cat serve.log; exit 1; }

# Tokens for the first NODES and for the LATE nodes that join during the
# renewals.
for ((i = 0; i < NODES + LATE; i++)); do
	echo "n$i $($MTLS token create n$i --ca-dir ca --ttl 1h 2>/dev/null)"
done > tokens
check "every token was made" test "$(awk 'NF == 2' tokens | wc -l)" = $((NODES + LATE))

enroll_one() { # NAME TOKEN
	mkdir -p "$1" && $MTLS enroll "$URL" --token "$2" --ca-fingerprint "$FP" \
		--dir "$1" "$1" >"$1/enroll.out" 2>&1
}
export -f enroll_one
export MTLS URL FP
head -n "$NODES" tokens | xargs -P "$PAR" -L 1 bash -c 'enroll_one "$0" "$1"'
ok=0
for ((i = 0; i < NODES; i++)); do [ -s "n$i/n$i.crt" ] && ok=$((ok + 1)); done
check "all $NODES nodes enrolled (two-minute certificates)" test "$ok" = "$NODES"
check "an enrolled certificate lives two minutes" test "$(($(date -d "$(openssl x509 -noout -enddate \
	-in n0/n0.crt | cut -d= -f2)" +%s) - $(date +%s)))" -le 130

# A replication link through it all: a receiver (rx) and a pusher (tx),
# both enrolled here and renewed in every round with the others, while
# `mtls push` delivers one item after another; the receiver reloads its
# renewed files by itself.
for n in rx tx; do
	sec=$($MTLS token create $n --ca-dir ca --ttl 1h --san ip:127.0.0.1 2>/dev/null)
	enroll_one $n "$sec" || { cat $n/enroll.out; fail "$n enrolled"; }
done
RX=$(free_port)
printf 'principal tx cn=tx allow=*:/\n' > peers.map
bg $MTLS serve --listen 127.0.0.1:$RX --cert rx/rx.crt --key rx/rx.key --ca rx/ca.pem \
	--root data --state-dir rxstate --map peers.map --watch-interval 1 2>rx.log
wait_port "$RX" 20 || { cat rx.log; fail "the receiver started"; }
stream() {
	local i=0
	mkdir -p src
	while [ ! -e stop ]; do
		i=$((i + 1))
		echo "item $i" > "src/$i.txt"
		if $MTLS push "https://127.0.0.1:$RX/bin/receive" --cert tx/tx.crt --key tx/tx.key \
			--ca tx/ca.pem --state txstate --wait --deadline 20 "/s/$i.txt=src/$i.txt" >>push.log 2>&1; then
			echo "$i" >> stream.ok
		else
			echo "$i" >> stream.fail
		fi
		sleep 0.1
	done
}
stream &
STREAM=$!

# The load: ROUNDS forced renewals of every node, PAR agents at once,
# while the LATE nodes enroll beside them.
renew_one() { # DIR ROUND
	$MTLS renew-agent --once --force "$1" >>"$1/renew.log" 2>&1 ||
		echo "$1 round $2" >> failed-renewals
}
export -f renew_one
: > failed-renewals
t0=$(date +%s)
(tail -n "$LATE" tokens | while read -r n t; do enroll_one "$n" "$t"; sleep 0.2; done) &
LATE_PID=$!
for ((r = 1; r <= ROUNDS; r++)); do
	{ echo "rx $r"; echo "tx $r"; for ((i = 0; i < NODES; i++)); do echo "n$i $r"; done; } |
		xargs -P "$PAR" -L 1 bash -c 'renew_one "$0" "$1"'
done
wait "$LATE_PID"
sleep 2 # the receiver's watch picks up the last renewal
touch stop
wait "$STREAM"
echo "# $((NODES * ROUNDS)) renewals and $LATE enrollments in $(($(date +%s) - t0)) s"
check "no renewal failed" test ! -s failed-renewals
ok=0
for ((i = NODES; i < NODES + LATE; i++)); do [ -s "n$i/n$i.crt" ] && ok=$((ok + 1)); done
check "the $LATE nodes enrolling during the renewals all got certificates" test "$ok" = "$LATE"

# ---- what the CA recorded
$MTLS list --ca-dir ca --json --all > list.json 2>list.err || $MTLS list --ca-dir ca --json > list.json
check "the inventory has 1 + ROUNDS certificates for every first node and 1 for each late one" \
	python3 - "$NODES" "$ROUNDS" "$LATE" <<'PY'
import collections, json, sys
nodes, rounds, late = (int(a) for a in sys.argv[1:4])
certs = json.load(open("list.json"))
certs = certs.get("certificates", certs) if isinstance(certs, dict) else certs
by = collections.Counter(c["name"] for c in certs if c["name"].startswith("n"))
bad = {n: by.get(n, 0) for n in ["n%d" % i for i in range(nodes + late)]
       if by.get(n, 0) != (1 + rounds if int(n[1:]) < nodes else 1)}
assert not bad, "unexpected counts: %s" % dict(list(bad.items())[:10])
PY
check "no serial was issued twice" python3 - <<'PY'
import collections, json
certs = json.load(open("list.json"))
certs = certs.get("certificates", certs) if isinstance(certs, dict) else certs
dup = [s for s, k in collections.Counter(c["serial"].lower() for c in certs).items() if k > 1]
assert not dup, dup
PY
check "every node holds the newest certificate of its name, the only current one" \
	python3 - "$NODES" "$LATE" <<'PY'
import json, subprocess, sys
nodes, late = int(sys.argv[1]), int(sys.argv[2])
certs = json.load(open("list.json"))
certs = certs.get("certificates", certs) if isinstance(certs, dict) else certs
for i in range(nodes + late):
    n = "n%d" % i
    mine = [c for c in certs if c["name"] == n]
    cur = [c for c in mine if c["status"] == "valid" and not c.get("superseded_by")]
    held = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", "%s/%s.crt" % (n, n)],
                          capture_output=True, text=True, check=True).stdout.split("=")[1].strip()
    assert len(cur) == 1, (n, [(c["serial"], c["status"], c.get("superseded_by")) for c in mine])
    assert cur[0]["serial"].lower().lstrip("0") == held.lower().lstrip("0"), (n, cur[0]["serial"], held)
PY
bad=0
for ((i = 0; i < NODES + LATE; i++)); do
	n=n$i
	openssl verify -CAfile ca/ca.crt "$n/$n.crt" >/dev/null 2>&1 || bad=$((bad + 1))
	[ "$(openssl x509 -noout -pubkey -in "$n/$n.crt" | sha256sum)" = \
	  "$(openssl pkey -pubout -in "$n/$n.key" | sha256sum)" ] || bad=$((bad + 1))
done
check "every node's certificate verifies against the CA and matches its key" test "$bad" = 0
check "the link's two ends were renewed $ROUNDS times each, under the stream" test \
	"$(python3 -c 'import json,sys; c=json.load(open("list.json")); c=c.get("certificates",c) if isinstance(c,dict) else c; print(sum(x["name"] in ("rx","tx") for x in c))')" = $((2 * (1 + ROUNDS)))
ok=$(wc -l < stream.ok 2>/dev/null || echo 0)
check "the push stream delivered through the renewals ($ok items)" test "$ok" -ge 5
check "no push failed" test ! -s stream.fail
[ -s stream.fail ] && grep -v "^mtls: delivered\|^$" push.log | tail -5 | sed "s/^/#   /"
if grep -iE "handshake|refused|alert" rx.log | grep -viE "listening|reload|serving|\(a probe\)" > hs.txt; [ -s hs.txt ]; then
	fail "the receiver refused no handshake: $(head -3 hs.txt)"
else
	pass "the receiver refused no handshake"
fi
check "the receiver reloaded its renewed certificate by itself" grep -q "reloaded (certificate or key file changed)" rx.log
check_fails "... and never failed a reload" grep -q "reload failed" rx.log
check "every item arrived" test "$(ls data/s 2>/dev/null | wc -l)" = "$ok"
check "the server is still healthy" curl -sf --cacert ca/ca.crt "$URL/healthz"
finish
