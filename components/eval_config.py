"""The TFMA EvalConfig of a heads config: per-head metrics, thresholds and slices.

One ModelSpec reads predictions from the `head_outputs` signature and labels
and weights from the `transform_features` signature (both added at export by
components/signatures.py). Every head gets a weight key: it holds the weight
column times the head's label mask, so masked labels count in no metric.

One MetricsSpec per head (output_names=[head]) mirrors that head's own metric
set under the head's key names ('auc', 'accuracy/positive_threshold_0.5',
'auc/class1', ...), plus example counts, MSE/MAE for regression heads and the
plots the report draws. Thresholds gate the overall slice of each head.
"""

import json

# The config protos from their own module: TFMA 0.52 no longer re-exports them as tfma.*.
from tensorflow_model_analysis.proto import config_pb2

from components import signatures
from components import tfma_metrics
from components.config import ConfigError
from heads.keys import MetricKeys

AUC_THRESHOLDS = 200  # the head's (Keras) AUC default
CHANGE_EPSILON = 1e-10  # a change threshold with a direction only: no worse than the baseline

EXAMPLE_COUNT = 'example_count'
MISSING_LABEL_COUNT = 'missing_label_count'
MEAN_SQUARED_ERROR = 'mean_squared_error'
MEAN_ABSOLUTE_ERROR = 'mean_absolute_error'
SAMPLE = 'label_prediction_sample'
CONFUSION_MATRIX_PLOT = 'confusion_matrix_plot'
CALIBRATION_PLOT = 'calibration_plot'
MULTI_CLASS_CONFUSION_MATRIX_PLOT = 'multi_class_confusion_matrix_plot'

_REGRESSION_TYPES = ('regression', 'poisson_regression', 'logistic_regression')
_DIRECTIONS = {'higher_is_better': config_pb2.MetricDirection.HIGHER_IS_BETTER,
               'lower_is_better': config_pb2.MetricDirection.LOWER_IS_BETTER}


def _custom(metric):
  return (type(metric).__name__, tfma_metrics.MODULE, metric.get_config())


def _stock(class_name, name, **kwargs):
  return (class_name, '', dict(kwargs, name=name))


def _metric_config(entry):
  class_name, module, config = entry
  return config_pb2.MetricConfig(class_name=class_name, module=module,
                                 config=json.dumps(config, sort_keys=True))


def _class_suffix(head, class_id):
  """'class1', or the vocabulary name, as the head's class-based metric keys."""
  if head.label_vocabulary:
    return head.label_vocabulary[class_id]
  return 'class{}'.format(class_id)


def _class_ids(head):
  classes = head.classes_for_class_based_metrics or []
  return [head.label_vocabulary.index(c) if isinstance(c, str) else c for c in classes]


def _threshold_metrics(thresholds):
  entries = []
  for t in thresholds:
    entries += [_stock('BinaryAccuracy', MetricKeys.ACCURACY_AT_THRESHOLD % t, threshold=t),
                _stock('Precision', MetricKeys.PRECISION_AT_THRESHOLD % t, thresholds=t),
                _stock('Recall', MetricKeys.RECALL_AT_THRESHOLD % t, thresholds=t)]
  return entries


def _class_metric(metric, class_id, name, **metric_config):
  return _custom(tfma_metrics.ClassMetric(metric, class_id, name, metric_config))


def _counts():
  return [_custom(tfma_metrics.LabelledCount(EXAMPLE_COUNT)),
          _custom(tfma_metrics.LabelledCount(MISSING_LABEL_COUNT, missing=True))]


def _regression_metrics(head):
  del head
  return [_custom(tfma_metrics.HeadMean(MetricKeys.LOSS_MEAN, 'loss')),
          _custom(tfma_metrics.HeadMean(MetricKeys.PREDICTION_MEAN, 'prediction')),
          _custom(tfma_metrics.HeadMean(MetricKeys.LABEL_MEAN, 'label')),
          _custom(tfma_metrics.HeadMean(MEAN_SQUARED_ERROR, 'squared_error')),
          _custom(tfma_metrics.HeadMean(MEAN_ABSOLUTE_ERROR, 'absolute_error'))]


