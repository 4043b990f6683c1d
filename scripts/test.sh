#!/usr/bin/env bash
# Set up a stack's venv (no-op if current) and run pytest in it; args are passed to pytest.
#   bash scripts/test.sh [pytest args]                 # main stack (.venv): every test
#   bash scripts/test.sh --stack newest [pytest args]  # newest stack (.venv-newest): all but
#                                                      # the TFX modules (tests/conftest.py)
# Exit code is pytest's, except "no tests collected" (5) becomes a failure too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/_common.sh
source scripts/_common.sh
take_stack_arg "$@"
bash scripts/setup.sh --stack "$STACK"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# TF_HEADS_TEST_PROCESSES=N (2 in .ci/run) spreads the test modules over N pytest-xdist
# processes, a module at a time (its fixtures are built once), slowest modules first
# (tests/conftest.py SLOWEST_FIRST; --no-loadscope-reorder keeps that order, where xdist
# would put the modules with the most tests first) so that no long module starts last.
xdist=()
if [[ "${TF_HEADS_TEST_PROCESSES:-1}" != 1 ]]; then
    xdist=(-n "$TF_HEADS_TEST_PROCESSES" --dist loadfile --no-loadscope-reorder)
fi
rc=0
"$STACK_VENV/bin/python" -m pytest "${STACK_PYTEST_ARGS[@]}" "${xdist[@]}" "${STACK_ARGS[@]}" \
    || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests (exit 5); treating as failure" >&2
    exit 1
fi
exit "$rc"
