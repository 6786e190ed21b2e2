#!/usr/bin/env python3
"""Every page of docs/guides/ (but its README) and the top README's tour are
run as tests: a guide added without a guide_ entry in
tests/interop/meson.build fails here."""
import os
import re
import sys

# Pages not yet written to run as a test, each with the reason; the
# list is printed on every run so it cannot be forgotten.
NOT_RUN = {
}

top = sys.argv[1]
pages = sorted(f for f in os.listdir(os.path.join(top, "docs", "guides"))
               if f.endswith(".md") and f != "README.md")
listed = set(re.findall(r"'([\w.-]+\.md)'", open(os.path.join(top, "tests", "interop", "meson.build")).read()))
missing = [p for p in pages if p not in listed and p not in NOT_RUN]
for p in pages:
    if p in NOT_RUN and p not in listed:
        print("skip - docs/guides/%s is not run as a test: %s" % (p, NOT_RUN[p]))
        continue
    print(("ok - " if p not in missing else "FAIL - not run as a test: ") + "docs/guides/" + p)
# The README's tour is a guide too.
if "README.md" not in listed:
    missing.append("README.md")
    print("FAIL - not run as a test: the README's tour (README.md)")
else:
    print("ok - README.md (the tour)")
sys.exit(1 if missing else 0)
