"""The EvalConfig built from a heads config: model spec, per-head metrics, thresholds, slices."""

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.proto import config_pb2

from components import config as config_lib
from components import eval_config
from components import evaluate
from components import signatures
from heads.keys import MetricKeys

CONFIG = """
heads:
  - {name: kind, type: multi_class, label: kind, label_vocabulary: [a, b, c]}
  - {name: click, type: binary, label: click, weight_column: w, thresholds: [0.25, 0.5],
     missing_label: mask}
  - {name: price, type: regression, label: price, label_dimension: 2}
  - {name: visits, type: poisson_regression, label: visits}
  - {name: share, type: logistic_regression, label: share}
  - {name: topics, type: multi_label, label: topics, n_classes: 3, label_vocabulary: [x, y, z],
     classes_for_class_based_metrics: [y, z], thresholds: [0.7]}
model: {features: [f]}
evaluation:
  thresholds:
    kind:
      - {metric: accuracy, lower_bound: 0.8}
      - {metric: accuracy, change: {direction: higher_is_better}}
    price:
      - {metric: mean_absolute_error, upper_bound: 3.5,
         change: {direction: lower_is_better, relative: 0.1}}
    topics:
      - {metric: auc/y, lower_bound: 0.6}
  slicing: [[country], [], [country], [country, device]]
"""


def load(text=CONFIG):
  return config_lib.load_config(text)


def spec_of(built, head):
  specs = [s for s in built.metrics_specs if list(s.output_names) == [head]]
  assert len(specs) == 1, head
  return specs[0]


def metric_config(built, head, name):
  for metric in spec_of(built, head).metrics:
    if metric_specs.metric_instance(metric).name == name:
      return metric
  raise KeyError(name)


def test_model_spec_reads_every_head_from_the_tfma_signatures():
  config = load()
  spec = eval_config.build_eval_config(config).model_specs[0]
  assert spec.signature_name == signatures.HEAD_OUTPUTS_SIGNATURE
  assert list(spec.preprocessing_function_names) == [signatures.TRANSFORM_FEATURES_SIGNATURE]
  names = [head.name for head in config.heads]
  assert dict(spec.label_keys) == {n: n + '__label' for n in names}
  assert dict(spec.example_weight_keys) == {n: n + '__weight' for n in names}


@pytest.mark.parametrize('head_name', ['kind', 'click', 'price', 'visits', 'share', 'topics'])
def test_each_head_spec_mirrors_the_heads_own_metric_keys(head_name):
  config = load()
  head_config = config.head(head_name)
  built = eval_config.build_eval_config(config)
  spec = spec_of(built, head_name)
  assert spec.example_weights.weighted and not spec.example_weights.unweighted
  own = [key[:-len('/' + head_name)] for key in head_config.build().metrics()]
  names = [metric_specs.metric_instance(m).name for m in spec.metrics]
  assert set(own) <= set(names), sorted(set(own) - set(names))
  assert set(own) <= set(eval_config.head_metric_names(head_config))
  assert {'example_count', 'missing_label_count'} <= set(names)


def test_class_based_metric_names_follow_the_head():
  names = eval_config.head_metric_names(load().head('topics'))
  for key in ('probability_mean/y', 'auc/y', 'auc_precision_recall/y', 'auc/z',
              MetricKeys.ACCURACY_AT_THRESHOLD % 0.7):
    assert key in names
  kind = eval_config.head_metric_names(load().head('kind'))
  assert {'precision/a', 'recall/b', 'auc/c', 'accuracy'} <= set(kind)


def test_all_metrics_resolve_to_tfma_computations():
  built = evaluate.eval_config_for(load(), with_baseline=True)
  computations = metric_specs.to_computations(built.metrics_specs, built)
  keys = {key for computation in computations for key in computation.keys}
  for model_name in (evaluate.CANDIDATE, evaluate.BASELINE):
    assert tfma.metrics.MetricKey('auc/y', model_name=model_name, output_name='topics',
                                  example_weighted=True) in keys
    assert tfma.metrics.MetricKey('average_loss', model_name=model_name, output_name='visits',
                                  example_weighted=True) in keys


def test_thresholds_of_one_metric_merge_and_gate_the_overall_slice():
  built = eval_config.build_eval_config(load())
  accuracy = metric_config(built, 'kind', 'accuracy')
  assert not accuracy.HasField('threshold')
  [gate] = accuracy.per_slice_thresholds
  assert list(gate.slicing_specs) == [config_pb2.SlicingSpec()]
  assert gate.threshold.value_threshold.lower_bound.value == 0.8
  change = gate.threshold.change_threshold
  assert change.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
  assert change.absolute.value == -eval_config.CHANGE_EPSILON
  [mae] = metric_config(built, 'price', 'mean_absolute_error').per_slice_thresholds
  assert mae.threshold.value_threshold.upper_bound.value == 3.5
  assert mae.threshold.change_threshold.relative.value == 0.1
  assert not mae.threshold.change_threshold.HasField('absolute')
  [auc_y] = metric_config(built, 'topics', 'auc/y').per_slice_thresholds
  assert auc_y.threshold.value_threshold.lower_bound.value == 0.6
  assert not metric_config(built, 'click', 'auc').per_slice_thresholds


def test_threshold_on_a_metric_the_head_lacks_names_the_field():
  text = CONFIG.replace('{metric: auc/y, lower_bound: 0.6}', '{metric: accuracy, lower_bound: 0.6}')
  with pytest.raises(config_lib.ConfigError,
                     match=r"evaluation\.thresholds\.topics\[0\]\.metric: 'accuracy' is not a "
                           r"metric of multi_label head 'topics'"):
    eval_config.build_eval_config(load(text))


def test_two_value_bounds_for_one_metric_are_rejected():
  text = CONFIG.replace('{metric: accuracy, change: {direction: higher_is_better}}',
                        '{metric: accuracy, upper_bound: 0.99}')
  with pytest.raises(config_lib.ConfigError, match=r'thresholds\.kind\[1\]\.metric: a second '
                                                   r'value bound'):
    eval_config.build_eval_config(load(text))


def test_slicing_specs_start_with_overall_and_are_unique():
  built = eval_config.build_eval_config(load())
  assert list(built.slicing_specs) == [
      config_pb2.SlicingSpec(), config_pb2.SlicingSpec(feature_keys=['country']),
      config_pb2.SlicingSpec(feature_keys=['country', 'device'])]


def test_baseline_config_has_candidate_and_baseline_specs():
  built = evaluate.eval_config_for(load(), with_baseline=True)
  assert [(s.name, s.is_baseline) for s in built.model_specs] == [
      (evaluate.CANDIDATE, False), (evaluate.BASELINE, True)]
  tfma.utils.verify_eval_config(built)


def test_has_thresholds():
  assert eval_config.has_thresholds(load())
  no_gates = load(CONFIG.split('evaluation:')[0])
  assert not eval_config.has_thresholds(no_gates)
