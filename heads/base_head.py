"""The Head interface, and the loss / metrics / spec pipeline shared by single heads."""

import collections
import contextlib

import tensorflow as tf

from heads import checks
from heads import metrics as metrics_lib
from heads.keys import MetricKeys
from heads.keys import ModeKeys
from heads.spec import EstimatorSpec

LossParts = collections.namedtuple(
    'LossParts', ['logits', 'labels', 'unweighted_loss', 'weights', 'present'])


class Head:
  """Interface of a head: from logits to loss, predictions, metrics and exports.

  `create_estimator_spec` ties them together per mode. TRAIN takes exactly one
  of `train_op_fn(loss)` or `optimizer` + `trainable_variables`. TF2 has no
  graph-collected gradients, so the optimizer path needs the caller's
  `tf.GradientTape` (`tape=`) under which the logits were computed; the head
  records the loss on that tape, takes the gradients and applies one step.
  """

  _PUBLIC_METHODS = ('loss', 'replica_loss', 'replica_loss_and_count', 'replica_head_losses',
                     'predictions', 'metrics', 'update_metrics', 'loss_parts',
                     'create_estimator_spec')

  def __init_subclass__(cls, **kwargs):
    """Keeps AutoGraph out of head code: it runs as written inside tf.function."""
    super().__init_subclass__(**kwargs)
    for method in cls._PUBLIC_METHODS:
      if method in cls.__dict__:
        setattr(cls, method, tf.autograph.experimental.do_not_convert(cls.__dict__[method]))

  @property
  def name(self):
    raise NotImplementedError

  @property
  def logits_dimension(self):
    raise NotImplementedError

  @property
  def loss_reduction(self):
    raise NotImplementedError

  def loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    raise NotImplementedError

  def replica_loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    """This replica's share of the global-batch loss (see SingleHead.replica_loss)."""
    raise NotImplementedError

  def replica_loss_and_count(self, labels, logits, features=None, mode=None):
    """(Unregularized replica_loss, labelled element count of the global batch).

    Loss balancing (heads.loss_balancing) needs the count to skip a head that
    has no labels in a batch.
    """
    raise NotImplementedError(
        '{} does not report its labelled count, which loss balancing needs.'.format(
            type(self).__name__))

  def predictions(self, logits, keys=None):
    raise NotImplementedError

  def metrics(self, regularization_losses=None, *, dtype=None):
    """The head's metric objects keyed like tf.estimator; `dtype` of their state (float32)."""
    raise NotImplementedError

  def update_metrics(self, eval_metrics, features, logits, labels, mode=None,
                     regularization_losses=None):
    raise NotImplementedError

  def create_estimator_spec(self, features, mode, logits, labels=None, optimizer=None,
                            trainable_variables=None, train_op_fn=None, update_ops=None,
                            regularization_losses=None, tape=None):
    raise NotImplementedError(
        'Subclasses of Head must implement `create_estimator_spec()` or '
        '_create_tpu_estimator_spec().')

  def _summary_key(self, key):
    return '{}/{}'.format(key, self.name) if self.name else key


def recording(tape):
  """Context that records on `tape` unless it is None or already recording."""
  if tape is None or getattr(tape, '_recording', False):
    return contextlib.nullcontext()
  return tape


def _is_keras_optimizer(optimizer):
  import keras  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  types = [keras.optimizers.Optimizer, tf_keras.optimizers.Optimizer]
  legacy = getattr(tf_keras.optimizers, 'legacy', None)
  if legacy is not None:
    types.append(legacy.Optimizer)
  return isinstance(optimizer, tuple(types))


