#!/usr/bin/env bash
# The Apache snippet of `mtls bundle --for apache` on Debian's stock apache2
# configuration, as its README says: a2enmod ssl, the snippet as a site,
# a2ensite, configtest, start; curl then does mutual TLS. The stock
# /etc/apache2 is copied and only its port numbers are changed (80 and 443
# become free ports on 127.0.0.1), the same in every file, ours included.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
if ! command -v apache2 >/dev/null || [ ! -f /etc/apache2/apache2.conf ] ||
	[ ! -f /etc/apache2/mods-available/ssl.load ]; then
	skip "Debian's apache2 is not installed"
	finish
fi

"$MTLS" ca init --name "CN=Apache CA" >/dev/null
"$MTLS" issue web --profile server --san dns:localhost,ip:127.0.0.1 --out ids >/dev/null
"$MTLS" issue alice --profile client >/dev/null
check "bundle for apache (the default port, 443)" "$MTLS" bundle web --for apache --from ids --out b
check_fails "the snippet adds no second 'Listen 443'" grep -qE '^Listen +443' b/apache.conf

P80=$(free_port)
P443=$(free_port)
cp -a /etc/apache2 conf
mkdir -p run lock log
export APACHE_CONFDIR=$T/conf APACHE_RUN_DIR=$T/run APACHE_LOCK_DIR=$T/lock \
	APACHE_LOG_DIR=$T/log APACHE_PID_FILE=$T/run/apache2.pid
# envvars would reset the directories to /var: keep ours.
sed -i -E 's/^export (APACHE_(PID_FILE|RUN_DIR|LOCK_DIR|LOG_DIR))=.*/: \1 kept/' conf/envvars
check "a2enmod ssl" a2enmod -q ssl
cp b/apache.conf conf/sites-available/web.conf
check "a2ensite web" a2ensite -q web
# Only the port numbers change, in every file alike.
sed -i -E -e "s/^(\s*)Listen 80\b/\1Listen 127.0.0.1:$P80/; s/:80>/:$P80>/" \
	-e "s/^(\s*)Listen 443\b/\1Listen 127.0.0.1:$P443/; s/:443>/:$P443>/" \
	conf/ports.conf conf/sites-available/*.conf
check_output "apache2ctl configtest: Syntax OK" "Syntax OK" apache2ctl configtest
# -X: one process in the foreground, stopped by the test.
(. conf/envvars && exec apache2 -d "$T/conf" -f "$T/conf/apache2.conf" -X) >log/stdout.log 2>&1 &
APACHE=$!
PIDS+=("$APACHE")
if wait_port "$P443" 15; then
	check "curl with a client certificate: mutual TLS" curl -sS -o /dev/null \
		--cacert pki/ca.crt --cert alice.crt --key alice.key "https://127.0.0.1:$P443/"
	check_fails "curl without one is refused" curl -sS -o /dev/null --max-time 10 \
		--cacert pki/ca.crt "https://127.0.0.1:$P443/"
else
	fail "apache2 did not start"; tail -5 log/stdout.log log/error.log 2>/dev/null
fi
kill "$APACHE" 2>/dev/null
wait "$APACHE" 2>/dev/null
finish
