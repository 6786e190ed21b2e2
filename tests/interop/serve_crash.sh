#!/bin/bash
# Exactly-once through a crash of the receiver: `mtls serve` is SIGKILLed
# (strace fault injection, as in state_crash.sh) at chosen system calls
# while it applies an item with an Item-Id: before the rename that places
# the file, just after it (before the id is recorded), and just after the
# unlink of a Deactivate. After a restart the sender's resend must be
# answered as already applied when the change was made, applied when it
# was not, and recorded exactly once either way. The restart also sweeps
# temporary files killed receivers left in the tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
. "$(dirname "$0")/state_lib.sh"
. "$(dirname "$0")/receiver_lib.sh"
cd "$T" || exit 1

if ! can_strace; then
	skip "strace cannot trace here"
	finish
	exit 77
fi
pki_ca . ca
pki_issue . ca publish server
pki_issue . ca author client
check "test PKI was made" test -s author.crt -a -s publish.crt
printf 'item one\n' >one.txt

P=$(free_port)
U=https://127.0.0.1:$P
# serve [strace args...]: starts the receiver (traced when args are given).
serve() {
	local tr=()
	[ $# -gt 0 ] && tr=(strace -f -o "$T/trace.txt" "$@")
	: >"$T/serve.log"
	bg "${tr[@]}" "$MTLS" serve --listen 127.0.0.1:$P --cert publish.crt \
		--key publish.key --ca ca.crt --root "$T/root" --state-dir "$T/rstate" \
		--workers 1 --insecure-no-map 2>>"$T/serve.log"
	SERVE=$LAST_PID
	wait_log "$T/serve.log" "serving https" 20
}
# stop: ends the receiver (strace does not pass SIGTERM on: its child too).
stop() {
	kill $(ps -o pid= --ppid "$SERVE" 2>/dev/null) "$SERVE" 2>/dev/null
	wait "$SERVE" 2>/dev/null
}
# post ACTION PATH ID [curl args...]: prints the status and the body.
post() { receiver_post "$@" -w '%{http_code}\n'; }
fresh() { stop; rm -rf "$T/root" "$T/rstate"; }

# --- where the calls are: a traced dry run --------------------------------
# The ordinal of the fsync(2) right after the rename that places the file
# (the directory's), and of the one right after a Deactivate's unlink.
serve -e trace=fsync,renameat,renameat2,rename,unlinkat
post Activate /content/one.txt it-1 --data-binary @one.txt >/dev/null
post Deactivate /content/one.txt it-2 -X POST >/dev/null
stop
read -r AFTER_RENAME AFTER_UNLINK < <(python3 - "$T/trace.txt" <<'EOF'
import re, sys
n, after, marks = 0, None, []
for line in open(sys.argv[1]):
    if re.search(r'\brename(at2?)?\(.*\.mtls-spool-', line) or \
            re.search(r'\bunlinkat\(\d+, "one.txt"', line):
        after = True
    elif re.search(r'\bfsync\(', line) and "resumed" not in line:
        n += 1
        if after:
            marks.append(n)
            after = None
print(*marks[:2])
EOF
)
check "the dry run found the fsync after the rename and after the unlink" \
	test -n "${AFTER_RENAME:-}" -a -n "${AFTER_UNLINK:-}"
echo "# kill points: fsync #${AFTER_RENAME:-?} (after the rename), #${AFTER_UNLINK:-?} (after the unlink)"

# --- killed just after the rename: placed, id not yet recorded ------------
fresh
serve -e trace=fsync -e "inject=fsync:signal=KILL:when=${AFTER_RENAME:-1}"
check_fails "the item sent at the kill gets no 200" \
	grep -q '^200' <(post Activate /content/one.txt it-1 --data-binary @one.txt)
wait "$SERVE" 2>/dev/null
check "the kill came after the rename: the file is in place" cmp one.txt root/content/one.txt
# A temporary file a killed receiver left beside a destination (the copy
# used across file systems, or an older version's write) holds content.
printf 'stale' >root/content/.mtls-tmp-999999999-7
serve
check_fails "the next start removes a killed receiver's temporary file" \
	test -e root/content/.mtls-tmp-999999999-7
check "... and says so" grep -q "removed 1 temporary file a killed receiver left" serve.log
check_output "after the restart the resent item is answered as already applied" \
	'already applied' post Activate /content/one.txt it-1 --data-binary @one.txt
check_output "... recorded exactly once, nothing left on its way" \
	'^applied=1 placing=0$' receiver_rows it-1
rm root/content/one.txt
post Activate /content/one.txt it-1 --data-binary @one.txt >/dev/null
check_fails "... and not applied again (a removed file stays removed)" \
	test -e root/content/one.txt

# --- killed just before the rename: nothing placed --------------------------
fresh
serve -e trace=renameat,renameat2,rename -e "inject=renameat,renameat2,rename:signal=KILL:when=1"
check_fails "the item sent at the kill (before the rename) gets no 200" \
	grep -q '^200' <(post Activate /content/one.txt it-1 --data-binary @one.txt)
wait "$SERVE" 2>/dev/null
check_fails "the kill came before the rename: no file" test -e root/content/one.txt
serve
check_output "after the restart the resent item is applied (not 'already')" \
	'^ReplicationAction ACTIVATE ok\.$' post Activate /content/one.txt it-1 --data-binary @one.txt
check "... with its content" cmp one.txt root/content/one.txt
check_output "... recorded exactly once" '^applied=1 placing=0$' receiver_rows it-1
check_output "a second resend is already applied" \
	'already applied' post Activate /content/one.txt it-1 --data-binary @one.txt

# --- a Deactivate killed just after its unlink ------------------------------
# The same two items as the dry run, so the fsync numbers match.
fresh
serve -e trace=fsync -e "inject=fsync:signal=KILL:when=${AFTER_UNLINK:-1}"
check_output "an Activate before the kill applies" '^200' \
	post Activate /content/one.txt it-1 --data-binary @one.txt
check_fails "the Deactivate sent at the kill gets no 200" \
	grep -q '^200' <(post Deactivate /content/one.txt it-2 -X POST)
wait "$SERVE" 2>/dev/null
check_fails "the kill came after the unlink: the file is gone" test -e root/content/one.txt
serve
check_output "after the restart the resent Deactivate is already applied" \
	'already applied' post Deactivate /content/one.txt it-2 -X POST
check_output "... recorded exactly once" '^applied=1 placing=0$' receiver_rows it-2
stop

finish
