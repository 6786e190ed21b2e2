#!/usr/bin/env python3
"""Checks that a metrics page holds a sample line for every row of a C
metrics table.

  metrics_rows.py SOURCE.c FUNCTION PAGE.txt

The table is the first `{ ... }` initializer list in FUNCTION whose rows
start with a string literal: {"name", type, help, "labels", value}. Each
row's "name" + labels must start a line of PAGE, followed by a space.
Prints what it compared; exits 1 when a row is missing or the table has
fewer than 5 rows (a parse that found nothing must not pass).
"""
import re
import sys

TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|NULL|,|\{|\}|[^\s,{}"]+')


def unquote(lit):
    return bytes(lit[1:-1], "utf-8").decode("unicode_escape")


def rows(src, func):
    body = src[src.index(func + "("):]
    start = body.index('{"')
    fields, cur, out, depth = [], [], [], 0
    for tok in TOKEN.findall(body[start:]):
        if tok == "{":
            depth += 1
            fields, cur = [], []
            continue
        if tok == "}":
            if depth == 0:
                break  # the end of the table
            depth -= 1
            fields.append(cur)
            if fields and fields[0] and fields[0][0].startswith('"'):
                name = "".join(unquote(t) for t in fields[0])
                labels = "".join(unquote(t) for t in fields[3]
                                 if t.startswith('"'))
                out.append(name + labels)
            continue
        if tok == ",":
            if depth == 1:
                fields.append(cur)
                cur = []
            continue
        cur.append(tok)
    return out


def main():
    src, func, page = sys.argv[1:4]
    want = rows(open(src).read(), func)
    lines = open(page).read().splitlines()
    missing = [w for w in want if not any(l.startswith(w + " ") for l in lines)]
    print(f"{len(want)} rows in {func}, {len(lines)} page lines; "
          f"missing: {missing}")
    return 1 if missing or len(want) < 5 else 0


if __name__ == "__main__":
    sys.exit(main())
