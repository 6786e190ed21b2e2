#!/bin/bash
# Fault test: push 1,000 items while SIGKILLing the receiver and the agent
# several times (each restarted); afterwards every item is present exactly
# once with the right content and the receiver applied each id once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

N=${FAULT_ITEMS:-1000}
KILLS=${FAULT_KILLS:-8}

pki_ca "$T" ca
pki_issue "$T" ca publish server
pki_issue "$T" ca author client
ID=(--cert author.crt --key author.key --ca ca.crt)

mkdir -p src
python3 - "$N" <<'EOF'
import os, sys
n = int(sys.argv[1])
for i in range(n):
    # distinct content and size per item, so a mix-up cannot go unseen
    with open(f"src/item{i:04d}.txt", "wb") as f:
        f.write(f"item {i}\n".encode() + os.urandom(64 + (i * 397) % 4000))
EOF

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
RPID=
APID=
start_receiver() {
	"$MTLS" serve --listen "127.0.0.1:$PORT" --cert publish.crt --key publish.key \
		--ca ca.crt --root root --state-dir rstate --insecure-no-map 2>>serve.log &
	RPID=$!
	PIDS+=("$RPID")
	wait_port "$PORT" 10
}
start_agent() { # extra args
	"$MTLS" push "${ID[@]}" --state st --wait --retry-max 0.5 "$@" 2>>agent.log &
	APID=$!
	PIDS+=("$APID")
}
alive() { kill -0 "$1" 2>/dev/null; }
pending() {
	"$MTLS" queue --state st --json 2>/dev/null |
		python3 -c 'import json,sys; print(sum(t["pending"] for t in json.load(sys.stdin)["targets"]))' 2>/dev/null ||
		echo "?"
}

start_receiver || fail "receiver started"
# The first agent enqueues everything (one transaction) and starts to
# deliver; kills begin once the enqueue has committed.
start_agent "$URL" --dir src --prefix /f
for ((i = 0; i < 200; i++)); do
	grep -q "enqueued $N item" agent.log && break
	sleep 0.05
done
grep -q "enqueued $N item" agent.log && pass "enqueued $N items" || fail "enqueued $N items"

# Bounded kill loop: alternate SIGKILL of the agent and of the receiver,
# restarting each. Kills are spread over the run by progress (when the
# pending count falls below 90 %, 80 %, ... of N), so each lands while
# items are in flight however fast the machine is.
pending_now() {
	sqlite3 -cmd '.timeout 2000' st/queue.db 'SELECT COUNT(*) FROM items WHERE state = 0' 2>/dev/null || echo "?"
}
hits=0
limit=$((SECONDS + 120))
for ((k = 0; k < KILLS; k++)); do
	mark=$((N * (KILLS - k) / (KILLS + 2)))
	while p=$(pending_now); { [ "$p" = "?" ] || [ "$p" -gt "$mark" ]; } && ((SECONDS < limit)); do
		sleep 0.02
	done
	if ((k % 2 == 0)); then
		alive "$APID" && kill -9 "$APID"
		wait "$APID" 2>/dev/null
		echo "kill $k: agent (pending $p)" >>kills.log
		start_agent
	else
		alive "$RPID" && kill -9 "$RPID"
		wait "$RPID" 2>/dev/null
		echo "kill $k: receiver (pending $p)" >>kills.log
		sleep 0.3 # the agent meets a dead receiver and backs off
		start_receiver || fail "receiver restarted"
	fi
	[ "$p" != "?" ] && [ "$p" -gt 0 ] && hits=$((hits + 1))
done
cat kills.log
[ "$hits" = "$KILLS" ] && pass "all $hits kills hit while items were pending" \
	|| fail "only $hits of $KILLS kills hit while items were pending"

# Let the last agent finish (bounded), then a final resume must find
# nothing left to do.
for ((i = 0; i < 1200 && $(alive "$APID" && echo 1 || echo 0) == 1; i++)); do sleep 0.1; done
alive "$APID" && { fail "agent finished within 120 s"; kill -9 "$APID"; }
wait "$APID"; rc=$?
[ "$rc" = 0 ] && pass "the last agent exited 0" || fail "the last agent exited $rc"
check_output "a final resume has nothing pending" "delivered 0, failed 0, pending 0" \
	"$MTLS" push "${ID[@]}" --state st --wait --deadline 60

# Every item present exactly once, with its content.
bad=0
for f in src/*.txt; do
	cmp -s "$f" "root/f/${f#src/}" || { bad=$((bad + 1)); echo "    differs or missing: $f"; }
done
[ "$bad" = 0 ] && pass "all $N items present with the right content" || fail "$bad items wrong or missing"
# Items only: a receiver killed mid-write may leave its own temporary file
# (".mtls-tmp-*", never an item), which is reported, not counted.
got=$(find root/f -type f ! -name '.mtls*' | wc -l)
[ "$got" = "$N" ] && pass "exactly $N items in the receiver's root" || fail "$got items in the receiver's root"
extra=$(find root/f -type f ! -name '.mtls*' ! -name 'item*.txt' | wc -l)
[ "$extra" = 0 ] && pass "no stray files" || fail "$extra stray files"
leftover=$(find root/f -type f -name '.mtls*' | wc -l)
echo "    note: $leftover temporary file(s) left by SIGKILLed receivers"

# The receiver recorded each id once, and applied none twice.
ids=$(sqlite3 rstate/.mtls-receiver.db 'SELECT COUNT(*), COUNT(DISTINCT id) FROM items')
[ "$ids" = "$N|$N" ] && pass "the receiver's applied-id count is $N" || fail "applied ids: $ids"
dups=$(grep -o 'item=[0-9a-f]* status=200 .*outcome=applied' serve.log | cut -d' ' -f1 | sort | uniq -d | wc -l)
[ "$dups" = 0 ] && pass "no item id was applied twice (access log)" || fail "$dups ids applied twice"
replayed=$(grep -c 'outcome=replayed\|outcome=duplicate' serve.log)
echo "    $replayed replays acknowledged without applying"
check_output "queue shows $N delivered, none failed" "pending 0 \(failing 0\), delivered $N, failed 0" \
	"$MTLS" queue --state st

finish
