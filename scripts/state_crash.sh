#!/usr/bin/env bash
# The long crash and full-disk runs: every state-changing system call of
# issue, issue --force, issue --batch [--force], renew, revoke, crl,
# ca init and keystore writes (PKCS#12 add and remove, JKS trust), killed
# (SIGKILL) and failed with ENOSPC in turn. The test suite
# samples a few calls per command (tests/interop/state_crash.sh); this
# takes $STATE_CRASH_POINTS (default 24, "all" for every call) per command
# and writes the summary to docs/state-crash.md.
#   scripts/state_crash.sh [build]
set -euo pipefail
cd "$(dirname "$0")/.."
mtls=${MTLS:-$PWD/${1:-build}/src/mtls}
work=$(mktemp -d "${TMPDIR:-/tmp}/mtls-crash-XXXXXX")
trap 'rm -rf "$work"' EXIT
out=docs/state-crash.md
{
	echo "# Crash and full-disk runs of the CA state"
	echo
	echo "Produced by \`scripts/state_crash.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores)."
	echo "Each line: a command, and at how many of its system calls it was interrupted"
	echo "(STATE_CRASH_POINTS=${STATE_CRASH_POINTS:-24} spread over each run, plus the last move and sync)."
	echo "Run \`scripts/state_crash.sh\` (or \`STATE_CRASH_POINTS=all scripts/state_crash.sh\`) to repeat."
	echo "After each kill the next command must finish or undo the interrupted work: inventory"
	echo "and files agree, no temporary file is left, the journal is empty; a keystore holds"
	echo "exactly its entries from before or after (keytool counts them too), and running the"
	echo "command again ends in the intended state. Under ENOSPC the command must name the"
	echo "full disk and print no success."
	echo
	for mode in kill enospc; do
		mkdir -p "$work/$mode"
		echo "## $mode"
		echo
		echo '```'
		python3 tests/interop/state_crash.py "$mtls" "$work/$mode" "${STATE_CRASH_POINTS:-24}" "$mode" |
			grep -E "^(PROBLEM|scenario|kills|full-disk)" || true
		echo '```'
		echo
	done
} >"$out"
cat "$out"
