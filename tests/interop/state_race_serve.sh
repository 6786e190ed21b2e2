#!/usr/bin/env bash
# The CA lock beside a running `mtls ca serve` and `ca sign-intermediate`.
# The server keeps the lock across a burst of writes only: it gives it up
# when idle (commands beside it never wait for the server's life) and
# steps aside for a command that waits (DIR/lock.want), and a write of the
# server never lands while a command holds the lock (it answers "retry
# later" instead). Then an
# enrollment storm runs beside issue, revoke, crl and sign-intermediate:
# every one succeeds, serials are unique, one current certificate per name.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca MTLS_LOCK_WAIT=30
N=${STATE_RACE_N:-8}
$MTLS ca init >/dev/null || exit 1
$MTLS ca init --intermediate --dir sub --name "CN=Sub" >/dev/null || exit 1

# A command holding the lock: sign-intermediate waits, then names it.
hold() { # hold SECONDS: a fake holder with a recognisable line
	printf 'pid 4242 (mtls test-holder) since 0\n' >ca/lock
	flock ca/lock sleep "$1" &
	HOLD=$!
	sleep 0.3
}
hold 3
MTLS_LOCK_WAIT=1 $MTLS ca sign-intermediate sub/ca.csr --name sub1 --out sub1.pem >si.out 2>&1
rc=$?
[ $rc = 1 ] && grep -q "pid 4242 (mtls test-holder)" si.out && [ ! -e sub1.pem ] &&
	pass "sign-intermediate waits for the CA lock and names its holder" ||
	fail "sign-intermediate beside a held lock: rc $rc: $(cat si.out)"
wait $HOLD
check "sign-intermediate once the lock is free" $MTLS ca sign-intermediate sub/ca.csr --name sub1 --out sub1.pem

PORT=$(free_port)
EST=https://127.0.0.1:$PORT/.well-known/est
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$PORT --quiet --fail-limit 1000 2>serve.log
SRV=$LAST_PID
wait_port "$PORT" 20 || { cat serve.log; exit 1; }
mkdir -p nodes
node() { # node NAME: a token, a key and a CSR
	$MTLS token create "$1" --ttl 10m 2>/dev/null >"nodes/$1.tok" &&
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "nodes/$1.key" 2>/dev/null &&
		openssl req -new -key "nodes/$1.key" -subj "/CN=$1" -outform DER 2>/dev/null | base64 >"nodes/$1.b64"
}
enroll() { # enroll NAME: prints the HTTP status
	curl -s --max-time 5 --cacert ca/ca.crt -o "nodes/$1.p7" -u "$1:$(cat "nodes/$1.tok")" \
		-H 'Content-Type: application/pkcs10' --data-binary "@nodes/$1.b64" "$EST/simpleenroll" -w '%{http_code}'
}

# The server does not hold the lock between writes.
node e0 || exit 1
[ "$(enroll e0)" = 200 ] || fail "a first enrollment"
t0=$(date +%s%N)
MTLS_LOCK_WAIT=5 $MTLS issue beside --profile client --out out >b.out 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 0 ] && pass "issue beside a running server after it wrote: $ms ms" || fail "issue beside serve: $(cat b.out)"

# A command waiting for the lock (a fresh ca/lock.want): the server does
# not take the lock before it, and answers "retry later".
node w1 || exit 1
touch ca/lock.want
s=$(enroll w1)
rm -f ca/lock.want
n=$(sqlite3 ca/inventory.db "select count(*) from certs where name='w1'")
[ "$s" = 202 ] && [ "$n" = 0 ] && pass "an enrollment while a command waits for the CA lock: 202, nothing signed" ||
	fail "enrollment beside a waiting command: HTTP $s, $n rows for w1"
[ "$(enroll w1)" = 200 ] && pass "the same enrollment once no command waits: 200" || fail "retry after the waiter"

# While a command holds the lock, the server signs nothing: it answers
# 202 (retry later) and signs once the lock is free.
node e1 || exit 1
hold 3
s=$(enroll e1)
n=$(sqlite3 ca/inventory.db "select count(*) from certs where name='e1'")
[ "$s" = 202 ] && [ "$n" = 0 ] && pass "an enrollment while a command holds the CA lock: 202, nothing signed" ||
	fail "enrollment under a held lock: HTTP $s, $n rows for e1"
wait $HOLD
[ "$(enroll e1)" = 200 ] && pass "the same enrollment once the lock is free: 200" || fail "retry after the lock"

