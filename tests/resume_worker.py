"""test_resume.py's training of a small penguin config, in process or as the process to kill.

  python tests/resume_worker.py WORKDIR BLOCK_AT_STEP
checkpoints after every step and, once step BLOCK_AT_STEP is saved, writes
WORKDIR/blocked and sleeps until the test kills it. In process, `train`
trains to the end and returns the step it resumed from, the final step,
whether checkpoints are left, and the eval metrics of the model. The export
is skipped: it is not what these tests are about, and it is slow.
"""

import contextlib
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

TRAIN_STEPS = 15  # 5 epochs of 3 steps: steps 5, 8 and 10 are inside an epoch
EVAL_STEPS = 2
BLOCKED = 'blocked'


def fn_args(workdir):
  mapping = support.config_data(training={'batch_size': 16, 'seed': 3})
  return support.fn_args(workdir, mapping, train_steps=TRAIN_STEPS, eval_steps=EVAL_STEPS,
                         rows=60)


@contextlib.contextmanager
def _replaced(owner, name, value):
  """`owner.name` is `value` within, and what it was after."""
  previous = getattr(owner, name)
  setattr(owner, name, value)
  try:
    yield
  finally:
    setattr(owner, name, previous)


def train(workdir):
  """Trains (resuming from a checkpoint in `workdir` if there is one); returns the record."""
  restored = []
  restore = resume.Checkpoints.restore

  def recording_restore(self):
    restored.append(restore(self))
    return restored[-1]

  args = fn_args(workdir)
  with _replaced(resume.Checkpoints, 'restore', recording_restore), _replaced(
      trainer.signatures, 'export', lambda *args: None):
    model, config = trainer.train(args)
  eval_data = trainer.input_fn(args.eval_files, args.data_accessor, config,
                               trainer.load_schema(args.schema_path), config.training.batch_size,
                               shuffle=False)
  metrics = model.evaluate(eval_data, steps=EVAL_STEPS, return_dict=True, verbose=0)
  directory = resume.checkpoint_dir(args, TRAIN_STEPS, EVAL_STEPS)
  return {'restored_step': restored[0], 'final_step': int(model.optimizer.iterations),
          'checkpoints_left': os.path.exists(directory),
          'metrics': {key: float(value) for key, value in metrics.items()}}


class _Block(keras.callbacks.Callback):
  """Sleeps once the saver has checkpointed `step`, after telling the test so."""

  def __init__(self, saver, step, marker):
    super().__init__()
    self.saver, self.step, self.marker = saver, step, marker

  def on_train_batch_end(self, batch, logs=None):
    if self.saver.saved_step >= self.step:
      with open(self.marker, 'w') as f:
        f.write(str(self.saver.saved_step))
      time.sleep(3600)


def train_until_killed(workdir, block_at):
  resume.SAVE_EVERY_SECONDS = 0.
  callbacks = trainer._callbacks  # pylint: disable=protected-access

  def blocking_callbacks(log_dir, epochs, saver, head_names=()):
    return callbacks(log_dir, epochs, saver, head_names) + [
        _Block(saver, block_at, os.path.join(workdir, BLOCKED))]

  trainer._callbacks = blocking_callbacks  # pylint: disable=protected-access
  train(workdir)
  raise AssertionError('training ended without blocking at step {}'.format(block_at))


if __name__ == '__main__':
  train_until_killed(sys.argv[1], int(sys.argv[2]))
