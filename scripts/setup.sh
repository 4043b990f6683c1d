#!/usr/bin/env bash
# Idempotent, non-interactive environment setup for tf-heads.
#   1. find a CPython 3.10 (pyenv versions, then python3.10 on PATH, or $TF_HEADS_PYTHON)
#   2. bootstrap a pinned uv from PyPI into .venv-tools (unless $UV is set)
#   3. .venv  <- uv venv (3.10); uv pip sync requirements.lock; uv pip install --no-deps -e .
#   4. write a stamp; when nothing changed, a rerun is a no-op that takes well under a second.
# Env: TF_HEADS_PYTHON, UV, UV_CACHE_DIR (uv's default cache is ~/.cache/uv),
#      TF_HEADS_FORCE_SETUP=1 to ignore the stamp.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/_common.sh
source scripts/_common.sh

VENV="$ROOT/.venv"
STAMP="$VENV/.tf-heads-setup.stamp"
start=$SECONDS

[[ -f requirements.lock ]] || die "requirements.lock missing: run 'bash scripts/lock.sh' first"

# Serialise concurrent runs (e.g. two shells starting tests at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.setup.lock"
    flock 9
fi

python310_or_die   # sets PY310

# Everything that should trigger a re-install goes into the stamp. The set of
# top-level packages matters because the editable install maps them at install time.
compute_stamp() {
    {
        echo "setup-v1 uv=$TF_HEADS_UV_VERSION py=$PY310"
        sha256sum requirements.lock pyproject.toml scripts/setup.sh scripts/_common.sh
        for pkg in heads components pipelines; do
            [[ -f "$pkg/__init__.py" ]] && echo "pkg:$pkg"
        done
        true
    } | sha256sum | cut -d' ' -f1
}
want="$(compute_stamp)"

if [[ -z "${TF_HEADS_FORCE_SETUP:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
        && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    log ".venv is up to date (no-op)"
    exit 0
fi

log "python: $PY310 ($("$PY310" -c 'import platform; print(platform.python_version())'))"
ensure_uv
log "uv: $UV ($("$UV" --version))"

# Reuse .venv only if it runs and is built on the same interpreter version.
if [[ -e "$VENV" ]]; then
    have="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || true)"
    if [[ "$have" != "$("$PY310" -c 'import platform; print(platform.python_version())')" ]]; then
        log "removing stale .venv (python '${have:-broken}')"
        rm -rf "$VENV"
    fi
fi
rm -f "$STAMP"
if [[ ! -e "$VENV" ]]; then
    log "creating .venv"
    "$UV" venv --quiet --python "$PY310" "$VENV"
fi

log "syncing .venv with requirements.lock (first run downloads ~1 GB of wheels into the uv cache)"
t=$SECONDS
"$UV" pip sync --quiet --python "$VENV/bin/python" requirements.lock
log "  sync done in $((SECONDS - t))s"

log "installing tf-heads (editable, --no-deps)"
"$UV" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"

# Cheap sanity check that the core stack imports (catches broken wheels / missing deps).
"$VENV/bin/python" - <<'PY' || die "import check failed in .venv"
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import warnings; warnings.simplefilter("ignore")
import tensorflow, tf_keras, numpy  # noqa: F401
PY

echo "$want" > "$STAMP"
log "done in $((SECONDS - start))s"
