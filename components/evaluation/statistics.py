"""Per batch: the metric state of every model and slice, computed in the graph.

`ExportedModel(model_dir)` is one exported model: its `eval_logits`
signature (run in a TF1 session), the heads config it carries
(assets.extra/heads_config.json) and the data's column types it was trained
on (assets.extra/column_types.json).
`HeadsStatistics(config, column_types)` holds the float64 metric sets of a
heads config and one tf.function: parse the batch's labels and weight columns
as the model's signatures parse them (`schema.tolerant_spec` with the column
types, then `schema.model_columns`), then for each slice (a set of row indices) zero the
metric variables, update every head's metric set with the slice's rows
gathered (`HeadMetricSet.update`: the head's own `update_metrics`, then the
Evaluator's additions) and read the variables out. `BatchStatistics` runs
each model's signature once per batch and scores its logits with the
statistics of its own heads config, traced once for models that share one
(a candidate and its baseline usually do).

Bad data fails naming the head: when the graph call fails, the batch is
scored again eagerly, head by head, where the heads' checks name the value.
"""

import re
import threading

import numpy as np
import tensorflow as tf
from absl import logging

from components import schema
from components import signatures
from components.evaluation import metric_set as metric_set_lib
from components.evaluation import state as state_lib
from heads import export


class EvaluationInputError(ValueError):
  """The data or a model cannot be evaluated; the message names the file, model, head or value."""


def tf_error_text(error):
  """A TensorFlow error's message without TF's function and op names around it."""
  text = re.sub(r'\{\{[^}]*\}\}\s*', '', getattr(error, 'message', None) or str(error))
  return re.sub(r'\s*\[Op:[^\]]*\].*$', '', text, flags=re.S).strip()


def saved_signature_names(model_dir):
  """Signature keys of the SavedModel in model_dir, read from saved_model.pb without loading."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  path = tf.io.gfile.join(model_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)
  if not tf.io.gfile.exists(path):
    raise EvaluationInputError('{}: not a SavedModel ({} is missing)'.format(model_dir, path))
  saved = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved.ParseFromString(f.read())
  return sorted({key for graph in saved.meta_graphs for key in graph.signature_def})


def check_model(model_dir):
  """The model's HeadsConfig, after checking it has the signature and config the Evaluator reads.

  Cheap (no graph is loaded): the Evaluator calls it before starting Beam.
  """
  names = saved_signature_names(model_dir)
  if signatures.EVAL_LOGITS_SIGNATURE not in names:
    raise EvaluationInputError(
        '{}: the SavedModel has no {!r} signature (it has {}). Export it with '
        'components.signatures.export, or evaluate it with evaluation.engine: tfma.'.format(
            model_dir, signatures.EVAL_LOGITS_SIGNATURE, names))
  try:
    return signatures.read_heads_config(model_dir)
  except ValueError as error:
    raise EvaluationInputError(str(error)) from None


class ExportedModel:
  """An exported model's `eval_logits` signature and heads config.

  The model runs in a TF1 session (the loader TF Serving uses, which the
  export supports): importing the graph takes about half the time of
  `tf.saved_model.load`, which rebuilds a Python function for every
  signature when only one is called here. The session runs without Grappler:
  optimising the restore and the signature's first call cost 0.3 s of
  start-up per process, for about 3% faster batches (measured on the
  throughput benchmark's model), which would pay off only after some 10M rows.
  `threads` sizes the session's thread pools (None: TensorFlow's default, all cores).
  """

  def __init__(self, model_dir, threads=None):
    self.model_dir = model_dir
    self.config = check_model(model_dir)
    self.column_types = schema.read_column_types(model_dir)
    graph = tf.Graph()
    session_config = tf.compat.v1.ConfigProto()
    session_config.graph_options.rewrite_options.disable_meta_optimizer = True
    if threads:
      session_config.intra_op_parallelism_threads = threads
      session_config.inter_op_parallelism_threads = threads
    self._session = tf.compat.v1.Session(graph=graph, config=session_config)
    with graph.as_default():
      meta_graph = tf.compat.v1.saved_model.loader.load(
          self._session, [tf.saved_model.SERVING], model_dir)
    signature = meta_graph.signature_def[signatures.EVAL_LOGITS_SIGNATURE]
    self._examples = signature.inputs[export.EXAMPLES_INPUT].name
    self._outputs = {name: output.name for name, output in signature.outputs.items()}
    self._specs = {
        name: tf.TensorSpec([None] + tf.TensorShape(output.tensor_shape)[1:].as_list(),
                            tf.as_dtype(output.dtype))
        for name, output in signature.outputs.items()}
    outputs = sorted(self._outputs)
    heads = sorted(head.name for head in self.config.heads)
    if outputs != heads:
      raise EvaluationInputError(
          "{}: the {!r} signature returns {}, but the model's heads config has the heads "
          '{}'.format(model_dir, signatures.EVAL_LOGITS_SIGNATURE, outputs, heads))

  def logits_spec(self):
    return dict(self._specs)

  def logits(self, examples):
    """{head name: logits array} of a batch of serialized tf.Examples (a 1-D array)."""
    return self._session.run(self._outputs, {self._examples: examples})


def _take(value, rows):
  """The given rows of a dense or sparse batch tensor."""
  if isinstance(value, tf.SparseTensor):
    return tf.gather(tf.RaggedTensor.from_sparse(value), rows).to_sparse()
  return tf.gather(value, rows)


class HeadsStatistics:
  """The float64 metric state of a heads config's metric sets, per slice of a batch."""

  def __init__(self, config, logits_spec, column_types=None):
    self.config = config
    self.column_types = column_types
    self.metric_sets = [metric_set_lib.HeadMetricSet(head) for head in config.heads]
    self.layout = state_lib.StateLayout(self.metric_sets)
    columns = {head.label for head in config.heads} | {
        head.weight_column for head in config.heads if head.weight_column}
    self._spec = {name: spec for name, spec in schema.export_spec(config).items()
                  if name in columns}
    self._parse_spec = schema.tolerant_spec(self._spec, column_types)
    self._states = tf.function(self._compute, autograph=False, input_signature=[
        tf.TensorSpec([None], tf.string), logits_spec,
        tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1)])

  def parse(self, examples):
    """Dense labels and weight columns of serialized tf.Examples, as the model's signatures parse."""
    return schema.model_columns(tf.io.parse_example(examples, self._parse_spec), self.config,
                                self._spec)

  def _update(self, features, logits, rows):
    features = {name: _take(value, rows) for name, value in features.items()}
    for metric_set in self.metric_sets:
      head = metric_set.config
      metric_set.update(features, tf.gather(logits[head.name], rows), features[head.label])

  def _compute(self, examples, logits, slice_rows):
    features = self.parse(examples)

    def state_of_slice(index, states):
      # Zero, update, read: tf.function runs the ops on each variable in program order. A
      # control_dependencies block around the update would tie every reset to every op of the
      # update (~50k edges for three heads), which makes instantiating the graph take seconds.
      self.layout.reset()
      self._update(features, logits, slice_rows[index])
      return index + 1, states.write(index, self.layout.read())

    count = slice_rows.nrows(out_type=tf.int32)
    _, states = tf.while_loop(
        lambda index, _: index < count, state_of_slice,
        [tf.constant(0), tf.TensorArray(tf.float64, size=count,
                                        element_shape=[self.layout.size])],
        parallel_iterations=1)
    return states.stack()

  def states(self, examples, logits, slice_rows):
    """[slices, state size] float64; slice_rows is a [slices, None] int64 RaggedTensor."""
    return self._states(examples, logits, slice_rows).numpy()

  def diagnose(self, examples, logits):
    """Scores a batch eagerly, head by head; raises naming the head and the bad value."""
    parsed = tf.io.parse_example(examples, self._parse_spec)
    for head in self.config.heads:
      label = parsed[head.label]
      if head.missing_label_value is None and isinstance(label, tf.RaggedTensor):
        empty = int(tf.reduce_sum(tf.cast(label.row_lengths() == 0, tf.int32)))
        if empty:
          raise EvaluationInputError(
              'head {!r}: label column {!r} has no value in {} example(s), and the head has '
              'missing_label: error (missing_label: mask skips them)'.format(
                  head.name, head.label, empty))
    features = schema.model_columns(parsed, self.config, self._spec)
    for metric_set in self.metric_sets:
      head = metric_set.config
      try:
        metric_set.head.loss_parts(logits[head.name], features[head.label], features)
      except (ValueError, TypeError, tf.errors.OpError) as error:
        raise EvaluationInputError('head {!r} (label column {!r}): {}'.format(
            head.name, head.label, tf_error_text(error))) from None


