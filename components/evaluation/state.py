"""A model's metric state as one flat float64 vector, which adds up.

Every metric the heads use keeps additive state: Mean, Sum, Accuracy and
BinaryAccuracy a total and a count, Precision and Recall true and false
positives (and negatives), AUC the four confusion counts at its thresholds,
AccuracyBaseline nothing of its own (it reads label/mean). The state of a set
of examples is therefore the sum of the states of its parts: the Evaluator
computes the state of every batch and slice, adds the vectors up in any order
and on any worker, and only at the end assigns the sum to metric objects and
asks them for `result()`. `StateLayout` refuses a metric class it does not
know to be additive, rather than compute a wrong number.
"""

import numpy as np
import tensorflow as tf
import tf_keras

from components.evaluation import plots
from heads import metrics as metrics_lib

ADDITIVE_METRICS = (
    tf_keras.metrics.Mean, tf_keras.metrics.Sum, tf_keras.metrics.Accuracy,
    tf_keras.metrics.BinaryAccuracy, tf_keras.metrics.Precision, tf_keras.metrics.Recall,
    tf_keras.metrics.AUC, metrics_lib.AccuracyBaseline, plots.CalibrationHistogram,
    plots.ConfusionCounts)


class NotAdditiveError(ValueError):
  """A metric whose state cannot be summed over batches."""


def check_additive(metric, where):
  """Fails for a metric class not in ADDITIVE_METRICS, or state not in float64."""
  if type(metric) not in ADDITIVE_METRICS:  # pylint: disable=unidiomatic-typecheck
    raise NotAdditiveError(
        '{}: {} is not a metric whose state is known to add up over batches ({}); the '
        'batched Evaluator cannot compute it. Use evaluation.engine: tfma.'.format(
            where, type(metric).__name__, ', '.join(m.__name__ for m in ADDITIVE_METRICS)))
  for variable in metric.variables:
    if variable.dtype != tf.float64:
      raise NotAdditiveError('{}: state variable {} is {}, not float64; sums over batches '
                             'would depend on the batching'.format(
                                 where, variable.name, variable.dtype.name))


class StateLayout:
  """Where each metric variable of a model's metric sets sits in the flat state vector."""

  def __init__(self, metric_sets):
    self.metric_sets = list(metric_sets)
    self.variables = []
    seen = set()
    for metric_set in self.metric_sets:
      for metric in metric_set.stateful:
        check_additive(metric, 'head {!r}, metric {!r}'.format(
            metric_set.head.name, metric.name))
        for variable in metric.variables:  # AccuracyBaseline also lists label/mean's
          if variable.ref() not in seen:
            seen.add(variable.ref())
            self.variables.append(variable)
    self.sizes = [int(np.prod(v.shape)) for v in self.variables]
    self.size = sum(self.sizes)

  def reset(self):
    """Ops that zero every variable (inside a tf.function, or eagerly)."""
    return [v.assign(tf.zeros_like(v)) for v in self.variables]

  def read(self):
    """The state as one [size] float64 tensor."""
    return tf.concat([tf.reshape(v, [-1]) for v in self.variables], axis=0)

  def assign_ops(self, vector):
    """Sets every variable from a [size] float64 state vector (a tensor, or an array)."""
    if tuple(vector.shape) != (self.size,):
      raise ValueError('state vector of shape {}, expected ({},)'.format(
          tuple(vector.shape), self.size))
    ops, offset = [], 0
    for variable, size in zip(self.variables, self.sizes):
      ops.append(variable.assign(tf.reshape(vector[offset:offset + size], variable.shape)))
      offset += size
    return ops
