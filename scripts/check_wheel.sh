#!/usr/bin/env bash
# Build the tf-heads wheel (uv build: sdist, then the wheel from the sdist) and install it
# into clean venvs, as a user would:
#   1. every file of pipelines/configs/ is in the wheel;
#   2. newest stack's Python (3.12), no extras: `import heads` (model, export, distribute)
#      works and writes a summary, without TFX, TFMA, tfx-bsl or Beam installed;
#   3. main stack's Python (3.10), extra `tfx`: `heads-pipeline --help` works, and
#      `heads-pipeline run --config penguins --dry-run` finds the config shipped in the
#      wheel and builds the pipeline from it.
# The installs resolve the wheel's own dependencies (so a missing one fails here), constrained
# to the stack's lock file, so they take the wheels `scripts/setup.sh` already cached.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/_common.sh
source scripts/_common.sh
log() { printf '[wheel] %s\n' "$*" >&2; }
die() { printf '[wheel] ERROR: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

select_stack newest
python_or_die
NEWEST_PYTHON="$STACK_PYTHON"
NEWEST_LOCK="$STACK_LOCK"
select_stack main
python_or_die
MAIN_PYTHON="$STACK_PYTHON"
MAIN_LOCK="$STACK_LOCK"
ensure_uv

work="$(mktemp -d "${TMPDIR:-/tmp}/tf-heads-wheel.XXXXXX")"
cleanup() { local t=$SECONDS; rm -rf "$work"; log "removed the check's venvs in $((SECONDS - t))s"; }
trap cleanup EXIT
export TF_CPP_MIN_LOG_LEVEL=3

t=$SECONDS
"$UV" build --quiet --python "$MAIN_PYTHON" --out-dir "$work/dist" "$ROOT"
wheels=("$work"/dist/*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "expected one wheel in dist/, got: ${wheels[*]}"
wheel="${wheels[0]}"
log "built $(basename "$wheel") in $((SECONDS - t))s"

"$MAIN_PYTHON" - "$wheel" "$ROOT/pipelines/configs" <<'PY' || die "the wheel misses files"
import os, sys, zipfile
wheel, configs = sys.argv[1:]
names = set(zipfile.ZipFile(wheel).namelist())
want = ['pipelines/configs/' + name for name in sorted(os.listdir(configs))
        if os.path.isfile(os.path.join(configs, name))]
missing = [name for name in want if name not in names]
missing += [init for init in ('heads/__init__.py', 'components/__init__.py',
                              'pipelines/__init__.py') if init not in names]
if missing:
  sys.exit('[wheel] not in the wheel: {}'.format(', '.join(missing)))
print('[wheel] the wheel has the packages and {}'.format(', '.join(want)), file=sys.stderr)
PY

# 2. No extras, on the newest stack's Python.
t=$SECONDS
"$UV" venv --quiet --python "$NEWEST_PYTHON" "$work/base"
"$UV" pip install --quiet --python "$work/base/bin/python" "$wheel" -c "$NEWEST_LOCK"
log "installed the wheel without extras (Python $("$work/base/bin/python" -c 'import platform; print(platform.python_version())')) in $((SECONDS - t))s"
t=$SECONDS
(cd "$work" && "$work/base/bin/python" - 2>"$work/base.err" <<'PY') || { cat "$work/base.err" >&2; die "import heads failed without extras"; }
import importlib.util, os, sys, tempfile
import warnings; warnings.simplefilter('ignore')
import heads, heads.distribute, heads.export, heads.model
import tensorflow as tf
assert heads.__file__.startswith(sys.prefix), 'heads imported from {}, not the venv'.format(heads.__file__)
extra = [name for name in ('tfx', 'tensorflow_model_analysis', 'tfx_bsl', 'apache_beam')
         if importlib.util.find_spec(name)]
assert not extra, 'installed without extras, yet present: {}'.format(extra)
logdir = tempfile.mkdtemp()
writer = tf.summary.create_file_writer(logdir)
with writer.as_default(step=0):
  spec = heads.RegressionHead().create_estimator_spec(
      {}, heads.ModeKeys.TRAIN, tf.constant([[1.]]), labels=tf.constant([[3.]]),
      train_op_fn=lambda loss: tf.no_op())
writer.close()
tags = [value.tag for name in os.listdir(logdir)
        for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name))
        for value in event.summary.value]
assert float(spec.loss) == 4.0 and tags == ['loss'], (float(spec.loss), tags)
print('[wheel] without extras: import heads (model, export, distribute) and a TRAIN summary '
      'work on TF {}; no TFX, TFMA or Beam'.format(tf.__version__))
PY
log "  (that check took $((SECONDS - t))s)"

# 3. Extra `tfx`, on the main stack's Python.
t=$SECONDS
"$UV" venv --quiet --python "$MAIN_PYTHON" "$work/tfx"
"$UV" pip install --quiet --python "$work/tfx/bin/python" "$wheel[tfx]" -c "$MAIN_LOCK"
log "installed the wheel with extra tfx in $((SECONDS - t))s"
cli="$work/tfx/bin/heads-pipeline"
(cd "$work" && "$cli" --help) > "$work/help.out" || die "heads-pipeline --help failed"
grep -q '^usage: heads-pipeline' "$work/help.out" || die "heads-pipeline --help printed no usage"
t=$SECONDS
(cd "$work" && "$cli" run --config penguins --dry-run --rows 20 --output-dir "$work/run") \
    > "$work/dry.out" 2>&1 || { cat "$work/dry.out" >&2; die "heads-pipeline run --config penguins --dry-run failed"; }
packaged="$work/tfx/lib/python3.10/site-packages/pipelines/configs/penguins.yaml"
grep -qF "Config:     $packaged " "$work/dry.out" \
    || { cat "$work/dry.out" >&2; die "the dry run did not use the packaged config $packaged"; }
sed 's/^/[wheel]   /' "$work/dry.out" >&2
log "heads-pipeline --help and run --config penguins --dry-run work ($((SECONDS - t))s)"
log "wheel check passed in $((SECONDS - start))s"
