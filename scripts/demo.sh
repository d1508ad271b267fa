#!/usr/bin/env bash
# Set up, then generate a synthetic demo study and measure it: out/demo/{study,results}.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/echoseg demo --out out/demo "$@"
