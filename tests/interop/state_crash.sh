#!/usr/bin/env bash
# Crash consistency of the CA's state (issue, issue --force, issue --batch
# [--force], renew, revoke, crl, ca init): SIGKILL at sampled system calls
# by strace fault injection, then the next command must finish or undo
# the interrupted work and inventory and files must agree (see
# state_crash.py). STATE_CRASH_POINTS=all kills at every call
# (scripts/state_crash.sh; results in docs/state-crash.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
if ! can_strace; then
	skip "strace cannot trace here (install strace; ptrace may be forbidden)"
	finish
	exit
fi
state_faults "${STATE_CRASH_POINTS:-2}" kill "scenario|kills" \
	"every kill was finished or undone by the next command; inventory and files agree"
finish
