#!/bin/bash
# mtls push / mtls queue / mtls test against mtls serve: content arrives
# exactly, fan-out, deactivate, resume after the receiver was down,
# snapshots, permanent failures, verification that cannot be skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

pki_ca "$T" ca
pki_ca "$T" otherca
pki_issue "$T" ca publish server
pki_issue "$T" ca author client
pki_issue "$T" otherca outsider client

ID=(--cert author.crt --key author.key --ca ca.crt)

# serve NAME PORT [args]: starts a receiver with root NAME.root (without
# a map unless ARGS give one).
serve() {
	local n=$1 port=$2 nomap=--insecure-no-map; shift 2
	[[ " $* " == *" --map "* ]] && nomap=
	bg "$MTLS" serve --listen "127.0.0.1:$port" --cert publish.crt --key publish.key \
		--ca ca.crt --root "$n.root" $nomap "$@" 2>>"$n.log"
	eval "${n}_PID=$LAST_PID"
	wait_port "$port" || fail "receiver $n did not start"
}

PA=$(free_port)
PB=$(free_port)
serve a "$PA"
serve b "$PB"
A=https://127.0.0.1:$PA
B=https://localhost:$PB/bin/receive

# --- the connection test against the real receiver ---
check_output "mtls test against mtls serve" '^Replication test succeeded$' \
	"$MTLS" test "$A" "${ID[@]}"
grep -q '<< ReplicationAction TEST ok.' "$T/last.out" && pass "test log shows the receiver's answer" \
	|| fail "test log shows the receiver's answer"
check_output "mtls test with a certificate from another CA is refused" \
	'our certificate was rejected by the server|closed the connection' \
	"$MTLS" test "$A" --cert outsider.crt --key outsider.key --ca ca.crt

# --- push files to two receivers (fan-out) ---
mkdir -p src/sub
printf 'hello\n' >src/index.html
head -c 300000 /dev/urandom >src/sub/big.bin # above the inline limit: a blob
printf '' >src/empty.txt
check "push three files to two receivers with --wait" \
	"$MTLS" push "$A" "$B" "${ID[@]}" --state st --wait --deadline 60 \
	/content/index.html=src/index.html /content/sub/big.bin=src/sub/big.bin \
	/content/empty.txt=src/empty.txt
for r in a b; do
	for f in index.html sub/big.bin empty.txt; do
		if cmp -s "src/$f" "$r.root/content/$f"; then pass "$r has $f exactly"; else fail "$r has $f exactly"; fi
	done
done
check_output "queue shows both receivers delivered" \
	"pending 0 \(failing 0\), delivered 3, failed 0" "$MTLS" queue --state st
[ "$(grep -c 'delivered 3' "$T/last.out")" = 2 ] && pass "both targets listed" || fail "both targets listed"
ls st/blobs | grep -q . && fail "delivered content files are removed" || pass "delivered content files are removed"

# --- a directory, with a prefix ---
mkdir -p tree/a/b
for i in 1 2 3; do echo "page $i" >"tree/a/b/p$i.html"; done
echo top >tree/top.txt
check "push --dir --prefix" "$MTLS" push "$A" "${ID[@]}" --state st --wait --dir tree --prefix /site/
check "the tree arrived under the prefix" diff -r tree a.root/site

# --- deactivate ---
check "deactivate removes a path" "$MTLS" push "$A" "${ID[@]}" --state st --wait \
	--action deactivate /site/top.txt
[ ! -e a.root/site/top.txt ] && pass "top.txt is gone" || fail "top.txt is gone"
[ -e a.root/site/a/b/p1.html ] && pass "the rest stays" || fail "the rest stays"

# --- a path the receiver would refuse fails at enqueue, not at delivery ---
for bad in /site/./top.txt /site/a/../top.txt '/site/a\b' /.mtls-receiver.db; do
	check_status "push refuses $bad at enqueue (usage error, exit 2)" 2 \
		"$MTLS" push "$A" "${ID[@]}" --state st --action deactivate "$bad"
	grep -qE "component|backslash|reserved" "$T/last.out" && pass "the refusal of $bad names the receiver's rule" \
		|| fail "the refusal of $bad names the receiver's rule"
done
check_output "nothing was queued for the refused paths" "pending 0 \(failing 0\)" \
	"$MTLS" queue --state st

# --- the receiver is down: items stay queued, content is a snapshot ---
kill "$a_PID"; wait "$a_PID" 2>/dev/null
echo "version 1" >src/snap.txt
check_output "push while the receiver is down keeps the item" "stay queued" \
	"$MTLS" push "$A" "${ID[@]}" --state st /content/snap.txt=src/snap.txt
check_output "queue shows it failing with the reason" "no endpoint" "$MTLS" queue --state st
check_output "queue --json is JSON with the pending item" '"pending": 1' \
	"$MTLS" queue --state st --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(t["pending"]==1 and "last_error" in t for t in d["targets"])' \
	"$T/last.out" && pass "queue --json parses" || fail "queue --json parses"
