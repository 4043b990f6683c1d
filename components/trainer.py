"""The TFX Trainer module: `run_fn` trains and exports the model the heads config describes.

Use it as `Trainer(run_fn='components.trainer.run_fn', custom_config=
trainer.custom_config(config_data), examples=..., schema=...)`. The config
travels in custom_config and is validated again here. Before training, every
configured column is checked against the Schema artifact. Data comes through
`fn_args.data_accessor` (labels as a dict keyed by head), training runs under
the configured tf.distribute strategy with TensorBoard logs in
`fn_args.model_run_dir`, and one SavedModel goes to `fn_args.serving_model_dir`
(signatures: see components/signatures.py). The data's column types (INT,
FLOAT, BYTES) come from the Schema: integer columns feed float inputs and
labels, and the export parses and records them as stored.

There is no Transform step: features are encoded inside the model (see
components/body.py), so the exported `transform_features` signature is the
Evaluator's view of labels and weights, not a tf.Transform graph.

Nothing bad is trained on, nothing is lost: before training both splits are
scanned for NaN, inf and negative weights (components/non_finite.py), a
non-finite training loss stops training naming its heads, and checkpoints let
a rerun of the same inputs resume a killed training (components/resume.py).
"""

import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tfx_bsl.public import tfxio

from components import body
from components import config as config_lib
from components import non_finite
from components import resume
from components import schema
from components import signatures
from heads import distribute
from heads.model import HEAD_WEIGHT_PREFIX
from heads.non_finite_loss import NonFiniteLossError
from heads.non_finite_loss import StopOnNonFiniteLoss

CONFIG_KEY = 'heads_config'
STATS_BATCHES = 1000
SCAN_BATCH_SIZE = 1024
_MAX_EPOCHS = 10
_OPTIMIZERS = {'adam': keras.optimizers.Adam, 'sgd': keras.optimizers.SGD,
               'adagrad': keras.optimizers.Adagrad, 'rmsprop': keras.optimizers.RMSprop}


def custom_config(config_data):
  """The Trainer's custom_config carrying a heads config mapping (as loaded from YAML/JSON)."""
  return {CONFIG_KEY: config_data}


def config_from_fn_args(fn_args):
  """The validated HeadsConfig in fn_args.custom_config."""
  custom = fn_args.custom_config or {}
  if CONFIG_KEY not in custom:
    raise ValueError("custom_config[{!r}] is missing: pass custom_config=components.trainer."
                     "custom_config(config_data) to the Trainer. Given keys: {}".format(
                         CONFIG_KEY, sorted(custom)))
  return config_lib.parse_config(custom[CONFIG_KEY])


