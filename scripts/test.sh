#!/usr/bin/env bash
# Set up (including Debian's chromium for the browser test), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/apt_install.sh chromium chromium "the browser test will be skipped"
# static types of the whole package (config in pyproject.toml), then the tests and every docstring example
.venv/bin/python -m mypy
.venv/bin/python -m pytest "$@"
