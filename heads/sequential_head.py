"""SequentialHeadWrapper: a static head applied to every unmasked step of a sequence."""

import collections.abc

import tensorflow as tf

from heads import base_head
from heads.multi_head import MultiHead
from heads.keys import ModeKeys


def _flatten_tensor(tensor, sequence_mask, expected_length):
  """[batch, time, ...] -> [n_unmasked, ...], rank-2 inputs gaining a last dim of 1."""
  shape = tensor.shape
  if shape.rank is None or shape.rank < 2:
    raise ValueError('Input tensor expected to have at least 2 dimensions, got {} '
                     'instead.'.format(shape.rank))
  if isinstance(tensor, tf.SparseTensor):
    flat = tf.sparse.reorder(tensor).values
    if shape.rank > 2:
      flat = tf.reshape(flat, [-1] + shape.as_list()[2:])
  else:
    flat = tf.boolean_mask(tensor, sequence_mask)
  if tf.executing_eagerly():
    if int(tf.shape(flat)[0]) != int(expected_length):
      raise ValueError('Tensor shape is incompatible with provided mask.')
  else:
    check = tf.debugging.assert_equal(tf.shape(flat)[0], expected_length,
                                      message='Tensor shape is incompatible with provided mask.')
    with tf.control_dependencies([check]):
      flat = tf.identity(flat)
  if shape.rank == 2:
    flat = tf.expand_dims(flat, -1)
  return flat


class SequentialHeadWrapper(base_head.Head):
  """Wraps a single head for [batch, time, ...] logits, with a [batch, time] mask feature.

  Logits, labels and the listed `feature_columns` (e.g. the weight column) are
  flattened to the unmasked steps before the static head sees them.
  """

  def __init__(self, static_head, sequence_length_mask='sequence_length_mask',
               feature_columns=None):
    if not isinstance(sequence_length_mask, str):
      raise TypeError('`sequence_mask` column must be a string. Given type: {}.'.format(
          type(sequence_length_mask)))
    feature_columns = feature_columns or []
    if isinstance(feature_columns, str):
      feature_columns = [feature_columns]
    elif not isinstance(feature_columns, collections.abc.Iterable):
      raise TypeError('`feature_columns` must be either a string or an iterable of strings '
                      'got {} instead.'.format(type(feature_columns)))
    feature_columns = list(feature_columns)
    for column in feature_columns:
      if not isinstance(column, str):
        raise TypeError('Column must a string. Given type: {}.'.format(type(column)))
    if isinstance(static_head, MultiHead):
      raise ValueError('`MultiHead` is not supported with `SequentialHeadWrapper`.')
    self._static_head = static_head
    self._sequence_length_mask = sequence_length_mask
    self._feature_columns = feature_columns

  @property
  def name(self):
    if self._static_head.name:
      return '{}_sequential'.format(self._static_head.name)
    return None

  @property
  def logits_dimension(self):
    return self._static_head.logits_dimension

  @property
  def loss_reduction(self):
    return self._static_head.loss_reduction

  @property
  def input_sequence_mask_key(self):
    return self._sequence_length_mask

  @property
  def static_head(self):
    return self._static_head

  def _flatten(self, labels, logits, features):
    features = features or {}
    mask = features.get(self._sequence_length_mask)
    if mask is None:
      raise ValueError('The provided sequence_length_mask key `{}` should be included in the '
                       'features dictionary, but was not found. Found keys: {}.'.format(
                           self._sequence_length_mask, list(features.keys())))
    mask = tf.convert_to_tensor(mask)
    if mask.shape.rank != 2:
      raise ValueError('Mask is expected to have two dimensions, got {} instead.'.format(
          mask.shape.rank))
    mask = tf.cast(mask, tf.bool)
    expected_length = tf.reduce_sum(tf.cast(mask, tf.int32))
    flat_logits = _flatten_tensor(tf.convert_to_tensor(logits), mask, expected_length)
    if not isinstance(labels, tf.SparseTensor):
      labels = tf.convert_to_tensor(labels)
    flat_labels = _flatten_tensor(labels, mask, expected_length)
    flat_features = {}
    for column in self._feature_columns:
      if column not in features:
        raise ValueError('`{}` column expected in features dictionary.'.format(column))
      value = features[column]
      if not isinstance(value, tf.SparseTensor):
        value = tf.convert_to_tensor(value)
      flat_features[column] = _flatten_tensor(value, mask, expected_length)
    return flat_labels, flat_logits, flat_features

  def loss(self, logits, labels, features=None, mode=None, regularization_losses=None):
    """Static head loss over the unmasked steps. Note the (logits, labels) order."""
    flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
    return self._static_head.loss(flat_labels, flat_logits, flat_features, mode,
                                  regularization_losses)

  def replica_loss(self, logits, labels, features=None, mode=None, regularization_losses=None):
    """This replica's share of the global-batch loss, over the unmasked steps."""
    flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
    return self._static_head.replica_loss(flat_labels, flat_logits, flat_features, mode,
                                          regularization_losses)

  def predictions(self, logits, keys=None):
    return self._static_head.predictions(logits, keys)

  def metrics(self, regularization_losses=None, *, dtype=None):
    return self._static_head.metrics(regularization_losses, dtype=dtype)

  def update_metrics(self, eval_metrics, features, logits, labels, mode=None,
                     regularization_losses=None):
    mode, regularization_losses = base_head.mode_and_regularization(mode, regularization_losses)
    flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
    return self._static_head.update_metrics(eval_metrics, flat_features, flat_logits,
                                            flat_labels, mode, regularization_losses)

  def create_estimator_spec(self, features, mode, logits, labels=None, optimizer=None,
                            trainable_variables=None, train_op_fn=None, update_ops=None,
                            regularization_losses=None, tape=None):
    """PREDICT keeps the sequence shape and adds the mask; other modes flatten first."""
    if mode == ModeKeys.PREDICT:
      spec = self._static_head.create_estimator_spec(features, mode, logits)
      predictions = dict(spec.predictions)
      predictions[self._sequence_length_mask] = features[self._sequence_length_mask]
      return spec._replace(predictions=predictions)
    with base_head.recording(tape):
      flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
    return self._static_head.create_estimator_spec(
        flat_features, mode, flat_logits, labels=flat_labels, optimizer=optimizer,
        trainable_variables=trainable_variables, train_op_fn=train_op_fn, update_ops=update_ops,
        regularization_losses=regularization_losses, tape=tape)
