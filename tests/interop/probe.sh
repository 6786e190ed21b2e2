#!/usr/bin/env bash
# mtls probe against real servers on 127.0.0.1: openssl s_server in its
# client-auth modes, nginx (ssl_verify_client on / optional), broken
# servers (expired, incomplete chain, wrong name, TLS 1.0 only), plain
# TCP listeners and a closed port. Each expected finding is asserted in
# the text output and, for the key ones, in --json.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/diag_pki.sh"
make_pki

# check_json "description" JQ-FILTER CMD...: CMD's stdout is JSON on which
# the filter yields true.
check_json() {
	local d=$1 f=$2; shift 2
	"$@" >"$T/last.json" 2>"$T/last.err"
	if jq -e "$f" "$T/last.json" >/dev/null 2>&1; then pass "$d"; else
		fail "$d (jq: $f)"; head -c 2000 "$T/last.json" | sed 's/^/    /'; fi
}

# has_key / lacks_key KEY SEVERITY: a jq filter on the findings.
has() { echo "any(.findings[]; .check == \"$1\" and .severity == \"$2\")"; }
lacks() { echo "all(.findings[]; .check != \"$1\")"; }

# s_server PORT ARGS...: openssl s_server on 127.0.0.1:PORT. -rev keeps
# it from reading stdin (EOF there would close every connection).
s_server() {
	local port=$1; shift
	bg openssl s_server -accept "127.0.0.1:$port" -rev -quiet "$@" >"$T/s_server-$port.log" 2>&1
	wait_port "$port"
}

CHAIN=(-cert "$P/server.crt" -key "$P/server.key" -cert_chain "$P/int.crt" -CAfile "$P/ca.crt")
probe() { "$MTLS" probe "$@" --ca "$P/ca.crt" --timeout 3; }
with() { local c=$1; shift; probe "$@" --cert "$P/$c.crt" --key "$P/$c.key"; }

echo "# s_server -Verify 1 (client certificate required)"
p=$(free_port); s_server "$p" "${CHAIN[@]}" -Verify 1
t=127.0.0.1:$p
check_status "required: a healthy server exits 0" 0 probe "$t"
check_output "required: versions listed" "TLS 1.3: accepted" probe "$t"
check_output "required: cipher reported" "negotiated TLSv1\.3, cipher TLS_" probe "$t"
check_output "required: chain sent in order, verified" "ok +server_chain_verified" probe "$t" --verbose
check_output "required: detected" "client authentication: requested, required" probe "$t"
check_output "required: advertised CA named" "acceptable client CA: CN=Probe Root CA" probe "$t"
check_json "required: json client_auth.required" '.client_auth.required == true and .client_auth.requested == true' probe "$t" --json
check_json "required: json ca_names" '.client_auth.ca_names == ["CN=Probe Root CA"]' probe "$t" --json
check_json "required: json chain of 2, in order" '(.chain | length) == 2 and .chain[1].subject == "CN=Probe Intermediate CA" and .chain_verified' probe "$t" --json
check_json "required: good client accepted, its CA advertised" "$(has client_cert_accepted ok) and $(has client_issuer_advertised ok) and $(lacks client_issuer_not_advertised)" with client "$t" --json
check_status "required: good client exits 0" 0 with client "$t"
check_json "required (no verify_return_error): other CA's cert flagged" "$(has client_issuer_not_advertised warn)" with client-other "$t" --json
check_output "required: EKU without clientAuth flagged" "client_cert_eku:.*lacks the clientAuth" with client-noeku "$t"
check_output "required: expired client cert flagged" "client_cert_expired: our certificate .* expired on 2020-01-31" with client-expired "$t"
check_status "required: expired client cert exits 1" 1 with client-expired "$t"

echo "# s_server -Verify 1 -verify_return_error (required, strict)"
p=$(free_port); s_server "$p" "${CHAIN[@]}" -Verify 1 -verify_return_error
t=127.0.0.1:$p
check_output "strict: good client accepted" "client_cert_accepted" with client "$t" --verbose
check_output "strict: other CA rejected with unknown CA, cause named" "client_cert_rejected: .*unknown CA.*local checks point to: client_issuer_not_advertised" with client-other "$t"
check_json "strict: other CA json rejection alert" '.client_auth.our_certificate == "rejected" and .client_auth.rejection_alert == "unknown_ca"' with client-other "$t" --json
check_output "strict: wrong EKU rejected (unsupported certificate), cause named" "client_cert_rejected: .*unsupported certificate.*client_cert_eku" with client-noeku "$t"
check_output "strict: expired rejected, cause named" "client_cert_rejected: .*expired.*client_cert_expired" with client-expired "$t"
check_output "strict: leaf-only client chain rejected, issuer not advertised" "client_cert_rejected: .*client_issuer_not_advertised" with client-int "$t"
check_output "strict: leaf-only client chain: missing intermediate found via --ca" "client_chain_incomplete: we do not send our intermediate CA 'CN=Probe Intermediate CA'" \
	"$MTLS" probe "$t" --ca "$P/ca-bundle.pem" --cert "$P/client-int.crt" --key "$P/client-int.key"
