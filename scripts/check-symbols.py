#!/usr/bin/env python3
"""The public list of libmtls, kept equal to the public headers.

Three sets must be the same:
  headers   every function (or extern object) named mtls_* that
            include/mtls/*.h declares (typedefs and struct members do not count)
  list      the names on lib/libmtls.sym, the linker version script
  library   what libmtls.so exports (nm -D --defined-only)

A name in the headers but not on the list is an API an application cannot
link; a name on the list but in no header is an export nobody documented;
a library export that is on neither is an internal that escaped (a missing
`static`, a missing mtls__ prefix, a definition compiled without the hidden
default). Any difference fails.

  check-symbols.py --src DIR [--lib libmtls.so]   check (the build runs it
                                                  without --lib before
                                                  linking; the test with it)
  check-symbols.py --src DIR --update             rewrite lib/libmtls.sym
                                                  from the headers
  check-symbols.py --src DIR --self-test --lib SO plant each kind of
                                                  difference, expect failure
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HEADER = """\
/*
 * The public list of libmtls: every function include/mtls/*.h declares, and
 * nothing else. The library is built with -fvisibility=hidden and linked
 * with this version script, so a symbol not named here cannot be linked by
 * an application. Kept equal to the headers by scripts/check-symbols.py
 * (the build and the `symbols` test run it); after adding a public function
 * run `python3 scripts/check-symbols.py --src . --update`.
 */
"""


def strip_c(text):
    """Header text without comments, preprocessor lines, the C++ guard and
    brace bodies (struct, enum and union members are not symbols)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"#\s*ifdef\s+__cplusplus.*?#\s*endif", " ", text, flags=re.S)
    text = re.sub(r"^\s*#(?:\\\n|[^\n])*", " ", text, flags=re.M)
    prev = None
    while prev != text:
        prev = text
        text = re.sub(r"\{[^{}]*\}", " ", text)
    return text


def declared(src):
    """{name: header} of the functions and extern objects the public
    headers declare."""
    out = {}
    for h in sorted(glob.glob(os.path.join(src, "include", "mtls", "*.h"))):
        for stmt in strip_c(open(h, encoding="utf-8").read()).split(";"):
            stmt = " ".join(stmt.split())
            if not stmt or re.match(r"typedef\b", stmt):
                continue
            m = re.search(r"\b(mtls_\w+)\s*\(", stmt)
            if m is None and re.match(r"extern\b", stmt):
                m = re.search(r"\b(mtls_\w+)\s*(\[[^\]]*\])?\s*$", stmt)
            if m is not None and not m.group(1).startswith("mtls__"):
                out[m.group(1)] = os.path.relpath(h, src)
    return out


def listed(path):
    """Names on a version script ({ global: a; b; local: *; })."""
    text = re.sub(r"/\*.*?\*/|#[^\n]*", " ", open(path, encoding="utf-8").read(), flags=re.S)
    text = re.sub(r"\blocal\s*:[^}]*", " ", text)
    return {t for t in re.findall(r"[A-Za-z_]\w*", text) if t not in ("global", "extern")}


def exported(shlib):
    out = set()
    nm = subprocess.run(["nm", "-D", "--defined-only", "-P", shlib], check=True,
                        capture_output=True, text=True).stdout
    for line in nm.splitlines():
        p = line.split()
        if len(p) >= 2 and p[1] in ("T", "D", "B", "R", "V", "W", "i", "G", "S"):
            out.add(p[0].split("@")[0])
    return out


def compare(src, symfile, shlib):
    """The list of differences, one sentence each."""
    errs = []
    decl = declared(src)
    lst = listed(symfile) if os.path.exists(symfile) else set()
    rel = os.path.relpath(symfile, src)
    if not os.path.exists(symfile):
        errs.append("%s is missing" % rel)
    for s in sorted(set(decl) - lst):
        errs.append("%s declares %s, which is not on %s (an application could not link it; "
                    "run scripts/check-symbols.py --update)" % (decl[s], s, rel))
    for s in sorted(lst - set(decl)):
        errs.append("%s lists %s, which no header in include/mtls declares" % (rel, s))
    for h in sorted(set(decl.values())):
        if "#pragma GCC visibility push(default)" not in open(os.path.join(src, h),
                                                             encoding="utf-8").read():
            errs.append("%s declares public functions without '#pragma GCC visibility "
                        "push(default)' (and pop) around them: the hidden build would "
                        "not export them" % h)
    if shlib is not None:
        exp = exported(shlib)
        for s in sorted(exp - lst):
            errs.append("libmtls exports %s, which is not on %s (make it static or "
                        "name it mtls__*)" % (s, rel))
        for s in sorted((lst & set(decl)) - exp):
            errs.append("libmtls does not export %s (%s declares it): is it defined, "
                        "and does its .c include its header?" % (s, decl[s]))
    return errs


