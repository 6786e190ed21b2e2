#!/usr/bin/env bash
# Full disks: every state-changing system call of issue, issue --force,
# issue --batch [--force], renew, revoke, crl and ca init made to fail with
# ENOSPC in turn (strace fault injection): the command says the file system
# is full, prints no success, and leaves inventory and files consistent
# (see state_crash.py). Then a real small tmpfs (when we may mount one):
# issuing until it is full ends in one clear line, and a CRL still fits
# after the failures.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
if can_strace; then
	state_faults "${STATE_FULL_POINTS:-2}" enospc "full-disk" \
		"ENOSPC at every sampled call: named as a full disk, no success printed, state consistent"
else
	skip "strace cannot trace here"
fi

mkdir -p "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m,nr_inodes=400 tmpfs "$T/small" 2>/dev/null; then
	trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
	cd "$T/small" || exit 1
	check "CA on a 1 MiB tmpfs" $MTLS ca init --dir ca
	full=""
	for ((i = 0; i < 400; i++)); do
		if ! $MTLS issue "h$i" --profile server --ca-dir ca --out out >"$T/issue.out" 2>&1; then
			full=$i
			break
		fi
	done
	if [ -n "$full" ] && grep -qE "file system is full|no space left" "$T/issue.out"; then
		pass "issue $full on a full tmpfs says the file system is full: $(head -c 160 "$T/issue.out")"
	else
		fail "no clear full-disk message (stopped at '${full:-never}'): $(cat "$T/issue.out")"
	fi
	check_fails "and it printed no success" grep -q "^issued" "$T/issue.out"
	left=$(find . -name '*.tmp-*' | wc -l)
	[ "$left" = 0 ] && pass "no temporary file left on the full disk" ||
		fail "$left temporary files left: $(find . -name '*.tmp-*' | head -3)"
	rows=$(sqlite3 ca/inventory.db "select count(*) from certs where status='valid'")
	crts=$(ls out/*.crt 2>/dev/null | wc -l)
	[ "$rows" = "$crts" ] && pass "inventory and files agree after the failures ($rows certificates)" ||
		fail "inventory has $rows valid certificates, out/ has $crts"
	[ "$(sqlite3 ca/inventory.db 'select count(*) from journal')" = 0 ] &&
		pass "no pending journal entry" || fail "journal entries left"
	rm -f out/h0.* && $MTLS revoke h0 --ca-dir ca >/dev/null 2>&1
	check "after freeing space, crl works" $MTLS crl --ca-dir ca
	cd "$T" || exit 1
	umount "$T/small"
else
	skip "cannot mount a tmpfs here (not root): the fault-injection runs above cover ENOSPC"
fi

finish
