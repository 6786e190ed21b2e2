"""Loopback attacks on a TLS receiver, for tests/interop/serve_abuse.sh and
bench: each prints one line of numbers. Usage:
  abuse.py trickle PORT NAME CONNS SECONDS     slowloris on the request head
  abuse.py hold PORT NAME CONNS NEW            hold CONNS, then NEW clients
  abuse.py legit PORT NAME SECONDS             Test requests in a loop
  abuse.py raw PORT NAME [WAIT]                stdin as one request
  abuse.py serve                               raw requests, one a line
      on stdin ("PORT NAME WAIT FILE"): sends FILE, prints the result
      line; one process for a whole test (python starts slowly on a
      loaded machine: about 1.5 s a request otherwise)
"""
import socket, ssl, sys, threading, time

def ctx_for(name):
    ctx = ssl.create_default_context(cafile="ca.crt")
    ctx.load_cert_chain(name + ".crt", name + ".key")
    return ctx

def connect(ctx, port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")

def status_line(s):
    buf = b""
    while b"\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            break
        buf += b
    return buf.split(b"\r\n")[0]

def status_of(s):
    line = status_line(s).split(b" ")
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0

def raw(port, name, wait, data=None, ctx=None):
    """Sends stdin (or DATA) as is; prints the status line (or "closed",
    "timeout") and the milliseconds it took after the handshake."""
    s = connect(ctx or ctx_for(name), port, timeout=wait)
    if data is None:
        data = sys.stdin.buffer.read()
    t0 = time.time()
    try:
        s.sendall(data)
        line = status_line(s).decode("latin-1") or "closed"
    except socket.timeout:
        line = "timeout"
    except (ConnectionError, ssl.SSLError):
        line = "closed"
    print("%s ms=%d" % (line, (time.time() - t0) * 1000), flush=True)
    s.close()

def serve():
    """raw() for each "PORT NAME WAIT FILE" line of stdin, in order."""
    ctxs = {}
    for cmd in sys.stdin:
        port, name, wait, path = cmd.split()
        if name not in ctxs:
            ctxs[name] = ctx_for(name)
        try:
            raw(int(port), name, float(wait), open(path, "rb").read(),
                ctxs[name])
        except OSError as e:
            print("closed ms=0 (%s)" % type(e).__name__, flush=True)

TEST = (b"POST /bin/receive HTTP/1.1\r\nHost: x\r\nAction: Test\r\n"
        b"Path: /content\r\nContent-Length: 0\r\n\r\n")

def trickle(port, name, conns, seconds):
    """Each connection sends a request head one byte every 0.5 s; prints
    how many were closed by the server and the latest close time."""
    ctx = ctx_for(name)
    closed, answers, t0 = [], [], time.time()
    def one():
        try:
            s = connect(ctx, port)
        except OSError:
            closed.append(time.time() - t0)
            return
        s.settimeout(0.5)
        for b in TEST * 100:
            try:
                s.send(bytes([b]))
                data = s.recv(4096)
                if not data:
                    break
                answers.append(data.split(b"\r\n")[0])
                break
            except socket.timeout:
                pass
            except OSError:
                break
            if time.time() - t0 > seconds:
                s.close()
                return
        closed.append(time.time() - t0)
    ts = [threading.Thread(target=one) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("closed=%d of %d last_close_s=%.1f answers=%s" % (
        len(closed), conns, max(closed) if closed else -1,
        sorted(set(a.decode("latin-1") for a in answers))))

def hold(port, name, conns, new):
    """Holds CONNS idle connections, then NEW clients each send one Test;
    prints how many got 200 and the other outcomes."""
    ctx = ctx_for(name)
    held = [connect(ctx, port) for _ in range(conns)]
    time.sleep(0.3)
    ok, other = [0], {}
    lock = threading.Lock()
    def one():
        try:
            s = connect(ctx, port)
            s.sendall(TEST)
            st = status_of(s)
        except (OSError, ssl.SSLError) as e:
            st = type(e).__name__
        with lock:
            if st == 200:
                ok[0] += 1
            else:
                other[st] = other.get(st, 0) + 1
    ts = [threading.Thread(target=one) for _ in range(new)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("ok=%d of %d others=%s" % (ok[0], new, other))
    for s in held:
        s.close()

def legit(port, name, seconds):
    """One new connection per Test request; prints success rate and the
    slowest answer in ms."""
    ctx = ctx_for(name)
    n = ok = 0
    worst = 0.0
    t0 = time.time()
    while time.time() - t0 < seconds:
        n += 1
        t = time.time()
        try:
            s = connect(ctx, port, timeout=3)
            s.sendall(TEST)
            if status_of(s) == 200:
                ok += 1
            s.close()
        except (OSError, ssl.SSLError):
            pass
        worst = max(worst, (time.time() - t) * 1000)
        time.sleep(0.05)
    print("legit ok=%d of %d worst_ms=%.0f" % (ok, n, worst))

if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
        sys.exit(0)
    cmd, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = [float(a) for a in sys.argv[4:]]
    if cmd == "trickle":
        trickle(port, name, int(args[0]), args[1])
    elif cmd == "raw":
        raw(port, name, args[0] if args else 10)
    elif cmd == "hold":
        hold(port, name, int(args[0]), int(args[1]))
    else:
        legit(port, name, args[0])
