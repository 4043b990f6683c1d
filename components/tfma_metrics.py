"""Custom TFMA metrics: what TFMA lacks, or computes differently from the heads.

Each metric reads one head (its MetricsSpec output name): the prediction from
the `head_outputs` signature, and the label, example weight, unreduced loss
and labelled flag from the `transform_features` signature (see
components/signatures.py). The weight already holds the head's label mask, so
a masked label adds nothing to any metric, stock or custom.

All scalar metrics of a head derive from one combiner pass per head and slice
(`_HeadSumsCombiner`). Combiners are Beam-safe: accumulators are float64 sums
(or a bounded sample) that merge by addition, so they are picklable,
associative, commutative, empty-safe, and need no setup(). Results do not
depend on how Beam splits and merges the work (the stock MSE/MAE double-count
on merge).

Beam workers import this module by name (`MetricConfig.module`). It ships with
the installed package `components`; to use it from a TFX Evaluator without
installing the package, put a copy beside the Evaluator `module_file`, which
TFX packages as a wheel for the workers.
"""

import functools
import json
import zlib

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util

from components import signatures

MODULE = __name__
SAMPLE_SIZE = 500


class HeadInputs:
  """One example of one head, as float64 / int arrays."""

  def __init__(self, label, prediction, weight, loss, labelled):
    self.label = label
    self.prediction = prediction
    self.weight = weight
    self.loss = loss
    self.labelled = labelled


def _select(value, model_name, output_name=None):
  """value[model_name] (when keyed by model) then value[output_name]; plain dict lookups."""
  if model_name and isinstance(value, dict) and model_name in value:
    value = value[model_name]
  if output_name is not None and isinstance(value, dict):
    value = value.get(output_name)
  return value


def head_inputs(inputs, model_name, output_name):
  """HeadInputs of `output_name` (and `model_name` with a baseline) in StandardMetricInputs."""
  transformed = _select(inputs.get(constants.TRANSFORMED_FEATURES_KEY), model_name)
  if not transformed:
    raise ValueError(
        'Head {!r}: no transformed features. The ModelSpec needs '
        "preprocessing_function_names=['{}'].".format(
            output_name, signatures.TRANSFORM_FEATURES_SIGNATURE))

  def part(name):
    key = signatures.eval_feature_key(output_name, name)
    if key not in transformed:
      raise ValueError('Head {!r}: {!r} is not among the transformed features {}. Was the '
                       'model exported with components.signatures.extra_signatures?'.format(
                           output_name, key, sorted(transformed)))
    return np.asarray(transformed[key])

  weight = _select(inputs.get(constants.EXAMPLE_WEIGHTS_KEY), model_name, output_name)
  if weight is None:
    weight = part(signatures.WEIGHT)
  return HeadInputs(
      label=np.asarray(_select(inputs.get(constants.LABELS_KEY), model_name, output_name)),
      prediction=np.asarray(
          _select(inputs.get(constants.PREDICTIONS_KEY), model_name, output_name), np.float64),
      weight=np.asarray(weight, np.float64),
      loss=np.asarray(part(signatures.LOSS), np.float64),
      labelled=float(np.max(part(signatures.LABELLED))))


def _elementwise_weights(values, weight, output_name):
  values = np.asarray(values, np.float64).reshape(-1)
  weight = np.asarray(weight, np.float64).reshape(-1)
  if weight.size == 1:
    return values, np.full(values.shape, weight[0])
  if weight.size != values.size:
    raise ValueError('Head {!r}: {} weights for {} values'.format(
        output_name, weight.size, values.size))
  return values, weight


def _ratio(numerator, denominator):
  """numerator / denominator, or 0. when nothing was added (as Keras' divide_no_nan)."""
  return float(numerator / denominator) if denominator else 0.0


# Positions in the sums vector of a head (weights are per element, broadcast).
LOSS, LOSS_WEIGHT = 0, 1  # Σ w·loss, Σ w over the loss elements
LABEL, LABEL_WEIGHT = 2, 3  # Σ w·label, Σ w over the label elements
PREDICTION, PREDICTION_WEIGHT = 4, 5  # Σ w·prediction, Σ w over the prediction elements
SQUARED_ERROR, ABSOLUTE_ERROR = 6, 7  # Σ w·(p - l)², Σ w·|p - l| (label-sized predictions)
ARGMAX_CORRECT, EXAMPLE_WEIGHT = 8, 9  # Σ w·[argmax p == l], Σ w (class-id labels)
LABELLED, MISSING = 10, 11  # examples with / without a label
_SIZE = 12


