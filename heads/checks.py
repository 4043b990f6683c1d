"""Shared checks of labels, logits and weights, and the weighted-loss reduction.

Every check has two paths, like the tf.estimator originals: eagerly it reads
static shapes and values and raises `ValueError`; in graph mode (inside
`tf.function`) it adds assertions that raise `tf.errors.InvalidArgumentError`
when the graph runs. The assertions are control dependencies of the checked
tensor, so graph pruning never drops them; XLA (e.g. TPU or
`jit_compile=True`) compiles them away, as it does every assertion.

Beyond the originals, non-finite labels and negative or non-finite example
weights are errors: tf.estimator accepted them and returned a NaN, zero or
negative loss.
"""

import inspect
import math

import tensorflow as tf

SUM = 'sum'
SUM_OVER_BATCH_SIZE = 'sum_over_batch_size'
AUTO = 'auto'
_VALID_REDUCTIONS = (AUTO, SUM, SUM_OVER_BATCH_SIZE)

LABEL_NONE_ERR_MSG = (
    'You must provide a labels Tensor. Given: None. '
    'Suggested troubleshooting steps: Check that your data contains your label '
    'feature. Check that your input_fn properly parses and returns labels.')

_SPARSE_LABEL_ERR_MSG = (
    'SparseTensor labels are not supported. Labels must be a Tensor of shape '
    '[D0, D1, ..., DN, {}], e.g. [batch_size, {}].'
    'Suggested Fix (1): Check the label feature in your data. '
    'Each example must contain {} value(s). If not, your choice of label '
    'was probably incorrect. '
    'Suggested Fix (2): In your input_fn, use '
    'tf.sparse_tensor_to_dense() to turn labels into a Tensor.')

_MISMATCHED_LABEL_DIM_ERR_MSG = (
    'Mismatched label shape. '
    'Expected labels dimension={}.  Received {}. '
    'Suggested Fix: If your classifier expects one-hot encoding label, '
    'check your n_classes argument to the estimator and/or the shape of '
    'your label. Otherwise, check the shape of your label.')

_LABEL_SHAPE_ERR_MSG = (
    'labels shape must be [D0, D1, ... DN, {}]. '
    'Suggested Fix: check your n_classes argument to the head and/or the '
    'shape of your label.')

_WEIGHTS_ERR_MSG = 'weights shape must be [D0, D1, ... DN] or [D0, D1, ... DN, 1]'
_PER_LOGIT_WEIGHTS_ERR_MSG = (
    'weights shape must be [D0, D1, ... DN], [D0, D1, ... DN, 1] or '
    '[D0, D1, ... DN, logits_dimension]')


# ----------------------------------------------------------------------------
# Constructor argument checks.

def validate_loss_reduction(loss_reduction):
  """Accepts 'sum_over_batch_size', 'sum' and 'auto' (Keras reduction values)."""
  value = getattr(loss_reduction, 'value', loss_reduction)
  if not isinstance(value, str) or value not in _VALID_REDUCTIONS:
    raise ValueError('Invalid loss_reduction: {}. See `tf.losses.Reduction` for valid '
                     'options.'.format(loss_reduction))
  return value


