#!/usr/bin/env python3
"""Keeps lib/ layered: the folders and their arrows in docs/architecture.md
are the real ones, nothing calls or includes upwards, no two files form a
cycle, and libmtls exports only the public list.

    scripts/check-layers.py [--build DIR] [--src DIR]   check the tree
    scripts/check-layers.py --self-test [--build DIR]   plant one violation
                                                        of each rule in a
                                                        copy; each must fail

Rules (each failure is one line naming the files and the rule):
  drawing   every folder of lib/ is a node of the mermaid drawing in
            docs/architecture.md; every real folder-to-folder dependency
            (an #include or a call) is an arrow there, and every arrow is a
            real dependency; the arrows form no cycle (they are the layers)
  layer     a file includes a header, or calls a function, of a folder that
            is not below its own (arrows point down)
  cycle     files that call each other in a circle (call graph from `nm` of
            the objects), or headers that include each other
  src       src/ (the command) includes only the public headers mtls/*.h
  exports   when lib/libmtls.sym exists: the library exports a symbol that
            is not on that list (nm -D of libmtls.so, or the default-
            visibility globals of the objects for a static build)

The call graph needs the objects, so the check runs after a build; the
include rules run on the sources alone.
"""

import argparse
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)
NODE = re.compile(r'(\w+)\s*(?:\[\s*"?([^"\]]+)"?\s*\])?')
ARROW = re.compile(r'^\s*(\w+)(?:\s*\[[^\]]*\])?\s*-->\s*(\w+)(?:\s*\[[^\]]*\])?\s*$')
DECL = re.compile(r"\b(mtls_\w+)\s*\(")


class Tree:
    """The sources and objects one check looks at."""

    def __init__(self, src, objs, drawing, symlist, shlib):
        self.src = src            # repository root
        self.objs = objs          # {"base/err.c": "/path/base_err.c.o"}
        self.drawing = drawing    # path of docs/architecture.md
        self.symlist = symlist    # path of lib/libmtls.sym or None
        self.shlib = shlib        # path of libmtls.so or None
        self.errors = []

    def err(self, rule, msg):
        self.errors.append("%s: %s" % (rule, msg))


def lib_files(src):
    """Every .c and .h under lib/, relative to lib/."""
    out = []
    for ext in ("c", "h"):
        out += glob.glob(os.path.join(src, "lib", "**", "*." + ext), recursive=True)
    return sorted(os.path.relpath(p, os.path.join(src, "lib")) for p in out)


def folder(rel):
    return os.path.dirname(rel)


def objects_of(build, src):
    """Maps lib/ sources to their objects in a meson build directory
    (meson names lib/base/err.c's object libmtls.*.p/base_err.c.o)."""
    found = {}
    cs = [f for f in lib_files(src) if f.endswith(".c")]
    dirs = sorted(glob.glob(os.path.join(build, "lib", "*.p")))
    for c in cs:
        mangled = c.replace("/", "_") + ".o"
        for d in dirs:
            o = os.path.join(d, mangled)
            if os.path.exists(o):
                found[c] = o
                break
    return found


def parse_drawing(path):
    """Nodes {id: folder} and arrows {(folder, folder)} of the first mermaid
    block of PATH."""
    text = open(path, encoding="utf-8").read()
    m = MERMAID.search(text)
    if m is None:
        return None, None
    nodes, arrows = {}, set()
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith("%%") or line.startswith("flowchart") \
                or line.startswith("graph") or line in ("end",) \
                or line.startswith("subgraph") or line.startswith("classDef") \
                or line.startswith("class "):
            continue
        for nid, label in re.findall(r'(\w+)\s*\[\s*"?([^"\]]+?)"?\s*\]', line):
            nodes[nid] = label.strip().rstrip("/")
        a = re.match(r'^(\w+)(?:\s*\[[^\]]*\])?\s*-->\s*(\w+)', line)
        if a:
            arrows.add((a.group(1), a.group(2)))
    for a, b in list(arrows):
        for n in (a, b):
            nodes.setdefault(n, n)
    return nodes, {(nodes[a], nodes[b]) for a, b in arrows}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


_SYMBOLS = {}


