#!/usr/bin/env bash
# The unit and timer files in dist/systemd/ pass `systemd-analyze verify`
# with no complaint (the binary path pointed at the build, which verify
# checks exists; man pages are not installed at test time: --man=no).
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../../dist/systemd" && pwd)
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze is not installed (apt-get install systemd)"
	finish; exit $?
fi
mkdir -p "$T/units"
for f in "$SRC"/*.service "$SRC"/*.timer; do
	sed "s#/usr/bin/mtls#$MTLS#g" "$f" > "$T/units/$(basename "$f")"
done
cd "$T/units" || exit 1
# verify: exit 0 and not a word of warning.
clean_verify() { local out; out=$(systemd-analyze --man=no verify "./$1" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }
for f in *.service *.timer; do
	check "systemd-analyze verify $f" clean_verify "$f"
done
# The check can fail: a broken unit and an unknown key are caught.
printf '[Service]\nExecStart=relative/path\n' > broken.service
check_fails "a unit with a relative ExecStart is refused" clean_verify broken.service
printf '[Service]\nExecStart=/bin/true\nBogusKey=1\n' > bogus.service
check_fails "a unit with an unknown key is refused" clean_verify bogus.service
check "the timer's service exists beside it" test -f mtls-renew.service
finish