def write_list(src, symfile):
    names = sorted(declared(src))
    with open(symfile + ".tmp", "w", encoding="utf-8") as f:
        f.write(HEADER + "{\nglobal:\n")
        for n in names:
            f.write("\t%s;\n" % n)
        f.write("local:\n\t*;\n};\n")
    os.replace(symfile + ".tmp", symfile)
    print("%s: %d names" % (os.path.relpath(symfile, src), len(names)))


def self_test(src, shlib):
    """Each kind of difference, planted in a copy, must be reported."""
    fails = 0
    cases = [
        ("a declared function missing from the list", "include/mtls/err.h",
         "int mtls_planted_new(void);\n", "not on"),
        ("a listed name no header declares", "lib/libmtls.sym",
         "{ global: mtls_planted_ghost; };\n", "no header"),
        ("a typedef taken for a function", "include/mtls/err.h",
         "typedef int (*mtls_planted_cb)(void);\n", None),
    ]
    for what, rel, line, expect in cases:
        d = tempfile.mkdtemp(prefix="mtls-symbols-")
        try:
            shutil.copytree(os.path.join(src, "include"), os.path.join(d, "include"))
            os.makedirs(os.path.join(d, "lib"))
            shutil.copy(os.path.join(src, "lib", "libmtls.sym"), os.path.join(d, "lib"))
            p = os.path.join(d, rel)
            text = open(p, encoding="utf-8").read()
            if rel.endswith(".h"):
                i = text.rindex("#pragma GCC visibility pop")
                text = text[:i] + line + text[i:]
            else:
                text += line
            open(p, "w", encoding="utf-8").write(text)
            errs = compare(d, os.path.join(d, "lib", "libmtls.sym"), None)
            ok = (not errs) if expect is None else any(expect in e for e in errs)
            print("%s - %s%s" % ("ok" if ok else "FAIL", what,
                                 (": " + errs[0]) if errs and ok else ""))
            fails += not ok
        finally:
            shutil.rmtree(d, ignore_errors=True)
    # the library side: an export not on the list, an entry not exported
    if shlib is not None:
        exp = exported(shlib)
        lst = listed(os.path.join(src, "lib", "libmtls.sym"))
        victim = sorted(lst)[0]
        d = tempfile.mkdtemp(prefix="mtls-symbols-")
        try:
            sym = os.path.join(d, "short.sym")
            open(sym, "w").write("{ global: %s; local: *; };\n" % ";".join(sorted(lst - {victim})))
            errs = [e for e in compare(src, sym, shlib) if "exports %s," % victim in e]
            print("%s - an export not on the list (%s)" % ("ok" if errs else "FAIL", victim))
            fails += not errs
        finally:
            shutil.rmtree(d, ignore_errors=True)
        ok = victim in exp
        print("%s - the library exports what the list names (%d symbols)"
              % ("ok" if ok else "FAIL", len(exp)))
        fails += not ok
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--lib", help="libmtls.so to compare")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--stamp", help="file to touch when the check passes")
    a = ap.parse_args()
    symfile = os.path.join(a.src, "lib", "libmtls.sym")
    if a.update:
        write_list(a.src, symfile)
        return 0
    if a.self_test:
        return self_test(a.src, a.lib)
    errs = compare(a.src, symfile, a.lib)
    for e in errs:
        print("symbols: " + e, file=sys.stderr)
    if errs:
        print("symbols: %d difference(s)" % len(errs), file=sys.stderr)
        return 1
    print("symbols: %d public names, headers = list%s" % (
        len(declared(a.src)), " = libmtls.so exports" if a.lib else ""))
    if a.stamp:
        open(a.stamp, "w").close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
