"""Metric objects of the heads: the same Keras metrics tf.estimator heads used.

They are `tf_keras` (Keras 2) metric objects, as in tf.estimator 2.15, so the
values match the originals to the last bit. They are plain stateful TF objects
and work eagerly, inside `tf.function` and inside a Keras 3 model.

Every head's `metrics(dtype=...)` passes `dtype` to each metric it creates
(default float32, as the originals). The Evaluator asks for float64, so a
metric's state summed over many batches does not depend on where the batches
split.
"""

import tensorflow as tf
import tf_keras

from heads.keys import MetricKeys

Mean = tf_keras.metrics.Mean
Accuracy = tf_keras.metrics.Accuracy
BinaryAccuracy = tf_keras.metrics.BinaryAccuracy
Precision = tf_keras.metrics.Precision
Recall = tf_keras.metrics.Recall
AUC = tf_keras.metrics.AUC


class AccuracyBaseline(tf_keras.metrics.Metric):
  """Accuracy of always predicting the majority class: max(p, 1 - p).

  p is read from the head's `label/mean` metric when the result is asked for,
  so it stays right however many batches were added.
  """

  def __init__(self, label_mean, name='accuracy_baseline', **kwargs):
    super().__init__(name=name, **kwargs)
    self._label_mean = label_mean

  def update_state(self, *args, **kwargs):
    del args, kwargs
    return tf.no_op()

  def result(self):
    total, count = self._label_mean.total, self._label_mean.count
    return tf.math.divide_no_nan(tf.maximum(total, count - total), count)

  def reset_state(self):
    pass

  def get_config(self):
    return {'name': self.name, 'dtype': self.dtype}


def broadcast_weights(weights, values):
  """Weights broadcast to the shape of `values` (float32)."""
  values = tf.convert_to_tensor(values)
  weights = tf.convert_to_tensor(weights, dtype=values.dtype)
  if (weights.shape.is_fully_defined() and values.shape.is_fully_defined()
      and weights.shape.is_compatible_with(values.shape)):
    return weights
  return tf.multiply(weights, tf.ones_like(values))


def update_with_broadcast_weights(metric, values, weights):
  """Updates a Mean so that each element of `values` counts with its weight."""
  values = tf.cast(values, tf.float32)
  if weights is not None:
    weights = broadcast_weights(weights, values)
  metric.update_state(values=values, sample_weight=weights)


def _threshold_keys(summary_key, threshold):
  return (summary_key(MetricKeys.ACCURACY_AT_THRESHOLD % threshold),
          summary_key(MetricKeys.PRECISION_AT_THRESHOLD % threshold),
          summary_key(MetricKeys.RECALL_AT_THRESHOLD % threshold))


def threshold_metrics(summary_key, thresholds, dtype=None):
  """accuracy / precision / recall at each positive threshold, keyed like tf.estimator."""
  eval_metrics = {}
  for threshold in thresholds:
    accuracy_key, precision_key, recall_key = _threshold_keys(summary_key, threshold)
    eval_metrics[accuracy_key] = BinaryAccuracy(name=accuracy_key, threshold=threshold,
                                                dtype=dtype)
    eval_metrics[precision_key] = Precision(name=precision_key, thresholds=threshold,
                                            dtype=dtype)
    eval_metrics[recall_key] = Recall(name=recall_key, thresholds=threshold, dtype=dtype)
  return eval_metrics


def update_threshold_metrics(eval_metrics, summary_key, thresholds, labels, scores, weights):
  for threshold in thresholds:
    for key in _threshold_keys(summary_key, threshold):
      eval_metrics[key].update_state(y_true=labels, y_pred=scores, sample_weight=weights)


def update_regularization_loss(eval_metrics, key, regularization_losses):
  if regularization_losses is not None:
    eval_metrics[key].update_state(values=tf.math.add_n(regularization_losses))
