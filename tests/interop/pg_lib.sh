# PostgreSQL for the tests (sourced after lib.sh): a throwaway cluster in a
# temporary directory, on a free 127.0.0.1 port and a socket directory of
# its own, trust authentication for the local user "mtls", stopped by
# pg_stop (call it from the test's exit trap).
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_DIR=
PG_PORT=

# 0 when the PostgreSQL server binaries are installed.
pg_available() {
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

# Runs a server binary as the cluster's owner: PostgreSQL refuses to run
# as root, so root hands it to the unprivileged "postgres" (or "nobody").
pg_as() {
	if [ "$(id -u)" -ne 0 ]; then
		"$@"
	elif id postgres >/dev/null 2>&1; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && runuser -u nobody -- "$@")
	fi
}

pg_owner() {
	if [ "$(id -u)" -ne 0 ]; then id -un
	elif id postgres >/dev/null 2>&1; then echo postgres
	else echo nobody; fi
}

pg_start() {
	PG_DIR=$(mktemp -d /tmp/mtls-pg-XXXXXX)
	chown "$(pg_owner)" "$PG_DIR"
	PG_PORT=$(free_port)
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U mtls --auth=trust \
		--no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 || {
		cat "$PG_DIR/initdb.log" >&2
		return 1
	}
	pg_ctl_start
	pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U mtls ca
}

pg_ctl_start() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
		-o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" \
		start >/dev/null
}

# pg_ctl_stop [MODE]: fast by default; "immediate" is a crash.
pg_ctl_stop() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w -t 30 stop >/dev/null
}

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	[ -f "$PG_DIR/data/postmaster.pid" ] && pg_ctl_stop immediate 2>/dev/null
	rm -rf "$PG_DIR"
	PG_DIR=
}

# pg_url [DB]: the URL of database DB (default "ca"), no password.
pg_url() {
	echo "postgresql://mtls@127.0.0.1:$PG_PORT/${1:-ca}"
}

# pg_createdb NAME
pg_createdb() {
	pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U mtls "$1"
}

# pg_sql [DB] SQL: one value per line, no headers.
pg_sql() {
	local db=ca
	[ $# -gt 1 ] && { db=$1; shift; }
	pg_as "$PG_BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U mtls -d "$db" -c "$1"
}

# pg_begin [EXTRA_EXIT_COMMAND]: a PostgreSQL of this test's own, stopped
# at exit (after EXTRA_EXIT_COMMAND, e.g. printing the servers' logs).
# scripts/deps.sh test installs the server; without it the test says so
# and skips rather than failing on a machine set up for building only.
pg_begin() {
	if ! pg_available; then
		skip "PostgreSQL server binaries (scripts/deps.sh test installs postgresql)"
		finish
		exit $?
	fi
	trap "pg_stop; ${1:+$1;} cleanup" EXIT
	pg_start || { echo "cannot start PostgreSQL" >&2; exit 1; }
}