def fn_args(fn):
  """Names of the arguments `fn` still takes (bound partial args excluded)."""
  params = inspect.signature(fn).parameters.values()
  return tuple(p.name for p in params
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def validate_loss_fn_args(loss_fn):
  """A custom loss_fn takes labels and logits, and optionally features, loss_reduction."""
  args = fn_args(loss_fn)
  for required in ('labels', 'logits'):
    if required not in args:
      raise ValueError('loss_fn must contain argument: {}. Given arguments: {}'.format(
          required, args))
  unexpected = [a for a in args if a not in ('labels', 'logits', 'features', 'loss_reduction')]
  if unexpected:
    raise ValueError('loss_fn has unexpected args: {}'.format(unexpected))


def validate_label_vocabulary(label_vocabulary, message):
  """A vocabulary is a list or tuple of distinct strings."""
  if label_vocabulary is None:
    return None
  if not isinstance(label_vocabulary, (list, tuple)):
    raise ValueError(message.format(type(label_vocabulary)))
  for value in label_vocabulary:
    if not isinstance(value, (str, bytes)):
      raise ValueError('label_vocabulary must hold strings. Given: {!r} of type {}.'.format(
          value, type(value)))
  if len(set(label_vocabulary)) != len(label_vocabulary):
    raise ValueError('label_vocabulary has duplicate values: {}'.format(list(label_vocabulary)))
  return tuple(label_vocabulary)


def validate_weight_column(weight_column):
  """Weights come from a feature name or a numeric feature column."""
  if weight_column is None or isinstance(weight_column, str):
    return weight_column
  if type(weight_column).__name__ in ('NumericColumn', '_NumericColumn') and hasattr(
      weight_column, 'key'):
    return weight_column
  raise TypeError('Weight column must be either a string or NumericColumn. '
                  'Given type: {}.'.format(type(weight_column)))


def validate_update_ops(update_ops):
  if update_ops is not None and not isinstance(update_ops, (list, tuple)):
    raise ValueError('update_ops should be a list or a tuple. Given type: {}.'.format(
        type(update_ops)))


# ----------------------------------------------------------------------------
# Logits and labels.

def check_logits_final_dim(logits, expected_logits_dimension):
  """Casts logits to float32 and checks they are [D0, ... DN, logits_dimension]."""
  logits = tf.cast(logits, tf.float32)
  if tf.executing_eagerly():
    shape = tuple(logits.shape)
    if len(shape) < 2:
      raise ValueError('logits must have rank at least 2.  Received rank {}, shape {}'.format(
          len(shape), shape))
    if isinstance(expected_logits_dimension, int) and shape[-1] != expected_logits_dimension:
      raise ValueError(
          'logits shape must be [D0, D1, ... DN, logits_dimension], got {}.'.format(shape))
    return logits
  dynamic_shape = tf.shape(logits)
  assert_rank = tf.compat.v1.debugging.assert_rank_at_least(
      logits, 2, message='logits shape must be [D0, D1, ... DN, logits_dimension]')
  with tf.control_dependencies([assert_rank]):
    static_shape = logits.shape
    if static_shape.rank is not None and static_shape[-1] is not None:
      if (isinstance(expected_logits_dimension, int)
          and static_shape[-1] != expected_logits_dimension):
        raise ValueError(
            'logits shape must be [D0, D1, ... DN, logits_dimension], got {}.'.format(
                static_shape))
      return tf.identity(logits)
    assert_dim = tf.compat.v1.debugging.assert_equal(
        tf.cast(expected_logits_dimension, tf.int32), dynamic_shape[-1], data=[dynamic_shape],
        message='logits shape must be [D0, D1, ... DN, logits_dimension]')
    with tf.control_dependencies([assert_dim]):
      return tf.identity(logits)


def check_dense_labels_match_logits_and_reshape(labels, logits, expected_labels_dimension):
  """Checks labels are [D0, ... DN, expected_labels_dimension]; rank-1-lower labels gain a dim."""
  if labels is None:
    raise ValueError(LABEL_NONE_ERR_MSG)
  if isinstance(labels, tf.SparseTensor):
    raise ValueError(_SPARSE_LABEL_ERR_MSG.format(
        expected_labels_dimension, expected_labels_dimension, expected_labels_dimension))
  labels = tf.convert_to_tensor(labels)
  if tf.executing_eagerly():
    labels_rank = labels.shape.rank
    if labels_rank == logits.shape.rank - 1:
      labels = tf.expand_dims(labels, -1)
      labels_rank += 1
    labels_shape = tuple(labels.shape)
    if labels_rank < 2:
      raise ValueError('labels must have rank at least 2.  Received rank {}, shape {}'.format(
          labels_rank, labels_shape))
    if labels_shape[-1] != expected_labels_dimension:
      raise ValueError(_MISMATCHED_LABEL_DIM_ERR_MSG.format(
          expected_labels_dimension, labels_shape[-1]))
    expected_labels_shape = tuple(logits.shape)[:-1] + (expected_labels_dimension,)
    if expected_labels_shape != labels_shape:
      raise ValueError('{}, expected_labels_shape: {}. labels_shape: {}.'.format(
          _LABEL_SHAPE_ERR_MSG.format(expected_labels_dimension), expected_labels_shape,
          labels_shape))
    return labels
  if (labels.shape.rank is not None and logits.shape.rank is not None
      and labels.shape.rank == logits.shape.rank - 1):
    labels = tf.expand_dims(labels, -1)
  assert_rank = tf.compat.v1.debugging.assert_rank_at_least(
      labels, 2, message=_LABEL_SHAPE_ERR_MSG.format(expected_labels_dimension))
  with tf.control_dependencies([assert_rank]):
    if labels.shape.rank is not None:
      final_dim = labels.shape[-1]
      if final_dim is not None and final_dim != expected_labels_dimension:
        raise ValueError(_MISMATCHED_LABEL_DIM_ERR_MSG.format(
            expected_labels_dimension, final_dim))
    logits_shape = tf.shape(logits)
    expected_labels_shape = tf.concat([logits_shape[:-1], [expected_labels_dimension]], axis=0)
    labels_shape = tf.shape(labels)
    assert_shape = tf.compat.v1.debugging.assert_equal(
        expected_labels_shape, labels_shape,
        message=_LABEL_SHAPE_ERR_MSG.format(expected_labels_dimension),
        data=['expected_labels_shape: ', expected_labels_shape, 'labels_shape: ', labels_shape])
    with tf.control_dependencies([assert_shape]):
      return tf.identity(labels)


def check_label_range(labels, n_classes, message=None):
  """Checks 0 <= labels <= n_classes - 1."""
  if tf.executing_eagerly():
    if not bool(tf.reduce_all(labels <= n_classes - 1)):
      raise ValueError(message or 'Labels must be <= {} - 1'.format(n_classes))
    if not bool(tf.reduce_all(labels >= 0)):
      raise ValueError(message or 'Labels must be >= 0')
    return labels
  assert_less = tf.debugging.assert_less_equal(
      labels, tf.cast(n_classes - 1, labels.dtype),
      message=message or 'Labels must be <= n_classes - 1')
  assert_non_negative = tf.debugging.assert_non_negative(
      labels, message=message or 'Labels must be >= 0')
  with tf.control_dependencies([assert_less, assert_non_negative]):
    return tf.identity(labels)


def check_label_dtype_is_integer(labels):
  if not labels.dtype.is_integer:
    raise ValueError('Labels dtype should be integer. Instead got {}.'.format(labels.dtype))


def lookup_label_ids(labels, label_vocabulary):
  """Maps string labels to their vocabulary index; values not in it become -1.

  Uses plain ops instead of a hash table, so it needs no table initializer and
  runs the same eagerly, in `tf.function`, in a SavedModel and on TPU.
  """
  vocabulary = tf.constant(label_vocabulary, dtype=tf.string)
  matches = tf.equal(tf.expand_dims(labels, -1), vocabulary)
  ids = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int64)
  return tf.where(tf.reduce_any(matches, axis=-1), ids, tf.constant(-1, tf.int64))


