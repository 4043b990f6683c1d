"""Custom TFMA metrics: Beam-safe combiners (picklable, associative, empty-safe, no setup)."""

import functools
import json
import pickle

import apache_beam as beam
import numpy as np
import pytest
import tf_keras
from tensorflow_model_analysis.metrics import metric_types

from components import signatures
from components import tfma_metrics

HEAD = 'h'


def element(label, prediction, weight, loss, labelled=1.0, model_name=None, serialized=None):
  """One example of head HEAD as TFMA hands it to a combiner."""
  transformed = {signatures.eval_feature_key(HEAD, signatures.LOSS): np.asarray(loss, np.float32),
                 signatures.eval_feature_key(HEAD, signatures.LABELLED): np.float32(labelled)}
  extracts = dict(labels={HEAD: np.asarray(label)},
                  predictions={HEAD: np.asarray(prediction, np.float32)},
                  example_weights={HEAD: np.asarray(weight, np.float32)},
                  transformed_features=transformed)
  if model_name:
    extracts = {key: {model_name: value} for key, value in extracts.items()}
  if serialized is not None:
    extracts['input'] = np.array([serialized], dtype=object)
  return metric_types.StandardMetricInputs(**extracts)


def key(name):
  return metric_types.MetricKey(name, output_name=HEAD, example_weighted=True)


def sums_combiner(model_name=''):
  return tfma_metrics._HeadSumsCombiner(key('_head_sums'), model_name, HEAD)


def sample_combiner(size=7):
  return tfma_metrics._SampleCombiner(key('sample'), '', HEAD, size)


VALUES = {
    'average_loss': functools.partial(tfma_metrics.mean_value, 'loss', None),
    'probability_mean/class1': functools.partial(tfma_metrics.mean_value, 'prediction', 1),
    'mean_squared_error': functools.partial(tfma_metrics.mean_value, 'squared_error', None),
    'accuracy_baseline': tfma_metrics.accuracy_baseline_value,
    'accuracy': tfma_metrics.argmax_accuracy_value,
    'example_count': functools.partial(tfma_metrics.count_value, False),
    'missing_label_count': functools.partial(tfma_metrics.count_value, True),
}


def combiners():
  return {'sums': sums_combiner(), 'sample': sample_combiner()}


def values_of(accumulator):
  return {name: value(accumulator) for name, value in VALUES.items()}


def random_elements(n=40, seed=0):
  rng = np.random.default_rng(seed)
  elements = []
  for i in range(n):
    labelled = float(rng.random() > 0.2)
    elements.append(element(
        label=[float(rng.integers(0, 3))], prediction=rng.dirichlet(np.ones(3)),
        weight=[labelled * rng.uniform(0.5, 2)], loss=[rng.exponential()], labelled=labelled,
        serialized=b'example-%d' % i))
  return elements


def combine(combiner, elements):
  accumulator = combiner.create_accumulator()
  for item in elements:
    accumulator = combiner.add_input(accumulator, item)
  return accumulator


def output(combiner, accumulator):
  """The sample's JSON, or the values of every metric derived from the head sums."""
  value = next(iter(combiner.extract_output(accumulator).values()))
  return json.loads(value) if isinstance(value, bytes) else values_of(value)


@pytest.mark.parametrize('name', sorted(combiners()))
def test_any_split_and_merge_order_gives_the_same_result(name):
  combiner = combiners()[name]
  elements = random_elements()
  expected = output(combiner, combine(combiner, elements))
  for seed in range(3):
    order = np.random.default_rng(seed).permutation(len(elements))
    parts = np.array_split(order, [5, 6, 23])  # one part is a single example
    shipped = pickle.loads(pickle.dumps(combiner))
    accumulators = [pickle.loads(pickle.dumps(combine(shipped, [elements[i] for i in part])))
                    for part in parts]
    accumulators.insert(1, shipped.create_accumulator())
    inner = shipped.merge_accumulators(iter(accumulators[:3]))  # an iterator, as Beam may pass
    merged = shipped.merge_accumulators((accumulators[3], inner, accumulators[4]))
    actual = output(shipped, merged)
    if name == 'sample':
      assert actual == expected
    else:
      assert actual == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize('name', sorted(combiners()))
def test_empty_merges_and_no_setup(name):
  combiner = combiners()[name]
  assert type(combiner).setup is beam.CombineFn.setup
  empty = combiner.merge_accumulators([])
  value = output(combiner, combiner.merge_accumulators([empty, combiner.create_accumulator()]))
  if name == 'sample':
    assert value['label'] == []
  else:
    assert set(value.values()) == {0.0}


