# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; do not execute it.
#   - select_stack NAME:  sets STACK_* for the `main` or `newest` stack (see below).
#   - take_stack_arg ...: reads a leading `--stack NAME`; sets STACK_ARGS to the rest.
#   - python_or_die:      sets $STACK_PYTHON to a working CPython of the stack's version.
#   - ensure_uv:          sets $UV to a usable uv binary (bootstrapped from PyPI if needed).

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

# The two stacks CI tests; each has its own Python, lock file, venv and extras.
#   main:   Python 3.10, TFX 1.16, TF 2.16, TFMA 0.47, all extras; requirements.lock, .venv
#   newest: Python 3.12, TF 2.21, newest Keras 3, TFMA 0.52, no TFX; requirements-newest.lock,
#           .venv-newest. No TFX installs there: TFX 1.17's ml-metadata has no cp312 wheel, and
#           1.21's needs glibc 2.39 (Debian 12 has 2.36).
# STACK_PYTEST_ARGS: what scripts/test.sh adds to pytest (--without-tfx: see tests/conftest.py).
select_stack() {
    STACK="$1"
    case "$STACK" in
        main)
            STACK_PY_VERSION=3.10
            STACK_PY_WHY="TFX 1.16 (the newest that installs here) needs CPython 3.10"
            STACK_PY_OVERRIDE=TF_HEADS_PYTHON
            STACK_LOCK=requirements.lock
            STACK_VENV="$ROOT/.venv"
            STACK_EXTRAS=(all)
            STACK_PYTEST_ARGS=()
            ;;
        newest)
            STACK_PY_VERSION=3.12
            STACK_PY_WHY="the newest stack (TF 2.21, TFMA 0.52) is tested on CPython 3.12"
            STACK_PY_OVERRIDE=TF_HEADS_PYTHON_NEWEST
            STACK_LOCK=requirements-newest.lock
            STACK_VENV="$ROOT/.venv-newest"
            STACK_EXTRAS=(evaluation demo test)
            STACK_PYTEST_ARGS=(--without-tfx)
            ;;
        *) die "unknown stack '$STACK': use main or newest" ;;
    esac
}

# Reads a leading `--stack NAME` / `--stack=NAME` (default main) and selects it;
# STACK_ARGS holds the remaining arguments.
take_stack_arg() {
    local name=main
    case "${1:-}" in
        --stack) [[ $# -ge 2 ]] || die "--stack needs a name (main or newest)"; name="$2"; shift 2 ;;
        --stack=*) name="${1#--stack=}"; shift ;;
    esac
    select_stack "$name"
    STACK_ARGS=("$@")
}

# Prints the real path of the interpreter if "$1" runs and is CPython $STACK_PY_VERSION.
_check_python() {
    "$1" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$STACK_PY_VERSION'; print(sys.executable)" 2>/dev/null
}

find_python() {
    local cand exe root override="${!STACK_PY_OVERRIDE:-}" v="$STACK_PY_VERSION"
    # 1. Explicit override.
    if [[ -n "$override" ]]; then
        exe="$(_check_python "$override")" || die "$STACK_PY_OVERRIDE=$override is not a working Python $v"
        printf '%s\n' "$exe"; return 0
    fi
    # 2. pyenv-installed X.Y.z (newest first).
    root=""
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || true)"; fi
    [[ -z "$root" ]] && root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [[ -d "$root/versions" ]]; then
        while IFS= read -r cand; do
            [[ -x "$cand" ]] || continue
            if exe="$(_check_python "$cand")"; then printf '%s\n' "$exe"; return 0; fi
        done < <(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -rV)
    fi
    # 3. pythonX.Y on PATH (a pyenv shim only works if that version is selected, hence the check).
    if cand="$(command -v "python$v" 2>/dev/null)"; then
        if exe="$(_check_python "$cand")"; then printf '%s\n' "$exe"; return 0; fi
    fi
    # 4. A Python that uv already manages (uv will not download one).
    if [[ -n "${UV:-}" ]] && cand="$("$UV" python find "$v" 2>/dev/null)"; then
        if exe="$(_check_python "$cand")"; then printf '%s\n' "$exe"; return 0; fi
    fi
    return 1
}

python_or_die() {
    local v="$STACK_PY_VERSION"
    STACK_PYTHON="$(find_python)" || die "No Python $v interpreter found: $STACK_PY_WHY.
  Get one with ONE of:
    - pyenv install $v        (then re-run; looked in \$(pyenv root)/versions/$v.*)
    - apt-get install python$v / your distro's package, so that 'python$v' is on PATH
    - uv python install $v    (only where python downloads are reachable)
  or point $STACK_PY_OVERRIDE=/path/to/python$v at an existing interpreter."
}

# Sets $UV. Order: $UV from the environment, else a pinned uv in $TOOLS_VENV
# (created on first use with "$STACK_PYTHON -m venv" or python3, then pip install uv).
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
    for cand in "${STACK_PYTHON:-}" python3 python; do
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