# The CRL takes the next CRL number: the server builds it under the CA
# lock too. While a command holds the lock (here: the holder has revoked
# e1 and not let go), the server keeps serving its still-valid CRL and
# takes no number; a server with no CRL yet answers 503 with Retry-After.
# Once the lock is free both build, and every number only increases.
crl_get() { # crl_get PORT: prints "STATUS NUMBER" (NUMBER in decimal, 0: none)
	local s n
	rm -f crl.der crl.hdr
	s=$(curl -s --max-time 5 --cacert ca/ca.crt -D crl.hdr -o crl.der -w '%{http_code}' \
		"https://127.0.0.1:$1/crl.der")
	n=$(openssl crl -inform DER -in crl.der -noout -crlnumber 2>/dev/null | sed 's/.*=0x//')
	echo "$s $((16#${n:-0}))"
}
crl_meta() { sqlite3 ca/inventory.db "select value from meta where key='crl_number'"; }
read -r s0 n0 < <(crl_get "$PORT")
[ "$s0" = 200 ] && [ "$n0" -gt 0 ] && pass "ca serve answers its CRL (number $n0)" || fail "first CRL: HTTP $s0"
m0=$(crl_meta)
hold 8 # long enough for a second server to start under load
sqlite3 ca/inventory.db "update certs set status='revoked', revoked_at=strftime('%s','now'), reason='keyCompromise' where name='e1'"
e1=$(sqlite3 ca/inventory.db "select serial from certs where name='e1'")
P2=$(free_port)
bg $MTLS ca serve --ca-dir ca --listen 127.0.0.1:$P2 --quiet --fail-limit 1000 2>serve2.log
SRV2=$LAST_PID
sleep 1.5 # ticks of the first server want a new CRL now
read -r s1 n1 < <(crl_get "$PORT")
m1=$(crl_meta)
[ "$s1" = 200 ] && [ "$n1" = "$n0" ] && [ "$m1" = "$m0" ] &&
	pass "while a command holds the CA lock: the still-valid CRL (number $n1), no CRL number taken" ||
	fail "CRL under a held lock: HTTP $s1, number $n0 -> $n1, inventory's number $m0 -> $m1"
wait_port "$P2" 20 || cat serve2.log
read -r s2 n2 < <(crl_get "$P2")
[ "$s2" = 503 ] && grep -qi "^Retry-After: 1" crl.hdr &&
	pass "a server started while the lock is held: 503 with Retry-After until it can build" ||
	fail "CRL of a server with none under a held lock: HTTP $s2, number $n2: $(cat serve2.log)"
wait $HOLD
sleep 1.5
read -r s3 n3 < <(crl_get "$PORT")
openssl crl -inform DER -in crl.der -noout -text 2>/dev/null | tr -d ' ' | grep -qi "SerialNumber:$e1" &&
	has=1 || has=0
read -r s4 n4 < <(crl_get "$P2")
$MTLS crl >/dev/null 2>&1
n5=$((16#$(openssl crl -in ca/crl.pem -noout -crlnumber 2>/dev/null | sed 's/.*=0x//')))
[ "$s3" = 200 ] && [ "$has" = 1 ] && [ "$n3" -gt "$n1" ] && [ "$s4" = 200 ] && [ "$n4" -gt "$n0" ] &&
	[ "$n5" -gt "$n3" ] && [ "$n5" -gt "$n4" ] &&
	pass "once the lock is free: built with e1 revoked; numbers $n0 -> $n3 and $n4 -> crl command's $n5 only increase" ||
	fail "after the lock: HTTP $s3 (e1 listed: $has) number $n3, second server HTTP $s4 number $n4, crl command $n5"
! grep -qiE "cannot (refresh|build)|error" serve.log &&
	pass "... and the first server logged no error meanwhile" ||
	fail "serve.log: $(grep -iE "cannot|error" serve.log | head -3)"
kill "$SRV2" && wait "$SRV2" 2>/dev/null

# A storm of enrollments beside issue, revoke, crl and sign-intermediate.
for ((i = 0; i < N; i++)); do node "s$i" || exit 1; done
client() { # retries 202/503 for up to 20 s
	local tries s
	for ((tries = 0; tries < 200; tries++)); do
		s=$(enroll "$1")
		[ "$s" = 200 ] && return 0
		[ "$s" = 202 ] || [ "$s" = 503 ] || { echo "$1: HTTP $s" >>refused.log; return 1; }
		sleep 0.1
	done
	return 1
}
pids=()
for ((i = 0; i < N; i++)); do
	client "s$i" &
	pids+=($!)
	case $((i % 4)) in
	0) $MTLS issue "c$i" --profile client --out out >m.$i 2>&1 & ;;
	1) $MTLS revoke e0 >m.$i 2>&1 || grep -q "already revoked" m.$i & ;;
	2) $MTLS crl >m.$i 2>&1 & ;;
	3) $MTLS ca sign-intermediate sub/ca.csr --name "sub$i" --out "sub$i.pem" >m.$i 2>&1 & ;;
	esac
	pids+=($!)
done
FAILS=0
for p in "${pids[@]}"; do wait "$p" || FAILS=$((FAILS + 1)); done
[ "$FAILS" = 0 ] && ! grep -qs "locked" m.* serve.log &&
	pass "$N enrollments beside issue, revoke, crl and sign-intermediate: all succeed" ||
	fail "storm: $FAILS failed: $(cat refused.log 2>/dev/null; grep -h mtls: m.* | head -3)"
rows=$(sqlite3 ca/inventory.db "select count(*) = count(distinct serial) from certs")
dup=$(sqlite3 ca/inventory.db "select count(*) from (select name from certs where status='valid' and superseded_by is null group by name having count(*) > 1)")
[ "$rows" = 1 ] && [ "$dup" = 0 ] && pass "unique serials, one current certificate per name" ||
	fail "serials unique: $rows, names with two current certificates: $dup"
kill "$SRV" && wait "$SRV" 2>/dev/null
finish
