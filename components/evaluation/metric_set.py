"""What the Evaluator computes for one head: its own metrics, a few more, and plot statistics.

The head's own metrics are `head.metrics()` updated by `head.update_metrics`:
the keys and numerics of training-time evaluation. The Evaluator adds, and
defines only here:

  example_count, missing_label_count    examples with / without a label for the head
  mean_squared_error, mean_absolute_error
                                        regression heads: prediction against label,
                                        per element, weighted
  precision/<class>, recall/<class>     multi-class heads: predicting the most
                                        probable class
  auc/<class>                           multi-class heads: one-vs-rest, of that
                                        class's probability

and the statistics of plots, which are not metrics: the confusion matrix at
thresholds of binary and multi-label heads (the state of the head's `auc`) and
of each class of a multi-class head (the state of `auc/<class>`), the
calibration histogram of binary heads and the multi-class confusion matrix
(components/evaluation/plots.py).

Every one is a tf_keras metric whose state adds up over examples, which is
what lets the Evaluator sum states over batches, slices and workers
(components/evaluation/state.py). Metric names are the head's keys without
the '/<head name>' suffix; a masked label counts in none of them.

The per-class metrics of a multi-class head are read from two vectorised
states, so their cost does not grow with the classes: the confusion matrix
(precision and recall of class k) and one multi-label Keras AUC over the
one-hot labels (the AUC of class k is its column k). A `PerClassMetric` hands
each class's part of those states, in a loop over the classes, to one Keras
Precision, Recall or AUC, whose `result()` gives the value: the formulas stay
Keras's, and a traced results function holds one copy of each.
"""

import collections
import typing

import tensorflow as tf
import tf_keras

from components.evaluation import plots
from heads import metrics as metrics_lib
from heads.keys import MetricKeys
from heads.keys import PredictionKeys

EXAMPLE_COUNT = 'example_count'
MISSING_LABEL_COUNT = 'missing_label_count'
MEAN_SQUARED_ERROR = 'mean_squared_error'
MEAN_ABSOLUTE_ERROR = 'mean_absolute_error'

REGRESSION_TYPES = ('regression', 'poisson_regression', 'logistic_regression')
_CONFUSION_COUNTS = ('true_positives', 'false_positives', 'true_negatives', 'false_negatives')


def class_suffix(head_config, class_id):
  """'class1', or the vocabulary name: the suffix of the head's per-class metric keys."""
  if head_config.label_vocabulary:
    return head_config.label_vocabulary[class_id]
  return 'class{}'.format(class_id)


class PerClassMetric:
  """One Keras metric's result for every class of a multi-class head, from another metric's state.

  `state_fn(class_id)` returns {variable name: value} of class `class_id`
  (an int, or a scalar tensor) for the private `metric`, which keeps no state
  of its own in the layout. `results()` assigns each class's values in turn
  and reads `metric.result()`, in a loop: a traced graph holds one copy of the
  metric's ops whatever the number of classes (one copy per class made the
  results function of a 50-class head take 5 s to trace).
  """

  def __init__(self, name, metric, state_fn, n_classes):
    self.name = name
    self.metric = metric
    self.n_classes = n_classes
    self._state_fn = state_fn

  def _holding(self, class_id):
    """The private metric, holding class `class_id`'s state."""
    values = self._state_fn(class_id)
    for variable in self.metric.variables:
      variable.assign(values[variable.name.split('/')[-1].split(':')[0]])
    return self.metric

  def results(self):
    """[n_classes] results, one class after the other (they share the metric's variables)."""
    dtype = self.metric.dtype

    def result_of_class(class_id, results):
      value = tf.cast(self._holding(class_id).result(), dtype)
      return class_id + 1, results.write(class_id, value)

    _, results = tf.while_loop(
        lambda class_id, _: class_id < self.n_classes, result_of_class,
        [tf.constant(0), tf.TensorArray(dtype, size=self.n_classes, element_shape=[])],
        parallel_iterations=1)
    return results.stack()


