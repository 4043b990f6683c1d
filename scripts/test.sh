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
# TF_HEADS_TEST_PROCESSES=2 (set by .ci/run) runs the slow pipeline modules in a second pytest
# process beside the rest; its output is printed when both are done.
SLOW_MODULES=(tests/test_pipeline.py tests/test_pipeline_blessing.py tests/test_own_data_pipeline.py
              tests/test_trainer_multi_worker.py tests/test_kubeflow.py)
# (test_resume.py stays in the foreground: a background job starts with SIGINT ignored, and it
# sends itself Ctrl-C.)
rc=0
if [[ "${TF_HEADS_TEST_PROCESSES:-1}" == 2 && "$STACK" == main ]]; then
    side_log="$(mktemp)"
    "$STACK_VENV/bin/python" -m pytest "${STACK_PYTEST_ARGS[@]}" "${STACK_ARGS[@]}" \
        "${SLOW_MODULES[@]}" > "$side_log" 2>&1 &
    side=$!
    ignores=()
    for module in "${SLOW_MODULES[@]}"; do ignores+=("--ignore=$module"); done
    "$STACK_VENV/bin/python" -m pytest "${STACK_PYTEST_ARGS[@]}" "${STACK_ARGS[@]}" \
        "${ignores[@]}" || rc=$?
    side_rc=0
    wait "$side" || side_rc=$?
    printf '\n[test] === the slow pipeline modules (second pytest process)\n'
    cat "$side_log"
    rm -f "$side_log"
    [[ $rc -ne 0 ]] || rc=$side_rc
else
    "$STACK_VENV/bin/python" -m pytest "${STACK_PYTEST_ARGS[@]}" "${STACK_ARGS[@]}" || rc=$?
fi
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests (exit 5); treating as failure" >&2
    exit 1
fi
exit "$rc"