# ----------------------------------------------------------------------------
# Missing labels (opt-in).

def is_nan_sentinel(missing_label_value):
  return isinstance(missing_label_value, float) and math.isnan(missing_label_value)


def split_missing_labels(labels, missing_label_value, fill_value):
  """Returns (labels with missing entries replaced by fill_value, present mask).

  A label equal to `missing_label_value` is missing; with the NaN sentinel,
  every non-finite float label (NaN, inf, -inf) is. The mask has the labels'
  shape and dtype float32: 1 labelled, 0 missing.
  """
  if isinstance(labels, tf.SparseTensor):
    raise ValueError('missing_label_value does not apply to SparseTensor labels; '
                     'use dense labels to mark missing ones.')
  labels = tf.convert_to_tensor(labels)
  if is_nan_sentinel(missing_label_value):
    if not labels.dtype.is_floating:
      return labels, None
    present = tf.math.is_finite(labels)
  else:
    if labels.dtype == tf.string:
      if not isinstance(missing_label_value, (str, bytes)):
        raise ValueError('missing_label_value must be a string for string labels. '
                         'Given: {!r}.'.format(missing_label_value))
    elif isinstance(missing_label_value, (str, bytes)):
      raise ValueError('missing_label_value {!r} is a string but labels have dtype {}.'.format(
          missing_label_value, labels.dtype))
    present = tf.not_equal(labels, tf.constant(missing_label_value, dtype=labels.dtype))
  fill = tf.fill(tf.shape(labels), tf.constant(fill_value, dtype=labels.dtype))
  return tf.where(present, labels, fill), tf.cast(present, tf.float32)


# ----------------------------------------------------------------------------
# Weights and the weighted loss.

