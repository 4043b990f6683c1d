"""Subprocess helper of test_trainer_multi_worker.py: one worker of a multi-worker run_fn.

  python tests/trainer_worker.py DATA_DIR SHARED_DIR OUT.json [BLOCK_AT_STEP]  (TF_CONFIG set)
Trains the penguin config under MultiWorkerMirroredStrategy on the data the
test wrote to DATA_DIR, with the serving and TensorBoard dirs under SHARED_DIR,
as every Trainer replica gets the same fn_args. OUT.json records the step it
resumed from, where this worker exported and what is left there. With
BLOCK_AT_STEP the chief checkpoints every step and, once that step is saved,
the worker writes OUT.json.blocked and sleeps until it is killed.
"""

import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.dirname(TESTS))

import keras  # noqa: E402

import penguin_support as support  # noqa: E402
from components import resume  # noqa: E402
from components import trainer  # noqa: E402

TRAIN_STEPS = 4


def fn_args(data_dir, shared, write=False):
  # 'normalize': balancer state updated per step from all-reduced losses, exported too.
  mapping = support.config_data(training={'batch_size': 16, 'distribution': 'multi_worker',
                                          'loss_balancing': 'normalize'})
  args = support.fn_args(data_dir, mapping, train_steps=TRAIN_STEPS, eval_steps=1, rows=60,
                         write=write)
  args.serving_model_dir = os.path.join(shared, 'serving')
  args.model_run_dir = os.path.join(shared, 'model_run')
  return args


class _Block(keras.callbacks.Callback):

  def __init__(self, saver, step, marker):
    super().__init__()
    self.saver, self.step, self.marker = saver, step, marker

  def on_train_batch_end(self, batch, logs=None):
    if self.saver.saved_step >= self.step:
      with open(self.marker, 'w') as f:
        f.write(str(self.saver.saved_step))
      time.sleep(3600)


def main(data_dir, shared, out, block_at=None):
  exports, restored = [], []
  export = trainer.signatures.export
  restore = resume.Checkpoints.restore

  def recording_export(model, config, export_dir, *args):
    exports.append(export_dir)
    return export(model, config, export_dir, *args)

  def recording_restore(self):
    restored.append(restore(self))
    return restored[-1]

  trainer.signatures.export = recording_export
  resume.Checkpoints.restore = recording_restore
  if block_at is not None:
    resume.SAVE_EVERY_SECONDS = 0.
    callbacks = trainer._callbacks  # pylint: disable=protected-access

    def blocking_callbacks(log_dir, epochs, saver, head_names=()):
      return callbacks(log_dir, epochs, saver, head_names) + [
          _Block(saver, block_at, out + '.blocked')]

    trainer._callbacks = blocking_callbacks  # pylint: disable=protected-access
  model, _ = trainer.train(fn_args(data_dir, shared))
  with open(out, 'w') as f:
    json.dump({'restored': restored, 'exports': exports,
               'left': [os.path.exists(d) for d in exports],
               'weights': [float(v.numpy().sum()) for v in model.trainable_variables],
               'head_weights': model.loss_balancer.effective_weights().numpy().tolist()}, f)


if __name__ == '__main__':
  main(*sys.argv[1:4], *[int(step) for step in sys.argv[4:5]])
