"""Subprocess helper of test_trainer_multi_worker.py: one worker of a multi-worker run_fn.

  python tests/trainer_worker.py WORKDIR SHARED_DIR OUT.json   (TF_CONFIG set)
Trains the penguin config under MultiWorkerMirroredStrategy with the serving and
TensorBoard dirs under SHARED_DIR, as every Trainer replica gets the same
fn_args. OUT.json records where this worker exported and what is left there.
"""

import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.dirname(TESTS))

import penguin_support as support  # noqa: E402
from components import trainer  # noqa: E402


def main(workdir, shared, out):
  exports = []
  export = trainer.signatures.export

  def recording_export(model, config, export_dir, *args):
    exports.append(export_dir)
    return export(model, config, export_dir, *args)

  trainer.signatures.export = recording_export
  mapping = support.config_data(training={'batch_size': 16, 'distribution': 'multi_worker'})
  fn_args = support.fn_args(workdir, mapping, train_steps=4, eval_steps=1, rows=60)
  fn_args.serving_model_dir = os.path.join(shared, 'serving')
  fn_args.model_run_dir = os.path.join(shared, 'model_run')
  model, _ = trainer.train(fn_args)
  with open(out, 'w') as f:
    json.dump({'exports': exports, 'left': [os.path.exists(d) for d in exports],
               'weights': [float(v.numpy().sum()) for v in model.trainable_variables]}, f)


if __name__ == '__main__':
  main(*sys.argv[1:4])