# Rows of the per-element sums, one column per prediction element k: Σ w·prediction[k]
# and Σ w; then, for class-id labels, Σ w over the examples whose most probable class
# is k and the label, whose most probable class is k, and whose label is k.
ELEMENT_PREDICTION, ELEMENT_WEIGHT = 0, 1
CLASS_TRUE_POSITIVE, CLASS_PREDICTED, CLASS_ACTUAL = 2, 3, 4
_ROWS = 5


class _HeadSumsCombiner(beam.CombineFn):
  """Every weighted sum the head's custom metrics need, in one pass per head and slice.

  The accumulator is (sums: float64[12], per-element sums: float64[5, n] or
  None). Merging adds them: picklable, associative, commutative, empty-safe,
  and no setup().
  """

  def __init__(self, key, model_name, output_name):
    self._key = key
    self._model_name = model_name
    self._output_name = output_name

  def create_accumulator(self):
    return np.zeros(_SIZE), None

  def add_input(self, accumulator, element):
    sums, per_element = accumulator
    x = head_inputs(element, self._model_name, self._output_name)
    loss, loss_weights = _elementwise_weights(x.loss, x.weight, self._output_name)
    label, label_weights = _elementwise_weights(x.label, x.weight, self._output_name)
    prediction, prediction_weights = _elementwise_weights(x.prediction, x.weight,
                                                          self._output_name)
    terms = np.zeros(_SIZE)
    terms[LOSS], terms[LOSS_WEIGHT] = loss @ loss_weights, loss_weights.sum()
    terms[LABEL], terms[LABEL_WEIGHT] = label @ label_weights, label_weights.sum()
    terms[PREDICTION] = prediction @ prediction_weights
    terms[PREDICTION_WEIGHT] = prediction_weights.sum()
    element_terms = np.zeros((_ROWS, prediction.size))
    element_terms[ELEMENT_PREDICTION] = prediction * prediction_weights
    element_terms[ELEMENT_WEIGHT] = prediction_weights
    if prediction.size == label.size:
      error = prediction - label
      terms[SQUARED_ERROR] = (error * error) @ label_weights
      terms[ABSOLUTE_ERROR] = np.abs(error) @ label_weights
    elif label.size == 1:
      weight, predicted, actual = label_weights[0], int(np.argmax(prediction)), int(label[0])
      terms[ARGMAX_CORRECT] = weight * float(predicted == actual)
      terms[EXAMPLE_WEIGHT] = weight
      element_terms[CLASS_PREDICTED, predicted] = weight
      if 0 <= actual < prediction.size:
        element_terms[CLASS_ACTUAL, actual] = weight
        element_terms[CLASS_TRUE_POSITIVE, actual] = weight * float(predicted == actual)
    terms[LABELLED], terms[MISSING] = x.labelled, 1.0 - x.labelled
    if per_element is not None:
      element_terms = per_element + element_terms
    return sums + terms, element_terms

  def merge_accumulators(self, accumulators):
    sums, per_element = np.zeros(_SIZE), None
    for other_sums, other_per_element in accumulators:
      sums = sums + other_sums
      if other_per_element is not None:
        per_element = (other_per_element if per_element is None
                       else per_element + other_per_element)
    return sums, per_element

  def extract_output(self, accumulator):
    return {self._key: accumulator}


def mean_value(value, class_id, accumulator):
  """A weighted mean from the head sums: value 'loss', 'label', 'prediction', ..."""
  sums, per_element = accumulator
  if class_id is not None:
    if per_element is None or class_id >= per_element.shape[1]:
      return 0.0
    return _ratio(per_element[ELEMENT_PREDICTION, class_id], per_element[ELEMENT_WEIGHT, class_id])
  numerator, denominator = {
      'loss': (LOSS, LOSS_WEIGHT), 'label': (LABEL, LABEL_WEIGHT),
      'prediction': (PREDICTION, PREDICTION_WEIGHT),
      'squared_error': (SQUARED_ERROR, LABEL_WEIGHT),
      'absolute_error': (ABSOLUTE_ERROR, LABEL_WEIGHT)}[value]
  return _ratio(sums[numerator], sums[denominator])


def accuracy_baseline_value(accumulator):
  """max(p, 1 - p) of the weighted label mean p: always predicting the majority class."""
  sums = accumulator[0]
  return _ratio(max(sums[LABEL], sums[LABEL_WEIGHT] - sums[LABEL]), sums[LABEL_WEIGHT])


