#!/usr/bin/env python3
"""Counts test cases in meson test logs: cmocka cases and interop checks
inside each test binary, so the summary says how many assertions-level
tests ran, and prints 'LABEL: N passed, N failed, N skipped'."""
import json, re, sys

label, logs = sys.argv[1], sys.argv[2:]
passed = failed = skipped = 0
for path in logs:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        cm_ok = len(re.findall(r"^\[       OK \]", out, re.M))
        cm_bad = len(re.findall(r"^\[  FAILED  \] (?!\d+ test)", out, re.M))
        it = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", out, re.M)
        if it:
            passed += int(it.group(1)); failed += int(it.group(2)); skipped += int(it.group(3))
        elif cm_ok or cm_bad:
            passed += cm_ok; failed += cm_bad
        elif t.get("result") == "OK":
            passed += 1
        elif t.get("result") == "SKIP":
            skipped += 1
        else:
            failed += 1
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and not (it and int(it.group(2))) and not cm_bad:
            failed += 1
print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