def _raw_weights(features, weight_column):
  if features is None or not isinstance(features, dict):
    raise ValueError('features must be a dict holding the weight column {!r}. '
                     'Given: {}'.format(weight_column, features))
  key = weight_column_key(weight_column)
  if key not in features:
    raise ValueError('Feature {} is not in features dictionary. It is the weight column; '
                     'found features: {}.'.format(key, sorted(features)))
  weights = features[key]
  if isinstance(weights, tf.SparseTensor):
    raise ValueError('The weight column {!r} must be dense; got a SparseTensor.'.format(key))
  weights = tf.convert_to_tensor(weights)
  if weights.shape.rank == 0:
    raise ValueError('Feature (key: {}) cannot have rank 0. Given: {}'.format(key, weights))
  if weights.shape.rank == 1:
    weights = tf.expand_dims(weights, -1)
  if weights.dtype == tf.string:
    raise tf.errors.UnimplementedError(
        None, None, 'Cast string to float is not supported: weight column {!r} has dtype '
        'string. Weight column should be castable to float.'.format(key))
  if not (weights.dtype.is_floating or weights.dtype.is_integer or weights.dtype.is_bool):
    raise ValueError('Weight column should be castable to float. Given dtype: {}'.format(
        weights.dtype))
  normalizer_fn = getattr(weight_column, 'normalizer_fn', None)
  if normalizer_fn is not None:
    weights = normalizer_fn(weights)
  return tf.cast(weights, tf.float32)


def weight_column_key(weight_column):
  return weight_column if isinstance(weight_column, str) else weight_column.key


def get_weights_and_check_match_logits(features, weight_column, logits,
                                       allow_per_logit_weights=False):
  """Example weights shaped to broadcast against the unreduced loss (or scalar 1.).

  The weights are checked for shape first (as tf.estimator did), then for
  values: each must be finite and >= 0.
  """
  if weight_column is None:
    return 1.
  weights = _weights_matching_logits(features, weight_column, logits, allow_per_logit_weights)
  return check_weight_values(weights, weight_column_key(weight_column))


def _weights_matching_logits(features, weight_column, logits, allow_per_logit_weights):
  err_msg = _PER_LOGIT_WEIGHTS_ERR_MSG if allow_per_logit_weights else _WEIGHTS_ERR_MSG
  weights = _raw_weights(features, weight_column)
  if tf.executing_eagerly():
    weights_shape = tuple(weights.shape)
    logits_shape = tuple(logits.shape)
    if len(weights_shape) == len(logits_shape) - 1:
      if logits_shape[:-1] != weights_shape:
        raise ValueError('{}, logits_shape: {}. weights_shape: {}.'.format(
            err_msg, logits_shape, weights_shape))
      return tf.expand_dims(weights, -1)
    supported = logits_shape[:-1] + (1,)
    if weights_shape != supported and not (
        allow_per_logit_weights and weights_shape == logits_shape):
      raise ValueError('{}, logits_shape: {}. weights_shape: {}.'.format(
          err_msg, logits_shape, weights_shape))
    return weights
  weights_shape = tf.shape(weights)
  logits_shape = tf.shape(logits)
  if (weights.shape.rank is not None and logits.shape.rank is not None
      and weights.shape.rank == logits.shape.rank - 1):
    assert_shape = tf.compat.v1.debugging.assert_equal(
        logits_shape[:-1], weights_shape, message=err_msg,
        data=['logits_shape: ', logits_shape, 'weights_shape: ', weights_shape])
    with tf.control_dependencies([assert_shape]):
      return tf.expand_dims(weights, -1)
  supported = tf.concat([logits_shape[:-1], [1]], axis=0)
  if allow_per_logit_weights:
    condition = tf.logical_or(
        _same_vector(weights_shape, logits_shape), _same_vector(weights_shape, supported))
  else:
    condition = _same_vector(weights_shape, supported)
  assert_shape = tf.debugging.Assert(
      condition, data=[err_msg, 'logits_shape: ', logits_shape, 'weights_shape: ', weights_shape])
  with tf.control_dependencies([assert_shape]):
    return tf.identity(weights)


def _count(condition):
  return tf.reduce_sum(tf.cast(condition, tf.int64))


