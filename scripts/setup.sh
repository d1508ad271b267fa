#!/usr/bin/env bash
# Create .venv (if needed) and install echoseg with everything the demo and tests use. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# torch first, pinned to the local CPU wheel, so nothing later pulls a CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[ml,video,plots,web,test]"
# Tesseract OCR reads site labels printed on Doppler screens; without it routing uses the waveform alone.
./scripts/apt_install.sh tesseract tesseract-ocr "Doppler sites printed on screens will not be read"
./scripts/apt_install.sh dciodvfy dicom3tools "DICOM SR outputs will not be validated by dciodvfy in the tests"
./scripts/apt_install.sh Orthanc orthanc "the Orthanc round-trip test (tests/net/test_orthanc.py) will be skipped"
