#!/usr/bin/env python3
"""Runs a guide (docs/guides/*.md, or the README's tour) as written.

Every ```sh block is executed with bash, in the order of the page, against
the real programs; a block that fails fails the guide. Guides steer the run
with HTML comments, invisible when the page is rendered:

  <!-- guide: hosts=a.example.com,b.example.com ports=8443 needs=keytool -->
      once, before the first block: the host names the guide uses (each gets
      its own loopback address, 127.0.0.11, .12, ..., resolved through
      $MTLS_RESOLVE, curl-style), the fixed ports it names (each replaced by
      a free port in every block and file, so runs never collide), and the
      programs it needs (the guide is skipped, exit 77, when one is missing).
  <!-- guide: hosts=... etc-hosts -->  the host names also resolve for every
      program (certbot, lego, curl without --resolve): the guide runs in a
      private mount namespace (unshare -m; -rm when not root) where a copy
      of /etc/hosts naming them is bound over /etc/hosts. The real file is
      never touched; without namespaces the guide is skipped (exit 77).
  <!-- guide: host=NAME -->            the next block runs on host NAME (a
      name of hosts=, or its first label): its own directory, environment,
      current directory, $HOME and `hostname`; 0.0.0.0 in its blocks is its
      own address. Default host: "local" (127.0.0.1).
  <!-- guide: on=NAME,NAME -->         the next block runs on each host named.
  <!-- guide: background wait=PORT --> the next block is a server: it runs in
      the background (stopped at the end) and the guide goes on once PORT
      accepts connections (timeout=S, default 30 s).
  <!-- guide: file=PATH -->            the next block (any language) is the
      content of PATH on the current host, written before the next sh block.
  <!-- guide: exit=N -->               the next block must exit with N.
  <!-- guide: skip reason="..." -->    the next block is shown, not run (a
      manual step; the guide says why).

Inside an sh block, a line "#> TEXT" says the block's output holds TEXT
("..." matches anything). Between hosts, `scp [-r] SRC DST` copies, where
HOST:PATH names PATH in HOST's directory.

Usage: guide.py GUIDE.md     ($MTLS names the mtls binary; KEEP_TMP=1 keeps
the work directory; GUIDE_VERBOSE=1 shows every block's output)
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BLOCK_TIMEOUT = 60
WAIT_PORT = 30

SCP_SHIM = r'''#!/usr/bin/env python3
# scp between the guide's host directories: HOST:PATH is PATH on HOST.
import os, shutil, sys
hosts = os.environ["GUIDE_HOSTS_DIR"]
args = [a for a in sys.argv[1:] if not a.startswith("-")]
def where(a):
    if ":" in a and not a.startswith("/"):
        h, p = a.split(":", 1)
        h = h.split("@")[-1].split(".")[0]
        base = os.path.join(hosts, h)
        os.makedirs(base, exist_ok=True)
        return os.path.join(base, p or ".")
    return a
srcs, dst = [where(a) for a in args[:-1]], where(args[-1])
if len(srcs) > 1 or args[-1].endswith("/"):
    os.makedirs(dst, exist_ok=True)
for s in srcs:
    s = s.rstrip("/") if os.path.isdir(s) else s
    d = os.path.join(dst, os.path.basename(s)) if os.path.isdir(dst) else dst
    if os.path.isdir(s):
        shutil.copytree(s, d, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(d) or ".", exist_ok=True)
        shutil.copy2(s, d)
'''


HOSTNAME_SHIM = """#!/bin/sh
# The guide's host name: -s the first label, else the whole name.
case "$1" in -s) echo "${HOSTNAME%%.*}" ;; *) echo "$HOSTNAME" ;; esac
"""


def parse_attrs(text):
    """key=value pairs (values may be quoted) and bare flags."""
    attrs = {}
    for tok in shlex.split(text):
        k, sep, v = tok.partition("=")
        attrs[k] = v if sep else True
    return attrs


def parse(path):
    """Returns (header attrs, [(line, lang, text, attrs)])."""
    header, blocks, pending = {}, [], {}
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*<!--\s*guide:(.*?)-->\s*$", line)
        if m:
            a = parse_attrs(m.group(1))
            if any(k in a for k in ("hosts", "ports", "needs", "etc-hosts")) and not blocks:
                header.update(a)
            else:
                pending.update(a)
            i += 1
            continue
        m = re.match(r"(\s*)```(\S*)\s*$", line)
        if m:
            indent, lang, start = m.group(1), m.group(2), i + 1
            body = []
            i += 1
            while i < len(lines) and not re.match(r"\s*```\s*$", lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            blocks.append((start, lang, "\n".join(body) + "\n", pending))
            pending = {}
        i += 1
    return header, blocks


def host_addrs(header):
    """[(name, address)]: the guide's hosts on 127.0.0.11, .12, ..."""
    names = [h for h in str(header.get("hosts", "")).split(",") if h]
    return [(h, "127.0.0.%d" % (11 + i)) for i, h in enumerate(names)]