def test_masked_examples_count_as_missing_and_add_nothing():
  labelled = element([1.0], [0.8], [2.0], [0.3])
  masked = element([0.0], [0.1], [0.0], [5.0], labelled=0.0)
  combiner = sums_combiner()
  with_masked = output(combiner, combine(combiner, [labelled, masked, masked]))
  alone = output(combiner, combine(combiner, [labelled]))
  for name in ('average_loss', 'accuracy_baseline', 'mean_squared_error'):
    assert with_masked[name] == pytest.approx(alone[name])
  assert with_masked['example_count'] == 1.0 and with_masked['missing_label_count'] == 2.0


def test_mean_weights_each_element_like_keras_mean():
  labels = np.array([[1., 2.], [3., -1.], [0.5, 0.]])
  predictions = np.array([[1.5, 1.], [2., 0.], [0., 4.]])
  weights = np.array([[1., 0.], [2., 2.], [0.5, 0.5]])  # per element: one label is masked
  combiner = sums_combiner()
  items = [element(l, p, w, [0., 0.]) for l, p, w in zip(labels, predictions, weights)]
  keras_mean = tf_keras.metrics.Mean()
  keras_mean.update_state((predictions - labels) ** 2, sample_weight=weights)
  assert output(combiner, combine(combiner, items))['mean_squared_error'] == pytest.approx(
      float(keras_mean.result()), rel=1e-6)


def test_inputs_of_a_named_model_with_a_baseline():
  item = element([2], [0.1, 0.2, 0.7], [1.0], [0.4], model_name='candidate')
  inputs = tfma_metrics.head_inputs(item, 'candidate', HEAD)
  assert inputs.label.tolist() == [2] and inputs.loss.tolist() == pytest.approx([0.4])
  combiner = sums_combiner('candidate')
  assert output(combiner, combine(combiner, [item]))['accuracy'] == 1.0


def test_missing_transform_features_signature_is_explained():
  item = element([1.0], [0.5], [1.0], [0.1])
  item['transformed_features'] = {}
  with pytest.raises(ValueError, match="preprocessing_function_names=.'transform_features'."):
    tfma_metrics.head_inputs(item, '', HEAD)


def test_sample_keeps_the_examples_with_the_smallest_hash():
  combiner = sample_combiner(3)
  items = [element([float(i)], [float(i)], [1.0], [0.], serialized=b'x%d' % i)
           for i in range(20)]
  forward = output(combiner, combine(combiner, items))
  backward = output(combiner, combine(combiner, items[::-1]))
  assert forward == backward and len(forward['label']) == 3


def test_all_scalar_metrics_of_a_head_share_one_combiner():
  metrics = [tfma_metrics.HeadMean('average_loss', 'loss'), tfma_metrics.AccuracyBaseline(),
             tfma_metrics.LabelledCount('missing_label_count', missing=True)]
  computations = [c for m in metrics
                  for c in m.computations(output_names=[HEAD], example_weighted=True)]
  combined = {c for c in computations if isinstance(c, metric_types.MetricComputation)}
  assert len(combined) == 1


def test_head_metrics_need_an_output_name():
  metric = tfma_metrics.HeadMean('average_loss', 'loss')
  with pytest.raises(ValueError, match=r'needs MetricsSpec.output_names'):
    metric.computations(output_names=[''], example_weighted=True)
  with pytest.raises(ValueError, match='HeadMean value must be one of'):
    tfma_metrics.HeadMean('x', 'logits')


def test_class_metric_renames_a_stock_metric_without_sub_key():
  metric = tfma_metrics.ClassMetric('AUC', 1, 'auc/class1', {'num_thresholds': 200})
  computations = metric.computations(output_names=[HEAD], example_weighted=True)
  keys = {k for computation in computations for k in computation.keys}
  assert key('auc/class1') in keys
  assert any(k.name == '_auc/class1' and k.sub_key == metric_types.SubKey(class_id=1)
             for k in keys)
  assert tfma_metrics.ClassMetric.from_config(metric.get_config()).get_config() == (
      metric.get_config())
  with pytest.raises(ValueError, match='not a registered TFMA metric'):
    tfma_metrics.ClassMetric('NoSuchMetric', 0, 'x')


def test_argmax_class_precision_and_recall():
  # labels 0, 0, 1, 2; most probable classes 0, 1, 1, 1
  items = [element([label], probabilities, [1.0], [0.]) for label, probabilities in (
      (0, [0.8, 0.1, 0.1]), (0, [0.2, 0.7, 0.1]), (1, [0.1, 0.6, 0.3]), (2, [0.3, 0.4, 0.3]))]
  accumulator = combine(sums_combiner(), items)
  rate = tfma_metrics.class_rate_value
  assert rate('precision', 0, accumulator) == 1.0 and rate('recall', 0, accumulator) == 0.5
  assert rate('precision', 1, accumulator) == pytest.approx(1 / 3)
  assert rate('recall', 1, accumulator) == 1.0
  assert rate('precision', 2, accumulator) == 0.0 and rate('recall', 2, accumulator) == 0.0
  assert tfma_metrics.argmax_accuracy_value(accumulator) == 0.5
