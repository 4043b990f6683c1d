"""What the batched Evaluator blesses when the heads change between runs, or the loss is not finite.

Issue 9: a candidate with a head the baseline lacks is evaluated, its change
thresholds are skipped ("new head: no baseline") and its value bounds apply;
a head the candidate dropped is reported as removed; a model whose eval loss
is NaN or inf is never blessed, whatever thresholds the config sets.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

import batched_evaluator_support as support
import evaluator_support
from components import eval_config
from components import evaluate
from components import report
from components import signatures
from components.evaluation import head_changes
from components.evaluation import pipeline

TWO_HEADS = """
heads:
  - {name: kind, type: multi_class, label: kind, label_vocabulary: [red, green, blue]}
  - {name: click, type: binary, label: click, weight_column: w, thresholds: [0.5],
     missing_label: mask}
model:
  features: [x1, x2, x3]
  hidden_units: [8]
training: {learning_rate: 0.05}
"""
THREE_HEADS = """
heads:
  - {name: kind, type: multi_class, label: kind, label_vocabulary: [red, green, blue]}
  - {name: click, type: binary, label: click, weight_column: w, thresholds: [0.3],
     missing_label: mask}
  - {name: spend, type: regression, label: spend, weight_column: w, missing_label: mask}
model:
  features: [x1, x2, x3]
  hidden_units: [8]
training: {learning_rate: 0.05}
evaluation:
  thresholds:
    kind: [{metric: accuracy, lower_bound: 0.0, change: {direction: higher_is_better,
                                                          absolute: -1.0}}]
    click: [{metric: accuracy/positive_threshold_0.3, change: {direction: higher_is_better}}]
    spend:
      - {metric: average_loss, change: {direction: lower_is_better}}
      - {metric: example_count, lower_bound: 1}
"""


@pytest.fixture(scope='module')
def models(tmp_path_factory):
  root = tmp_path_factory.mktemp('gates')
  records = support.make_examples(n=300)
  data = support.write_shards(records, str(root / 'data'), shards=2)
  two, three = support.load_config(TWO_HEADS), support.load_config(THREE_HEADS)
  support.train_and_export(two, records, str(root / 'two'), steps=20)
  support.train_and_export(three, records, str(root / 'three'), steps=20)
  model = evaluator_support.train_and_export(three, records, str(root / 'finite'), steps=1)
  for variable in model.trainable_variables:
    variable.assign(tf.fill(variable.shape, math.nan))
  signatures.export(model, three, str(root / 'nan'))
  return dict(root=root, data=data, two=two, three=three)


def _evaluate(models, candidate, baseline, config, name):
  output = str(models['root'] / name)
  pipeline.run_evaluation(
      str(models['root'] / candidate), models['data'], output, config,
      baseline_dir=str(models['root'] / baseline) if baseline else None,
      pipeline_options=evaluate.direct_runner_options(1), batch_size=support.BATCH_SIZE)
  return output


def test_compare_names_new_and_removed_heads_and_metrics_without_a_baseline(models):
  changes = head_changes.compare(models['three'], models['two'])
  assert changes.new_heads == ['spend'] and changes.removed_heads == []
  assert changes.metrics_without_baseline == {
      'click': ['accuracy/positive_threshold_0.3', 'precision/positive_threshold_0.3',
                'recall/positive_threshold_0.3']}
  reverse = head_changes.compare(models['two'], models['three'])
  assert reverse.new_heads == [] and reverse.removed_heads == ['spend']


def test_change_thresholds_without_a_baseline_value_are_dropped_and_bounds_kept(models):
  built = eval_config.build_eval_config(models['three'])
  updated = head_changes.without_unmatched_change_thresholds(
      built, head_changes.compare(models['three'], models['two']))

  def thresholds(config, head, metric):
    [spec] = [s for s in config.metrics_specs if list(s.output_names) == [head]]
    [found] = [m for m in spec.metrics if head_changes.metric_name(m) == metric]
    return [t.threshold for t in found.per_slice_thresholds]

  [loss] = thresholds(updated, 'spend', 'average_loss')
  assert not loss.HasField('change_threshold') and eval_config.is_finite_gate(loss)
  assert thresholds(built, 'spend', 'average_loss')[0].HasField('change_threshold')
  [count] = thresholds(updated, 'spend', 'example_count')
  assert count.value_threshold.lower_bound.value == 1
  assert thresholds(updated, 'click', 'accuracy/positive_threshold_0.3') == []
  [kind] = thresholds(updated, 'kind', 'accuracy')
  assert kind.HasField('change_threshold')  # both models have it


def test_a_new_head_is_evaluated_without_baseline_and_the_model_blessed(models):
  output = _evaluate(models, 'three', 'two', models['three'], 'new_head')
  assert support.failures(output) == set()
  result = report.Evaluation(output)
  assert result.validation.validation_ok and not result.validation.rubber_stamp
  assert result.head_changes() == (['spend'], [])
  assert result.head_metrics('spend')['example_count'] > 0
  assert result.head_metrics('spend', 'baseline') == {}
  assert 'accuracy' in result.head_metrics('kind', 'diff')


def test_a_removed_head_is_reported_and_the_shared_heads_decide(models):
  output = _evaluate(models, 'two', 'three', models['two'], 'removed_head')
  result = report.Evaluation(output)
  assert result.validation.validation_ok
  assert result.head_changes() == ([], ['spend'])
  html = open(report.write_report(output, models['two'], str(models['root'] / 'r'))).read()
  assert 'Removed heads (in the baseline only): spend.' in html


def test_a_model_with_a_nan_loss_is_never_blessed(models):
  output = _evaluate(models, 'nan', None, models['two'], 'nan_loss')
  failed = support.failures(output)
  assert ('kind', 'average_loss') in failed and ('click', 'average_loss') in failed
  result = report.Evaluation(output)
  assert not result.validation.validation_ok
  assert 'not finite' in result.failures('kind')['average_loss']
  assert np.isnan(result.head_metrics('kind')['average_loss'])


def test_the_tfma_path_evaluates_a_new_head_without_baseline_too(models):
  output = str(models['root'] / 'tfma_new_head')
  evaluate.run_evaluation(str(models['root'] / 'three'), models['data'], output, models['three'],
                          baseline_dir=str(models['root'] / 'two'))
  assert support.failures(output) == set()
  result = report.Evaluation(output)
  assert result.validation.validation_ok and not result.validation.rubber_stamp
  assert result.head_changes() == (['spend'], [])
  assert result.head_metrics('spend')['example_count'] > 0
  assert 'accuracy' in result.head_metrics('kind', 'diff')
