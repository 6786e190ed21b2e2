#!/bin/bash
# bench/bodies.sh: the receiver's memory while large bodies arrive. Starts
# `mtls serve`, sends N (default 8) Activate requests of SIZE MiB (default
# 60) at once with curl, and prints the receiver's resident memory before
# (VmRSS) and its peak (VmHWM), and whether every file arrived intact.
#
#   MTLS=build/src/mtls bench/bodies.sh [N [SIZE_MIB]]
#
# Exit status: 0 when every upload got 200 and its file matches.
set -u
here=$(cd "$(dirname "$0")" && pwd)
MTLS=${MTLS:-$here/../build/src/mtls}
n=${1:-8}
mib=${2:-60}
. "$here/lib.sh"

pki_ca . ca
pki_issue . ca server server
pki_issue . ca client client
head -c $((mib * 1024 * 1024)) /dev/urandom >body
P=$(free_port)
"$MTLS" serve --listen 127.0.0.1:$P --cert server.crt --key server.key \
	--ca ca.crt --root "$T/root" --insecure-no-map \
	--max-body $(((mib + 1) * 1024 * 1024)) 2>"$T/serve.log" &
S=$!
PIDS+=($S)
wait_port $P
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
before=$(kb $S VmRSS)
cpids=()
for ((i = 0; i < n; i++)); do
	curl -sS -o /dev/null -w '%{http_code}\n' --cacert ca.crt --cert client.crt \
		--key client.key -H 'Action: Activate' -H "Path: /big/$i" \
		--data-binary @body "https://127.0.0.1:$P/bin/receive" >"code.$i" &
	cpids+=($!)
done
wait "${cpids[@]}"
peak=$(kb $S VmHWM)
ok=0
for ((i = 0; i < n; i++)); do
	[ "$(cat "code.$i")" = 200 ] && cmp -s body "root/big/$i" && ok=$((ok + 1))
done
printf '%d bodies of %d MiB at once: receiver RSS %d MB before, peak %d MB; %d of %d stored intact\n' \
	"$n" "$mib" $((before / 1000)) $((peak / 1000)) "$ok" "$n"
[ "$ok" = "$n" ]
