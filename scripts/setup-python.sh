#!/usr/bin/env bash
# Create .venv and install both packages with the locked development dependencies.
# Idempotent: re-runs only pip's quick "already satisfied" check once the venv exists.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.installed-$(cat requirements/dev.lock pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet -r requirements/dev.lock
    rm -f .venv/.installed-*
    touch "$stamp"
fi
