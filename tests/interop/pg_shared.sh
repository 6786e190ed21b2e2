#!/usr/bin/env bash
# Several `mtls ca serve` instances on one PostgreSQL (Debian's server,
# started here in a temporary directory): an EST enrollment storm served
# by both, tokens consumed once, no serial twice, two instances racing for
# one token, SIGKILL of one instance mid-storm, PostgreSQL restarted under
# load and stopped, and CRL/OCSP answers that agree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
cd "$T" || exit 1
pg_begin 'cat ca_a.log ca_b.log 2>/dev/null | tail -5'

check "ca init --db records the database in ca.json" sh -c \
	"$MTLS ca init --dir ca --name 'CN=Shared CA' --db '$(pg_url)' >/dev/null && grep -q '\"db\": \"postgresql://' ca/ca.json"
check_fails "no inventory file: the state is in PostgreSQL" test -e ca/inventory.db
# Each instance has its own copy of the CA directory, as on its own host.
cp -a ca ca_a && cp -a ca ca_b
start_serve() { # DIR PORT
	bg $MTLS ca serve --ca-dir "$1" --listen "127.0.0.1:$2" --cert-lifetime 1h \
		--fail-limit 1000 --quiet 2>>"$1.log"
	wait_port "$2" 20
}
PA=$(free_port); PB=$(free_port)
start_serve ca_a "$PA" || exit 1
A_PID=$LAST_PID
start_serve ca_b "$PB" || exit 1
A="https://127.0.0.1:$PA/.well-known/est"
B="https://127.0.0.1:$PB/.well-known/est"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k2.pem 2>/dev/null
mkcsr() { # NAME KEY -> NAME.b64
	openssl req -new -key "$2" -subj "/CN=$1" -outform DER 2>/dev/null | base64 > "$1.b64"
}
tok() { $MTLS token create "$1" --ca-dir ca --san "dns:$1.test" --ttl 10m 2>/dev/null; }
# enroll NAME SECRET URL...: tries each URL in turn until one answers 200
# (a client configured with both instances); prints the last status.
enroll() {
	local n=$1 sec=$2 s=000 u try
	shift 2
	for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		for u in "$@"; do
			s=$(curl -s --max-time 10 --cacert ca/ca.crt -u "$n:$sec" -o "$n.p7" \
				-D "$n.h" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
				--data-binary "@$n.b64" "$u/simpleenroll")
			[ "$s" = 200 ] && { echo 200; return 0; }
			[ "$s" = 403 ] && { echo 403; return 0; }
			grep -qi '^Retry-After' "$n.h" 2>/dev/null && echo "$s" >>retry-statuses
		done
		sleep 0.5
	done
	echo "$s"
}
export -f enroll
export MTLS
# prep PREFIX COUNT: a CSR and a token for PREFIX1..PREFIXCOUNT, four at
# a time; prints "NAME SECRET" lines.
prep() {
	seq 1 "$2" | xargs -P 4 -I{} bash -c 'n='"$1"'{}
		openssl req -new -key k.pem -subj "/CN=$n" -outform DER 2>/dev/null | base64 >"$n.b64"
		echo "$n $($MTLS token create "$n" --ca-dir ca --san "dns:$n.test" --ttl 10m 2>/dev/null)"'
}

# 1. The storm: 16 enrollments, half sent to each instance, 8 at a time.
prep s 16 >storm.list
run_storm() { # LIST URL...: one line "NAME STATUS" per client
	local list=$1
	shift
	while read -r n sec; do echo "$n $sec $*"; done <"$list" |
		xargs -P 8 -L 1 bash -c 'echo "$0 $(enroll "$0" "$1" "${@:2}")"'
}
{ head -8 storm.list | run_storm /dev/stdin "$A"; tail -8 storm.list | run_storm /dev/stdin "$B"; } >storm.out
check "an enrollment storm on two instances: 16 of 16 answered 200" \
	test "$(grep -c ' 200$' storm.out)" = 16
check "16 certificates recorded, 16 distinct serials" test \
	"$(pg_sql "SELECT count(*)||' '||count(DISTINCT serial) FROM certs WHERE name LIKE 's%'")" = "16 16"
check "every storm token consumed exactly once" test \
	"$(pg_sql "SELECT count(*)||' '||count(DISTINCT used_serial) FROM tokens WHERE name LIKE 's%' AND used_at IS NOT NULL")" = "16 16"

# 2. Two instances racing for one token, five times: one wins each race.
for i in $(seq 1 5); do
	sec=$(tok "r$i")
	mkcsr "r$i" k.pem
	openssl req -new -key k2.pem -subj "/CN=r$i" -outform DER 2>/dev/null | base64 >"r${i}x.b64"
	echo "$sec" >"r$i.sec"
done
for i in $(seq 1 5); do
	(curl -s --cacert ca/ca.crt -u "r$i:$(cat r$i.sec)" -o /dev/null -w '%{http_code}\n' \
		-H 'Content-Type: application/pkcs10' --data-binary "@r$i.b64" "$A/simpleenroll" >"r$i.a") &
	(curl -s --cacert ca/ca.crt -u "r$i:$(cat r$i.sec)" -o /dev/null -w '%{http_code}\n' \
		-H 'Content-Type: application/pkcs10' --data-binary "@r${i}x.b64" "$B/simpleenroll" >"r$i.b") &
