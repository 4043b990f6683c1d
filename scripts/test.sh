#!/usr/bin/env bash
# Set up .venv (no-op if current) and run pytest; args are passed to pytest.
# Exit code is pytest's, except "no tests collected" (5) becomes a failure too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests (exit 5); treating as failure" >&2
    exit 1
fi
exit "$rc"
