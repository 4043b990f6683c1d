"""Plots from metric states, in TFMA's plot format.

A confusion matrix at thresholds is the state of a Keras AUC (true/false
positives/negatives at its 200 thresholds), so binary and multi-label heads
and each class of a multi-class head get one for free. Two more plots need
statistics the heads do not keep; they are additive Keras metrics defined
here: the calibration histogram of binary heads and the multi-class confusion
matrix (label against most probable class). The label/prediction sample that
the TFMA path keeps for regression plots is not additive, so this Evaluator
does not compute it (the report says so).

TFMA's proto module is imported where a proto is built: importing it loads
all of TFMA, and metric_set (which `heads-pipeline check` uses for metric
names) needs only the metrics defined here.
"""

import typing

import numpy as np
import tensorflow as tf
import tf_keras

CONFUSION_MATRIX_PLOT = 'confusion_matrix_plot'
CALIBRATION_PLOT = 'calibration_plot'
MULTI_CLASS_CONFUSION_MATRIX_PLOT = 'multi_class_confusion_matrix_plot'
CALIBRATION_BUCKETS = 10


class CalibrationHistogram(tf_keras.metrics.Metric):
  """Σ weight, Σ weight·label and Σ weight·prediction per prediction bucket.

  Buckets as TFMA's CalibrationPlot: (-inf, 0), [0, 0.1), ..., [0.9, 1), [1, inf).
  """

  def __init__(self, num_buckets=CALIBRATION_BUCKETS, name=CALIBRATION_PLOT, dtype=None):
    super().__init__(name=name, dtype=dtype)
    self.num_buckets = num_buckets
    shape = [num_buckets + 2]
    self.weight = self.add_weight('weight', shape=shape, initializer='zeros')
    self.weighted_label = self.add_weight('weighted_label', shape=shape, initializer='zeros')
    self.weighted_prediction = self.add_weight('weighted_prediction', shape=shape,
                                               initializer='zeros')

  def update_state(self, labels, predictions, sample_weight=None):
    predictions = tf.reshape(tf.cast(predictions, self.dtype), [-1])
    labels = tf.reshape(tf.cast(labels, self.dtype), [-1])
    weights = tf.ones_like(predictions) if sample_weight is None else tf.reshape(
        tf.cast(sample_weight, self.dtype), [-1])
    buckets = tf.cast(tf.floor(predictions * self.num_buckets), tf.int32) + 1
    buckets = tf.where(predictions < 0, 0, tf.clip_by_value(buckets, 1, self.num_buckets + 1))
    segments = self.num_buckets + 2
    return tf.group(
        self.weight.assign_add(tf.math.unsorted_segment_sum(weights, buckets, segments)),
        self.weighted_label.assign_add(
            tf.math.unsorted_segment_sum(weights * labels, buckets, segments)),
        self.weighted_prediction.assign_add(
            tf.math.unsorted_segment_sum(weights * predictions, buckets, segments)))

  def result(self):
    return tf.math.divide_no_nan(self.weighted_label, self.weight)


class ConfusionCounts(tf_keras.metrics.Metric):
  """Σ weight per (label class, most probable class): the multi-class confusion matrix."""

  def __init__(self, n_classes, name=MULTI_CLASS_CONFUSION_MATRIX_PLOT, dtype=None):
    super().__init__(name=name, dtype=dtype)
    self.n_classes = n_classes
    self.counts = self.add_weight('counts', shape=[n_classes * n_classes], initializer='zeros')

  def update_state(self, labels, probabilities, sample_weight=None):
    predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    actual = tf.reshape(tf.cast(labels, tf.int32), [-1])
    weights = tf.ones_like(actual, self.dtype) if sample_weight is None else tf.reshape(
        tf.cast(sample_weight, self.dtype), [-1])
    cells = actual * self.n_classes + predicted
    return self.counts.assign_add(
        tf.math.unsorted_segment_sum(weights, cells, self.n_classes * self.n_classes))

  def result(self):
    return tf.reshape(self.counts, [self.n_classes, self.n_classes])


def _protos():
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2  # pylint: disable=g-import-not-at-top
  return metrics_for_slice_pb2


def _ratios(numerator, denominator):
  """numerator / denominator elementwise, NaN where the denominator is 0."""
  safe = np.where(denominator != 0, denominator, 1.)
  return np.where(denominator != 0, numerator / safe, np.nan)


class ClassColumn(typing.NamedTuple):
  """Class `class_id`'s confusion counts: column `class_id` of a multi-label AUC's state."""

  auc: tf_keras.metrics.AUC
  class_id: int


def _confusion_counts(auc):
  return [np.asarray(v.numpy(), np.float64) for v in (
      auc.true_positives, auc.false_positives, auc.true_negatives, auc.false_negatives)]


_MATRIX_FIELDS = ('threshold', 'true_positives', 'false_positives', 'true_negatives',
                  'false_negatives', 'precision', 'recall', 'false_positive_rate')


def confusion_matrix_at_thresholds(thresholds, tp, fp, tn, fn):
  """ConfusionMatrixAtThresholds proto of confusion counts (arrays) at thresholds."""
  result = _protos().ConfusionMatrixAtThresholds()
  columns = (thresholds, tp, fp, tn, fn, _ratios(tp, tp + fp), _ratios(tp, tp + fn),
             _ratios(fp, fp + tn))
  for row in zip(*columns):
    result.matrices.add(**dict(zip(_MATRIX_FIELDS, row)))
  return result


def calibration_histogram_buckets(histogram):
  """CalibrationHistogramBuckets proto of a CalibrationHistogram's state."""
  result = _protos().CalibrationHistogramBuckets()
  edges = [-float('inf')] + [i / histogram.num_buckets for i in range(
      histogram.num_buckets + 1)] + [float('inf')]
  values = zip(histogram.weight.numpy(), histogram.weighted_label.numpy(),
               histogram.weighted_prediction.numpy())
  for i, (weight, label, prediction) in enumerate(values):
    bucket = result.buckets.add(lower_threshold_inclusive=edges[i],
                                upper_threshold_exclusive=edges[i + 1])
    bucket.num_weighted_examples.value = weight
    bucket.total_weighted_label.value = label
    bucket.total_weighted_refined_prediction.value = prediction
  return result


def multi_class_confusion_matrix(counts):
  """MultiClassConfusionMatrixAtThresholds proto (one matrix) of a ConfusionCounts state."""
  result = _protos().MultiClassConfusionMatrixAtThresholds()
  matrix = result.matrices.add()
  values = counts.result().numpy()
  for actual, predicted in zip(*np.nonzero(values)):
    matrix.entries.add(actual_class_id=int(actual), predicted_class_id=int(predicted),
                       num_weighted_examples=float(values[actual, predicted]))
  return result


def plot_proto(statistic):
  """The TFMA plot proto of a plot statistic, read from its current state.

  statistic: an AUC, a ClassColumn, a CalibrationHistogram or a ConfusionCounts.
  """
  if isinstance(statistic, CalibrationHistogram):
    return calibration_histogram_buckets(statistic)
  if isinstance(statistic, ConfusionCounts):
    return multi_class_confusion_matrix(statistic)
  if isinstance(statistic, ClassColumn):
    counts = _confusion_counts(statistic.auc)
    return confusion_matrix_at_thresholds(statistic.auc.thresholds,
                                          *[column[:, statistic.class_id] for column in counts])
  return confusion_matrix_at_thresholds(statistic.thresholds, *_confusion_counts(statistic))
