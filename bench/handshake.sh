#!/bin/bash
# bench/handshake.sh: full mutual-TLS handshakes per server-CPU-second,
# `mtls serve` versus nginx (one worker, ssl_verify_client on, same
# certificates), then with session resumption. P-256 certificates, TLS 1.3.
#
# Both servers are pinned to one core (SERVER_CPU) and driven by the same
# neutral client, CLIENTS parallel `openssl s_time -new -www /` pinned to
# the other core (CLIENT_CPU). Work is counted per CPU-second of the server
# process (utime+stime of all its threads from /proc/PID/stat), because the
# machine is shared and wall-clock rates wander. The servers run
# alternately, ROUNDS times, and the ratio of the totals is printed.
#
#   MTLS=build/src/mtls bench/handshake.sh            (defaults below)
#   SECONDS_PER_RUN=10 ROUNDS=2 CLIENTS=4 bench/handshake.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
MTLS=${MTLS:-$here/../build/src/mtls}
MTLS=$(realpath "$MTLS")
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-4}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MODES=${MODES:-"new reuse"}
. "$here/lib.sh"
pki_ca . ca
pki_issue . ca server server
pki_issue . ca client client
mkdir -p root nginx/logs

MP=$(free_port)
taskset -c "$SERVER_CPU" "$MTLS" serve --listen 127.0.0.1:$MP --cert server.crt \
	--key server.key --ca ca.crt --root "$T/root" --insecure-no-map 2>"$T/mtls.log" &
MTLS_PID=$!
PIDS+=($MTLS_PID)

NP=$(free_port)
cat >nginx/nginx.conf <<CONF
worker_processes 1;
error_log $T/nginx/logs/error.log;
pid $T/nginx/nginx.pid;
events { worker_connections 1024; }
http {
	access_log $T/nginx/logs/access.log;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server {
		listen 127.0.0.1:$NP ssl;
		ssl_certificate $T/server.crt;
		ssl_certificate_key $T/server.key;
		ssl_client_certificate $T/ca.crt;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / { return 200 "ok\n"; }
	}
}
CONF
taskset -c "$SERVER_CPU" nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" \
	-g 'daemon off;' 2>"$T/nginx/stderr" &
NGINX_MASTER=$!
PIDS+=($NGINX_MASTER)
wait_port "$MP"
wait_port "$NP"
sleep 0.3
NGINX_PIDS="$NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')"

# run PORT MODE PIDS...: prints "handshakes cpu_seconds".
run() {
	local port=$1 mode=$2 i n c0 c1 total=0
	shift 2
	c0=$(cpu_of "$@")
	for ((i = 0; i < CLIENTS; i++)); do
		taskset -c "$CLIENT_CPU" openssl s_time -connect 127.0.0.1:$port \
			-"$mode" -www / -tls1_3 -cert client.crt -key client.key \
			-CAfile ca.crt -time "$SECONDS_PER_RUN" >"$T/st.$i" 2>&1 &
	done
	wait $(jobs -p | grep -v -E "^($MTLS_PID|$NGINX_MASTER)$")
	c1=$(cpu_of "$@")
	for ((i = 0; i < CLIENTS; i++)); do
		n=$(sed -nE 's/^([0-9]+) connections in [0-9.]+ real seconds.*/\1/p' "$T/st.$i" | tail -1)
		total=$((total + ${n:-0}))
	done
	echo "$total $(echo "$c1 $c0" | awk '{printf "%.3f", $1 - $2}')"
}

echo "server core $SERVER_CPU, client core $CLIENT_CPU; $CLIENTS x openssl s_time" \
	"-www / -tls1_3, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds; P-256 certificates"
echo "$(openssl version); $(nginx -v 2>&1); mtls $("$MTLS" --version | head -1)"
for mode in $MODES; do
	mh=0 mc=0 nh=0 nc=0
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r h c < <(run "$MP" "$mode" "$MTLS_PID")
		printf '  %-6s round %d  mtls serve: %6d handshakes / %6.2f CPU-s = %7.0f /CPU-s\n' \
			"$mode" "$r" "$h" "$c" "$(echo "$h $c" | awk '{print ($2 > 0 ? $1 / $2 : 0)}')"
		mh=$((mh + h)); mc=$(echo "$mc $c" | awk '{print $1 + $2}')
		read -r h c < <(run "$NP" "$mode" $NGINX_PIDS)
		printf '  %-6s round %d  nginx:      %6d handshakes / %6.2f CPU-s = %7.0f /CPU-s\n' \
			"$mode" "$r" "$h" "$c" "$(echo "$h $c" | awk '{print ($2 > 0 ? $1 / $2 : 0)}')"
		nh=$((nh + h)); nc=$(echo "$nc $c" | awk '{print $1 + $2}')
	done
	echo "$mode $mh $mc $nh $nc" | awk '{m = $2 / $3; n = $4 / $5;
		printf "%s: mtls serve %.0f, nginx %.0f handshakes per server-CPU-second; ratio %.2fx\n",
		($1 == "new" ? "full handshakes" : "resumed"), m, n, m / n}'
done
# PERF=1: where each server's CPU goes (full handshakes), by library.
if [ "${PERF:-0}" = 1 ]; then
	for who in mtls nginx; do
		if [ $who = mtls ]; then port=$MP pids=$MTLS_PID; else
			port=$NP pids=$(pgrep -P "$NGINX_MASTER" | head -1); fi
		for ((i = 0; i < CLIENTS; i++)); do
			taskset -c "$CLIENT_CPU" openssl s_time -connect 127.0.0.1:$port \
				-"${PERF_MODE:-new}" -www / -tls1_3 -cert client.crt \
				-key client.key -CAfile ca.crt -time 7 >/dev/null 2>&1 &
		done
		sleep 1
		perf record -F 1999 -g -p "$pids" -o "$T/$who.perf" -- sleep 5 >/dev/null 2>&1
		wait $(jobs -p | grep -v -E "^($MTLS_PID|$NGINX_MASTER)$")
		echo "== $who: server CPU by library (perf, ${PERF_MODE:-new})"
		perf report -i "$T/$who.perf" --no-children --sort dso 2>/dev/null |
			grep -E '^ +[0-9]' | head -8
		[ -n "${PERF_KEEP:-}" ] && cp "$T/$who.perf" "$PERF_KEEP.$who.perf"
	done
fi
grep -c "handshake refused" "$T/mtls.log" | xargs -I{} echo "mtls serve logged {} refused handshakes"
