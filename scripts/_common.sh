# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; do not execute it.
#   - find_python310: prints the path of a working Python 3.10 interpreter.
#   - ensure_uv:      sets $UV to a usable uv binary (bootstrapped from PyPI if needed).

# Pinned so that every machine resolves/installs the same way.
TF_HEADS_UV_VERSION="${TF_HEADS_UV_VERSION:-0.13.9}"

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
TOOLS_VENV="${TF_HEADS_TOOLS_VENV:-$ROOT/.venv-tools}"

# uv must never try to download a Python (nothing but PyPI is reachable here).
export UV_PYTHON_DOWNLOADS=never
export UV_NO_PROGRESS=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the real path of the interpreter if "$1" runs and is CPython 3.10.
_check_py310() {
    "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10); print(sys.executable)' 2>/dev/null
}

find_python310() {
    local cand exe root
    # 1. Explicit override.
    if [[ -n "${TF_HEADS_PYTHON:-}" ]]; then
        exe="$(_check_py310 "$TF_HEADS_PYTHON")" || die "TF_HEADS_PYTHON=$TF_HEADS_PYTHON is not a working Python 3.10"
        printf '%s\n' "$exe"; return 0
    fi
    # 2. pyenv-installed 3.10.x (newest first).
    root=""
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || true)"; fi
    [[ -z "$root" ]] && root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [[ -d "$root/versions" ]]; then
        while IFS= read -r cand; do
            [[ -x "$cand" ]] || continue
            if exe="$(_check_py310 "$cand")"; then printf '%s\n' "$exe"; return 0; fi
        done < <(ls -d "$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -rV)
    fi
    # 3. python3.10 on PATH (a pyenv shim only works if 3.10 is selected, hence the check).
    if cand="$(command -v python3.10 2>/dev/null)"; then
        if exe="$(_check_py310 "$cand")"; then printf '%s\n' "$exe"; return 0; fi
    fi
    # 4. A Python 3.10 that uv already manages (uv will not download one).
    if [[ -n "${UV:-}" ]] && cand="$("$UV" python find 3.10 2>/dev/null)"; then
        if exe="$(_check_py310 "$cand")"; then printf '%s\n' "$exe"; return 0; fi
    fi
    return 1
}

python310_or_die() {
    PY310="$(find_python310)" || die "No Python 3.10 interpreter found. TFX 1.16 (the newest that installs here) needs CPython 3.10.
  Get one with ONE of:
    - pyenv install 3.10        (then re-run; looked in \$(pyenv root)/versions/3.10.*)
    - apt-get install python3.10 / your distro's package, so that 'python3.10' is on PATH
    - uv python install 3.10    (only where python downloads are reachable)
  or point TF_HEADS_PYTHON=/path/to/python3.10 at an existing interpreter."
}

# Sets $UV. Order: $UV from the environment, else a pinned uv in $TOOLS_VENV
# (created on first use with "$PY310 -m venv" or python3, then pip install uv).
ensure_uv() {
    if [[ -n "${UV:-}" ]]; then
        "$UV" --version >/dev/null 2>&1 || die "UV=$UV does not run"
        return 0
    fi
    local want="uv $TF_HEADS_UV_VERSION"
    if [[ -x "$TOOLS_VENV/bin/uv" ]] && [[ "$("$TOOLS_VENV/bin/uv" --version 2>/dev/null)" == "$want"* ]]; then
        UV="$TOOLS_VENV/bin/uv"; return 0
    fi
    log "bootstrapping uv==$TF_HEADS_UV_VERSION into ${TOOLS_VENV#"$ROOT"/} (from PyPI)"
    local boot=""
    for cand in "${PY310:-}" python3 python; do
        [[ -n "$cand" ]] || continue
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv, sys; assert sys.version_info >= (3, 8)' >/dev/null 2>&1; then
            boot="$cand"; break
        fi
    done
    [[ -n "$boot" ]] || die "need a Python >= 3.8 with the venv module to bootstrap uv"
    rm -rf "$TOOLS_VENV"
    "$boot" -m venv "$TOOLS_VENV" </dev/null || die "'$boot -m venv $TOOLS_VENV' failed (on Debian: apt-get install python3-venv)"
    "$TOOLS_VENV/bin/python" -m pip install -q "uv==$TF_HEADS_UV_VERSION" </dev/null \
        || die "pip install uv==$TF_HEADS_UV_VERSION failed (is PyPI reachable?)"
    UV="$TOOLS_VENV/bin/uv"
    "$UV" --version >/dev/null || die "bootstrapped uv does not run"
}