class ClassResult(typing.NamedTuple):
  """Class `class_id`'s result of a PerClassMetric."""

  metric: PerClassMetric
  class_id: int


def _labelled(parts):
  """1. for an example with a label for the head (any element, if several), else 0."""
  if parts.present is None:
    return tf.ones(tf.shape(parts.unweighted_loss)[:1], tf.float32)
  return tf.reduce_max(tf.cast(parts.present, tf.float32), axis=-1)


class HeadMetricSet:
  """The metric objects of one head the Evaluator computes, and how one batch updates them.

  `metrics` maps metric names (the head's own first, in its order) to tf_keras
  metrics, or to a `ClassResult` for the per-class metrics of a multi-class
  head; `plot_statistics` maps plot names to the metric (or
  `plots.ClassColumn`) whose state the plot is drawn from; `stateful` lists
  every metric object whose variables make up the state.
  """

  def __init__(self, head_config, dtype=tf.float64):
    self.config = head_config
    self.head = head_config.build()
    self.dtype = dtype
    self._own = self.head.metrics(dtype=dtype)
    suffix = '/' + self.head.name
    self.metrics = collections.OrderedDict(
        (key[:-len(suffix)] if key.endswith(suffix) else key, metric)
        for key, metric in self._own.items())
    self.plot_statistics = collections.OrderedDict()
    self._added = {}
    if head_config.type in REGRESSION_TYPES:
      self._add(MEAN_SQUARED_ERROR, metrics_lib.Mean(name=MEAN_SQUARED_ERROR, dtype=dtype))
      self._add(MEAN_ABSOLUTE_ERROR, metrics_lib.Mean(name=MEAN_ABSOLUTE_ERROR, dtype=dtype))
    elif head_config.type == 'binary':
      self.plot_statistics[plots.CONFUSION_MATRIX_PLOT] = self.metrics[MetricKeys.AUC]
      self.plot_statistics[plots.CALIBRATION_PLOT] = self._added[plots.CALIBRATION_PLOT] = (
          plots.CalibrationHistogram(dtype=dtype))
    elif head_config.type == 'multi_label':
      self.plot_statistics[plots.CONFUSION_MATRIX_PLOT] = self.metrics[MetricKeys.AUC]
    else:
      self._add_classes()
    self._add(EXAMPLE_COUNT, tf_keras.metrics.Sum(name=EXAMPLE_COUNT, dtype=dtype))
    self._add(MISSING_LABEL_COUNT, tf_keras.metrics.Sum(name=MISSING_LABEL_COUNT, dtype=dtype))
    self.stateful = list(self._own.values()) + list(self._added.values())

  @property
  def names(self):
    return list(self.metrics)

  def _add(self, name, metric):
    self.metrics[name] = self._added[name] = metric

  def _add_classes(self):
    """Per-class metrics read from the confusion matrix and a one-vs-rest multi-label AUC."""
    n_classes, dtype = self.config.n_classes, self.dtype
    confusion = plots.ConfusionCounts(n_classes, dtype=dtype)
    one_vs_rest = metrics_lib.AUC(multi_label=True, num_labels=n_classes, name='one_vs_rest',
                                  dtype=dtype)
    self._added[plots.MULTI_CLASS_CONFUSION_MATRIX_PLOT] = confusion
    self._added['one_vs_rest'] = one_vs_rest

    def rates(class_id):
      matrix = confusion.result()
      hits = matrix[class_id, class_id]
      return {'true_positives': [hits],
              'false_positives': [tf.reduce_sum(matrix[:, class_id]) - hits],
              'false_negatives': [tf.reduce_sum(matrix[class_id, :]) - hits]}

    def column(class_id):
      return {name: getattr(one_vs_rest, name)[:, class_id] for name in _CONFUSION_COUNTS}

    per_class = [PerClassMetric(MetricKeys.PRECISION, metrics_lib.Precision(dtype=dtype), rates,
                                n_classes),
                 PerClassMetric(MetricKeys.RECALL, metrics_lib.Recall(dtype=dtype), rates,
                                n_classes),
                 PerClassMetric(MetricKeys.AUC, metrics_lib.AUC(dtype=dtype), column, n_classes)]
    for class_id in range(n_classes):
      suffix = class_suffix(self.config, class_id)
      for metric in per_class:
        self.metrics['{}/{}'.format(metric.name, suffix)] = ClassResult(metric, class_id)
      self.plot_statistics['{}/{}'.format(plots.CONFUSION_MATRIX_PLOT, suffix)] = (
          plots.ClassColumn(one_vs_rest, class_id))
    self.plot_statistics[plots.MULTI_CLASS_CONFUSION_MATRIX_PLOT] = confusion

  def update(self, features, logits, labels):
    """Adds one batch: the head's own update_metrics, then the Evaluator's additions."""
    parts = self.head.loss_parts(logits, labels, features)
    self.head.update_metrics_from_parts(self._own, parts)
    labelled = _labelled(parts)
    self._added[EXAMPLE_COUNT].update_state(labelled)
    self._added[MISSING_LABEL_COUNT].update_state(1. - labelled)
    head_type = self.config.type
    if head_type in REGRESSION_TYPES:
      predictions = self.head.predictions(parts.logits)[PredictionKeys.PREDICTIONS]
      error = tf.cast(predictions, self.dtype) - tf.cast(parts.labels, self.dtype)
      weights = metrics_lib.broadcast_weights(tf.cast(parts.weights, self.dtype), error)
      self._added[MEAN_SQUARED_ERROR].update_state(tf.square(error), sample_weight=weights)
      self._added[MEAN_ABSOLUTE_ERROR].update_state(tf.abs(error), sample_weight=weights)
    elif head_type == 'binary':
      logistic = self.head.predictions(parts.logits, [PredictionKeys.LOGISTIC])[
          PredictionKeys.LOGISTIC]
      self._added[plots.CALIBRATION_PLOT].update_state(
          parts.labels, logistic, metrics_lib.broadcast_weights(parts.weights, logistic))
    elif head_type == 'multi_class':
      probabilities = self.head.predictions(parts.logits, [PredictionKeys.PROBABILITIES])[
          PredictionKeys.PROBABILITIES]
      one_hot = tf.one_hot(tf.reshape(parts.labels, [-1]), self.config.n_classes,
                           dtype=tf.float32)
      weights = metrics_lib.broadcast_weights(parts.weights, parts.unweighted_loss)
      self._added['one_vs_rest'].update_state(one_hot, probabilities, sample_weight=weights)
      self._added[plots.MULTI_CLASS_CONFUSION_MATRIX_PLOT].update_state(
          parts.labels, probabilities, weights)

  def result_tensors(self):
    """Every metric's float64 result, in `names` order: per-class ones one loop per metric."""
    per_class = {}
    values = []
    for metric in self.metrics.values():
      if isinstance(metric, ClassResult):
        if metric.metric not in per_class:
          per_class[metric.metric] = tf.unstack(tf.cast(metric.metric.results(), tf.float64),
                                                num=metric.metric.n_classes)
        values.append(per_class[metric.metric][metric.class_id])
      else:
        values.append(tf.cast(metric.result(), tf.float64))
    return values

  def results(self):
    """{name: float} of every metric, from the current state (eagerly)."""
    return {name: float(value) for name, value in zip(self.names, self.result_tensors())}

  def plots(self):
    """{plot name: TFMA plot proto} from the current state (eagerly)."""
    return {name: plots.plot_proto(statistic) for name, statistic in self.plot_statistics.items()}


_METRIC_NAMES = {}


def metric_names(head_config):
  """The names of every metric the Evaluator computes for a head, in the head's order.

  Remembered per head config: building the metric objects takes a tenth of a
  second per head, and the config, the report and the thresholds ask often.
  """
  key = head_config.model_dump_json()
  if key not in _METRIC_NAMES:
    _METRIC_NAMES[key] = tuple(HeadMetricSet(head_config, dtype=tf.float32).names)
  return list(_METRIC_NAMES[key])
