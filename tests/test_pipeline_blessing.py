"""The penguin pipeline gates the Pusher on the per-head blessing, as the heads change between runs.

Three local runs (LocalDagRunner, Beam in_memory) in one output directory:
  1. heads species and sex, thresholds that pass: blessed and pushed;
  2. adds the body_mass_g head, with a change threshold it has no baseline
     for: evaluated against run 1's model, "new head: no baseline", blessed
     and pushed;
  3. drops the sex head and sets a threshold only body_mass_g fails: the
     Evaluator writes NOT_BLESSED with that head's failure alone, reports
     sex as removed, and the Pusher pushes nothing.
"""

import copy
import io
import os

import pytest
import tensorflow_model_analysis as tfma
import yaml

from pipelines import cli

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILING_HEAD = 'body_mass_g'
IN_MEMORY = ['--runner=DirectRunner', '--direct_running_mode=in_memory',
             '--direct_num_workers=1']


def _config(heads, thresholds):
  with open(os.path.join(ROOT, 'pipelines', 'configs', 'penguins.yaml')) as f:
    config = yaml.safe_load(f)
  config['heads'] = [copy.deepcopy(h) for h in config['heads'] if h['name'] in heads]
  config['evaluation']['thresholds'] = thresholds
  return config


RUNS = (
    ('two_heads', _config(('species', 'sex'), {
        'species': [{'metric': 'accuracy', 'lower_bound': 0.0}]})),
    ('head_added', _config(('species', 'sex', FAILING_HEAD), {
        'species': [{'metric': 'accuracy', 'lower_bound': 0.0,
                     'change': {'direction': 'higher_is_better', 'absolute': -1.0}}],
        FAILING_HEAD: [{'metric': 'average_loss', 'change': {'direction': 'lower_is_better'}},
                       {'metric': 'example_count', 'lower_bound': 1}]})),
    ('head_removed', _config(('species', FAILING_HEAD), {
        'species': [{'metric': 'accuracy', 'lower_bound': 0.0}],
        FAILING_HEAD: [{'metric': 'mean_absolute_error', 'upper_bound': 1.0}]})),  # grams
)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('pipeline')
  results = {}
  for name, config in RUNS:
    config_path = str(root / (name + '.yaml'))
    with open(config_path, 'w') as f:
      yaml.safe_dump(config, f)
    out = io.StringIO()
    args = cli.build_parser().parse_args(
        ['run', '--config', config_path, '--output-dir', str(root / 'run'), '--rows', '120',
         '--train-steps', '20', '--eval-steps', '2'])
    results[name] = (cli.run_command(args, IN_MEMORY, out), out.getvalue())
  return results, root


def _failed(result):
  validation = tfma.load_validation_result(result.node('Evaluator').uri('evaluation'))
  return validation, {(f.metric_key.output_name, f.metric_key.name)
                      for s in validation.metric_validations_per_slice for f in s.failures}


def test_the_first_run_is_blessed_and_pushed(runs):
  result, printed = runs[0]['two_heads']
  validation, failed = _failed(result)
  assert result.blessed is True and failed == set() and validation.rubber_stamp
  assert result.pushed_model and os.path.isdir(result.pushed_model)
  assert 'new head' not in printed


def test_a_head_added_between_runs_is_evaluated_without_baseline_then_blessed_and_pushed(runs):
  results, _ = runs
  result, printed = results['head_added']
  validation, failed = _failed(result)
  assert result.blessed is True and failed == set() and not validation.rubber_stamp
  assert result.pushed_model and result.pushed_model != results['two_heads'][0].pushed_model
  assert '{:<14} new head: no baseline'.format(FAILING_HEAD) in printed
  blessing = result.node('Evaluator').outputs['blessing'][0]
  assert blessing.custom_properties['baseline_model'].string_value == (
      results['two_heads'][0].node('Trainer').uri('model'))


def test_a_head_failing_its_threshold_blocks_the_push_and_a_removed_head_is_named(runs):
  results, root = runs
  result, printed = results['head_removed']
  assert result.blessed is False
  blessing = result.node('Evaluator').uri('blessing')
  assert os.path.exists(os.path.join(blessing, 'NOT_BLESSED'))
  _, failed = _failed(result)
  assert failed == {(FAILING_HEAD, 'mean_absolute_error')}
  assert result.pushed_model is None
  assert sorted(os.listdir(os.path.join(str(root / 'run'), 'serving'))) == sorted(
      os.path.basename(r.pushed_model) for r, _ in (results['two_heads'], results['head_added']))
  assert 'NOT BLESSED: {} mean_absolute_error = '.format(FAILING_HEAD) in printed
  assert '{:<14} removed head: in the baseline only'.format('sex') in printed
  report_line = [line for line in printed.splitlines() if line.startswith('Report:')]
  assert report_line and os.path.isfile(report_line[0].split(None, 1)[1])