def _binary_metrics(head):
  return ([_custom(tfma_metrics.HeadMean(MetricKeys.LOSS_MEAN, 'loss')),
           _custom(tfma_metrics.HeadMean(MetricKeys.PREDICTION_MEAN, 'prediction')),
           _custom(tfma_metrics.HeadMean(MetricKeys.LABEL_MEAN, 'label')),
           _stock('BinaryAccuracy', MetricKeys.ACCURACY),
           _stock('Precision', MetricKeys.PRECISION),
           _stock('Recall', MetricKeys.RECALL),
           _custom(tfma_metrics.AccuracyBaseline(MetricKeys.ACCURACY_BASELINE)),
           _stock('AUC', MetricKeys.AUC, num_thresholds=AUC_THRESHOLDS),
           _stock('AUCPrecisionRecall', MetricKeys.AUC_PR, num_thresholds=AUC_THRESHOLDS)]
          + _threshold_metrics(head.thresholds))


def _multi_class_metrics(head):
  entries = [_custom(tfma_metrics.HeadMean(MetricKeys.LOSS_MEAN, 'loss')),
             _custom(tfma_metrics.ArgmaxAccuracy(MetricKeys.ACCURACY))]
  for class_id in range(head.n_classes):
    suffix = _class_suffix(head, class_id)
    entries += [
        _custom(tfma_metrics.ArgmaxClassRate(
            '{}/{}'.format(MetricKeys.PRECISION, suffix), class_id, 'precision')),
        _custom(tfma_metrics.ArgmaxClassRate(
            '{}/{}'.format(MetricKeys.RECALL, suffix), class_id, 'recall')),
        _class_metric('AUC', class_id, '{}/{}'.format(MetricKeys.AUC, suffix),
                      num_thresholds=AUC_THRESHOLDS)]
  return entries


def _multi_label_metrics(head):
  entries = ([_custom(tfma_metrics.HeadMean(MetricKeys.LOSS_MEAN, 'loss')),
              _stock('AUC', MetricKeys.AUC, num_thresholds=AUC_THRESHOLDS),
              _stock('AUCPrecisionRecall', MetricKeys.AUC_PR, num_thresholds=AUC_THRESHOLDS)]
             + _threshold_metrics(head.thresholds))
  for class_id in _class_ids(head):
    suffix = _class_suffix(head, class_id)
    entries += [
        _custom(tfma_metrics.HeadMean('probability_mean/' + suffix, 'prediction', class_id)),
        _class_metric('AUC', class_id, 'auc/' + suffix, num_thresholds=AUC_THRESHOLDS),
        _class_metric('AUCPrecisionRecall', class_id, 'auc_precision_recall/' + suffix,
                      num_thresholds=AUC_THRESHOLDS)]
  return entries


def head_metric_entries(head):
  """(class_name, module, config) of every metric of the head, in the head's key order."""
  if head.type in _REGRESSION_TYPES:
    return _regression_metrics(head) + _counts()
  if head.type == 'binary':
    return _binary_metrics(head) + _counts()
  if head.type == 'multi_class':
    return _multi_class_metrics(head) + _counts()
  return _multi_label_metrics(head) + _counts()


def head_metric_names(head):
  """The scalar metric names the Evaluator computes for a head (thresholds may use these)."""
  return [config['name'] for _, _, config in head_metric_entries(head)]


def head_plot_entries(head):
  """Sample and plots the report draws: they are not thresholdable metrics."""
  if head.type in _REGRESSION_TYPES:
    return [_custom(tfma_metrics.LabelPredictionSample(SAMPLE))]
  if head.type == 'binary':
    return [_stock('ConfusionMatrixPlot', CONFUSION_MATRIX_PLOT, num_thresholds=AUC_THRESHOLDS),
            _stock('CalibrationPlot', CALIBRATION_PLOT, num_buckets=10)]
  if head.type == 'multi_class':
    return [_stock('MultiClassConfusionMatrixPlot', MULTI_CLASS_CONFUSION_MATRIX_PLOT)] + [
        _class_metric('ConfusionMatrixPlot', class_id,
                      '{}/{}'.format(CONFUSION_MATRIX_PLOT, _class_suffix(head, class_id)),
                      num_thresholds=AUC_THRESHOLDS)
        for class_id in range(head.n_classes)]
  return [_stock('ConfusionMatrixPlot', CONFUSION_MATRIX_PLOT, num_thresholds=AUC_THRESHOLDS)]