def create_train_op(loss, loss_reduction, optimizer=None, trainable_variables=None,
                    train_op_fn=None, update_ops=None, tape=None):
  """Runs (eagerly) or builds (in tf.function) one training step from the loss."""
  checks.validate_update_ops(update_ops)
  if optimizer is not None:
    if train_op_fn is not None:
      raise ValueError('train_op_fn and optimizer cannot both be set.')
    if not _is_keras_optimizer(optimizer):
      raise ValueError(
          'The given optimizer is not a tf_keras.optimizers.Optimizer instance '
          '(nor a keras.optimizers.Optimizer). Received optimizer of type {}'.format(
              type(optimizer)))
    if trainable_variables is None:
      raise ValueError('trainable_variables cannot be None. Given {}'.format(
          trainable_variables))
    if not isinstance(trainable_variables, (list, tuple)):
      raise ValueError('trainable_variables should be a list or a tuple. Given type: {}.'.format(
          type(trainable_variables)))
    if tape is None:
      raise ValueError(
          'The optimizer path needs the tf.GradientTape under which the logits were '
          'computed: pass tape=... to create_estimator_spec, or use train_op_fn.')
    with recording(tape):
      scaled_loss = loss
      replicas = tf.distribute.get_strategy().num_replicas_in_sync
      if loss_reduction == checks.SUM_OVER_BATCH_SIZE and replicas > 1:
        scaled_loss = loss * (1. / replicas)
    gradients = tape.gradient(scaled_loss, list(trainable_variables))
    train_op = optimizer.apply_gradients(zip(gradients, trainable_variables))
  elif train_op_fn is not None:
    train_op = train_op_fn(loss)
  else:
    raise ValueError('train_op_fn and optimizer cannot both be None.')
  if update_ops and not tf.executing_eagerly():
    train_op = tf.group(train_op, *update_ops)
  return train_op


def mode_and_regularization(mode, regularization_losses):
  """Accepts the original positional call update_metrics(m, f, logits, labels, reg_losses).

  tf.estimator's `update_metrics` took `regularization_losses` fifth; here
  `mode` is fifth. A list in the `mode` slot is the regularization losses.
  """
  if isinstance(mode, (list, tuple)) and regularization_losses is None:
    return None, mode
  return mode, regularization_losses


def write_train_summaries(summary_key, loss, regularization_losses):
  """Scalar summaries of TRAIN mode; written when a summary writer and a step are set."""
  if tf.summary.experimental.get_step() is None:
    return
  tf.summary.scalar(summary_key(MetricKeys.LOSS), loss)
  if regularization_losses is not None:
    tf.summary.scalar(summary_key(MetricKeys.LOSS_REGULARIZATION),
                      tf.math.add_n(regularization_losses))


def add_replica_regularization(loss, regularization_losses, replicas):
  if regularization_losses:
    return loss + tf.math.add_n(regularization_losses) / replicas
  return loss


def add_regularization(loss, regularization_losses):
  if regularization_losses:
    return loss + tf.math.add_n(regularization_losses)
  return loss


