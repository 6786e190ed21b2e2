#!/usr/bin/env bash
# Races on one CA: parallel issue, the same name issued at once (with and
# without --force), parallel crl, revoke/renew/issue/crl mixed, and a
# long batch beside single commands. The CA lock serialises them: unique
# serials, no lost rows, one current certificate per name matching its
# files, CRL numbers in crl.pem only increase, nobody waits long, and a
# held lock is reported with its holder within the bounded wait.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca MTLS_LOCK_WAIT=60
$MTLS ca init >/dev/null || exit 1
N=${STATE_RACE_N:-8}

par() { # par LOG CMD... : N copies of CMD (with @ replaced by the index)
	local log=$1 i pids=()
	shift
	for ((i = 0; i < N; i++)); do
		"${@//@/$i}" >"$log.$i" 2>&1 &
		pids+=($!)
	done
	FAILS=0
	for i in "${pids[@]}"; do wait "$i" || FAILS=$((FAILS + 1)); done
}
current() { sqlite3 ca/inventory.db "select count(*) from certs where name='$1' and status='valid' and superseded_by is null"; }
same_pem() { [ "$(sqlite3 ca/inventory.db "select pem from certs where name='$2' and status='valid' and superseded_by is null")" = "$(cat "$1/$2.crt")" ]; }
key_matches() { [ "$(openssl pkey -in "$1/$2.key" -pubout 2>/dev/null)" = "$(openssl x509 -in "$1/$2.crt" -noout -pubkey 2>/dev/null)" ]; }

par p $MTLS issue c@ --profile client --out out
[ "$FAILS" = 0 ] && pass "$N parallel issues of different names all succeed" || fail "$FAILS of $N parallel issues failed: $(cat p.* | grep mtls: | head -2)"
rows=$(sqlite3 ca/inventory.db "select count(*), count(distinct serial) from certs")
[ "$rows" = "$N|$N" ] && pass "$N rows, $N distinct serials" || fail "rows|serials = $rows"

par s $MTLS issue same --profile server --out out
won=$((N - FAILS))
[ "$won" = 1 ] && [ "$(current same)" = 1 ] && same_pem out same &&
	pass "same name at once: one issue wins, the rest are refused, one valid certificate, matching the file" ||
	fail "same name: $won succeeded, $(current same) valid in the inventory"
grep -h "mtls:" s.* | grep -qv "already exists" && fail "an unexpected refusal: $(grep -h mtls: s.* | grep -v 'already exists' | head -1)"

par f $MTLS issue same --profile server --out out --force
[ "$FAILS" = 0 ] && [ "$(current same)" = 1 ] && same_pem out same && key_matches out same &&
	pass "same name with --force at once: all serialised, one current certificate = the file, key matches" ||
	fail "same --force: $FAILS failed, $(current same) current"
rev=$(sqlite3 ca/inventory.db "select count(*) from certs where name='same' and status='revoked'")
[ "$rev" = "$N" ] && pass "each replaced certificate was revoked ($rev)" || fail "$rev of $N replaced certificates revoked"

par c $MTLS crl
num=$(openssl crl -in ca/crl.pem -noout -crlnumber 2>/dev/null | sed "s/.*=//; s/^0x//")
db=$(sqlite3 ca/inventory.db "select value from meta where key='crl_number'")
[ "$FAILS" = 0 ] && [ $((16#$num)) = "$db" ] && pass "$N parallel crl: crl.pem holds the last number ($db)" ||
	fail "parallel crl: $FAILS failed, crl.pem has $num, the inventory $db"

# Mixed: revoke, renew, issue and crl at once.
pids=()
for ((i = 0; i < N; i++)); do
	case $((i % 4)) in
	0) $MTLS revoke "c$i" >m.$i 2>&1 & ;;
	1) $MTLS renew "c$i" --out out >m.$i 2>&1 & ;;
	2) $MTLS issue "n$i" --profile node --out out >m.$i 2>&1 & ;;
	3) $MTLS crl >m.$i 2>&1 & ;;
	esac
	pids+=($!)
