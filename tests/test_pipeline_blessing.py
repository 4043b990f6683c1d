"""The penguin pipeline gates the Pusher on the per-head blessing.

One local run (LocalDagRunner, Beam in_memory) whose config sets a threshold
only the body_mass_g head fails: the Evaluator writes NOT_BLESSED with that
head's failure alone, and the Pusher pushes nothing.
"""

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


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp('pipeline')
  with open(os.path.join(ROOT, 'pipelines', 'configs', 'penguins.yaml')) as f:
    config = yaml.safe_load(f)
  config['evaluation']['thresholds'] = {
      'species': [{'metric': 'accuracy', 'lower_bound': 0.0}],
      FAILING_HEAD: [{'metric': 'mean_absolute_error', 'upper_bound': 1.0}],  # grams
  }
  config_path = str(root / 'config.yaml')
  with open(config_path, 'w') as f:
    yaml.safe_dump(config, f)
  out = io.StringIO()
  args = cli.build_parser().parse_args(
      ['run', '--config', config_path, '--output-dir', str(root / 'run'), '--rows', '120',
       '--train-steps', '20', '--eval-steps', '2'])
  result = cli.run_command(args, IN_MEMORY, out)
  return result, out.getvalue(), root


def test_a_head_failing_its_threshold_blocks_the_push(run):
  result, printed, root = run
  assert result.blessed is False
  blessing = result.node('Evaluator').uri('blessing')
  assert os.path.exists(os.path.join(blessing, 'NOT_BLESSED'))
  validation = tfma.load_validation_result(result.node('Evaluator').uri('evaluation'))
  failed = {(f.metric_key.output_name, f.metric_key.name)
            for s in validation.metric_validations_per_slice for f in s.failures}
  assert failed == {(FAILING_HEAD, 'mean_absolute_error')}
  assert result.pushed_model is None
  serving = os.path.join(str(root / 'run'), 'serving')
  assert not os.path.isdir(serving) or not os.listdir(serving)
  assert 'NOT BLESSED' in printed
  report_line = [line for line in printed.splitlines() if line.startswith('Report:')]
  assert report_line and os.path.isfile(report_line[0].split(None, 1)[1])
