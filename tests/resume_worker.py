"""Subprocess helper of test_resume.py: run_fn's training of a small penguin config.

  python tests/resume_worker.py WORKDIR OUT.json [BLOCK_AT_STEP]
With BLOCK_AT_STEP it checkpoints after every step and, once that step is
saved, writes OUT.json.blocked and sleeps until it is killed. Otherwise it
trains to the end and writes OUT.json: the step it resumed from, the final
step, whether checkpoints are left, and the eval metrics of the model. The
export is skipped: it is not what these tests are about, and it is slow.
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

TRAIN_STEPS = 24
EVAL_STEPS = 2


def fn_args(workdir):
  mapping = support.config_data(training={'batch_size': 16, 'seed': 3})
  return support.fn_args(workdir, mapping, train_steps=TRAIN_STEPS, eval_steps=EVAL_STEPS,
                         rows=60)


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


def main(workdir, out, block_at=None):
  restored = []
  restore = resume.Checkpoints.restore

  def recording_restore(self):
    restored.append(restore(self))
    return restored[-1]

  resume.Checkpoints.restore = recording_restore
  trainer.signatures.export = lambda *args: None
  args = fn_args(workdir)
  if block_at is not None:
    resume.SAVE_EVERY_SECONDS = 0.
    callbacks = trainer._callbacks  # pylint: disable=protected-access

    def blocking_callbacks(log_dir, epochs, saver):
      return callbacks(log_dir, epochs, saver) + [_Block(saver, block_at, out + '.blocked')]

    trainer._callbacks = blocking_callbacks  # pylint: disable=protected-access
  model, config = trainer.train(args)
  eval_data = trainer.input_fn(args.eval_files, args.data_accessor, config,
                               trainer.load_schema(args.schema_path), config.training.batch_size,
                               shuffle=False)
  metrics = model.evaluate(eval_data, steps=EVAL_STEPS, return_dict=True, verbose=0)
  directory = resume.checkpoint_dir(args, TRAIN_STEPS, EVAL_STEPS)
  with open(out, 'w') as f:
    json.dump({'restored_step': restored[0], 'final_step': int(model.optimizer.iterations),
               'checkpoints_left': os.path.exists(directory),
               'metrics': {key: float(value) for key, value in metrics.items()}}, f)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