def argmax_accuracy_value(accumulator):
  """Weighted share of examples whose most probable class is the label."""
  sums = accumulator[0]
  return _ratio(sums[ARGMAX_CORRECT], sums[EXAMPLE_WEIGHT])


def class_rate_value(rate, class_id, accumulator):
  """Precision or recall of class `class_id` when the most probable class is the prediction."""
  per_element = accumulator[1]
  if per_element is None or class_id >= per_element.shape[1]:
    return 0.0
  total = CLASS_PREDICTED if rate == 'precision' else CLASS_ACTUAL
  return _ratio(per_element[CLASS_TRUE_POSITIVE, class_id], per_element[total, class_id])


def count_value(missing, accumulator):
  """Examples with (missing=False) or without (missing=True) a label for the head."""
  return float(accumulator[0][MISSING if missing else LABELLED])


def _serialized_example(element):
  """The example's serialized input (bytes), or None when the extracts do not carry it."""
  value = element.get(constants.INPUT_KEY)
  if isinstance(value, np.ndarray) and value.size == 1:
    value = value.reshape(-1)[0]
  return value if isinstance(value, bytes) else None


class _SampleCombiner(beam.CombineFn):
  """A deterministic sample of labelled (label, prediction, weight) elements.

  Keeps the `size` elements whose example (its serialized input, else its
  label and prediction) hashes smallest: the same examples whatever the order
  of inputs and merges, and however Beam batches the model's inference.
  """

  def __init__(self, key, model_name, output_name, size):
    self._key = key
    self._model_name = model_name
    self._output_name = output_name
    self._size = size

  def create_accumulator(self):
    return []

  def _keep(self, entries):
    return sorted(entries)[:self._size]

  def add_input(self, accumulator, element):
    x = head_inputs(element, self._model_name, self._output_name)
    labels, weights = _elementwise_weights(x.label, x.weight, self._output_name)
    predictions = x.prediction.reshape(-1)
    serialized = _serialized_example(element)
    entries = list(accumulator)
    for dim, (label, prediction, weight) in enumerate(zip(labels, predictions, weights)):
      if weight > 0:
        if serialized is not None:
          identity = serialized + str(dim).encode()
        else:
          identity = np.array([dim, label, prediction, weight], np.float64).tobytes()
        entries.append((zlib.crc32(identity), dim, float(label), float(prediction),
                        float(weight)))
    return self._keep(entries) if len(entries) > 2 * self._size else entries

  def merge_accumulators(self, accumulators):
    entries = []
    for accumulator in accumulators:
      entries.extend(accumulator)
    return self._keep(entries)

  def extract_output(self, accumulator):
    kept = self._keep(accumulator)
    sample = {'dimension': [e[1] for e in kept], 'label': [e[2] for e in kept],
              'prediction': [e[3] for e in kept], 'weight': [e[4] for e in kept]}
    return {self._key: json.dumps(sample).encode('utf-8')}


def _computation(combiner, extra_inputs=()):
  include = {key: {} for key in (constants.TRANSFORMED_FEATURES_KEY,) + tuple(extra_inputs)}
  return metric_types.MetricComputation(
      keys=[combiner._key],  # pylint: disable=protected-access
      preprocessors=[metric_types.StandardMetricInputsPreprocessor(
          include_filter=include, include_default_inputs=True)],
      combiner=combiner)


def _key(name, model_name, output_name, example_weighted):
  return metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                example_weighted=example_weighted)


def _head_value_computations(key, value_fn):
  """The head's shared sums (one combiner per head, de-duplicated by TFMA) and `key` from them."""
  sums_key = _key('_head_sums', key.model_name, key.output_name, key.example_weighted)
  sums = _computation(_HeadSumsCombiner(sums_key, key.model_name, key.output_name))

  def result(metrics):
    return {key: value_fn(metrics[sums_key])}

  return [sums, metric_types.DerivedMetricComputation(keys=[key], result=result)]


class _HeadMetric(metric_types.Metric):
  """A per-head metric; subclasses return its computations for one head's key."""

  def __init__(self, name, **kwargs):
    super().__init__(metric_util.merge_per_key_computations(self._computations), name=name,
                     **kwargs)

  def _head_computations(self, key):
    raise NotImplementedError

  def _computations(self, name, model_name='', output_name='', example_weighted=False,
                    **kwargs):
    del kwargs
    if not output_name:
      raise ValueError('{}({!r}) needs MetricsSpec.output_names=[<head name>]'.format(
          type(self).__name__, name))
    return self._head_computations(_key(name, model_name, output_name, example_weighted))


