#!/bin/bash
# The long fuzzing run: each named parser target (default: the three that
# read what the network sends the receiver and the OCSP responder, plus
# URLs) for MINUTES (default 10) in turn, at the lowest CPU priority, one
# at a time. The grown corpus and each log stay in build-fuzz/long/ and a
# later run continues from them. Exits non-zero at the first finding.
#
#   fuzz/long.sh [MINUTES [TARGET...]]
#   fuzz/long.sh 10 ocsp_req path url
#
# Record what it prints (executions, coverage, corpus) in docs/abuse.md.
set -eu
min=${1:-10}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- ocsp_req path url
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/build-fuzz/long"
exec nice -n 19 "$root/fuzz/run.sh" -k "$root/build-fuzz/long" \
	$((min * 60)) "$@"