def check_weight_values(weights, key):
  """Example weights must be finite and >= 0; the error names the weight column.

  A negative weight makes a loss term count against the objective, and NaN or
  inf spreads to the whole loss; tf.estimator accepted both silently.
  """
  message = 'Example weights (weight column: {}) must be finite and >= 0'.format(key)
  bad = tf.logical_not(tf.logical_and(tf.math.is_finite(weights), weights >= 0.))
  if tf.executing_eagerly():
    count = int(_count(bad))
    if count:
      examples = sorted(set(tf.boolean_mask(weights, bad).numpy().tolist()), key=str)[:3]
      raise ValueError('{}; {} of {} values are not (e.g. {}).'.format(
          message, count, int(tf.size(weights)), ', '.join(str(v) for v in examples)))
    return weights
  check = tf.debugging.Assert(
      tf.logical_not(tf.reduce_any(bad)),
      data=[message, '; values that are not:', _count(bad), 'of', tf.size(weights)])
  with tf.control_dependencies([check]):
    return tf.identity(weights)


def _label_owner(head_name):
  """No quotes: graph-mode assertions print them escaped."""
  return ' (head: {})'.format(head_name) if head_name else ''


def check_finite_labels(labels, unweighted_loss, head_name):
  """Float labels must be finite; the error names the head. Returns `unweighted_loss`.

  Runs after the loss, so a head whose original raised its own error for a
  NaN label (a label range check) still raises that one first. A head that
  masks missing labels with the NaN sentinel never gets here with one: every
  non-finite label is missing there.
  """
  if not labels.dtype.is_floating:
    return unweighted_loss
  message = ('Labels{} must be finite: NaN and inf are not labels. To train with '
             'missing labels, set missing_label_value to NaN on the head, which '
             'masks every non-finite label').format(_label_owner(head_name))
  bad = tf.logical_not(tf.math.is_finite(labels))
  if tf.executing_eagerly():
    count = int(_count(bad))
    if count:
      raise ValueError('{}. Found {} non-finite of {} label values.'.format(
          message, count, int(tf.size(labels))))
    return unweighted_loss
  with tf.control_dependencies([unweighted_loss]):
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        data=[message, '. Non-finite label values:', _count(bad), 'of', tf.size(labels)])
  with tf.control_dependencies([check]):
    return tf.identity(unweighted_loss)


def _same_vector(a, b):
  same_size = tf.equal(tf.size(a), tf.size(b))
  return tf.cond(same_size, lambda: tf.reduce_all(tf.equal(a, b)), lambda: same_size)


def weighted_sum_and_count(unweighted_loss, weights, present=None):
  """Σ w·l over the batch, and the element count SUM_OVER_BATCH_SIZE divides by.

  The count is the number of loss elements, not the sum of weights. With a
  `present` mask (missing labels), only labelled elements count.
  """
  weighted = tf.multiply(unweighted_loss, tf.cast(weights, unweighted_loss.dtype))
  if present is None:
    count = tf.cast(tf.size(weighted), weighted.dtype)
  else:
    count = tf.reduce_sum(tf.broadcast_to(present, tf.shape(weighted)))
  return tf.reduce_sum(weighted), count


def reduce_loss(total, count, reduction):
  """'sum' keeps the weighted sum; 'sum_over_batch_size' divides it by the count."""
  if reduction == SUM:
    return total
  return tf.math.divide_no_nan(total, count)


def call_loss_fn(loss_fn, labels, logits, features, expected_loss_dim=1):
  """Calls a user loss_fn and checks it returns [D0, ... DN, expected_loss_dim]."""
  kwargs = {'features': features} if 'features' in fn_args(loss_fn) else {}
  unweighted_loss = tf.convert_to_tensor(loss_fn(labels=labels, logits=logits, **kwargs))
  message = 'loss_fn must return Tensor of shape [D0, D1, ... DN, {}]. '.format(
      expected_loss_dim)
  if tf.executing_eagerly():
    loss_shape = tuple(unweighted_loss.shape)
    logits_shape = tuple(logits.shape)
    if loss_shape != logits_shape[:-1] + (expected_loss_dim,):
      raise ValueError('{}logits_shape: {} loss_shape: {}'.format(
          message, logits_shape, loss_shape))
    return unweighted_loss
  logits_shape = tf.shape(logits)
  expected = tf.concat([logits_shape[:-1], [expected_loss_dim]], axis=0)
  loss_shape = tf.shape(unweighted_loss)
  check = tf.debugging.Assert(
      _same_vector(loss_shape, expected),
      data=[message, 'logits_shape: ', logits_shape, 'loss_shape: ', loss_shape])
  with tf.control_dependencies([check]):
    return tf.identity(unweighted_loss)