def in_private_hosts(header, guide):
    """Runs this guide again in a private mount namespace whose /etc/hosts
    also names the guide's hosts; returns its exit status."""
    text = open("/etc/hosts", encoding="utf-8").read()
    text += "\n# the guide's hosts\n" + "".join(
        "%s %s %s\n" % (a, h, h.split(".")[0]) for h, a in host_addrs(header))
    fd, hosts = tempfile.mkstemp(prefix="mtls-guide-hosts-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(hosts, 0o644)
    cmd = ["unshare", "-m", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.insert(1, "-r")
    script = ('mount --bind "$0" /etc/hosts || { echo "skip - no private mount '
              'namespace for /etc/hosts"; exit 77; }; exec "$@"')
    env = dict(os.environ, GUIDE_ETC_HOSTS=hosts)
    try:
        return subprocess.call(cmd + ["sh", "-c", script, hosts, sys.executable,
                                      os.path.abspath(__file__), guide], env=env)
    except OSError as e:
        print("skip - %s needs unshare: %s" % (os.path.basename(guide), e))
        return 77
    finally:
        os.unlink(hosts)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(addr, port, proc, limit):
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((addr, port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Run:
    def __init__(self, guide):
        self.guide = guide
        self.work = tempfile.mkdtemp(prefix="mtls-guide-")
        self.hosts_dir = os.path.join(self.work, "hosts")
        self.bin = os.path.join(self.work, "bin")
        os.makedirs(self.bin)
        os.makedirs(self.hosts_dir)
        self.background = []
        self.portmap = {}
        self.failed = 0
        self.ran = 0

    def setup(self, header):
        mtls = os.environ.get("MTLS") or os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "src", "mtls")
        os.symlink(os.path.abspath(mtls), os.path.join(self.bin, "mtls"))
        for name, text in (("scp", SCP_SHIM), ("hostname", HOSTNAME_SHIM)):
            with open(os.path.join(self.bin, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(self.bin, name), 0o755)
        for p in str(header.get("ports", "")).split(","):
            if p:
                self.portmap[p] = str(free_port())
        resolve = []
        self.fqdn, self.addr = {}, {"local": "127.0.0.1"}
        for h, addr in host_addrs(header):
            short = h.split(".")[0]
            self.fqdn[short] = h
            self.addr[short] = addr
            for p in self.portmap.values():
                resolve.append("%s:%s:%s" % (h, p, self.addr[short]))
        self.env = dict(os.environ)
        self.env["PATH"] = self.bin + ":" + self.env["PATH"]
        self.env["GUIDE_HOSTS_DIR"] = self.hosts_dir
        self.env["MTLS_RESOLVE"] = ",".join(resolve)
        self.env.pop("MTLS_CA_DIR", None)
        # faketime preloads a library; let the sanitizer runtime accept that.
        self.env["ASAN_OPTIONS"] = "verify_asan_link_order=0:" + self.env.get("ASAN_OPTIONS", "")

    def rewrite(self, text, host="local"):
        for old, new in self.portmap.items():
            text = re.sub(r"(?<![0-9])%s(?![0-9])" % re.escape(old), new, text)
        return text.replace("0.0.0.0", self.addr.get(host, "127.0.0.1"))

    def host(self, name):
        d = os.path.join(self.hosts_dir, name)
        if not os.path.exists(os.path.join(d, ".guide-cwd")):
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, ".guide-env"), "w") as f:
                # Each host has its own home (push's default queue lives there).
                f.write("export HOME=%s HOSTNAME=%s\nunset XDG_STATE_HOME\n" % (
                    shlex.quote(d), shlex.quote(self.fqdn.get(name, name))))
            with open(os.path.join(d, ".guide-cwd"), "w") as f:
                f.write(d)
        return d

    def script(self, hostdir, body):
        env_file = os.path.join(hostdir, ".guide-env")
        cwd_file = os.path.join(hostdir, ".guide-cwd")
        return ("set -a; . %s; set +a\ncd \"$(cat %s)\"\n"
                "trap 'export -p > %s; pwd > %s' EXIT\n"
                "set -e -o pipefail\n%s" % (
                    shlex.quote(env_file), shlex.quote(cwd_file),
                    shlex.quote(env_file), shlex.quote(cwd_file), body))

    def run_block(self, n, line, text, attrs):
        hname = str(attrs.get("host", "local")).split(".")[0]
        hostdir = self.host(hname)
        body = self.rewrite(text, hname)
        label = "block %d (line %d%s)" % (n, line, ", host " + attrs["host"] if "host" in attrs else "")
        script = self.script(hostdir, body)
        if "background" in attrs:
            log = open(os.path.join(self.work, "bg-%d.log" % n), "w+")
            proc = subprocess.Popen(["bash", "-c", script], cwd=hostdir, env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.background.append(proc)
            port = self.portmap.get(str(attrs.get("wait", "")), str(attrs.get("wait", "")))
            limit = int(attrs.get("timeout", WAIT_PORT))
            if port and not wait_port(self.addr.get(hname, "127.0.0.1"), int(port), proc, limit):
                log.seek(0)
                return self.report(False, label, body, log.read() + "\n(port %s did not open)" % port)
            return self.report(True, label + " in the background", body, "")
        start = time.time()
        try:
            p = subprocess.run(["bash", "-c", script], cwd=hostdir, env=self.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=BLOCK_TIMEOUT, start_new_session=True)
            out, code = p.stdout.decode("utf-8", "replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            return self.report(False, label, body, out + "\n(timed out after %d s)" % BLOCK_TIMEOUT)
        want = int(attrs.get("exit", 0))
        ok, why = code == want, "" if code == want else "exit %d, wanted %d" % (code, want)
        for exp in re.findall(r"^\s*#>\s?(.*)$", body, re.M):
            exp = exp.strip()
            rx = ".*?".join(re.escape(part) for part in exp.split("..."))
            if not re.search(rx, out):
                ok, why = False, (why + "; " if why else "") + "output lacks: " + exp
        return self.report(ok, "%s %.1fs" % (label, time.time() - start), body, out + ("\n" + why if why else ""))

    def report(self, ok, label, body, out):
        self.ran += 1
        if ok:
            print("ok - " + label)
            if os.environ.get("GUIDE_VERBOSE") == "1" and out.strip():
                print("".join("    " + line + "\n" for line in out.rstrip().split("\n")))
        else:
            self.failed += 1
            print("FAIL - " + label)
            print("  block:\n" + "".join("    " + line + "\n" for line in body.rstrip().split("\n")))
            print("  output:\n" + "".join("    " + line + "\n" for line in out.rstrip().split("\n")[-40:]))
        sys.stdout.flush()
        return ok

    def write_file(self, attrs, text):
        hname = str(attrs.get("host", "local")).split(".")[0]
        hostdir = self.host(hname)
        cwd = open(os.path.join(hostdir, ".guide-cwd")).read().strip()
        path = os.path.join(cwd, attrs["file"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.rewrite(text, hname))

    def stop(self):
        for proc in self.background:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.background:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: guide.py GUIDE.md")
    guide = sys.argv[1]
    header, blocks = parse(guide)
    for prog in str(header.get("needs", "")).split(","):
        if prog and not shutil.which(prog) and not os.path.exists(prog):
            print("skip - %s needs %s" % (os.path.basename(guide), prog))
            sys.exit(77)
    if "etc-hosts" in header and "GUIDE_ETC_HOSTS" not in os.environ:
        sys.exit(in_private_hosts(header, guide))
    run = Run(guide)
    run.setup(header)
    t0 = time.time()
    try:
        n = 0
        for line, lang, text, attrs in blocks:
            if "file" in attrs:
                run.write_file(attrs, text)
                continue
            if lang != "sh":
                continue
            n += 1
            if "skip" in attrs:
                print("skip - block %d (line %d): %s" % (n, line, attrs.get("reason", "manual step")))
                continue
            hosts = str(attrs["on"]).split(",") if "on" in attrs else [attrs.get("host", "local")]
            ok = True
            for h in hosts:
                ok = run.run_block(n, line, text, dict(attrs, host=h)) and ok
            if not ok:
                break
    finally:
        run.stop()
        if os.environ.get("KEEP_TMP") == "1":
            print("kept " + run.work)
        else:
            shutil.rmtree(run.work, ignore_errors=True)
    print("%d blocks run, %d failed, %.1f s" % (run.ran, run.failed, time.time() - t0))
    sys.exit(1 if run.failed or run.ran == 0 else 0)


if __name__ == "__main__":
    main()
