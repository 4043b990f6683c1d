#!/usr/bin/env bash
# Idempotent, non-interactive environment setup for tf-heads.
#   bash scripts/setup.sh                 # main stack:   .venv        <- requirements.lock (Python 3.10, TFX)
#   bash scripts/setup.sh --stack newest  # newest stack: .venv-newest <- requirements-newest.lock (Python 3.12)
#   1. find the stack's CPython (pyenv versions, then pythonX.Y on PATH, or the override below)
#   2. bootstrap a pinned uv from PyPI into .venv-tools (unless $UV is set)
#   3. venv <- uv venv; uv pip sync --compile-bytecode <lock>; uv pip install --no-deps -e .
#   4. write a stamp; when nothing changed, a rerun is a no-op that takes well under a second.
# Env: TF_HEADS_PYTHON (main) / TF_HEADS_PYTHON_NEWEST (newest), UV, UV_CACHE_DIR
#      (uv's default cache is ~/.cache/uv), TF_HEADS_FORCE_SETUP=1 to ignore the stamp.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/_common.sh
source scripts/_common.sh
take_stack_arg "$@"
[[ ${#STACK_ARGS[@]} -eq 0 ]] || die "unexpected arguments: ${STACK_ARGS[*]} (only --stack NAME)"

VENV="$STACK_VENV"
STAMP="$VENV/.tf-heads-setup.stamp"
start=$SECONDS

[[ -f "$STACK_LOCK" ]] || die "$STACK_LOCK missing: run 'bash scripts/lock.sh --stack $STACK' first"

# Serialise concurrent runs (e.g. two shells starting tests at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.setup.lock"
    flock 9
fi

python_or_die   # sets STACK_PYTHON

# Everything that should trigger a re-install goes into the stamp. The set of
# top-level packages matters because the editable install maps them at install time.
compute_stamp() {
    {
        echo "setup-v2 stack=$STACK uv=$TF_HEADS_UV_VERSION py=$STACK_PYTHON"
        sha256sum "$STACK_LOCK" pyproject.toml scripts/setup.sh scripts/_common.sh
        for pkg in heads components pipelines; do
            [[ -f "$pkg/__init__.py" ]] && echo "pkg:$pkg"
        done
        true
    } | sha256sum | cut -d' ' -f1
}
want="$(compute_stamp)"

if [[ -z "${TF_HEADS_FORCE_SETUP:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
        && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    log "${VENV#"$ROOT"/} is up to date (no-op)"
    exit 0
fi

version="$("$STACK_PYTHON" -c 'import platform; print(platform.python_version())')"
log "stack $STACK: python $STACK_PYTHON ($version)"
ensure_uv
log "uv: $UV ($("$UV" --version))"

# Reuse the venv only if it runs and is built on the same interpreter version.
if [[ -e "$VENV" ]]; then
    have="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || true)"
    if [[ "$have" != "$version" ]]; then
        log "removing stale ${VENV#"$ROOT"/} (python '${have:-broken}')"
        rm -rf "$VENV"
    fi
fi
rm -f "$STAMP"
if [[ ! -e "$VENV" ]]; then
    log "creating ${VENV#"$ROOT"/}"
    "$UV" venv --quiet --python "$STACK_PYTHON" "$VENV"
fi

log "syncing ${VENV#"$ROOT"/} with $STACK_LOCK (a first run downloads ~1 GB of wheels into the uv cache)"
t=$SECONDS
# --compile-bytecode writes every module's .pyc now (~30 s): where PYTHONDONTWRITEBYTECODE
# is set, as on the CI machines, each process would otherwise compile what it imports from
# source, ~11 s of CPU for TensorFlow + TFX + TFMA + Beam, in every pipeline step, Beam
# worker and test process.
"$UV" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" "$STACK_LOCK"
log "  sync done in $((SECONDS - t))s"

log "installing tf-heads (editable, --no-deps)"
"$UV" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"

# Cheap sanity check that the core stack imports (catches broken wheels / missing deps).
# TF's C++ start-up lines are shown only when it fails.
check="$("$VENV/bin/python" - 2>&1 <<'PY'
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import warnings; warnings.simplefilter("ignore")
import platform
import keras, numpy, tensorboard, tensorflow, tf_keras  # noqa: F401
print("versions: Python {}, TensorFlow {}, Keras {}, tf-keras {}".format(
    platform.python_version(), tensorflow.__version__, keras.__version__, tf_keras.__version__))
PY
)" || { printf '%s\n' "$check" >&2; die "import check failed in ${VENV#"$ROOT"/}"; }
log "$(grep '^versions: ' <<<"$check")"

echo "$want" > "$STAMP"
log "done in $((SECONDS - start))s"
