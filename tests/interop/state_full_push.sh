#!/usr/bin/env bash
# The push agent with its queue on a full disk (a small tmpfs): pushes
# until the disk is full end in one line naming ENOSPC and what to run;
# the agent then delivers everything queued (the queue keeps space free
# for it, STATE/queue.reserve), gives the space of delivered items back
# (incremental vacuum), and a new push fits again. A queue made before
# incremental vacuum is converted and shrinks.
. "$(dirname "$0")/lib.sh"
# The push agent on a full disk: items queued until the queue's 2 MiB
# tmpfs is full are all delivered, their space is given back, and a new
# push fits again.
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1
pki_ca "$T" pca >/dev/null 2>&1
pki_issue "$T" pca publish server >/dev/null 2>&1
pki_issue "$T" pca author client >/dev/null 2>&1
ID=(--cert author.crt --key author.key --ca pca.crt)
mkdir -p q src
for ((i = 0; i < 40; i++)); do head -c 60000 /dev/urandom >"src/f$i"; done
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m,nr_inodes=400 tmpfs q 2>/dev/null; then
	trap 'umount "$T/q" 2>/dev/null; cleanup' EXIT
	P=$(free_port)
	U=https://127.0.0.1:$P
	queued=0
	for ((i = 0; i < 40; i++)); do
		if ! $MTLS push "$U" "${ID[@]}" --state q/st "/c/f$i=src/f$i" >push.out 2>&1; then
			grep -q "^mtls push: enqueued" push.out || break
		fi
		queued=$((queued + 1))
	done
	if grep -q "no space left on device" push.out && grep -q "mtls push --state q/st" push.out; then
		pass "push $i on a full queue disk names ENOSPC and what to run: $(tail -1 push.out | head -c 200)"
	else
		fail "push on a full queue disk: no clear full-disk message: $(cat push.out)"
	fi
	check_fails "and it printed no enqueued line" grep -q "^mtls push: enqueued" push.out
	echo "queued $queued items; $(df -k q | tail -1)"
	bg "$MTLS" serve --listen "127.0.0.1:$P" --cert publish.crt --key publish.key \
		--ca pca.crt --root root --insecure-no-map 2>serve.log
	wait_port "$P" || fail "receiver did not start"
	check_output "the agent delivers all $queued queued items from the full disk" \
		"delivered $queued, failed 0, pending 0" $MTLS push "${ID[@]}" --state q/st --wait --deadline 30
	got=$(ls root/c 2>/dev/null | wc -l)
	[ "$got" = "$queued" ] && pass "the receiver has all $got files" || fail "the receiver has $got of $queued files"
	size=$(stat -c %s q/st/queue.db)
	[ "$size" -lt 262144 ] && pass "queue.db gave the space back: $size bytes with 0 pending" ||
		fail "queue.db keeps $size bytes with 0 pending"
	[ -e q/st/queue.reserve ] && pass "the space kept for the agent is taken back" ||
		fail "no queue.reserve after the run"
	printf 'small' >five.txt
	check_output "a 5-byte push then fits and is delivered" "delivered 1, failed 0, pending 0" \
		$MTLS push "$U" "${ID[@]}" --state q/st --wait --deadline 30 /c/five=five.txt
	umount q
else
	skip "cannot mount a tmpfs here (not root): the push agent on a full disk is not checked"
fi

# A queue made before incremental vacuum (auto_vacuum off) is converted by
# the agent's run and shrinks once its items are delivered.
mkdir -p old
sqlite3 old/queue.db "PRAGMA journal_mode=WAL" >/dev/null
[ "$(sqlite3 old/queue.db 'PRAGMA auto_vacuum')" = 0 ] || fail "the old queue has auto_vacuum off"
P=$(free_port)
for ((i = 0; i < 12; i++)); do
	$MTLS push "https://127.0.0.1:$P" "${ID[@]}" --state old "/o/f$i=src/f$i" >/dev/null 2>&1
done
before=$(stat -c %s old/queue.db)
bg "$MTLS" serve --listen "127.0.0.1:$P" --cert publish.crt --key publish.key \
	--ca pca.crt --root root2 --insecure-no-map 2>serve2.log
wait_port "$P" || fail "receiver did not start"
check_output "an old queue's 12 items are delivered" "delivered 12, failed 0, pending 0" \
	$MTLS push "${ID[@]}" --state old --wait --deadline 30
after=$(stat -c %s old/queue.db)
[ "$after" -lt 262144 ] && [ "$(sqlite3 old/queue.db 'PRAGMA auto_vacuum')" = 2 ] &&
	pass "the old queue shrank from $before to $after bytes and uses incremental vacuum" ||
	fail "the old queue is $after bytes (was $before), auto_vacuum $(sqlite3 old/queue.db 'PRAGMA auto_vacuum')"
finish