def _use_eager_threads(threads):
  """Sizes the eager runtime's thread pools, unless this process has started it already."""
  try:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  except RuntimeError:
    logging.info('TensorFlow has started in this process: its thread pools keep their size.')


def ragged_rows(slice_rows):
  """A [slices, None] int64 RaggedTensor of a list of row-index arrays."""
  lengths = np.array([len(rows) for rows in slice_rows], np.int64)
  values = np.concatenate(slice_rows).astype(np.int64) if len(slice_rows) else np.zeros(
      [0], np.int64)
  return tf.RaggedTensor.from_row_lengths(values, lengths)


class BatchStatistics:
  """Models by name, loaded once per process, and the metric states of a batch for each.

  Calls are serialised (a lock): the metric variables are reused across
  calls, and Beam may run several bundles of one process in threads.
  `threads` sizes TensorFlow's thread pools in this process (None: TF's
  default, all cores), for worker processes that share the machine's cores.
  """

  def __init__(self, model_dirs, threads=None):
    if threads:
      _use_eager_threads(threads)
    loaded = {}
    self.models = {}
    for name, path in model_dirs.items():
      if path not in loaded:
        loaded[path] = ExportedModel(path, threads)
      self.models[name] = loaded[path]
    self.statistics = {}
    shared = []
    for name, model in self.models.items():
      match = next((s for s in shared if (s.config, s.column_types) == (
          model.config, model.column_types)), None)
      if match is None:
        match = HeadsStatistics(model.config, model.logits_spec(), model.column_types)
        shared.append(match)
      self.statistics[name] = match
    self._lock = threading.Lock()
    # Traced and instantiated once, before the first batch: one empty slice of no examples.
    self.batch_states(np.zeros([0], object), [np.zeros([0], np.int64)])

  def layout(self, model_name):
    return self.statistics[model_name].layout

  def batch_states(self, serialized, slice_rows):
    """{model name: [len(slice_rows), state size] float64} for a batch.

    serialized: 1-D array of serialized tf.Examples; slice_rows: a list of
    int64 row-index arrays, one per slice.
    """
    examples = tf.constant(serialized, tf.string)
    rows = ragged_rows(slice_rows)
    result = {}
    with self._lock:
      for name, model in self.models.items():
        statistics = self.statistics[name]
        logits = model.logits(serialized)
        try:
          result[name] = statistics.states(examples, logits, rows)
        except tf.errors.InvalidArgumentError as error:
          statistics.diagnose(examples, logits)
          raise EvaluationInputError('{}: {}'.format(model.model_dir,
                                                     tf_error_text(error))) from None
    return result
