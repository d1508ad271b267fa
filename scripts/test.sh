#!/usr/bin/env bash
# Set up (including Debian's chromium for the browser test), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/apt_install.sh chromium chromium "the browser test will be skipped"
.venv/bin/python -m pytest "$@"
