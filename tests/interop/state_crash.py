#!/usr/bin/env python3
"""Crash consistency of a CA's state: SIGKILL at chosen system calls.

For each scenario, a dry run counts the state-changing system calls the
command makes (strace -c); then the command is run again from a fresh copy
of the state for each chosen (syscall, Nth call) pair, killed there by
strace fault injection (inject=SYSCALL:signal=KILL:when=N). After each
kill, the next command on the CA runs (it finishes or undoes the
interrupted work) and the state is checked: inventory and files agree,
no temporary file is left, the journal is empty, at most one current
certificate per name, every key matches its certificate; then the
interrupted command is run again and must end in the intended state.
Keystore writes (PKCS#12 and JKS) are killed the same way: the store must
hold exactly the entries before or after (keytool counts them too), no
temporary file may be left, and running the command again ends in the
entries intended.

usage: state_crash.py MTLS WORKDIR [POINTS_PER_SCENARIO | all]
Prints one line per problem and a summary; exits 1 on any problem.
"""
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

MTLS, WORK = sys.argv[1], sys.argv[2]
LIMIT = sys.argv[3] if len(sys.argv) > 3 else "3"
# kill: SIGKILL at the call; enospc: the call fails with ENOSPC (a full
# disk), and the command itself must say so and leave a consistent state.
MODE = sys.argv[4] if len(sys.argv) > 4 else "kill"
FULL_CALLS = ["write", "pwrite64", "fsync", "fdatasync", "ftruncate"]
SYSCALLS = ["openat", "write", "pwrite64", "fsync", "fdatasync", "ftruncate",
            "renameat2", "rename", "link", "unlink", "flock"]
PROBLEMS = []
KILLS = 0
ENV = dict(os.environ, MTLS_LOCK_WAIT="10")


def run(args, cwd, check=False):
    p = subprocess.run(args, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stdout))
    return p


def mtls(cwd, *args, check=False):
    return run([MTLS] + list(args), cwd, check)


def problem(where, what):
    PROBLEMS.append("%s: %s" % (where, what))
    print("PROBLEM %s: %s" % (where, what), flush=True)


def make_template():
    t = os.path.join(WORK, "template")
    os.makedirs(os.path.join(t, "out"))
    mtls(t, "ca", "init", "--dir", "ca", check=True)
    mtls(t, "issue", "old", "--profile", "server", "--ca-dir", "ca",
         "--out", "out", check=True)
    mtls(t, "issue", "gone", "--profile", "client", "--ca-dir", "ca",
         "--out", "out", check=True)
    with open(os.path.join(t, "batch.txt"), "w") as f:
        f.write("b1 server\nb2 client\nb3 node dns:b3.example\nb4 server\n")
    with open(os.path.join(t, "batchf.txt"), "w") as f:
        f.write("old server\nb5 client\n")
    for store in ("ks.p12", "ks.jks"):
        mtls(t, "keystore", "add", store, "--key", "out/old.key", "--cert",
             "out/old.crt", "--alias", "old", "--pass", KS_PASS, check=True)
        mtls(t, "keystore", "trust", store, "--cert", "ca/ca.crt", "--alias",
             "root", "--pass", KS_PASS, check=True)
    return t


KS_PASS = "pass:changeit"
# Keystore writes: (argv, the store, its aliases before, after). A kill at
# any point must leave exactly one of the two sets, never a phantom or a
# duplicate entry, and running the command again must end in the second.
KEYSTORES = {
    "keystore add (PKCS#12)": (
        ["keystore", "add", "ks.p12", "--key", "out/gone.key", "--cert",
         "out/gone.crt", "--alias", "gone", "--pass", KS_PASS], "ks.p12",
        ["old", "root"], ["gone", "old", "root"]),
    "keystore remove (PKCS#12)": (
        ["keystore", "remove", "ks.p12", "--alias", "old", "--pass",
         KS_PASS], "ks.p12", ["old", "root"], ["root"]),
    "keystore trust (JKS)": (
        ["keystore", "trust", "ks.jks", "--cert", "out/gone.crt", "--alias",
         "peer", "--pass", KS_PASS], "ks.jks", ["old", "root"],
        ["old", "peer", "root"]),
}