def symbols(obj):
    """(defined globals, undefined) of one object, from nm -P."""
    if obj in _SYMBOLS:
        return _SYMBOLS[obj]
    defined, undef = set(), set()
    for line in run(["nm", "-P", obj]).splitlines():
        p = line.split()
        if len(p) < 2:
            continue
        if p[1] == "U":
            undef.add(p[0])
        elif p[1] in ("T", "D", "B", "R", "V", "W", "C", "G", "S", "i"):
            defined.add(p[0])
    _SYMBOLS[obj] = (defined, undef)
    return defined, undef


def sccs(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def reach(arrows):
    """Transitive closure of the drawing: folder -> folders below it."""
    down = collections.defaultdict(set)
    for a, b in arrows:
        down[a].add(b)
    changed = True
    while changed:
        changed = False
        for a in list(down):
            more = set()
            for b in down[a]:
                more |= down.get(b, set())
            if not more <= down[a]:
                down[a] |= more
                changed = True
    return down


def public_owner(src, defined_in):
    """Each public header belongs to the lowest folder that defines one of
    its functions (a header of types only belongs to base)."""
    owner = {}
    for h in glob.glob(os.path.join(src, "include", "mtls", "*.h")):
        names = set(DECL.findall(open(h, encoding="utf-8").read()))
        folders = {defined_in[n] for n in names if n in defined_in}
        owner["mtls/" + os.path.basename(h)] = folders or {"base"}
    return owner


def check(t):
    files = lib_files(t.src)
    folders = sorted({folder(f) for f in files})
    nodes, arrows = parse_drawing(t.drawing) if os.path.exists(t.drawing) else (None, None)
    if nodes is None:
        t.err("drawing", "%s has no mermaid drawing of the folders" % t.drawing)
        return t.errors
    drawn = set(nodes.values())
    for f in folders:
        if f not in drawn:
            t.err("drawing", "folder lib/%s/ is not in the drawing of %s" % (f, os.path.relpath(t.drawing, t.src)))
    for f in folders:
        if not os.path.exists(os.path.join(t.src, "lib", f, "README.md")):
            t.err("drawing", "folder lib/%s/ has no README.md saying what it owns and "
                  "what it may call" % f)
    for f in sorted(drawn - set(folders)):
        t.err("drawing", "the drawing names %s, which is not a folder of lib/" % f)
    for comp in sccs({a: {b for x, b in arrows if x == a} for a, _ in arrows}):
        t.err("drawing", "the arrows %s form a cycle: layers must point down"
              % " -> ".join(comp))
    below = reach(arrows)

    # calls, from the objects
    defined_in, file_of, undefs = {}, {}, {}
    for c, o in sorted(t.objs.items()):
        d, u = symbols(o)
        for s in d:
            file_of[s] = c
            defined_in[s] = folder(c)
        undefs[c] = u
    calls = collections.defaultdict(set)
    why = {}
    for c, us in undefs.items():
        for s in sorted(us):
            g = file_of.get(s)
            if g is not None and g != c:
                calls[c].add(g)
                why.setdefault((c, g), s)

    real = {}  # (folder, folder) -> an example
    for c, gs in calls.items():
        for g in gs:
            a, b = folder(c), folder(g)
            if a != b:
                real.setdefault((a, b), "lib/%s calls %s() of lib/%s" % (c, why[(c, g)], g))

    # includes, from the sources
    owner = public_owner(t.src, defined_in)
    inc_graph = collections.defaultdict(set)
    for f in files:
        text = open(os.path.join(t.src, "lib", f), encoding="utf-8", errors="replace").read()
        for h in INCLUDE.findall(text):
            if h.startswith("mtls/"):
                targets = owner.get(h)
                if targets is None:
                    t.err("layer", "lib/%s includes %s, which is not a public header" % (f, h))
                    continue
                # the lowest owner: a header spanning layers is the API's
                # business; the call graph sees the real calls
                if folder(f) in targets or any(x in below.get(folder(f), set()) for x in targets):
                    continue
                tgt = sorted(targets)[0]
                real.setdefault((folder(f), tgt), "lib/%s includes %s" % (f, h))
                continue
            if not os.path.exists(os.path.join(t.src, "lib", h)):
                t.err("layer", "lib/%s includes \"%s\", which is not a path under lib/" % (f, h))
                continue
            inc_graph[f].add(h)
            if folder(h) != folder(f):
                real.setdefault((folder(f), folder(h)), "lib/%s includes %s" % (f, h))

    for (a, b), example in sorted(real.items()):
        if (a, b) in arrows:
            continue
        if b in below.get(a, set()):
            t.err("drawing", "%s (lib/%s -> lib/%s): add the arrow to the drawing in %s"
                  % (example, a, b, os.path.relpath(t.drawing, t.src)))
        else:
            t.err("layer", "%s: lib/%s may not use lib/%s (not below it in %s)"
                  % (example, a, b, os.path.relpath(t.drawing, t.src)))
    for a, b in sorted(arrows):
        if (a, b) not in real:
            t.err("drawing", "the arrow %s --> %s in %s is not a real dependency: remove it"
                  % (a, b, os.path.relpath(t.drawing, t.src)))

    for comp in sccs(calls):
        t.err("cycle", "these files call each other in a circle: %s (move what they "
              "share into a leaf)" % ", ".join("lib/" + c for c in comp))
    for comp in sccs(inc_graph):
        t.err("cycle", "these headers include each other: %s" % ", ".join("lib/" + c for c in comp))

    # the command uses the public API only
    for f in sorted(glob.glob(os.path.join(t.src, "src", "*.[ch]"))):
        text = open(f, encoding="utf-8", errors="replace").read()
        for h in INCLUDE.findall(text):
            if not h.startswith("mtls/") and not os.path.exists(os.path.join(os.path.dirname(f), h)):
                t.err("src", "%s includes \"%s\": the command uses only the public headers mtls/*.h"
                      % (os.path.relpath(f, t.src), h))

    check_exports(t)
    return t.errors


def read_symlist(path):
    """Names of a symbol list: one per line, or a linker version script
    ({ global: a; b; local: *; }); '#' starts a comment."""
    names = set()
    text = re.sub(r"#[^\n]*|/\*.*?\*/", "", open(path, encoding="utf-8").read(), flags=re.S)
    text = re.sub(r"\blocal\s*:[^}]*", "", text)
    for tok in re.findall(r"[A-Za-z_]\w*", text):
        if tok not in ("global", "local", "extern"):
            names.add(tok)
    return names


def exported(t):
    """Symbols libmtls gives an application."""
    if t.shlib:
        out = set()
        for line in run(["nm", "-D", "--defined-only", "-P", t.shlib]).splitlines():
            p = line.split()
            if len(p) >= 2 and p[1] in ("T", "D", "B", "R", "V", "W", "i"):
                out.add(p[0])
        return out
    out = set()
    for o in t.objs.values():
        # readelf: Num Value Size Type Bind Vis Ndx Name
        for line in run(["readelf", "-sW", o]).splitlines():
            p = line.split()
            if len(p) >= 8 and p[4] in ("GLOBAL", "WEAK") and p[5] == "DEFAULT" \
                    and p[6] != "UND" and p[3] in ("FUNC", "OBJECT"):
                out.add(p[7].split("@")[0])
    return out


def check_exports(t):
    if not t.symlist or not os.path.exists(t.symlist):
        return
    allowed = read_symlist(t.symlist)
    for s in sorted(exported(t) - allowed):
        t.err("exports", "libmtls exports %s, which is not on %s (make it static, or "
              "name it mtls__* and keep it hidden, or add it to the public list)"
              % (s, os.path.relpath(t.symlist, t.src)))


def find_shlib(build):
    for p in sorted(glob.glob(os.path.join(build, "lib", "libmtls.so*"))):
        if os.path.isfile(p) and not os.path.islink(p):
            return p
    return None


def tree_of(src, build):
    sym = os.path.join(src, "lib", "libmtls.sym")
    return Tree(src, objects_of(build, src), os.path.join(src, "docs", "architecture.md"),
                sym if os.path.exists(sym) else None, find_shlib(build))


# ---- planted violations --------------------------------------------------

def cc():
    return os.environ.get("CC", "cc").split()


def compile_obj(dirpath, name, code, extra=()):
    c = os.path.join(dirpath, name + ".c")
    o = os.path.join(dirpath, name + ".o")
    open(c, "w").write(code)
    subprocess.run(cc() + ["-c", "-fPIC", "-o", o, c] + list(extra), check=True)
    return o


def self_test(src, build):
    """Copies the tree, plants one violation of each rule, and checks that
    the check fails on it (and passes on the clean copy)."""
    failures = []
    base = tree_of(src, build)
    if not base.objs:
        print("self-test: no objects under %s; build first" % build)
        return 1

    def copy():
        d = tempfile.mkdtemp(prefix="mtls-layers-")
        for sub in ("lib", "include", "src"):
            shutil.copytree(os.path.join(src, sub), os.path.join(d, sub),
                            ignore=shutil.ignore_patterns("*.o", "build*"))
        os.makedirs(os.path.join(d, "docs"))
        shutil.copy(base.drawing, os.path.join(d, "docs", "architecture.md"))
        objs = dict(base.objs)  # read only: planted objects are added
        sym = os.path.join(d, "lib", "libmtls.sym")
        t = Tree(d, objs, os.path.join(d, "docs", "architecture.md"),
                 sym if os.path.exists(sym) else None, None)
        t.dir = d
        return t

    def expect(name, rule, plant):
        t = copy()
        try:
            plant(t)
            errs = check(t)
            hit = [e for e in errs if e.startswith(rule + ":")]
            if hit:
                print("ok - planted %s fails the '%s' rule: %s" % (name, rule, hit[0]))
            else:
                failures.append(name)
                print("FAIL - planted %s was not caught by the '%s' rule (got: %s)"
                      % (name, rule, errs or "no error"))
        finally:
            shutil.rmtree(t.dir, ignore_errors=True)

    def append(t, rel, text):
        with open(os.path.join(t.src, rel), "a") as f:
            f.write(text)

    def some_symbol(t, fold):
        for c, o in sorted(t.objs.items()):
            if folder(c) == fold:
                d, _ = symbols(o)
                fn = [s for s in sorted(d) if s.startswith("mtls")]
                if fn:
                    return fn[0]
        raise SystemExit("self-test: no symbol defined in lib/%s" % fold)

    # the clean copy passes (with the repository's exports rule excluded:
    # the objects are the build's, the list may be newer)
    t = copy()
    errs = check(t)
    shutil.rmtree(t.dir, ignore_errors=True)
    if errs:
        print("FAIL - the unmodified tree fails:\n  " + "\n  ".join(errs))
        failures.append("clean")
    else:
        print("ok - the unmodified tree passes")

    expect("an include of link/server/serve_int.h from base/err.c", "layer",
           lambda t: append(t, "lib/base/err.c", '\n#include "link/server/serve_int.h"\n'))
    expect("an include of mtls/serve.h from pki/key.c", "layer",
           lambda t: append(t, "lib/pki/key.c", '\n#include "mtls/serve.h"\n'))

    def call_up(t):
        target = some_symbol(t, "link/server")
        o = compile_obj(t.src, "planted_up",
                        "void %s(void);\nvoid mtls__planted_up(void) { %s(); }\n" % (target, target))
        open(os.path.join(t.src, "lib", "pki", "planted_up.c"), "w").write("/* planted */\n")
        t.objs["pki/planted_up.c"] = o
    expect("a call from pki/ into link/server/", "layer", call_up)

    def call_cycle(t):
        a = compile_obj(t.src, "planted_a",
                        "void mtls__planted_b(void);\nvoid mtls__planted_a(void) { mtls__planted_b(); }\n")
        b = compile_obj(t.src, "planted_b",
                        "void mtls__planted_a(void);\nvoid mtls__planted_b(void) { mtls__planted_a(); }\n")
        for n, o in (("planted_a", a), ("planted_b", b)):
            open(os.path.join(t.src, "lib", "base", n + ".c"), "w").write("/* planted */\n")
            t.objs["base/%s.c" % n] = o
    expect("two files of base/ calling each other", "cycle", call_cycle)

    def include_cycle(t):
        open(os.path.join(t.src, "lib", "base", "planted_a.h"), "w").write('#include "base/planted_b.h"\n')
        open(os.path.join(t.src, "lib", "base", "planted_b.h"), "w").write('#include "base/planted_a.h"\n')
    expect("two headers including each other", "cycle", include_cycle)

    def drop_arrow(t):
        # an arrow whose target stays below by another path, so only the
        # drawing is wrong, not the layering
        text = open(t.drawing).read()
        lines = text.splitlines(True)
        for i, line in enumerate(lines):
            if re.match(r"\s*(\w+)\s*-->\s*base\s*$", line) and "pki" not in line:
                del lines[i]
                break
        open(t.drawing, "w").write("".join(lines))
    expect("a drawing missing a real arrow", "drawing", drop_arrow)

    def add_arrow(t):
        nodes, _ = parse_drawing(t.drawing)
        ids = {v: k for k, v in nodes.items()}
        text = open(t.drawing).read()
        text = text.replace("```mermaid\n", "```mermaid\n", 1)
        i = text.index("```mermaid\n")
        j = text.index("```", i + 3)
        text = text[:j] + "    %s --> %s\n" % (ids["online"] if "online" in ids else ids["bundle"],
                                                 ids["link/server"]) + text[j:]
        open(t.drawing, "w").write(text)
    expect("a drawing with an arrow no code follows", "drawing", add_arrow)

    def add_folder(t):
        os.makedirs(os.path.join(t.src, "lib", "planted"))
        open(os.path.join(t.src, "lib", "planted", "x.h"), "w").write("/* planted */\n")
    expect("a folder missing from the drawing", "drawing", add_folder)

    expect("src/ including a private header", "src",
           lambda t: append(t, "src/main.c", '\n#include "base/internal.h"\n'))

    def exports(t):
        ok = compile_obj(t.src, "planted_ok", "int mtls_planted_ok(void) { return 0; }\n")
        bad = compile_obj(t.src, "planted_bad", "int report_new(void) { return 1; }\n"
                          "__attribute__((visibility(\"hidden\"))) int mtls__hidden(void) { return 2; }\n")
        so = os.path.join(t.src, "libplanted.so")
        subprocess.run(cc() + ["-shared", "-o", so, ok, bad], check=True)
        sym = os.path.join(t.src, "planted.sym")
        open(sym, "w").write("# the public list\nmtls_planted_ok\n")
        t.symlist, t.shlib = sym, so
        # only the exports rule is on trial here
        t.errors = []
        check_exports(t)
        if any("mtls__hidden" in e for e in t.errors):
            t.errors.append("self: a hidden symbol was reported as exported")
        if not any("report_new" in e for e in t.errors):
            return
        # and nothing else was flagged, so the tree's own state is irrelevant
        t.errors = [e for e in t.errors if "report_new" in e]
        raise Planted(t.errors)
    try:
        t = copy()
        try:
            exports(t)
            failures.append("exports")
            print("FAIL - an exported symbol not on the list was not caught")
        except Planted as p:
            print("ok - planted export of report_new fails the 'exports' rule: %s" % p.args[0][0])
        finally:
            shutil.rmtree(t.dir, ignore_errors=True)
    except subprocess.CalledProcessError as e:
        failures.append("exports")
        print("FAIL - cannot build the planted library: %s" % e)

    if failures:
        print("%d planted violation(s) not caught: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("every planted violation was caught")
    return 0


class Planted(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--src", default=here)
    ap.add_argument("--build", default=os.path.join(here, "build"))
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test(a.src, a.build)
    t = tree_of(a.src, a.build)
    if not t.objs:
        print("check-layers: no objects of libmtls under %s/lib; build first" % a.build)
        return 1
    errs = check(t)
    for e in errs:
        print(e)
    if errs:
        print("check-layers: %d problem(s); see docs/architecture.md" % len(errs))
        return 1
    print("check-layers: %d files in %d folders, %d arrows, no upward use, no cycles%s"
          % (len(t.objs), len({folder(c) for c in t.objs}), len(parse_drawing(t.drawing)[1]),
             ", exports match %s" % os.path.relpath(t.symlist, t.src) if t.symlist else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
