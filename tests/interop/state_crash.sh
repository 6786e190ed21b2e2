#!/usr/bin/env bash
# Crash consistency of the CA's state (issue, issue --force, issue --batch
# [--force], renew, revoke, crl, ca init): SIGKILL at sampled system calls
# by strace fault injection, then the next command must finish or undo
# the interrupted work and inventory and files must agree (see
# state_crash.py). STATE_CRASH_POINTS=all kills at every call
# (scripts/state_crash.sh; results in docs/state-crash.md).
. "$(dirname "$0")/lib.sh"
# These runs are traced by strace; LeakSanitizer cannot work under ptrace
# (it aborts), so leak checking is off here - every other test keeps it.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
if ! command -v strace >/dev/null || ! strace -o /dev/null true 2>/dev/null; then
	skip "strace cannot trace here (install strace; ptrace may be forbidden)"
	finish
	exit
fi
python3 "$(dirname "$0")/state_crash.py" "$MTLS" "$T" "${STATE_CRASH_POINTS:-2}" >"$T/crash.log" 2>&1
rc=$?
grep -E "^(PROBLEM|scenario|kills)" "$T/crash.log" | head -60
if [ $rc -eq 0 ] && grep -q "problems: 0" "$T/crash.log"; then
	pass "every kill was finished or undone by the next command; inventory and files agree"
else
	fail "crash consistency (see above)"
	tail -5 "$T/crash.log"
fi
finish