class SingleHead(Head):
  """Shared pipeline of the single heads.

  A subclass says how to process labels, compute the unreduced loss, make
  predictions, create and update its metrics, and build its export outputs.

  Missing labels are opt-in through `missing_label_value` (NaN for float
  labels, or a sentinel such as -1 or ''): a missing label gets weight 0 in the
  loss and the metrics, and SUM_OVER_BATCH_SIZE divides by the number of
  labelled elements only. With the NaN sentinel every non-finite float label
  (NaN, inf, -inf) is missing; otherwise a non-finite label is an error that
  names the head, and so is a negative or non-finite example weight.
  """

  _allow_per_logit_weights = False

  def __init__(self, weight_column, loss_reduction, name, missing_label_value=None):
    self._weight_column = checks.validate_weight_column(weight_column)
    self._loss_reduction = checks.validate_loss_reduction(loss_reduction)
    self._name = name
    self._missing_label_value = missing_label_value

  @property
  def name(self):
    return self._name

  @property
  def loss_reduction(self):
    return self._loss_reduction

  @property
  def missing_label_value(self):
    return self._missing_label_value

  @property
  def _labels_dimension(self):
    return 1

  # Subclass hooks --------------------------------------------------------

  def _processed_labels(self, logits, labels):
    raise NotImplementedError

  def _unweighted_loss(self, logits, labels, features):
    raise NotImplementedError

  def _update_head_metrics(self, eval_metrics, logits, labels, unweighted_loss, weights):
    raise NotImplementedError

  def _export_outputs(self, predictions):
    raise NotImplementedError

  def _missing_fill_value(self, dtype):
    """A valid label that stands in for a missing one (its weight is 0)."""
    if dtype != tf.string:
      return 0
    vocabulary = getattr(self, '_label_vocabulary', None)
    return vocabulary[0] if vocabulary else '0'

  # Shared pipeline -------------------------------------------------------

  def _labels_and_presence(self, logits, labels):
    """Processed labels and, when missing labels are enabled, a 0/1 presence mask."""
    if self._missing_label_value is None or isinstance(labels, tf.SparseTensor):
      return self._processed_labels(logits, labels), None
    labels = checks.check_dense_labels_match_logits_and_reshape(
        labels, logits, self._labels_dimension)
    labels, present = checks.split_missing_labels(
        labels, self._missing_label_value, self._missing_fill_value(labels.dtype))
    if present is not None and not self._allow_per_logit_weights:
      present = tf.reduce_min(present, axis=-1, keepdims=True)
    return self._processed_labels(logits, labels), present

  def _weights(self, logits, features, present):
    weights = checks.get_weights_and_check_match_logits(
        features, self._weight_column, logits, self._allow_per_logit_weights)
    if present is None:
      return weights
    return tf.multiply(weights, present)

  def _loss_parts(self, logits, labels, features):
    logits = checks.check_logits_final_dim(logits, self.logits_dimension)
    labels, present = self._labels_and_presence(logits, labels)
    unweighted_loss = checks.check_finite_labels(
        labels, self._unweighted_loss(logits, labels, features), self._name)
    weights = self._weights(logits, features, present)
    return LossParts(logits, labels, unweighted_loss, weights, present)

  def loss_parts(self, logits, labels, features=None):
    """What the loss and the metrics score, per example: a `LossParts`.

    logits (checked), the processed labels (class ids, 0/1 or floats), the
    unreduced loss, the weights (weight column x label presence) and the
    presence mask (None without missing labels). Evaluators that need more
    than `update_metrics` (counts, errors) read the head's own values here.
    """
    return self._loss_parts(logits, labels, features)

  def loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    """Reduced weighted loss, plus the sum of `regularization_losses`."""
    del mode
    _, _, unweighted_loss, weights, present = self._loss_parts(logits, labels, features)
    total, count = checks.weighted_sum_and_count(unweighted_loss, weights, present)
    return add_regularization(checks.reduce_loss(total, count, self._loss_reduction),
                              regularization_losses)

  def replica_loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    """This replica's share of the global-batch loss, for gradients under tf.distribute.

    Summed over replicas it equals `loss()` on the whole global batch: this
    replica's weighted sum over the global element count (all-reduced), plus
    regularization / replicas. With one replica it equals `loss()`.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
      return self.loss(labels, logits, features, mode, regularization_losses)
    _, _, unweighted_loss, weights, present = self._loss_parts(logits, labels, features)
    total, count = checks.weighted_sum_and_count(unweighted_loss, weights, present)
    if self._loss_reduction != checks.SUM:
      count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return add_replica_regularization(checks.reduce_loss(total, count, self._loss_reduction),
                                      regularization_losses, context.num_replicas_in_sync)

  def replica_loss_and_count(self, labels, logits, features=None, mode=None):
    """(This replica's share of the global-batch loss, the global batch's labelled count).

    The loss is `replica_loss` without regularization. The count is the number
    of labelled loss elements over all replicas (what SUM_OVER_BATCH_SIZE
    divides by): 0 when no example of the global batch has a label.
    """
    del mode
    _, _, unweighted_loss, weights, present = self._loss_parts(logits, labels, features)
    total, count = checks.weighted_sum_and_count(unweighted_loss, weights, present)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
      count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return checks.reduce_loss(total, count, self._loss_reduction), count

  def update_metrics(self, eval_metrics, features, logits, labels, mode=None,
                     regularization_losses=None):
    """Updates the metric objects from `metrics()` with one batch."""
    _, regularization_losses = mode_and_regularization(mode, regularization_losses)
    return self.update_metrics_from_parts(
        eval_metrics, self._loss_parts(logits, labels, features), regularization_losses)

  def update_metrics_from_parts(self, eval_metrics, parts, regularization_losses=None):
    """`update_metrics` from this head's `loss_parts`, for callers that read the parts too."""
    self._update_head_metrics(eval_metrics, parts.logits, parts.labels, parts.unweighted_loss,
                              parts.weights)
    metrics_lib.update_regularization_loss(
        eval_metrics, self._summary_key(MetricKeys.LOSS_REGULARIZATION), regularization_losses)
    return eval_metrics

  def _base_metrics(self, regularization_losses, dtype=None):
    eval_metrics = {}
    if regularization_losses is not None:
      key = self._summary_key(MetricKeys.LOSS_REGULARIZATION)
      eval_metrics[key] = metrics_lib.Mean(name=key, dtype=dtype)
    return eval_metrics

  def create_estimator_spec(self, features, mode, logits, labels=None, optimizer=None,
                            trainable_variables=None, train_op_fn=None, update_ops=None,
                            regularization_losses=None, tape=None):
    """EstimatorSpec for `mode`; see `Head` for how TRAIN gets its gradients."""
    predictions = self.predictions(logits)
    if mode == ModeKeys.PREDICT:
      return EstimatorSpec(mode=mode, predictions=predictions,
                           export_outputs=self._export_outputs(predictions))
    with recording(tape):
      loss = self.loss(labels, logits, features, mode, regularization_losses)
    if mode == ModeKeys.EVAL:
      eval_metrics = self.update_metrics(
          self.metrics(regularization_losses), features, logits, labels, mode=mode,
          regularization_losses=regularization_losses)
      return EstimatorSpec(mode=mode, predictions=predictions, loss=loss,
                           eval_metric_ops=eval_metrics)
    if mode == ModeKeys.TRAIN:
      train_op = create_train_op(loss, self._loss_reduction, optimizer, trainable_variables,
                                 train_op_fn, update_ops, tape)
      write_train_summaries(self._summary_key, loss, regularization_losses)
      return EstimatorSpec(mode=mode, predictions=predictions, loss=loss, train_op=train_op)
    raise ValueError('mode={} unrecognized'.format(mode))


