# Shared by serve_crash.sh and serve_inflight.sh (sourced after lib.sh):
# talking to an `mtls serve` receiver at $U whose state is in $T/rstate,
# as the author (ca.crt, author.crt and author.key in the current
# directory).

# receiver_post ACTION PATH ID [curl args...]: posts an item to the
# receiver; prints what the curl args ask for (-w, -D -) without carriage
# returns, then the body.
receiver_post() {
	local a=$1 p=$2 id=$3
	shift 3
	curl -sS -m 20 -o "$T/body" --cacert ca.crt --cert author.crt \
		--key author.key -H "Action: $a" -H "Path: $p" -H "Item-Id: $id" \
		"$@" "$U/bin/receive" 2>&1 | tr -d '\r'
	cat "$T/body" 2>/dev/null
}

# receiver_rows ID: how many times the receiver recorded ID as applied,
# and how many of its rows are still on their way ("placing").
receiver_rows() {
	python3 - "$T/rstate/.mtls-receiver.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
a = db.execute("SELECT count(*) FROM items WHERE id = ?", (sys.argv[2],)).fetchone()[0]
p = db.execute("SELECT count(*) FROM placing").fetchone()[0]
print("applied=%d placing=%d" % (a, p))
PY
}
