#!/usr/bin/env bash
# Values echoed in errors stay on one line: a config value, a map line or
# an argument with a newline, carriage return or terminal sequence is
# printed escaped (\xNN), so it can neither forge a line in a log nor
# steer the terminal. URLs that go into certificates or are contacted are
# checked by one validator before anything is written.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
export MTLS_CA_DIR=$T/ca
$MTLS ca init >/dev/null || exit 1
ESC=$(printf '\033')
one_line() { # one_line DESCRIPTION FILE: FILE has one line, no ESC or CR
	local n
	n=$(wc -l <"$2")
	if [ "$n" = 1 ] && ! grep -q "[$ESC$(printf '\r')]" "$2"; then pass "$1"; else
		fail "$1: $n lines: $(od -c "$2" | head -3)"
	fi
}
printf 'idle-timeout = 5%s[2J%s\n' "$ESC" "$(printf '\r')" >bad.conf
$MTLS issue srv --profile server --out out >/dev/null
$MTLS serve --config bad.conf --listen 127.0.0.1:1 --insecure-no-map --cert out/srv.crt --key out/srv.key --ca ca/ca.crt --root rt 2>e1.txt
one_line "a config value with ESC and CR is echoed escaped" e1.txt
grep -q 'x1b\[2J' e1.txt || fail "the escaped value is shown: $(cat e1.txt)"
printf 'lis%sten = x\n' "$ESC" >bad2.conf
$MTLS serve --config bad2.conf 2>e2.txt
one_line "an unknown config name with ESC is echoed escaped" e2.txt
$MTLS issue "$(printf 'a\nmtls: FAKE')" --out out 2>e3.txt
one_line "a name with a newline is echoed escaped" e3.txt
# A URL that goes into every certificate is checked before the CA exists.
check_status "ca init --crl-url with a newline is refused (usage)" 2 \
	$MTLS ca init --dir ca3 --crl-url "$(printf 'http://crl.example/a\nb')"
[ ! -e ca3/ca.crt ] && pass "and no CA was made" || fail "a CA was made with a bad --crl-url"
check_status "ca init --ocsp-url with user info is refused" 2 \
	$MTLS ca init --dir ca3 --ocsp-url "http://u:p@ocsp.example/"
check_status "push to a URL with a fragment is refused" 2 \
	$MTLS push "https://r.example/#x" --key k --cert c --ca ca/ca.crt -- /etc/hostname
finish