def requested_keys(keys, valid_keys):
  """The prediction keys asked for (all valid ones when none), each checked."""
  if not keys:
    return valid_keys
  check_prediction_keys(keys, valid_keys)
  return keys


def check_prediction_keys(keys, valid_keys):
  for key in keys:
    if key not in valid_keys:
      raise ValueError('Prediction key must be in PredictionKeys, given: {}.'
                       'Valid prediction keys include {}.'.format(key, valid_keys))


def all_class_ids(logits, n_classes):
  batch_size = tf.shape(logits)[0]
  return tf.tile(tf.expand_dims(tf.range(n_classes), 0), [batch_size, 1])


def all_classes(logits, n_classes, label_vocabulary=None):
  batch_size = tf.shape(logits)[0]
  if label_vocabulary:
    class_list = tf.constant(label_vocabulary, dtype=tf.string)
  else:
    class_list = tf.strings.as_string(tf.range(n_classes))
  return tf.tile(tf.expand_dims(class_list, 0), [batch_size, 1])


def class_names(class_ids, label_vocabulary=None):
  """String class of each class id: its vocabulary entry or its decimal string."""
  if label_vocabulary:
    return tf.gather(tf.constant(label_vocabulary, dtype=tf.string), class_ids)
  return tf.strings.as_string(class_ids)