# name: (argv after mtls, names that must be current afterwards)
SCENARIOS = {
    "issue": (["issue", "new", "--profile", "server", "--ca-dir", "ca",
               "--out", "out"], ["new"]),
    "issue --force": (["issue", "old", "--profile", "server", "--ca-dir",
                       "ca", "--out", "out", "--force"], ["old"]),
    "issue --batch": (["issue", "--batch", "batch.txt", "--ca-dir", "ca",
                       "--out", "out"], ["b1", "b2", "b3", "b4"]),
    "issue --batch --force": (["issue", "--batch", "batchf.txt", "--ca-dir",
                               "ca", "--out", "out", "--force"],
                              ["old", "b5"]),
    "renew": (["renew", "old", "--ca-dir", "ca", "--out", "out"], ["old"]),
    "revoke": (["revoke", "gone", "--ca-dir", "ca"], []),
    "crl": (["crl", "--ca-dir", "ca"], []),
    "ca init": (["ca", "init", "--dir", "ca2"], []),
}


def count_calls(cwd, argv):
    log = os.path.join(WORK, "count.txt")
    run(["strace", "-f", "-c", "-o", log, "-e", "trace=" + ",".join(SYSCALLS),
         MTLS] + argv, cwd, check=True)
    counts = {}
    for line in open(log):
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in SYSCALLS:
            calls = int(parts[3])
            counts[parts[-1]] = calls
    return counts


