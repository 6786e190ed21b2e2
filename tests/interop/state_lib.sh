# Shared by state_crash.sh and state_full.sh (sourced after lib.sh): the
# strace fault-injection runs of state_crash.py and how they are judged.
# These runs are traced by strace; LeakSanitizer cannot work under ptrace
# (it aborts), so leak checking is off here - every other test keeps it.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"

# can_strace: 0 when strace is installed and may trace here.
can_strace() {
	command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null
}

# state_faults POINTS MODE SUMMARY_RE DESCRIPTION: runs state_crash.py in
# MODE (kill or enospc) at POINTS calls per scenario, shows the lines
# matching SUMMARY_RE, and passes DESCRIPTION when no problem was found.
state_faults() {
	local log=$T/faults-$2.log rc
	python3 "$(dirname "$0")/state_crash.py" "$MTLS" "$T" "$1" "$2" >"$log" 2>&1
	rc=$?
	grep -E "^(PROBLEM|$3)" "$log" | head -60
	if [ $rc -eq 0 ] && grep -q "problems: 0" "$log"; then
		pass "$4"
	else
		fail "$4 (see above)"
		tail -5 "$log"
	fi
}
