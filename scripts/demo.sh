#!/usr/bin/env bash
# The first command: installs what is missing, builds, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh
exec bash scripts/demo-run.sh build/src/mtls
