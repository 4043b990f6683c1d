"""Training that survives a kill: checkpoints a rerun of the same Trainer inputs finds again."""
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
import tensorflow as tf

import penguin_support as support
from components import resume
from components import trainer

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'resume_worker.py')
TIMEOUT = 400
sys.path.insert(0, os.path.dirname(WORKER))
import resume_worker  # noqa: E402  pylint: disable=wrong-import-position


def _wait_for(path, process, log_path):
  deadline = time.monotonic() + TIMEOUT
  while not os.path.exists(path):
    assert process.poll() is None, open(log_path).read()[-3000:]
    assert time.monotonic() < deadline, 'no checkpoint before the timeout'
    time.sleep(0.2)


@pytest.mark.needs_tfx
def test_a_training_killed_with_sigkill_resumes_from_its_checkpoint(tmp_path):
  """SIGKILL after step 8 was checkpointed; the rerun goes on from step 8, not 0.

  Its model ends where an uninterrupted run with the same seed ends (eval
  metrics within 1%), and the finished run removes its checkpoints. Only the
  killed training runs in a process of its own; the uninterrupted one trains
  here meanwhile, and so does the rerun.
  """
  workdir = tmp_path / 'run'
  workdir.mkdir()
  log_path = tmp_path / 'killed.log'
  with open(log_path, 'w') as log:
    killed = subprocess.Popen([sys.executable, WORKER, str(workdir), '8'], stdout=log,
                              stderr=subprocess.STDOUT)
  try:
    uninterrupted = resume_worker.train(str(tmp_path / 'straight'))
    _wait_for(str(workdir / resume_worker.BLOCKED), killed, log_path)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
  finally:
    if killed.poll() is None:
      killed.kill()
      killed.wait()
  directory = resume.checkpoint_dir(resume_worker.fn_args(str(workdir)),
                                    resume_worker.TRAIN_STEPS, resume_worker.EVAL_STEPS)
  assert tf.train.latest_checkpoint(directory).endswith('ckpt-8')

  rerun = resume_worker.train(str(workdir))
  assert uninterrupted['restored_step'] == 0
  assert rerun['restored_step'] == 8
  assert rerun['final_step'] == uninterrupted['final_step'] == resume_worker.TRAIN_STEPS
  assert not rerun['checkpoints_left'] and not os.path.exists(directory)
  assert sorted(rerun['metrics']) == sorted(uninterrupted['metrics'])
  for key, value in uninterrupted['metrics'].items():
    assert rerun['metrics'][key] == pytest.approx(value, rel=0.01, abs=1e-6), key


class _SendSignal(keras.callbacks.Callback):
  """Sends `signum` to this process once the saver has counted `step` steps."""

  def __init__(self, saver, signum, step):
    super().__init__()
    self.saver, self.signum, self.step = saver, signum, step

  def on_train_batch_end(self, batch, logs=None):
    if self.saver.step == self.step:
      os.kill(os.getpid(), self.signum)
      time.sleep(5)


@pytest.fixture
def ctrl_c_raises():
  """Python's Ctrl-C handler, also when pytest started with SIGINT ignored (a background job)."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


@pytest.mark.needs_tfx
@pytest.mark.usefixtures('ctrl_c_raises')
def test_sigterm_and_ctrl_c_stop_with_a_checkpoint_and_a_rerun_resumes(monkeypatch, tmp_path):
  """SIGTERM at step 5, then Ctrl-C (SIGINT) at step 10 of the rerun, which resumed at 5.

  (A rerun that finishes is the SIGKILL test's.)
  """
  exports = []
  monkeypatch.setattr(trainer.signatures, 'export', lambda *args: exports.append(args[2]))
  callbacks = trainer._callbacks  # pylint: disable=protected-access
  restored = []
  restore = resume.Checkpoints.restore
  monkeypatch.setattr(resume.Checkpoints, 'restore',
                      lambda self: restored.append(restore(self)) or restored[-1])
  args = resume_worker.fn_args(str(tmp_path))
  directory = resume.checkpoint_dir(args, resume_worker.TRAIN_STEPS, resume_worker.EVAL_STEPS)
  handler = signal.getsignal(signal.SIGTERM)
  stops = ((signal.SIGTERM, 'SIGTERM', 5), (signal.SIGINT, 'SIGINT (Ctrl-C)', 10))
  for signum, name, step in stops:

    def signalling(log_dir, epochs, saver, head_names=(), signum=signum, step=step):
      return callbacks(log_dir, epochs, saver, head_names) + [_SendSignal(saver, signum, step)]

    monkeypatch.setattr(trainer, '_callbacks', signalling)
    with pytest.raises(resume.TrainingStopped) as info:
      trainer.run_fn(args)
    assert str(info.value) == (
        'Training stopped by {} at step {} of {}; a rerun with the same inputs resumes from '
        'step {} (checkpoint in {}).'.format(name, step, resume_worker.TRAIN_STEPS, step,
                                            directory))
    assert info.value.step == step
    assert tf.train.latest_checkpoint(directory).endswith('ckpt-{}'.format(step))
    assert signal.getsignal(signal.SIGTERM) is handler
  assert restored == [0, 5] and not exports


@pytest.mark.needs_tfx
def test_the_checkpoint_dir_is_stable_for_the_same_inputs_only(tmp_path):
  args = support.fn_args(str(tmp_path), support.config_data(), rows=6)
  directory = resume.checkpoint_dir(args, 20, 2)
  assert directory.startswith(os.path.join(str(tmp_path), 'Trainer', 'checkpoints', ''))
  again = support.fn_args(str(tmp_path), support.config_data(), rows=6, execution=7)
  assert again.model_run_dir != args.model_run_dir
  assert resume.checkpoint_dir(again, 20, 2) == directory
  assert resume.checkpoint_dir(args, 21, 2) != directory
  changed = support.fn_args(str(tmp_path), support.config_data(training={'seed': 1}), rows=6)
  assert resume.checkpoint_dir(changed, 20, 2) != directory


def test_a_checkpoint_of_another_model_layout_is_ignored(tmp_path, capsys):
  small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  small.compile(optimizer='sgd', loss='mse')
  small.optimizer.build(small.trainable_variables)
  resume.Checkpoints(str(tmp_path), small).save(3)
  other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
  other.compile(optimizer='sgd', loss='mse')
  other.optimizer.build(other.trainable_variables)
  assert resume.Checkpoints(str(tmp_path), other).restore() == 0
  assert 'does not match this model' in capsys.readouterr().out
  same = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  same.compile(optimizer='sgd', loss='mse')
  same.optimizer.build(same.trainable_variables)
  small.optimizer.iterations.assign(3)
  resume.Checkpoints(str(tmp_path), small).save(3)
  assert resume.Checkpoints(str(tmp_path), same).restore() == 3