echo "version 2" >src/snap.txt
check_status "--wait with a deadline gives up (exit 1) while it is down" 1 \
	"$MTLS" push "${ID[@]}" --state st --wait --deadline 2 --retry-max 1
serve a "$PA"
check "a new run without items resumes" "$MTLS" push "${ID[@]}" --state st --wait --deadline 30
[ "$(cat a.root/content/snap.txt)" = "version 1" ] && pass "the snapshot taken at enqueue was delivered" \
	|| fail "the snapshot taken at enqueue was delivered"

# --- a 4xx is a permanent failure with its reason ---
PC=$(free_port)
serve c "$PC" --max-body 1000
head -c 5000 /dev/urandom >src/toolarge.bin
check_status "a refused item fails the run (exit 1)" 1 \
	"$MTLS" push "https://127.0.0.1:$PC" "${ID[@]}" --state st --wait --deadline 30 \
	/content/toolarge.bin=src/toolarge.bin /content/ok.txt=src/index.html
check_output "queue names the refused item and its reason" "Activate /content/toolarge.bin.*HTTP 413" \
	"$MTLS" queue --state st
cmp -s src/index.html c.root/content/ok.txt && pass "the next item is still delivered" \
	|| fail "the next item is still delivered"

# --- the receiver's ACL: a path outside the principal's grants is 403 ---
PM=$(free_port)
printf 'principal author cn=author allow=*:/content\n' >map.txt
serve m "$PM" --map map.txt
check_status "an item outside the ACL fails the run (exit 1)" 1 \
	"$MTLS" push "https://127.0.0.1:$PM" "${ID[@]}" --state stm --wait --deadline 30 \
	/private/x.txt=src/index.html /content/in.txt=src/index.html
check_output "queue names it with the 403" "Activate /private/x.txt.*HTTP 403" "$MTLS" queue --state stm
[ ! -e m.root/private/x.txt ] && cmp -s src/index.html m.root/content/in.txt \
	&& pass "only the allowed item arrived" || fail "only the allowed item arrived"

# --- verification of the receiver cannot be skipped ---
echo x >src/x.txt
check "push with a CA that did not issue the receiver's certificate" \
	"$MTLS" push "$A" --cert author.crt --key author.key --ca otherca.crt --state st2 \
	/content/x.txt=src/x.txt
check_output "it stays queued, with the verification reason" "unknown issuer|certificate" \
	"$MTLS" queue --state st2
[ ! -e a.root/content/x.txt ] && pass "nothing was sent to an unverified receiver" \
	|| fail "nothing was sent to an unverified receiver"
check_status "there is no switch to disable verification" 2 \
	"$MTLS" push "$A" "${ID[@]}" --state st2 --insecure

# --- one agent per state directory ---
PD=$(free_port) # nothing listens there
"$MTLS" push "https://127.0.0.1:$PD" "${ID[@]}" --state st3 --wait --deadline 8 \
	--retry-max 1 /content/l.txt=src/index.html 2>lock1.log &
first=$!
for ((i = 0; i < 100; i++)); do grep -q "enqueued" lock1.log && break; sleep 0.05; done
check_output "a second agent on the same state only watches" "another mtls push is delivering" \
	"$MTLS" push "${ID[@]}" --state st3 --wait --deadline 1
check_status "... and reports the item still pending (exit 1)" 1 \
	"$MTLS" push "${ID[@]}" --state st3 --wait --deadline 1
echo late >src/late.txt
check_output "a push for another receiver meanwhile leaves it to the running agent" \
	"another mtls push is delivering" \
	"$MTLS" push "$A" "${ID[@]}" --state st3 /content/late.txt=src/late.txt
for ((i = 0; i < 100; i++)); do [ -e a.root/content/late.txt ] && break; sleep 0.05; done
cmp -s src/late.txt a.root/content/late.txt && pass "the running agent delivered it" \
	|| fail "the running agent delivered it"
wait "$first"
grep -q "deadline reached with 1 item" lock1.log && pass "the first agent kept retrying until its deadline" \
	|| { fail "the first agent kept retrying until its deadline"; cat lock1.log; }

# --- usage errors ---
check_status "items without a URL" 2 "$MTLS" push "${ID[@]}" --state st /a=src/x.txt
check_status "activate item without =FILE" 2 "$MTLS" push "$A" "${ID[@]}" --state st /a
check_status "relative path" 2 "$MTLS" push "$A" "${ID[@]}" --state st a=src/x.txt
check_status "'..' in a path" 2 "$MTLS" push "$A" "${ID[@]}" --state st /a/../b=src/x.txt
check_status "http:// URL" 2 "$MTLS" push http://127.0.0.1:1 "${ID[@]}" --state st /a=src/x.txt
check_status "--deadline without --wait" 2 "$MTLS" push "$A" "${ID[@]}" --deadline 3
check_status "missing file is an error (exit 1)" 1 "$MTLS" push "$A" "${ID[@]}" --state st /a=src/nope
check_status "queue of an unknown state dir" 1 "$MTLS" queue --state "$T/none"
check_status "push --help" 0 "$MTLS" push --help
check_status "queue --help" 0 "$MTLS" queue --help

finish