def _metric_threshold(items, path):
  """One tfma.MetricThreshold from the config entries that name the same metric."""
  threshold = config_pb2.MetricThreshold()
  for item, item_path in items:
    if item.lower_bound is not None or item.upper_bound is not None:
      if threshold.HasField('value_threshold'):
        raise ConfigError('{}: a second value bound for metric {!r} (first in {})'.format(
            item_path, item.metric, path))
      if item.lower_bound is not None:
        threshold.value_threshold.lower_bound.value = item.lower_bound
      if item.upper_bound is not None:
        threshold.value_threshold.upper_bound.value = item.upper_bound
    if item.change_direction is not None:
      if threshold.HasField('change_threshold'):
        raise ConfigError('{}: a second change threshold for metric {!r} (first in {})'.format(
            item_path, item.metric, path))
      change = threshold.change_threshold
      change.direction = _DIRECTIONS[item.change_direction]
      absolute = item.change_absolute
      if absolute is None and item.change_relative is None:
        higher = item.change_direction == 'higher_is_better'
        absolute = -CHANGE_EPSILON if higher else CHANGE_EPSILON
      if absolute is not None:
        change.absolute.value = absolute
      if item.change_relative is not None:
        change.relative.value = item.change_relative
  return threshold


def _thresholds_by_metric(config, head):
  """{metric name: tfma.MetricThreshold} of one head, checked against its metric names."""
  names = head_metric_names(head)
  grouped = {}
  for i, item in enumerate(config.evaluation.thresholds.get(head.name, [])):
    path = 'evaluation.thresholds.{}[{}].metric'.format(head.name, i)
    if item.metric not in names:
      raise ConfigError('{}: {!r} is not a metric of {} head {!r}; choose one of {}'.format(
          path, item.metric, head.type, head.name, names))
    grouped.setdefault(item.metric, []).append((item, path))
  return {metric: _metric_threshold(items, items[0][1]) for metric, items in grouped.items()}


def _metrics_spec(config, head):
  thresholds = _thresholds_by_metric(config, head)
  metrics = []
  for entry in head_metric_entries(head) + head_plot_entries(head):
    metric = _metric_config(entry)
    name = entry[2]['name']
    if name in thresholds:
      metric.per_slice_thresholds.add(slicing_specs=[config_pb2.SlicingSpec()],
                                      threshold=thresholds[name])
    metrics.append(metric)
  return config_pb2.MetricsSpec(metrics=metrics, output_names=[head.name],
                                example_weights=config_pb2.ExampleWeightOptions(weighted=True))


def slicing_specs(config):
  """The overall slice first, then one slice per feature list of evaluation.slicing."""
  specs = [config_pb2.SlicingSpec()]
  for keys in config.evaluation.slicing:
    spec = config_pb2.SlicingSpec(feature_keys=list(keys))
    if spec not in specs:
      specs.append(spec)
  return specs


def model_spec(config):
  """The ModelSpec: head-keyed predictions, and labels / weights of every head."""
  return config_pb2.ModelSpec(
      signature_name=signatures.HEAD_OUTPUTS_SIGNATURE,
      preprocessing_function_names=[signatures.TRANSFORM_FEATURES_SIGNATURE],
      label_keys={head.name: signatures.eval_feature_key(head.name, signatures.LABEL)
                  for head in config.heads},
      example_weight_keys={head.name: signatures.eval_feature_key(head.name, signatures.WEIGHT)
                           for head in config.heads})


def build_eval_config(config):
  """tfma.EvalConfig of a validated HeadsConfig (see the module docstring)."""
  return config_pb2.EvalConfig(
      model_specs=[model_spec(config)],
      metrics_specs=[_metrics_spec(config, head) for head in config.heads],
      slicing_specs=slicing_specs(config))


def has_thresholds(config):
  """True when the Evaluator will write a blessing (some head has a threshold)."""
  return any(config.evaluation.thresholds.get(head.name) for head in config.heads)