def pick(counts):
    calls = FULL_CALLS if MODE == "enospc" else SYSCALLS
    points = [(s, n) for s in calls for n in range(1, counts.get(s, 0) + 1)]
    if LIMIT == "all" or len(points) <= int(LIMIT):
        return points
    k = int(LIMIT)
    # Evenly over the run, always including the last call of each kind
    # of move (where a half-done commit is likeliest).
    chosen = [points[(i * len(points)) // k] for i in range(k)]
    for s in ("renameat2", "rename", "fdatasync"):
        if counts.get(s):
            chosen.append((s, counts[s]))
    return sorted(set(chosen))


def pubkey(args, cwd):
    p = run(["openssl"] + args, cwd)
    return p.stdout if p.returncode == 0 else None


def current_rows(db):
    rows = {}
    for name, serial, pem in db.execute(
            "SELECT name, serial, pem FROM certs WHERE status='valid' AND "
            "superseded_by IS NULL ORDER BY rowid"):
        rows.setdefault(name, []).append((serial, pem))
    return rows


def check_ca(where, cwd, keys):
    ca = os.path.join(cwd, "ca")
    out = os.path.join(cwd, "out")
    left = glob.glob(os.path.join(ca, "*.tmp-*")) + \
        glob.glob(os.path.join(out, "*.tmp-*"))
    if left:
        problem(where, "temporary files left: %s" % [os.path.basename(x) for x in left])
    db = sqlite3.connect(os.path.join(ca, "inventory.db"))
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problem(where, "inventory fails integrity_check")
        if db.execute("SELECT count(*) FROM journal").fetchone()[0] != 0:
            problem(where, "journal not empty after the next command")
        rows = current_rows(db)
    finally:
        db.close()
    for name, certs in rows.items():
        if len(certs) > 1:
            problem(where, "%s has %d current certificates" % (name, len(certs)))
        crt = os.path.join(out, name + ".crt")
        key = os.path.join(out, name + ".key")
        if not os.path.exists(crt) or not os.path.exists(key):
            problem(where, "%s is valid in the inventory without its files" % name)
            continue
        if open(crt).read().strip() != certs[-1][1].strip():
            problem(where, "%s.crt is not the current certificate" % name)
        if name in keys and pubkey(["pkey", "-in", key, "-pubout"], cwd) != \
                pubkey(["x509", "-in", crt, "-noout", "-pubkey"], cwd):
            problem(where, "%s.key does not match %s.crt" % (name, name))
    db = sqlite3.connect(os.path.join(ca, "inventory.db"))
    known = set(pem.strip() for (pem,) in db.execute("SELECT pem FROM certs"))
    db.close()
    for crt in glob.glob(os.path.join(out, "*.crt")):
        if open(crt).read().strip() not in known:
            problem(where, "%s on disk is not in the inventory" %
                    os.path.basename(crt))


def check_ca_init(where, cwd):
    ca2 = os.path.join(cwd, "ca2")
    p = mtls(cwd, "ca", "init", "--dir", "ca2")
    if p.returncode != 0 and "already exists" not in p.stdout:
        problem(where, "ca init cannot be run again: " + p.stdout.strip())
        return
    left = glob.glob(os.path.join(ca2, "*.tmp-*"))
    if left:
        problem(where, "temporary files left: %s" % left)
    p = mtls(cwd, "issue", "x", "--profile", "client", "--ca-dir", "ca2",
             "--out", "ca2")
    if p.returncode != 0:
        problem(where, "the CA does not work afterwards: " + p.stdout.strip())


def fresh(tmpl, name):
    """A new copy of the state in WORK/NAME."""
    cwd = os.path.join(WORK, name)
    shutil.rmtree(cwd, ignore_errors=True)
    shutil.copytree(tmpl, cwd, symlinks=True)
    return cwd


def injected(argv, cwd, syscall, action):
    """Runs mtls ARGV with ACTION (strace's inject=) on SYSCALL."""
    return run(["strace", "-f", "-o", "/dev/null", "-e", "trace=" + syscall,
                "-e", "inject=%s:%s" % (syscall, action), MTLS] + argv, cwd)


def settle(name, where, cwd, must):
    """The next command on the CA finishes or undoes what was interrupted
    (a journal row, temporary files); then inventory and files must agree.
    False when there is nothing further to check."""
    if name == "ca init":
        check_ca_init(where, cwd)
        return False
    nxt = mtls(cwd, "crl", "--ca-dir", "ca")
    if nxt.returncode != 0:
        problem(where, "next command failed: " + nxt.stdout.strip())
        return False
    # Keys are compared where the command wrote (openssl costs time).
    check_ca(where, cwd, set(must) | {"old"})
    return True


def store_aliases(cwd, store):
    p = mtls(cwd, "keystore", "list", store, "--json", "--pass", KS_PASS)
    if p.returncode != 0:
        return None
    return sorted(e["alias"] for e in json.loads(p.stdout)["entries"])


def keytool_count(cwd, store):
    """keytool's own count of entries (None without keytool)."""
    if shutil.which("keytool") is None:
        return None
    p = run(["keytool", "-list", "-keystore", store, "-storepass",
             KS_PASS[5:]], cwd)
    return sum(1 for line in p.stdout.splitlines()
               if line.endswith(("PrivateKeyEntry, ", "trustedCertEntry, ")))


def check_store(where, cwd, store, allowed, java, swept=True):
    left = glob.glob(os.path.join(cwd, store + ".tmp-*"))
    if left and swept:
        problem(where, "temporary files left: %s" %
                [os.path.basename(x) for x in left])
    got = store_aliases(cwd, store)
    if got not in allowed:
        problem(where, "%s holds %s, not %s" % (store, got, " or ".join(
            str(a) for a in allowed)))
        return
    n = keytool_count(cwd, store) if java else None
    if n is not None and n != len(got):
        problem(where, "keytool counts %d entries in %s, %d intended" %
                (n, store, len(got)))


def one_store(name, tmpl, syscall, n, last):
    """A keystore write killed (or failed with ENOSPC) at SYSCALL #N."""
    global KILLS
    argv, store, before, after = KEYSTORES[name]
    how = "ENOSPC" if MODE == "enospc" else "kill"
    where = "%s, %s at %s #%d" % (name, how, syscall, n)
    cwd = fresh(tmpl, "run")
    action = "signal=KILL:when=%d" % n
    if MODE == "enospc":
        action = "error=ENOSPC:when=%d%s" % (n, "" if syscall == "write"
                                             else "+")
    p = injected(argv, cwd, syscall, action)
    if p.returncode == 0 and MODE == "kill":
        return
    KILLS += 1
    if p.returncode != 0 and MODE == "enospc" and \
            "full" not in p.stdout and "space" not in p.stdout:
        problem(where, "failed without naming the full disk: " +
                p.stdout.strip())
    if p.returncode != 0 and "added" in p.stdout:
        problem(where, "printed success before failing: " + p.stdout.strip())
    # keytool is slow (a JVM): once per scenario, at its last point.
    check_store(where, cwd, store, [before, after], last, swept=False)
    again = mtls(cwd, *argv)
    if again.returncode != 0 and "already" not in again.stdout and \
            "no entry" not in again.stdout and "not found" not in again.stdout:
        problem(where, "running it again failed: " + again.stdout.strip())
        return
    check_store(where + ", run again", cwd, store, [after], last)


def one(name, argv, must, tmpl, syscall, n):
    global KILLS
    where = "%s, kill at %s #%d" % (name, syscall, n)
    cwd = fresh(tmpl, "run")
    if MODE == "enospc":
        full(name, argv, must, cwd, where.replace("kill", "ENOSPC"), syscall, n)
        return
    p = injected(argv, cwd, syscall, "signal=KILL:when=%d" % n)
    if p.returncode == 0:
        return  # the call was not reached this time (timing-dependent)
    KILLS += 1
    if not settle(name, where, cwd, must):
        return
    again = mtls(cwd, *argv)
    ok = again.returncode == 0 or "already exists" in again.stdout or \
        "already revoked" in again.stdout
    if not ok:
        problem(where, "running it again failed: " + again.stdout.strip())
        return
    check_ca(where + ", run again", cwd, set())
    db = sqlite3.connect(os.path.join(cwd, "ca", "inventory.db"))
    rows = current_rows(db)
    revoked = db.execute("SELECT status FROM certs WHERE name='gone'").fetchone()
    db.close()
    for m in must:
        if m not in rows:
            problem(where, "%s not issued after running it again" % m)
    if name == "revoke" and (revoked is None or revoked[0] != "revoked"):
        problem(where, "gone not revoked after running it again")


def full(name, argv, must, cwd, where, syscall, n):
    """Every call from the Nth on fails with ENOSPC, as on a full disk;
    for write(2), only the Nth: later ones carry the error message."""
    global KILLS
    once = "" if syscall == "write" else "+"
    p = injected(argv, cwd, syscall, "error=ENOSPC:when=%d%s" % (n, once))
    KILLS += 1
    if p.returncode != 0:
        if "full" not in p.stdout and "space" not in p.stdout:
            problem(where, "failed without naming the full disk: " + p.stdout.strip())
        if any(w in p.stdout for w in ("issued ", "renewed ", "wrote ", "CA created")):
            problem(where, "printed success before failing: " + p.stdout.strip())
    settle(name, where, cwd, must)


def main():
    start = time.time()
    tmpl = make_template()
    for name, (argv, must) in SCENARIOS.items():
        points = pick(count_calls(fresh(tmpl, "dry"), argv))
        for syscall, n in points:
            one(name, argv, must, tmpl, syscall, n)
        print("scenario %-22s %3d kill points" % (name, len(points)), flush=True)
    for name, (argv, _, _, _) in KEYSTORES.items():
        points = pick(count_calls(fresh(tmpl, "dry"), argv))
        for i, (syscall, n) in enumerate(points):
            one_store(name, tmpl, syscall, n, i == len(points) - 1)
        print("scenario %-22s %3d kill points" % (name, len(points)), flush=True)
    print("%s: %d, problems: %d, %.0f s" % (
        "kills" if MODE == "kill" else "full-disk runs", KILLS, len(PROBLEMS),
                                              time.time() - start))
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