def load_schema(schema_path):
  """The tensorflow_metadata Schema in a SchemaGen/ImportSchemaGen schema.pbtxt."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  if not schema_path:
    raise ValueError('The Trainer needs the schema input (SchemaGen output) to check and '
                     'read the configured columns.')
  return io_utils.parse_pbtxt_file(schema_path, schema_pb2.Schema())


def read_raw_columns(file_patterns, data_accessor, config, data_schema, batch_size,
                     shuffle=True, num_epochs=None, seed=None):
  """Dataset of {column: SparseTensor} batches: the present values only, nothing filled in."""
  options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=shuffle,
                                           shuffle_seed=seed, num_epochs=num_epochs)
  return data_accessor.tf_dataset_factory(file_patterns, options,
                                          schema.dataset_schema(config, data_schema))


def read_columns(file_patterns, data_accessor, config, data_schema, batch_size, shuffle=True,
                 num_epochs=None, seed=None):
  """Dataset of {column: tensor} batches of the configured features, weights and labels.

  Each column as the model takes it (`schema.model_columns`): integer columns
  converted, missing values filled, dense.
  """
  spec = schema.full_spec(config)
  return read_raw_columns(file_patterns, data_accessor, config, data_schema, batch_size,
                          shuffle=shuffle, num_epochs=num_epochs, seed=seed).map(
                              lambda columns: schema.model_columns(columns, config, spec))


def input_fn(file_patterns, data_accessor, config, data_schema, batch_size, shuffle=True,
             seed=None):
  """Endless (features, {head name: label}) batches for HeadModel."""

  def split(columns):
    features = dict(columns)
    labels = {head.name: features.pop(head.label) for head in config.heads}
    return features, labels

  dataset = read_columns(file_patterns, data_accessor, config, data_schema, batch_size,
                         shuffle=shuffle, seed=seed).map(split)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return dataset.with_options(options)


def column_stats(dataset, names, max_batches=STATS_BATCHES):
  """{name: (mean, variance)} of float columns over `dataset`, ignoring NaN and inf.

  (0, 1) for a column without a finite value.
  """
  values = {name: [] for name in names}
  for columns in dataset.take(max_batches):
    for name in names:
      values[name].append(np.asarray(columns[name], np.float64).reshape(-1))
  stats = {}
  for name in names:
    column = np.concatenate(values[name]) if values[name] else np.zeros([0])
    column = column[np.isfinite(column)]
    stats[name] = (float(column.mean()), float(column.var())) if column.size else (0.0, 1.0)
  return stats


class _EpochLine(keras.callbacks.Callback):
  """One short progress line per epoch, with each head's effective loss weight.

  TensorBoard has every metric.
  """

  def __init__(self, epochs, head_names=()):
    super().__init__()
    self.epochs = epochs
    self.head_names = head_names

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    weights = ['{} {:.3g}'.format(name, float(logs[HEAD_WEIGHT_PREFIX + name]))
               for name in self.head_names if HEAD_WEIGHT_PREFIX + name in logs]
    print('  epoch {}/{}: loss {:.4g}, val_loss {:.4g}{}'.format(
        epoch + 1, self.epochs, logs.get('loss', float('nan')),
        logs.get('val_loss', float('nan')),
        ', head weights: ' + ', '.join(weights) if weights else ''), flush=True)


def _epochs(steps):
  """Splits `steps` into up to 10 equal epochs, so TensorBoard gets several points."""
  return next(e for e in range(min(_MAX_EPOCHS, steps), 0, -1) if steps % e == 0)


def _output_dirs(fn_args):
  """(export dir, TensorBoard dir): the real ones on the chief, temporary ones elsewhere.

  Under multi-worker training every worker must save (saving is collective),
  but only the chief may write the model the pipeline keeps.
  """
  if distribute.is_chief():
    return fn_args.serving_model_dir, fn_args.model_run_dir
  scratch = tempfile.mkdtemp(prefix='heads-worker-')
  return os.path.join(scratch, 'model'), os.path.join(scratch, 'logs')


def check_finite(fn_args, config, data_schema, batch_size=SCAN_BATCH_SIZE):
  """Fails before training, naming column and row count, on NaN, inf or negative weights.

  Scans every row of both splits for the columns `non_finite.rules` lists.
  """
  rules = non_finite.rules(config)
  if not rules:
    return
  problems = []
  for split, files in (('train', fn_args.train_files), ('eval', fn_args.eval_files)):
    batches = read_raw_columns(files, fn_args.data_accessor, config, data_schema, batch_size,
                               shuffle=False, num_epochs=1)
    counts = non_finite.count_bad_rows(batches, rules)
    problems += non_finite.errors(rules, counts, 'the {} split'.format(split))
  if problems:
    raise non_finite.NonFiniteDataError('; '.join(problems))


def _callbacks(log_dir, epochs, saver, head_names=()):
  """The loss check runs first, so a non-finite step is never checkpointed."""
  return [StopOnNonFiniteLoss(), saver, keras.callbacks.TensorBoard(log_dir=log_dir),
          _EpochLine(epochs, head_names)]


def _fit(model, make_train_data, start, train_steps, epochs, fit_args):
  """Trains from step `start` to `train_steps` in `epochs` equal epochs, as if never stopped.

  The data skips the batches already trained on. A start inside an epoch
  first finishes that epoch, in a fit of its own. Each fit gets a new dataset
  from `make_train_data()`: a second iterator of one dataset would shuffle
  differently (its shuffle seed generator moves on).
  """
  steps_per_epoch = train_steps // epochs
  epoch, done = divmod(start, steps_per_epoch)
  if done:
    model.fit(make_train_data().skip(start), initial_epoch=epoch, epochs=epoch + 1,
              steps_per_epoch=steps_per_epoch - done, **fit_args)
    epoch += 1
  if epoch < epochs:
    model.fit(make_train_data().skip(epoch * steps_per_epoch), initial_epoch=epoch,
              epochs=epochs, steps_per_epoch=steps_per_epoch, **fit_args)


def train(fn_args):
  """Checks, trains (resuming from a checkpoint) and exports; returns (HeadModel, HeadsConfig).

  Raises non_finite.NonFiniteDataError before training on bad values,
  NonFiniteLossError when the loss becomes NaN or inf, and
  resume.TrainingStopped on SIGTERM or Ctrl-C (after saving a checkpoint).
  """
  config = config_from_fn_args(fn_args)
  data_schema = load_schema(fn_args.schema_path)
  column_types = schema.check_schema(config, data_schema)
  training = config.training
  # Before any TF op: MultiWorkerMirroredStrategy must configure collectives first.
  strategy = distribute.strategy_from_setting(training.distribution)
  keras.utils.set_random_seed(training.seed)
  train_steps = fn_args.train_steps or training.train_steps
  eval_steps = fn_args.eval_steps or training.eval_steps

  check_finite(fn_args, config, data_schema)
  float_columns = [f.name for f in config.model.features if f.kind == body.NUMERIC] + [
      h.label for h in config.heads if h.type == body.REGRESSION]
  stats = column_stats(read_columns(fn_args.train_files, fn_args.data_accessor, config,
                                    data_schema, training.batch_size, shuffle=False,
                                    num_epochs=1), float_columns)

  def make_train_data():
    return input_fn(fn_args.train_files, fn_args.data_accessor, config, data_schema,
                    training.batch_size, seed=training.seed)

  eval_data = input_fn(fn_args.eval_files, fn_args.data_accessor, config, data_schema,
                       training.batch_size, shuffle=False)

  with strategy.scope():
    model = body.build_model(config, stats)
    model.compile(optimizer=_OPTIMIZERS[training.optimizer](training.learning_rate),
                  steps_per_execution=training.steps_per_execution)
    model.optimizer.build(model.trainable_variables)
  checkpoints = resume.Checkpoints(resume.checkpoint_dir(fn_args, train_steps, eval_steps),
                                   model, write=distribute.is_chief())
  start = checkpoints.restore()
  if start:
    print('  resuming training at step {} of {} from {}'.format(
        start, train_steps, checkpoints.directory), flush=True)

  export_dir, log_dir = _output_dirs(fn_args)
  epochs = _epochs(train_steps)
  saver = resume.SaveCheckpoints(checkpoints, start)
  fit_args = dict(validation_data=eval_data, validation_steps=eval_steps,
                  callbacks=_callbacks(log_dir, epochs, saver,
                                       [head.name for head in config.heads]),
                  verbose=0)
  with resume.signals_interrupt() as received:
    try:
      _fit(model, make_train_data, start, train_steps, epochs, fit_args)
      signatures.export(model, config, export_dir, column_types)
    except KeyboardInterrupt:
      step = int(model.optimizer.iterations.numpy())
      saver.step = step
      saver.save()
      raise resume.TrainingStopped(resume.stopped_message(
          step, train_steps, received['signal'], saver.saved_step, checkpoints.directory),
          step) from None
    except NonFiniteLossError:
      checkpoints.remove()
      raise
  if export_dir != fn_args.serving_model_dir:
    shutil.rmtree(os.path.dirname(export_dir), ignore_errors=True)
  checkpoints.remove()
  return model, config


def run_fn(fn_args):
  """TFX Trainer entry point (GenericExecutor): see the module docstring."""
  train(fn_args)
