#!/usr/bin/env bash
# Secrets and local state: a password source at end of input or failing
# is an error naming it (never an empty password), an empty password is
# refused for encryption, a password given without pass: is never echoed,
# no core dumps (checked on a running server), warnings for world-writable
# CA and output directories, the queue is 0600 whatever the umask, and a
# named pipe as input is refused at once.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

check_output "ca init --pass fd:77 (closed) is an error naming fd:77" "fd:77" \
	$MTLS ca init --dir c1 --pass fd:77
check_fails "and no CA key was written" test -e c1/ca.key
check_output "--pass stdin at end of input is an error" "stdin ended before a password" \
	$MTLS ca init --dir c2 --pass stdin </dev/null
check_output "an empty password is refused for encryption" "empty" \
	$MTLS ca init --dir c3 --pass pass:
check_status "a password given without pass: is refused (exit 2)" 2 $MTLS ca init --dir c4 --pass Hunter2secret
check_fails "and not echoed" grep -q Hunter2 "$T/last.out"
long=$(head -c 5000 /dev/zero | tr '\0' x)
check_output "an over-long password is an error, not cut" "longer than" \
	$MTLS ca init --dir c5 --pass "pass:$long"

check "a CA" $MTLS ca init --dir ca
mkfifo pipe.pem
t0=$(date +%s)
check_output "a named pipe as input is refused at once" "named pipe" timeout 10 $MTLS inspect pipe.pem
[ $(($(date +%s) - t0)) -le 3 ] && pass "without waiting for a writer" || fail "it waited for the pipe"

mkdir -m 0777 open && chmod 0777 open
check_output "a world-writable output directory is warned about" "writable by everyone" \
	$MTLS issue w --profile client --ca-dir ca --out open
chmod 0777 ca
check_output "a world-writable CA directory is warned about" "writable by everyone.*chmod go-w" \
	$MTLS revoke w --ca-dir ca
chmod 0700 ca

mkdir -m 0755 state
$MTLS issue agent --profile client --ca-dir ca --out . >/dev/null 2>&1
echo hello >hello.txt
(umask 000 && timeout 20 $MTLS push https://127.0.0.1:1/bin/receive --cert agent.crt \
	--key agent.key --ca ca/ca.crt --state state /hello=hello.txt >/dev/null 2>&1)
mode=$(stat -c %a state/queue.db 2>/dev/null)
[ "$mode" = 600 ] && pass "queue.db is 0600 in a 0755 directory under umask 000" || fail "queue.db mode $mode"

PORT=$(free_port)
bg $MTLS ocsp serve --ca-dir ca --listen 127.0.0.1:$PORT
wait_port "$PORT" 20 || { fail "ocsp serve did not start"; finish; exit; }
core=$(awk '/Max core file size/ {print $5}' /proc/$LAST_PID/limits)
dump=$(stat -c %U /proc/$LAST_PID/mem 2>/dev/null)
[ "$core" = 0 ] && pass "a running server has no core dumps (limit $core)" || fail "core limit '$core'"
if [ "$(id -u)" != 0 ]; then
	[ "$dump" = root ] && pass "and is not dumpable (/proc/PID/mem owned by root)" ||
		fail "/proc/PID/mem owned by '$dump'"
fi
finish