class HeadMean(_HeadMetric):
  """Weighted mean of one quantity of the head, per element.

  value: 'loss' (the head's unreduced loss: average_loss), 'label',
  'prediction' (of element `class_id` if given), 'squared_error' or
  'absolute_error' (of prediction against label).
  """

  VALUES = ('loss', 'label', 'prediction', 'squared_error', 'absolute_error')

  def __init__(self, name, value, class_id=None):
    if value not in self.VALUES:
      raise ValueError('HeadMean value must be one of {}, got {!r}'.format(self.VALUES, value))
    super().__init__(name, value=value, class_id=class_id)

  def _head_computations(self, key):
    return _head_value_computations(
        key, functools.partial(mean_value, self.kwargs['value'], self.kwargs['class_id']))


class AccuracyBaseline(_HeadMetric):
  """The binary head's accuracy_baseline: max(label mean, 1 - label mean)."""

  def __init__(self, name='accuracy_baseline'):
    super().__init__(name)

  def _head_computations(self, key):
    return _head_value_computations(key, accuracy_baseline_value)


class ArgmaxAccuracy(_HeadMetric):
  """The multi-class head's accuracy: the most probable class equals the label id."""

  def __init__(self, name='accuracy'):
    super().__init__(name)

  def _head_computations(self, key):
    return _head_value_computations(key, argmax_accuracy_value)


class ArgmaxClassRate(_HeadMetric):
  """Multi-class precision or recall of one class, predicting the most probable class."""

  RATES = ('precision', 'recall')

  def __init__(self, name, class_id, rate):
    if rate not in self.RATES:
      raise ValueError('ArgmaxClassRate rate must be one of {}, got {!r}'.format(
          self.RATES, rate))
    super().__init__(name, class_id=class_id, rate=rate)

  def _head_computations(self, key):
    return _head_value_computations(key, functools.partial(
        class_rate_value, self.kwargs['rate'], self.kwargs['class_id']))


class LabelledCount(_HeadMetric):
  """Examples with a label for the head (missing=True: examples whose label is masked)."""

  def __init__(self, name='example_count', missing=False):
    super().__init__(name, missing=missing)

  def _head_computations(self, key):
    return _head_value_computations(key, functools.partial(count_value, self.kwargs['missing']))


class LabelPredictionSample(_HeadMetric):
  """A deterministic sample of labelled (label, prediction, weight), as JSON bytes.

  For the report's calibration and residual plots of regression heads.
  """

  def __init__(self, name='label_prediction_sample', size=SAMPLE_SIZE):
    super().__init__(name, size=size)

  def _head_computations(self, key):
    combiner = _SampleCombiner(key, key.model_name, key.output_name, self.kwargs['size'])
    return [_computation(combiner, (constants.INPUT_KEY,))]


def _class_metric_computations(metric, class_id, name, metric_config=None, eval_config=None,
                               model_name='', output_name='', example_weighted=False):
  inner_class = metric_types.registered_metrics()[metric]
  inner = inner_class(name='_' + name, **dict(metric_config or {}))
  computations = inner.computations(
      eval_config=eval_config, model_names=[model_name], output_names=[output_name],
      sub_keys=[metric_types.SubKey(class_id=class_id)], example_weighted=example_weighted)
  inner_key = computations[-1].keys[-1]
  key = type(inner_key)(name=name, model_name=model_name, output_name=output_name,
                        example_weighted=example_weighted)

  def result(metrics):
    return {key: metrics[inner_key]}

  computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
  return computations


class ClassMetric(metric_types.Metric):
  """A stock TFMA metric or plot of one class, keyed like the head: 'auc/class1', no sub key.

  metric: a registered TFMA class name ('AUC', 'Precision', 'ConfusionMatrixPlot', ...);
  metric_config: its constructor arguments. The class is selected as a TFMA
  sub key (one-vs-rest), and the result renamed, so per-class thresholds work
  by plain name.
  """

  def __init__(self, metric, class_id, name, metric_config=None):
    if metric not in metric_types.registered_metrics():
      raise ValueError('ClassMetric metric {!r} is not a registered TFMA metric'.format(metric))
    super().__init__(metric_util.merge_per_key_computations(_class_metric_computations),
                     metric=metric, class_id=class_id, name=name,
                     metric_config=dict(metric_config or {}))

