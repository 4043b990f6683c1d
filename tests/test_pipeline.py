"""The penguin pipeline end to end on a 120-row slice: artifacts, caching, the pushed model.

The pipeline runs twice through the real command line (`python -m pipelines
run`): LocalDagRunner, SQLite ML Metadata, Beam DirectRunner in
multi_processing mode with 2 workers.
"""
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import batched_evaluator_support as batched_support
import penguin_support as support
import serving_support as serving
from components import config as config_lib
from components import eval_config
from components import evaluate
from components import schema
from pipelines import penguin
from pipelines import results

ROWS = 120
TRAIN_STEPS = 100
EVAL_STEPS = 5
CACHEABLE = ('CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator', 'Trainer')
NODES = CACHEABLE + ('latest_blessed_model_resolver', 'Evaluator', 'Pusher')


def run_pipeline(output_dir):
  command = [sys.executable, '-m', 'pipelines', 'run', '--config', support.CONFIG_PATH,
             '--output-dir', output_dir, '--rows', str(ROWS), '--train-steps',
             str(TRAIN_STEPS), '--eval-steps', str(EVAL_STEPS), '--workers', '2']
  done = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT,
                        timeout=1200)
  assert done.returncode == 0, 'stdout:\n{}\nstderr:\n{}'.format(done.stdout[-4000:],
                                                                 done.stderr[-4000:])
  return done.stdout, results.latest_run(os.path.join(output_dir, 'metadata.sqlite'),
                                         penguin.PIPELINE_NAME)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Two runs of the pipeline in one output directory."""
  output_dir = str(tmp_path_factory.mktemp('penguins'))
  first_out, first = run_pipeline(output_dir)
  second_out, second = run_pipeline(output_dir)
  return types.SimpleNamespace(output_dir=output_dir, first=first, first_out=first_out,
                               second=second, second_out=second_out)


def _files(uri):
  return [os.path.join(d, name) for d, _, names in os.walk(uri) for name in names]


def test_every_component_ran_and_every_artifact_exists(runs):
  run = runs.first
  for node in NODES:
    assert run.node(node).state == 'COMPLETE', node
  seconds = {node: run.node(node).seconds for node in NODES}
  assert all(0 < s < 1200 for s in seconds.values()), seconds
  assert seconds['Trainer'] > seconds['Pusher'], seconds
  for node in set(NODES) - {'latest_blessed_model_resolver'}:
    for key, artifacts in run.node(node).outputs.items():
      for artifact in artifacts:
        assert os.path.exists(artifact.uri), (node, key, artifact.uri)
        assert _files(artifact.uri), (node, key, artifact.uri)
  examples = run.node('CsvExampleGen').uri('examples')
  assert sorted(os.listdir(examples)) == ['Split-eval', 'Split-train']
  assert os.path.isfile(os.path.join(run.node('SchemaGen').uri('schema'), 'schema.pbtxt'))
  model = run.node('Trainer').uri('model')
  assert tf.saved_model.contains_saved_model(os.path.join(model, 'Format-Serving'))
  assert any('tfevents' in f for f in _files(run.node('Trainer').uri('model_run')))
  evaluation = run.node('Evaluator').uri('evaluation')
  assert {'metrics', 'plots', 'validations', 'eval_config'} <= {
      os.path.basename(f).split('-')[0].split('.')[0] for f in _files(evaluation)}
  assert os.path.isfile(os.path.join(run.node('Evaluator').uri('blessing'), 'BLESSED'))
  assert run.blessed is True
  assert tf.saved_model.contains_saved_model(run.pushed_model)
  assert run.pushed_model.startswith(os.path.join(runs.output_dir, 'serving'))
  assert os.path.isfile(os.path.join(runs.output_dir, 'data', 'penguins.csv'))
  with open(os.path.join(runs.output_dir, 'data', 'penguins.csv')) as f:
    assert len(f.read().splitlines()) == ROWS + 1


def test_the_run_ends_with_per_head_metrics_the_report_and_the_pushed_model(runs):
  out = runs.first_out
  for node in NODES:
    assert '{} done in'.format(node) in out, node
  summary = out[out.index('Per-head metrics'):]
  for head, metric in (('species', 'accuracy'), ('sex', 'auc'),
                       ('body_mass_g', 'mean_absolute_error')):
    line = next(l for l in summary.splitlines() if l.strip().startswith(head + ' '))
    assert ' {} '.format(metric) in line, line
  assert 'Blessing:      BLESSED' in summary
  report = next(l for l in summary.splitlines() if l.startswith('Report:')).split()[-1]
  assert os.path.isfile(report) and report.endswith('.html')
  assert 'Pushed model:  {}'.format(runs.first.pushed_model) in summary


def test_a_second_run_with_the_same_inputs_reuses_cached_results(runs):
  first, second = runs.first, runs.second
  assert first.run_id != second.run_id
  for node in CACHEABLE:
    assert second.node(node).state == 'CACHED', node
    assert '{} cached'.format(node) in runs.second_out, node
  assert second.node('Trainer').uri('model') == first.node('Trainer').uri('model')
  assert second.node('CsvExampleGen').uri('examples') == first.node('CsvExampleGen').uri(
      'examples')
  # The Evaluator reruns: it now has a baseline, the model the first run blessed.
  blessing = second.node('Evaluator').outputs['blessing'][0].custom_properties
  assert blessing['baseline_model'].string_value == first.node('Trainer').uri('model')
  assert second.blessed is True


def test_every_signature_of_the_pushed_model_matches_the_in_process_model(runs):
  config = config_lib.load_config(support.CONFIG_PATH)
  loaded = tf.saved_model.load(runs.first.pushed_model)
  model = support.model_with_weights(config, loaded)
  split = os.path.join(runs.first.node('CsvExampleGen').uri('examples'), 'Split-eval')
  serialized = support.read_examples(split, limit=16)
  serialized.append(support.empty_row_example().SerializeToString())
  expected = support.expected_signature_outputs(model, config, serialized)
  support.assert_signatures_match(loaded, expected, serialized)


def test_the_evaluator_equals_the_heads_own_metrics_and_the_tfma_path(runs, tmp_path):
  """The batched Evaluator on the penguins, as CsvExampleGen wrote them (GZIP, empty fields).

  Per slice, each head's own update_metrics on the same rows (float64 state,
  logits of the same batch); every metric and plot key the TFMA path writes
  but the regression sample; its values (AUCs within TFMA's histogram error).
  """
  config = config_lib.load_config(support.CONFIG_PATH)
  run = runs.first
  evaluation = run.node('Evaluator').uri('evaluation')
  model = os.path.join(run.node('Trainer').uri('model'), 'Format-Serving')
  pattern = os.path.join(run.node('CsvExampleGen').uri('examples'), 'Split-eval', '*')
  tfma_output = str(tmp_path / 'tfma')
  evaluate.run_evaluation(model, pattern, tfma_output, config)
  values = batched_support.load_metrics(evaluation)
  tfma_values = batched_support.load_metrics(tfma_output)
  assert set(values) == {key for key in tfma_values if key[3] != eval_config.SAMPLE}
  for key, value in values.items():
    tolerance = dict(rtol=0, atol=5e-3) if key[3].startswith('auc') else dict(rtol=1e-6,
                                                                             atol=1e-8)
    np.testing.assert_allclose(value, tfma_values[key], err_msg=str(key), **tolerance)
  assert set(batched_support.load_plots(evaluation)) == set(
      batched_support.load_plots(tfma_output))

  records = support.read_examples(os.path.dirname(pattern))
  logits = batched_support.logits_by_record(model, pattern)
  slices = sorted({key[0] for key in values})
  assert len(slices) == 4, slices  # overall and three islands
  for slice_ in slices:
    rows = batched_support.slice_rows(records, slice_)
    own = batched_support.heads_own_metrics(logits, config, [records[i] for i in rows],
                                            column_types=schema.read_column_types(model))
    for head, metrics in own.items():
      for name, value in metrics.items():
        np.testing.assert_allclose(values[(slice_, '', head, name, False)], value, rtol=1e-6,
                                   atol=1e-12, err_msg='{} {} {}'.format(slice_, head, name))

def eval_examples(runs, limit):
  """Serialized eval-split penguins of the first run, then one with every measurement empty."""
  split = os.path.join(runs.first.node('CsvExampleGen').uri('examples'), 'Split-eval')
  serialized = support.read_examples(split, limit=limit)
  serialized.append(support.empty_row_example().SerializeToString())
  return serialized


def test_the_pushed_model_serves_every_signature_under_the_session_loader(runs):
  examples = np.array(eval_examples(runs, limit=16), dtype=object)
  served = serving.assert_serves_like_tf2(runs.first.pushed_model, {'examples': examples})
  assert {'serving_default', 'species', 'species/classification', 'body_mass_g/regression',
          'predict', 'eval_logits', 'head_outputs', 'transform_features'} <= set(served.outputs)
  assert set(served.method_names.values()) == {serving.PREDICT_METHOD}


def test_saved_model_cli_run_answers_like_tf_saved_model_load(runs, tmp_path):
  serialized = eval_examples(runs, limit=3)
  rows = [serving.cli_example(example) for example in serialized]
  assert 'bill_length_mm' not in rows[-1] and rows[-1]['island'] == ['Dream']
  got = serving.saved_model_cli_run(runs.first.pushed_model, 'serving_default',
                                    {'examples': rows}, str(tmp_path / 'out'))
  loaded = tf.saved_model.load(runs.first.pushed_model)
  want = loaded.signatures['serving_default'](examples=tf.constant(serialized))
  assert sorted(got) == ['classes', 'scores']
  np.testing.assert_array_equal(got['classes'], want['classes'].numpy())
  np.testing.assert_allclose(got['scores'], want['scores'].numpy(), rtol=1e-6, atol=1e-6)
  assert list(got['classes'][0]) == [b'Adelie', b'Chinstrap', b'Gentoo']
