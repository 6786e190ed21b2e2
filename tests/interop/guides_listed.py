#!/usr/bin/env python3
"""Every page of docs/guides/ (but its README) is run as a test: a guide
added without a guide_ entry in tests/interop/meson.build fails here."""
import os
import re
import sys

top = sys.argv[1]
pages = sorted(f for f in os.listdir(os.path.join(top, "docs", "guides"))
               if f.endswith(".md") and f != "README.md")
listed = set(re.findall(r"'([\w.-]+\.md)'", open(os.path.join(top, "tests", "interop", "meson.build")).read()))
missing = [p for p in pages if p not in listed]
for p in pages:
    print(("ok - " if p not in missing else "FAIL - not run as a test: ") + "docs/guides/" + p)
sys.exit(1 if missing else 0)
