#!/usr/bin/env python3
"""Checks JSON documents against the vocabulary of docs/json.md.

usage: vocab.py VOCAB.md FILE...   (FILE "-" reads stdin)

The vocabulary is the table in docs/json.md: one row per field name,
| `name` | type | meaning |. Every object key of every document must be a
snake_case name of that table (except inside a `map`, whose keys are data),
and its value must have the type of its row. Types:
  string, integer, boolean, object, map (object keyed by data; its values are
  strings), time (RFC 3339 UTC "2026-11-22T11:54:46Z", or with
  milliseconds "...46.125Z" as log lines have them), sha256 / sha1
  (lower-case hex, 64 / 40 digits), hex (lower-case hex), serial (upper-case
  hex, as openssl prints it), strings (array of strings), objects (array of
  objects); a trailing "?" allows null.
One line per violation ("FILE: $.path.to.field: what is wrong"); exit 1 when
there is any, 2 when the vocabulary itself cannot be read.
"""
import json
import re
import sys

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# To the second; log lines carry milliseconds.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([a-z0-9?]+)\s*\|")
TYPES = {"string", "integer", "boolean", "object", "map", "time", "sha256",
         "sha1", "hex", "serial", "strings", "objects"}
# A date in another form than RFC 3339 inside a data field (not prose).
OTHER_DATE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?( ?UTC|[+-]\d\d:?\d\d)?$")


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if not m:
                continue
            name, typ = m.group(1), m.group(2)
            base = typ.rstrip("?")
            if base not in TYPES:
                raise ValueError("%s: field %s has unknown type %s" % (path, name, typ))
            if name in vocab and vocab[name] != typ:
                raise ValueError("%s: field %s is listed twice" % (path, name))
            vocab[name] = typ
    if not vocab:
        raise ValueError("%s: no field table" % path)
    return vocab


def check_value(vocab, name, typ, v, where, out):
    nullable = typ.endswith("?")
    typ = typ.rstrip("?")
    if v is None:
        if not nullable:
            out.append("%s: null, but %s is never null" % (where, name))
        return
    ok = True
    if typ == "string":
        ok = isinstance(v, str)
        if ok and OTHER_DATE.match(v):
            out.append("%s: a date that is not RFC 3339 UTC in a string field: %r" % (where, v))
    elif typ == "integer":
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif typ == "boolean":
        ok = isinstance(v, bool)
    elif typ == "time":
        ok = isinstance(v, str) and bool(RFC3339.match(v))
    elif typ == "sha256":
        ok = isinstance(v, str) and bool(re.fullmatch(r"[0-9a-f]{64}", v))
    elif typ == "sha1":
        ok = isinstance(v, str) and bool(re.fullmatch(r"[0-9a-f]{40}", v))
    elif typ == "hex":
        ok = isinstance(v, str) and bool(re.fullmatch(r"[0-9a-f]+", v))
    elif typ == "serial":
        ok = isinstance(v, str) and bool(re.fullmatch(r"[0-9A-F]+", v))
    elif typ == "strings":
        ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
    elif typ == "objects":
        ok = isinstance(v, list) and all(isinstance(x, dict) for x in v)
        if ok:
            for i, x in enumerate(v):
                check_object(vocab, x, "%s[%d]" % (where, i), out)
    elif typ == "object":
        ok = isinstance(v, dict)
        if ok:
            check_object(vocab, v, where, out)
    elif typ == "map":
        ok = isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
    if not ok:
        out.append("%s: %s must be %s%s, got %s" % (
            where, name, typ, " or null" if nullable else "", json.dumps(v)[:80]))


def check_object(vocab, obj, where, out):
    for k, v in obj.items():
        at = "%s.%s" % (where, k)
        if not SNAKE.match(k):
            out.append("%s: field name is not snake_case" % at)
            continue
        if k not in vocab:
            out.append("%s: field %s is not in the vocabulary (docs/json.md)" % (at, k))
            continue
        check_value(vocab, k, vocab[k], v, at, out)


def check_document(vocab, doc, out):
    if isinstance(doc, list):
        for i, x in enumerate(doc):
            if not isinstance(x, dict):
                out.append("$[%d]: a list output holds objects, got %s" % (i, json.dumps(x)[:40]))
            else:
                check_object(vocab, x, "$[%d]" % i, out)
    elif isinstance(doc, dict):
        check_object(vocab, doc, "$", out)
    else:
        out.append("$: an output is an object or an array of objects")


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        vocab = load_vocab(argv[1])
    except (OSError, ValueError) as e:
        print("vocab: %s" % e, file=sys.stderr)
        return 2
    bad = 0
    for path in argv[2:]:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
            doc = json.loads(text)
        except (OSError, ValueError) as e:
            print("%s: not JSON: %s" % (path, e))
            bad += 1
            continue
        out = []
        check_document(vocab, doc, out)
        for line in out:
            print("%s: %s" % (path, line))
        bad += len(out)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