done
FAILS=0
for p in "${pids[@]}"; do wait "$p" || FAILS=$((FAILS + 1)); done
[ "$FAILS" = 0 ] && ! grep -q "locked" m.* && pass "revoke, renew, issue and crl at once: all succeed, no 'database is locked'" ||
	fail "mixed: $FAILS failed: $(grep -h mtls: m.* | head -2)"
for ((i = 1; i < N; i += 4)); do
	same_pem out "c$i" && key_matches out "c$i" || fail "renewed c$i: files and inventory disagree"
done

# A long batch does not hold the CA for long: a revoke beside it waits
# about one chunk, not the whole batch.
for ((i = 0; i < 16; i++)); do echo "r$i server"; done >batch.txt
$MTLS issue --batch batch.txt --out out --key-type rsa-2048 >batch.out 2>&1 &
B=$!
sleep 1
t0=$(date +%s%N)
MTLS_LOCK_WAIT=15 $MTLS revoke c2 >rv.out 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if kill -0 $B 2>/dev/null; then
	[ $rc = 0 ] && pass "revoke beside a running RSA batch took $ms ms" || fail "revoke beside a batch: $(cat rv.out)"
else
	skip "the batch ended before the revoke could race it"
fi
wait $B && pass "the batch completes" || fail "batch: $(tail -2 batch.out)"

# Keystore writers on one store take turns: no entry is lost.
for ((i = 0; i < N; i++)); do $MTLS issue "k$i" --profile client --out ks >/dev/null 2>&1; done
par t $MTLS keystore trust ks/trust.p12 --alias t@ --cert ks/k@.crt --pass pass:changeit
par a $MTLS keystore add ks/keys.jks --alias a@ --key ks/k@.key --cert ks/k@.crt --pass pass:changeit
nt=$($MTLS keystore list ks/trust.p12 --pass pass:changeit --json 2>/dev/null | grep -o '"alias"' | wc -l)
na=$($MTLS keystore list ks/keys.jks --pass pass:changeit --json 2>/dev/null | grep -o '"alias"' | wc -l)
[ "$nt" = "$N" ] && [ "$na" = "$N" ] && pass "$N parallel keystore trust and add: $nt and $na entries, none lost" ||
	fail "parallel keystore writes kept $nt trusted and $na key entries of $N"

# mtls convert writing a store takes the same store lock: beside a held
# lock it waits, gives up, and leaves the store as it was; after, it writes.
$MTLS convert ks/k0.crt ks/conv.p12 --key ks/k0.key --out-pass pass:changeit >/dev/null 2>&1
cp ks/conv.p12 conv.before
flock ks sleep 3 &
HOLD=$!
sleep 0.3
MTLS_LOCK_WAIT=1 $MTLS convert ks/k1.crt ks/conv.p12 --key ks/k1.key --out-pass pass:changeit \
	--force >conv.out 2>&1
rc=$?
[ $rc = 1 ] && grep -q "busy" conv.out && cmp -s ks/conv.p12 conv.before &&
	pass "convert --force beside a held store lock: waits, refuses, store unchanged" ||
	fail "convert beside a held store lock: rc $rc: $(cat conv.out)"
wait $HOLD
$MTLS convert ks/k1.crt ks/conv.p12 --key ks/k1.key --out-pass pass:changeit --force >conv.out 2>&1 &&
	! cmp -s ks/conv.p12 conv.before &&
	pass "once the lock is free, convert --force replaces the store" ||
	fail "convert after the lock: $(cat conv.out)"

# A held lock: bounded wait, and the error names the holder.
printf 'pid 4242 (mtls test-holder) since 0\n' >ca/lock
flock ca/lock sleep 4 &
HOLD=$!
sleep 0.3
t0=$(date +%s)
MTLS_LOCK_WAIT=1 $MTLS revoke c3 >held.out 2>&1
rc=$?
took=$(($(date +%s) - t0))
[ $rc = 1 ] && [ $took -le 3 ] && grep -q "pid 4242 (mtls test-holder)" held.out &&
	pass "a held lock: refused after the bounded wait ($took s), naming the holder" ||
	fail "held lock: rc $rc after $took s: $(cat held.out)"
wait $HOLD
check "once released, the revoke goes through" $MTLS revoke c3
finish
