#!/bin/bash
# bench/requests.sh: keep-alive requests per server-CPU-second, `mtls serve`
# versus nginx (one worker, ssl_verify_client on, same P-256 certificates,
# TLS 1.3). Each of CLIENTS curl processes opens one connection and sends
# REQUESTS replication Test requests on it (POST /bin/receive, Action:
# Test; nginx answers every request with the same 26 bytes). mtls serve
# does what it does for a real Test: principal, Path check, access log
# (to a file here); nginx's access log is off, so nginx is favoured.
# Servers pinned to SERVER_CPU, clients to CLIENT_CPU; work counted per
# CPU-second of the server process (utime+stime), ROUNDS alternating runs,
# medians and their ratio printed.
#
#   MTLS=build/src/mtls bench/requests.sh
#   ROUNDS=5 CLIENTS=4 REQUESTS=2000 bench/requests.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
MTLS=${MTLS:-$here/../build/src/mtls}
MTLS=$(realpath "$MTLS")
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
REQUESTS=${REQUESTS:-1500}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
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
	access_log off;
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
		location / { return 200 "ReplicationAction TEST ok."; }
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

# run PORT PIDS...: prints "requests cpu_seconds" (only 200s count).
run() {
	local port=$1 i n c0 c1 total=0
	shift
	for ((i = 0; i < CLIENTS; i++)); do
		{
			echo 'request = "POST"'
			echo 'header = "Action: Test"'
			echo 'header = "Path: /content"'
			echo 'data = ""'
			echo 'write-out = "%{http_code}\\n"'
			for ((n = 0; n < REQUESTS; n++)); do
				echo "url = \"https://127.0.0.1:$port/bin/receive\""
				echo 'output = "/dev/null"'
			done
		} >"$T/curl.$i"
	done
	c0=$(cpu_of "$@")
	for ((i = 0; i < CLIENTS; i++)); do
		taskset -c "$CLIENT_CPU" curl -sS --cacert ca.crt --cert client.crt \
			--key client.key -K "$T/curl.$i" >"$T/out.$i" 2>&1 &
	done
	wait $(jobs -p | grep -v -E "^($MTLS_PID|$NGINX_MASTER)$")
	c1=$(cpu_of "$@")
	total=$(cat "$T"/out.* | grep -c '^200$')
	echo "$total $(echo "$c1 $c0" | awk '{printf "%.3f", $1 - $2}')"
}

echo "server core $SERVER_CPU, client core $CLIENT_CPU; $CLIENTS curl x $REQUESTS" \
	"keep-alive POST /bin/receive (Action: Test), $ROUNDS rounds; P-256, TLS 1.3"
echo "$(openssl version); $(nginx -v 2>&1); $(curl --version | head -1 | cut -d' ' -f1-2)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
M=() N=()
for ((r = 1; r <= ROUNDS; r++)); do
	read -r h c < <(run "$MP" "$MTLS_PID")
	m=$(echo "$h $c" | awk '{print ($2 > 0 ? $1 / $2 : 0)}')
	printf '  round %d  mtls serve: %6d requests / %6.2f CPU-s = %7.0f /CPU-s\n' "$r" "$h" "$c" "$m"
	read -r h c < <(run "$NP" $NGINX_PIDS)
	n=$(echo "$h $c" | awk '{print ($2 > 0 ? $1 / $2 : 0)}')
	printf '  round %d  nginx:      %6d requests / %6.2f CPU-s = %7.0f /CPU-s\n' "$r" "$h" "$c" "$n"
	M+=("$m") N+=("$n")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
m=$(med "${M[@]}") n=$(med "${N[@]}")
echo "$m $n" | awk '{printf "keep-alive requests per server-CPU-second, medians: mtls serve %.0f, nginx %.0f; ratio %.2fx\n", $1, $2, $1 / $2}'
