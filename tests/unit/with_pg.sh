#!/usr/bin/env bash
# with_pg.sh TEST [ARGS]: runs a unit test with $MTLS_TEST_PG_URL naming a
# throwaway PostgreSQL database, started here and stopped on exit. Without
# the server binaries the test runs alone (its PostgreSQL cases skip).
set -u
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
. "$(dirname "$0")/../interop/pg_lib.sh"
if ! pg_available; then
	exec "$@"
fi
trap pg_stop EXIT
pg_start >/dev/null || { echo "cannot start PostgreSQL" >&2; exit 1; }
MTLS_TEST_PG_URL=$(pg_url) "$@"
