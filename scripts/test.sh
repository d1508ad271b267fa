#!/usr/bin/env bash
# Set up (including Debian's chromium for the browser test and Ray for the Ray engine test), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/apt_install.sh chromium chromium "the browser test will be skipped"
# the optional Ray engine (echoseg[ray]) for its test; never part of the default install
.venv/bin/python -m pip install --quiet --disable-pip-version-check "ray>=2.9" \
  || echo "Ray could not be installed: the Ray engine test will be skipped"
# static types of the whole package (config in pyproject.toml), then the tests and every docstring example
.venv/bin/python -m mypy
.venv/bin/python -m pytest "$@"
