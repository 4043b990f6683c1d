"""Checkpoints that let a rerun of the same Trainer inputs continue a killed training.

TFX gives every Trainer execution new output URIs, so the checkpoints live
beside them, in `<node dir>/checkpoints/<fingerprint>`: the node dir is the
parent of the ModelRun artifacts' directory (`<pipeline root>/Trainer`
locally; the job's directory on Kubeflow and Vertex, which a retried pod
shares), and the fingerprint hashes what decides the training: the train and
eval files, the schema, the heads config and the step counts. A rerun with
the same inputs after SIGKILL, SIGTERM, Ctrl-C or a preempted pod restores
the model, the optimizer (its step counter included) and the dropout seeds,
skips the batches already trained on (the shuffle is seeded), and goes on.
A finished run removes its checkpoints.

Only the chief writes checkpoints (they hold mirrored variables, so writing
needs no other worker); every worker restores from the chief's directory.
"""

import contextlib
import hashlib
import json
import os
import signal
import threading
import time

import keras
import tensorflow as tf

CHECKPOINTS_DIR = 'checkpoints'
SAVE_EVERY_SECONDS = 60.0
_KEEP = 2


class TrainingStopped(Exception):
  """Training was stopped by a signal; the message says where and that a rerun resumes."""

  def __init__(self, message, step):
    super().__init__(message)
    self.step = step


def fingerprint(fn_args, train_steps, eval_steps):
  """Hex digest of the Trainer inputs that decide the training (see the module docstring)."""
  with tf.io.gfile.GFile(fn_args.schema_path, 'rb') as f:
    schema_text = f.read()
  inputs = {'train_files': list(fn_args.train_files or []),
            'eval_files': list(fn_args.eval_files or []),
            'schema': hashlib.sha256(schema_text).hexdigest(),
            'custom_config': fn_args.custom_config,
            'train_steps': train_steps, 'eval_steps': eval_steps}
  text = json.dumps(inputs, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_dir(fn_args, train_steps, eval_steps):
  """The stable checkpoint directory of these Trainer inputs (see the module docstring)."""
  node_dir = os.path.dirname(os.path.dirname(fn_args.model_run_dir.rstrip('/')))
  return os.path.join(node_dir, CHECKPOINTS_DIR, fingerprint(fn_args, train_steps, eval_steps))


class Checkpoints:
  """A CheckpointManager over a built and compiled model's variables and its optimizer's.

  Build the optimizer first (`optimizer.build(model.trainable_variables)`), so
  its slots exist to restore into.
  """

  def __init__(self, directory, model, write=True):
    self.directory = directory
    self._model = model
    self._write = write
    self._checkpoint = tf.train.Checkpoint(model_variables=list(model.variables),
                                           optimizer_variables=list(model.optimizer.variables))
    self._manager = None

  def _manager_for_writing(self):
    if self._manager is None:
      self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory,
                                                 max_to_keep=_KEEP)
    return self._manager

  def latest(self):
    return tf.train.latest_checkpoint(self.directory)

  def _matches(self, path):
    """Whether the checkpoint holds variables of exactly our shapes (else a stale layout)."""
    expected = {}
    for group, variables in (('model_variables', self._model.variables),
                             ('optimizer_variables', self._model.optimizer.variables)):
      for i, variable in enumerate(variables):
        expected['{}/{}/.ATTRIBUTES/VARIABLE_VALUE'.format(group, i)] = list(variable.shape)
    saved = {name: shape for name, shape in tf.train.list_variables(path)
             if name.startswith(('model_variables/', 'optimizer_variables/'))}
    return saved == expected

  def restore(self):
    """Restores the latest checkpoint; returns its step, or 0 when there is none to use."""
    path = self.latest()
    if path is None:
      return 0
    if not self._matches(path):
      print('  ignoring checkpoint {}: it does not match this model'.format(path), flush=True)
      return 0
    self._checkpoint.restore(path).assert_existing_objects_matched()
    return int(self._model.optimizer.iterations.numpy())

  def save(self, step):
    if self._write:
      self._manager_for_writing().save(checkpoint_number=step)

  def remove(self):
    """Deletes this run's checkpoints (and the checkpoints dir when nothing else is in it)."""
    if not self._write or not tf.io.gfile.exists(self.directory):
      return
    tf.io.gfile.rmtree(self.directory)
    parent = os.path.dirname(self.directory)
    if tf.io.gfile.isdir(parent) and not tf.io.gfile.listdir(parent):
      tf.io.gfile.rmtree(parent)


class SaveCheckpoints(keras.callbacks.Callback):
  """Saves at the last batch of every epoch (before validation) and every `seconds` between.

  Counts steps itself from `start`, so saving needs no read from the device
  until it writes.
  """

  def __init__(self, checkpoints, start, seconds=None):
    super().__init__()
    self.checkpoints = checkpoints
    self.step = start
    self.saved_step = start
    self._seconds = SAVE_EVERY_SECONDS if seconds is None else seconds
    self._epoch_start = start
    self._last_save = time.monotonic()

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = self.step

  def on_train_batch_end(self, batch, logs=None):
    self.step = self._epoch_start + batch + 1
    last_batch = batch + 1 >= (self.params or {}).get('steps', 0)
    if last_batch or time.monotonic() - self._last_save >= self._seconds:
      self.save()

  def save(self):
    if self.step != self.saved_step:
      self.checkpoints.save(self.step)
      self.saved_step = self.step
    self._last_save = time.monotonic()


@contextlib.contextmanager
def signals_interrupt():
  """Within: SIGTERM raises KeyboardInterrupt like Ctrl-C does (main thread only).

  Yields a dict whose 'signal' is the name of the signal that arrived.
  """
  received = {'signal': 'SIGINT (Ctrl-C)'}
  if threading.current_thread() is not threading.main_thread():
    yield received
    return

  def interrupt(signum, frame):
    del frame
    received['signal'] = signal.Signals(signum).name
    raise KeyboardInterrupt

  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield received
  finally:
    signal.signal(signal.SIGTERM, previous)


def stopped_message(step, train_steps, signal_name, saved, directory):
  """The one line of a training stopped by a signal."""
  if step >= train_steps:
    where = 'after training all {} steps, before the export finished'.format(train_steps)
  else:
    where = 'at step {} of {}'.format(step, train_steps)
  if saved:
    resume = 'a rerun with the same inputs resumes from step {} (checkpoint in {})'.format(
        saved, directory)
  else:
    resume = 'no checkpoint was written yet, so a rerun starts from step 0'
  return 'Training stopped by {} {}; {}.'.format(signal_name, where, resume)
