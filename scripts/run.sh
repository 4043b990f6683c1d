#!/usr/bin/env bash
# Set up .venv (no-op if current) and run the main job; args are passed through.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
exec .venv/bin/python -m examples.penguins_demo "$@"
