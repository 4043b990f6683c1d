"""The Evaluator extension end to end on a small six-head model (TFMA on Beam DirectRunner).

One trained SavedModel is evaluated twice against itself as the baseline:
in_memory with 1 worker, and multi_processing with 2 workers (the mode the CLI
runs; multi_threading would save the workers' start-up, but it runs Beam's gRPC
data plane inside the pytest process, which once grew to 20 GB there). The
tests check the TFMA metrics against the heads' own metrics, masked labels,
the blessing, worker-count independence and the report; and that the batched
engine (components/evaluation) writes the same keys and values for all six
head types.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

import batched_evaluator_support as batched_support
import evaluator_support as support
from components import eval_config
from components import evaluate
from components import report
from components.evaluation import pipeline

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')  # numpy, inside TFMA

N_EXAMPLES = 300
AUC_TOLERANCE = 5e-3  # TFMA's AUC bins a 10000-bucket histogram; Keras compares exactly
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp('evaluator')
  config = support.load_config()
  records = support.make_examples(N_EXAMPLES)
  data = support.write_tfrecord(records, str(root / 'data' / 'eval.tfrecord'))
  model_dir = str(root / 'model')
  model = support.train_and_export(config, records, model_dir)
  return dict(root=root, config=config, records=records, data=data, model_dir=model_dir,
              model=model)


def _evaluate(setup, name, workers, mode=None):
  output = str(setup['root'] / name)
  evaluate.run_evaluation(setup['model_dir'], setup['data'], output, setup['config'],
                          baseline_dir=setup['model_dir'],
                          pipeline_options=evaluate.direct_runner_options(workers, mode))
  return output


@pytest.fixture(scope='module')
def in_memory(setup):
  return _evaluate(setup, 'in_memory_1', workers=1)


@pytest.fixture(scope='module')
def two_workers(setup):
  return _evaluate(setup, 'multi_processing_2', workers=2)


@pytest.fixture(scope='module')
def batched(setup):
  output = str(setup['root'] / 'batched')
  pipeline.run_evaluation(setup['model_dir'], setup['data'], output, setup['config'],
                          baseline_dir=setup['model_dir'])
  return output


load_metrics = batched_support.load_metrics


def candidate(values, head, slice_=report.OVERALL):
  return {key[3]: value for key, value in values.items()
          if key[0] == slice_ and key[1] == evaluate.CANDIDATE and key[2] == head and not key[4]}


def test_tfma_metrics_equal_the_heads_own(setup, in_memory):
  expected = support.head_metrics(setup['model'], setup['config'], setup['records'])
  values = load_metrics(in_memory)
  worst = {}
  for head in setup['config'].heads:
    actual = candidate(values, head.name)
    missing = sorted(set(expected[head.name]) - set(actual))
    assert not missing, '{}: TFMA lacks the head metrics {}'.format(head.name, missing)
    for name, value in expected[head.name].items():
      if name.startswith('auc'):
        tolerance = dict(rtol=0, atol=AUC_TOLERANCE)
      else:
        tolerance = TOLERANCE
      np.testing.assert_allclose(actual[name], value, err_msg='{}/{}'.format(name, head.name),
                                 **tolerance)
      worst[head.name] = max(worst.get(head.name, 0.0), abs(actual[name] - value))
  print('max |TFMA - head| per head:', worst)


def test_masked_labels_are_excluded_and_counted(setup, in_memory):
  examples = [tf.train.Example.FromString(r).features.feature for r in setup['records']]
  labelled_heavy = [f for f in examples if 'heavy' in f]
  values = load_metrics(in_memory)
  heavy, mass = candidate(values, 'heavy'), candidate(values, 'mass')
  assert heavy['example_count'] == len(labelled_heavy)
  assert heavy['missing_label_count'] == N_EXAMPLES - len(labelled_heavy)
  assert mass['example_count'] == sum('body_mass' in f for f in examples)
  assert mass['missing_label_count'] == sum('body_mass' not in f for f in examples)
  assert 0 < heavy['missing_label_count'] and 0 < mass['missing_label_count']
  assert candidate(values, 'species')['missing_label_count'] == 0
  labels = np.array([f['heavy'].int64_list.value[0] for f in labelled_heavy], np.float64)
  weights = np.array([f['w'].float_list.value[0] for f in labelled_heavy], np.float64)
  np.testing.assert_allclose(heavy['label/mean'], np.average(labels, weights=weights),
                             rtol=1e-6)
  island_counts = [candidate(values, 'heavy', s)['example_count']
                   for s in ('island=' + i for i in support.ISLANDS)]
  assert sum(island_counts) == heavy['example_count']


def test_one_failing_head_gives_not_blessed(setup, in_memory):
  validation = tfma.load_validation_result(in_memory)
  assert not validation.validation_ok
  failures = [f for s in validation.metric_validations_per_slice for f in s.failures]
  assert {(f.metric_key.output_name, f.metric_key.name) for f in failures} == {
      (support.FAILING_HEAD, 'average_loss')}
  checked = tfma.metrics.metric_thresholds_from_metrics_specs(
      evaluate.eval_config_for(setup['config'], with_baseline=True).metrics_specs)
  values = load_metrics(in_memory)
  for key in checked:
    if key.model_name == evaluate.BASELINE:
      continue  # TFMA checks thresholds on the candidate only
    assert (report.OVERALL, key.model_name, key.output_name, key.name, key.is_diff) in values, key


def test_two_workers_match_one(in_memory, two_workers):
  one, two = load_metrics(in_memory), load_metrics(two_workers)
  assert sorted(one) == sorted(two)
  for key, value in one.items():
    if isinstance(value, bytes):
      first, second = json.loads(value), json.loads(two[key])
      assert first['label'] == second['label'] and first['weight'] == second['weight'], key
      np.testing.assert_allclose(first['prediction'], second['prediction'], rtol=1e-6, atol=1e-6,
                                 err_msg=str(key))
    elif key[3].startswith('auc'):
      # Inference on other batches moves predictions by float32 noise; one lying on a
      # histogram bucket boundary can change bins.
      np.testing.assert_allclose(two[key], value, rtol=0, atol=AUC_TOLERANCE, err_msg=str(key))
    else:
      # Equal up to float32 inference noise: the model runs on differently sized batches.
      np.testing.assert_allclose(two[key], value, rtol=1e-6, atol=1e-7, err_msg=str(key))
  assert (tfma.load_validation_result(in_memory).validation_ok ==
          tfma.load_validation_result(two_workers).validation_ok)


def test_report_has_every_head_with_plots(setup, in_memory, tmp_path):
  path = report.write_report(in_memory, setup['config'], str(tmp_path / 'report'))
  page = open(path).read()
  assert 'NOT BLESSED' in page
  for head in setup['config'].heads:
    assert 'id="{}"'.format(head.name) in page
  images = [part.split('"')[0] for part in page.split('<img src="')[1:]]
  for head, kinds in (('species', ('roc_pr', 'confusion_matrix', 'slices')),
                      ('heavy', ('roc_pr', 'calibration', 'slices')),
                      ('tags', ('roc_pr', 'slices')),
                      ('mass', ('calibration_residuals', 'slices')),
                      ('eggs', ('calibration_residuals', 'slices'))):
    for kind in kinds:
      name = 'head_{}_{}.png'.format(head, kind)
      assert name in images, name
      assert os.path.getsize(os.path.join(os.path.dirname(path), name)) > 1000
  assert eval_config.SAMPLE not in page


def test_the_batched_engine_writes_the_tfma_paths_keys_and_values(in_memory, batched):
  tfma_values, values = load_metrics(in_memory), load_metrics(batched)
  assert set(values) == {key for key in tfma_values if key[3] != eval_config.SAMPLE}
  for key, value in values.items():
    if key[3].startswith('auc'):
      tolerance = dict(rtol=0, atol=AUC_TOLERANCE)
    elif key[4]:  # candidate - baseline: relative to the two values it subtracts
      tolerance = batched_support.diff_tolerance(values, key)
    else:  # 1e-8: TFMA's float32 predictions come from other batches (last bit)
      tolerance = dict(rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(value, tfma_values[key], err_msg=str(key), **tolerance)
  failed = [{(f.metric_key.output_name, f.metric_key.name)
             for s in tfma.load_validation_result(output).metric_validations_per_slice
             for f in s.failures} for output in (in_memory, batched)]
  assert failed[0] == failed[1] == {(support.FAILING_HEAD, 'average_loss')}