cat "$P/client-int.crt" "$P/int.crt" >"$P/client-int-full.pem"
check_json "strict: client chain with intermediate accepted" "$(has client_cert_accepted ok) and $(lacks client_chain_incomplete)" \
	"$MTLS" probe "$t" --ca "$P/ca-bundle.pem" --cert "$P/client-int-full.pem" --key "$P/client-int.key" --json
check_output "strict: key that does not match the cert" "client_key_mismatch: the private key given with --key does not belong" \
	"$MTLS" probe "$t" --ca "$P/ca.crt" --cert "$P/client.crt" --key "$P/client-other.key"

echo "# s_server -Verify 1 -verify_return_error -no_tls1_3 (TLS 1.2: judged inside the handshake)"
p=$(free_port); s_server "$p" "${CHAIN[@]}" -Verify 1 -verify_return_error -no_tls1_3
t=127.0.0.1:$p
check_json "TLS 1.2 required: handshake alert without a cert" '.protocol == "TLSv1.2" and .client_auth.required == true and (.client_auth.evidence | test("handshake ends with alert"))' probe "$t" --json
check_json "TLS 1.2: TLS 1.3 refused" '.versions["TLS 1.3"] == "refused" and .versions["TLS 1.2"] == "accepted"' probe "$t" --json
check_json "TLS 1.2: good client accepted" "$(has client_cert_accepted ok)" with client "$t" --json
check_json "TLS 1.2: other CA rejected (unknown_ca)" '.client_auth.rejection_alert == "unknown_ca"' with client-other "$t" --json

echo "# s_server -verify 1 (requested, optional)"
p=$(free_port); s_server "$p" "${CHAIN[@]}" -verify 1
t=127.0.0.1:$p
check_output "optional: detected" "client authentication: requested, optional" probe "$t"
check_json "optional: warn finding, json" "$(has client_auth_optional warn) and .client_auth.required == false" probe "$t" --json
check_status "optional: warnings only exit 0" 0 probe "$t"
check_json "optional: good client accepted" "$(has client_cert_accepted ok)" with client "$t" --json

echo "# s_server -verify 1 -verify_return_error (optional, but bad certs refused)"
p=$(free_port); s_server "$p" "${CHAIN[@]}" -verify 1 -verify_return_error
t=127.0.0.1:$p
check_json "optional strict: no cert lets us in" '.client_auth.required == false' probe "$t" --json
check_json "optional strict: other CA rejected" "$(has client_cert_rejected error) and .client_auth.rejection_alert == \"unknown_ca\"" with client-other "$t" --json

echo "# s_server without client authentication"
p=$(free_port); s_server "$p" "${CHAIN[@]}"
t=127.0.0.1:$p
check_json "no client auth: info without --cert" "$(has client_auth_not_requested info) and .client_auth.requested == false" probe "$t" --json
check_json "no client auth: warn with --cert" "$(has client_auth_not_requested warn)" with client "$t" --json

echo "# nginx with ssl_verify_client on / optional"
for mode in on optional; do
	p=$(free_port)
	mkdir -p "$T/nginx-$mode"
	cat >"$T/nginx-$mode/nginx.conf" <<CONF
daemon off;
master_process off;
pid $T/nginx-$mode/nginx.pid;
error_log $T/nginx-$mode/error.log info;
events { worker_connections 64; }
http {
  access_log $T/nginx-$mode/access.log;
  client_body_temp_path $T/nginx-$mode/body;
  proxy_temp_path $T/nginx-$mode/proxy;
  fastcgi_temp_path $T/nginx-$mode/fastcgi;
  uwsgi_temp_path $T/nginx-$mode/uwsgi;
  scgi_temp_path $T/nginx-$mode/scgi;
  server {
    listen 127.0.0.1:$p ssl;
    ssl_certificate $P/server-full.pem;
    ssl_certificate_key $P/server.key;
    ssl_client_certificate $P/ca.crt;
    ssl_verify_client $mode;
    location / { return 200 "hello \$ssl_client_s_dn\n"; }
  }
}
CONF
	bg nginx -p "$T/nginx-$mode" -c "$T/nginx-$mode/nginx.conf" -e "$T/nginx-$mode/error.log"
	wait_port "$p"
	eval "NGINX_${mode}=127.0.0.1:$p"
done
check_output "nginx on: required at HTTP level, nginx's reason shown" "requested, required .*No required SSL certificate was sent" probe "$NGINX_on"
check_json "nginx on: json required" "$(has client_auth_required ok) and .client_auth.required == true" probe "$NGINX_on" --json
check_json "nginx on: good client accepted" "$(has client_cert_accepted ok)" with client "$NGINX_on" --json
check_output "nginx on: other CA refused at HTTP level" "client_cert_rejected: .*HTTP level.*SSL certificate error" with client-other "$NGINX_on"
check_output "nginx optional: optional" "requested, optional .*200 OK" probe "$NGINX_optional"
check_json "nginx optional: warn" "$(has client_auth_optional warn)" probe "$NGINX_optional" --json
check_json "nginx optional: expired client refused" "$(has client_cert_rejected error) and $(has client_cert_expired error)" with client-expired "$NGINX_optional" --json