done
wait_jobs() { local j; for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_jobs
wins=0
for i in $(seq 1 5); do
	w=$(cat "r$i.a" "r$i.b" | grep -c '^200$')
	[ "$w" = 1 ] && wins=$((wins + 1))
done
check "two instances racing for one token: exactly one wins, 5 races of 5" test "$wins" = 5
check "each raced token paid for one certificate" test \
	"$(pg_sql "SELECT count(*) FROM certs WHERE name LIKE 'r%'")" = 5

# 3. SIGKILL of one instance mid-storm: clients fall back to the other.
prep k 12 >kill.list
run_storm kill.list "$A" "$B" >kill.out &
STORM=$!
sleep 0.3
kill -9 "$A_PID" 2>/dev/null
wait "$A_PID" 2>/dev/null
wait "$STORM"
check "SIGKILL of one instance mid-storm: all 12 clients got a certificate" \
	test "$(grep -c ' 200$' kill.out)" = 12
check "nothing lost or doubled: one certificate per name, 12 tokens used" test \
	"$(pg_sql "SELECT count(*)||' '||count(DISTINCT name) FROM certs WHERE name LIKE 'k%'")/$(pg_sql "SELECT count(*) FROM tokens WHERE name LIKE 'k%' AND used_at IS NOT NULL")" = "12 12/12"
start_serve ca_a "$PA" || exit 1

# 4. PostgreSQL restarted under load: clean 503/202 + Retry-After, then
# the instances reconnect by themselves.
prep p 10 >pg.list
rm -f retry-statuses
# Down before the storm starts, so every client meets the outage however
# fast the machine (a stop timed into a running storm missed it when the
# storm finished first); back up while the clients retry.
pg_ctl_stop fast
run_storm pg.list "$A" "$B" >pg.out &
STORM=$!
sleep 1.5
pg_ctl_start
wait "$STORM"
check "PostgreSQL restarted under load: requests failed cleanly with Retry-After" \
	grep -qE '^(503|202)$' retry-statuses
check "and every client got its certificate after the restart" \
	test "$(grep -c ' 200$' pg.out)" = 10
check "one certificate per name across the restart" test \
	"$(pg_sql "SELECT count(*)||' '||count(DISTINCT name) FROM certs WHERE name LIKE 'p%'")" = "10 10"
check "the serials of the whole test are unique" test \
	"$(pg_sql "SELECT count(*) - count(DISTINCT serial) FROM certs")" = 0

# 5. PostgreSQL stopped: a clear error, nothing half written.
before=$(pg_sql "SELECT count(*) FROM certs")
sec=$(tok down1)
mkcsr down1 k.pem
pg_ctl_stop fast
s=$(curl -s --cacert ca/ca.crt -u "down1:$sec" -D down.h -o down.txt -w '%{http_code}' \
	-H 'Content-Type: application/pkcs10' --data-binary @down1.b64 "$A/simpleenroll")
check "PostgreSQL stopped: an enrollment is answered 503 with Retry-After" \
	sh -c "[ $s = 503 ] && grep -qi '^Retry-After' down.h"
$MTLS list --ca-dir ca >down.out 2>down.err
rc=$?
check "mtls list exits 1 with one clear line naming the database" \
	sh -c "[ $rc = 1 ] && [ \$(wc -l <down.err) = 1 ] && grep -q 'is PostgreSQL running' down.err"
pg_ctl_start
check "nothing half written while it was down" test "$(pg_sql "SELECT count(*) FROM certs")" = "$before"
check "the token is still unused" test "$(pg_sql "SELECT count(*) FROM tokens WHERE name='down1' AND used_at IS NULL")" = 1

# 6. Revocations by one host, seen by every instance's CRL and OCSP.
for n in s1 s2 k3; do $MTLS revoke --ca-dir ca "$n" >/dev/null 2>&1; done
sleep 2
curl -s --cacert ca/ca.crt "https://127.0.0.1:$PA/crl.pem" -o a.crl
curl -s --cacert ca/ca.crt "https://127.0.0.1:$PB/crl.pem" -o b.crl
crl_serials() { openssl crl -in "$1" -noout -text | awk '/Serial Number:/{print $3}' | sort; }
want=$(pg_sql "SELECT serial FROM certs WHERE status='revoked' ORDER BY serial")
check "both instances' CRLs list the same 3 revocations" test \
	"$(crl_serials a.crl | tr '\n' ' ')" = "$(crl_serials b.crl | tr '\n' ' ')"
check "three of them" test "$(crl_serials a.crl | wc -l)" = 3
check "and they are the database's revocations" test "$(crl_serials a.crl)" = "$want"
na=$(openssl crl -in a.crl -noout -crlnumber | cut -d= -f2)
nb=$(openssl crl -in b.crl -noout -crlnumber | cut -d= -f2)
check "CRL numbers come from the shared database (each instance its own)" test "$na" != "$nb"
p7() { base64 -d "$1.p7" | openssl pkcs7 -inform DER -print_certs >"$1.crt" 2>/dev/null; }
p7 s1
openssl ocsp -issuer ca/ca.crt -cert s1.crt -reqout s1.req -no_nonce 2>/dev/null
ocsp_status() {
	curl -s --cacert ca/ca.crt -H 'Content-Type: application/ocsp-request' \
		--data-binary @s1.req "https://127.0.0.1:$1/ocsp" -o "o$1.der"
	openssl ocsp -respin "o$1.der" -issuer ca/ca.crt -CAfile ca/ca.crt -cert s1.crt 2>/dev/null |
		awk -F': ' '/s1.crt/{print $2}'
}
check "OCSP on both instances answers revoked" sh -c \
	"[ '$(ocsp_status "$PA")' = revoked ] && [ '$(ocsp_status "$PB")' = revoked ]"
finish