echo "# broken servers"
p=$(free_port); s_server "$p" -cert "$P/server-expired.crt" -key "$P/server-expired.key"
check_output "expired server certificate" "server_cert_expired: the server's certificate CN=localhost expired on 2020-01-31" probe "127.0.0.1:$p"
check_status "expired server exits 1" 1 probe "127.0.0.1:$p"
check_json "expired server json" "$(has server_cert_expired error) and .chain[0].days_left < 0" probe "127.0.0.1:$p" --json

p=$(free_port); s_server "$p" -cert "$P/server.crt" -key "$P/server.key"
check_output "incomplete chain (leaf only, issued by an intermediate)" "chain_incomplete: the server sends 1 certificate\(s\) ending at 'CN=localhost', whose issuer 'CN=Probe Intermediate CA' is neither sent nor in" probe "127.0.0.1:$p"
check_json "incomplete chain json" "$(has chain_incomplete error) and .chain_verified == false" probe "127.0.0.1:$p" --json
check_json "incomplete chain that --ca papers over is still a warning" "$(has chain_incomplete warn) and .chain_verified == true" \
	"$MTLS" probe "127.0.0.1:$p" --ca "$P/ca-bundle.pem" --json

p=$(free_port); s_server "$p" -cert "$P/server-wrongname.crt" -key "$P/server-wrongname.key"
check_output "wrong name" "server_name_mismatch: the server's certificate is not valid for '127.0.0.1': its names are dns:other.example" probe "127.0.0.1:$p"
check_json "right name via --servername" "$(has server_name_ok ok)" probe "127.0.0.1:$p" --servername other.example --json
check_json "untrusted root without --ca (system store)" "$(has server_untrusted error) or $(has chain_incomplete error) or $(has server_verify_failed error)" \
	"$MTLS" probe "127.0.0.1:$p" --json

p=$(free_port)
bg openssl s_server -accept "127.0.0.1:$p" -rev -quiet -cert "$P/server-root.crt" -key "$P/server-root.key" -tls1 -cipher DEFAULT@SECLEVEL=0 >"$T/s_server-tls1.log" 2>&1
if wait_port "$p" 5 && echo | openssl s_client -connect "127.0.0.1:$p" -tls1 -cipher DEFAULT@SECLEVEL=0 >/dev/null 2>&1; then
	check_output "TLS 1.0 only: versions" "TLS 1\.0: accepted" probe "127.0.0.1:$p"
	check_json "TLS 1.0 only: error finding" "$(has old_tls_only error) and .versions[\"TLS 1.2\"] == \"refused\" and .versions[\"TLS 1.0\"] == \"accepted\"" probe "127.0.0.1:$p" --json
else
	skip "TLS 1.0 only: this OpenSSL build cannot run 'openssl s_server -tls1' at security level 0"
fi

echo "# not TLS at all, and nobody home"
p=$(free_port)
bg python3 -m http.server --bind 127.0.0.1 "$p" --directory "$T" >"$T/http.log" 2>&1
wait_port "$p"
check_output "plain HTTP server" "not_tls: 127\.0\.0\.1:$p does not speak TLS: it answered with plain HTTP" probe "127.0.0.1:$p"
check_status "plain HTTP exits 1" 1 probe "127.0.0.1:$p"
p=$(free_port)
bg socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" SYSTEM:'echo SSH-2.0-OpenSSH_9.2; sleep 1'
wait_port "$p"
check_json "plain TCP listener (SSH banner)" "$(has not_tls error) and (.findings[0].message | test(\"SSH\"))" probe "127.0.0.1:$p" --json
p=$(free_port)
bg socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" EXEC:cat
wait_port "$p"
check_output "plain TCP echo" "not_tls: .*echo service" probe "127.0.0.1:$p"
p=$(free_port)
check_output "closed port" "connect_refused: could not connect to 127\.0\.0\.1:$p: connection refused" probe "127.0.0.1:$p"
check_json "closed port json" "$(has connect_refused error) and .reachable == false" probe "127.0.0.1:$p" --json
check_status "closed port exits 1" 1 probe "127.0.0.1:$p"

echo "# usage"
check_status "no target is a usage error" 2 "$MTLS" probe
check_status "--cert without --key is a usage error" 2 "$MTLS" probe 127.0.0.1:1 --cert "$P/client.crt"
check_status "bad target is a usage error" 2 "$MTLS" probe localhost
check_output "unreadable --ca names the file" "/nonexistent/ca.pem" "$MTLS" probe 127.0.0.1:1 --ca /nonexistent/ca.pem
check_output "--help lists options" "--servername NAME.*" "$MTLS" probe --help

finish
