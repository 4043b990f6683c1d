"""The heads-pipeline command line: help, argument checks and error messages."""
import io
import logging
import os
import subprocess
import sys

import pytest

import penguin_support as support
from pipelines import cli


@pytest.fixture(autouse=True)
def keep_environment(monkeypatch):
  """main() quiets TF and warnings through the environment; undo it after each test."""
  monkeypatch.setenv('PYTHONWARNINGS', 'default')
  monkeypatch.setenv('TF_CPP_MIN_LOG_LEVEL', os.environ.get('TF_CPP_MIN_LOG_LEVEL', '3'))


def run_main(argv, capsys):
  code = cli.main(argv)
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_help_lists_the_commands_and_the_beam_flags(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(['--help'])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  for word in ('run', 'compile', 'prepare-data', 'init', 'check', 'schema', 'DataflowRunner',
               'FlinkRunner', 'SparkRunner', '--direct_running_mode=multi_processing',
               'heads-pipeline init --data-dir DIR --label COLUMN[:TYPE]'):
    assert word in text, word


@pytest.mark.parametrize('command, words', [
    ('run', ('--config', '--rows', '--workers', '--output-dir', '--no-cache', 'cached')),
    ('compile', ('--target', 'kubeflow', '--output', '--image', '--pipeline-root',
                 'kubeflow/README.md')),
    ('init', ('--data-dir', '--label', 'COLUMN[:TYPE]', 'poisson_regression', '--output',
              '--sample', '--all')),
    ('check', ('--config', '--data-dir', '--sample', '--all', 'every problem at once')),
    ('schema', ('--output', 'JSON Schema')),
])
def test_command_help(capsys, command, words):
  with pytest.raises(SystemExit):
    cli.main([command, '--help'])
  text = capsys.readouterr().out
  for word in words:
    assert word in text, word


def test_console_script_and_module_entry_point_agree():
  out = subprocess.run([sys.executable, '-m', 'pipelines', '--help'], capture_output=True,
                       text=True, cwd=support.ROOT, timeout=120)
  assert out.returncode == 0 and out.stdout.startswith('usage: heads-pipeline')


def test_beam_args_follow_a_lone_double_dash():
  own, beam = cli.split_beam_args(['run', '--config', 'c.yaml', '--', '--runner=FlinkRunner',
                                   '--flink_master=h:8081'])
  assert own == ['run', '--config', 'c.yaml']
  assert beam == ['--runner=FlinkRunner', '--flink_master=h:8081']
  assert cli.split_beam_args(['run']) == (['run'], [])


def test_missing_config_file_is_a_short_error(capsys, tmp_path):
  code, _, err = run_main(['run', '--config', str(tmp_path / 'nope.yaml')], capsys)
  assert code == 2
  assert err.startswith('error: --config: no such file: {} (configs shipped with tf-heads: '
                        .format(tmp_path / 'nope.yaml'))
  assert 'penguins' in err and err.count('\n') == 1


@pytest.mark.parametrize('name', ['penguins', 'penguins.yaml'])
def test_a_shipped_config_is_found_by_name(name):
  assert os.path.samefile(cli.resolve_config(name), support.CONFIG_PATH)


def test_only_yaml_files_are_shipped_configs_and_a_path_wins_over_a_name(tmp_path, monkeypatch):
  packaged = cli.packaged_configs()
  assert 'penguins' in packaged
  assert all(path.endswith(('.yaml', '.yml')) for path in packaged.values()), packaged
  (tmp_path / 'penguins').write_text('heads: []\n')
  monkeypatch.chdir(tmp_path)
  assert cli.resolve_config('penguins') == 'penguins'
  with pytest.raises(cli.CliError, match='no such file: penguins.json'):
    cli.resolve_config('penguins.json')


def test_dry_run_builds_the_pipeline_from_a_shipped_config_and_runs_nothing(capsys, tmp_path):
  code, out, _ = run_main(['run', '--config', 'penguins', '--dry-run', '--rows', '30',
                           '--output-dir', str(tmp_path / 'out')], capsys)
  assert code == 0
  assert 'Dry run of penguin-heads (8 components): nothing was run.' in out
  assert support.CONFIG_PATH in out and 'heads: species, sex, body_mass_g' in out
  assert '(30 palmerpenguins rows, written by a real run)' in out
  assert 'CsvExampleGen -> ' in out and out.rstrip().endswith(str(tmp_path / 'out'))
  assert not os.path.exists(tmp_path / 'out' / 'data')
  assert not os.path.exists(tmp_path / 'out' / 'metadata.sqlite')


def test_invalid_config_names_the_field(capsys, tmp_path):
  path = tmp_path / 'bad.yaml'
  path.write_text('heads:\n  - {name: a, type: multi_class}\nmodel: {features: [x]}\n')
  code, _, err = run_main(['compile', '--config', str(path)], capsys)
  assert code == 2
  assert err == 'error: heads[0].n_classes: must be > 2 for multi_class, got None\n'


def test_every_config_problem_is_one_line_and_verbose_shows_the_traceback(capsys, tmp_path):
  path = tmp_path / 'bad.yaml'
  path.write_text('heads:\n  - {name: a, type: regression, weight: -1}\n'
                  'model: {features: [x]}\ntraining: {batch_size: 0}\n')
  code, _, err = run_main(['check', '--config', str(path), '--data-dir', str(tmp_path)],
                          capsys)
  assert code == 2
  assert err.splitlines() == ['error: heads[0].weight: must be >= 0.0, got -1',
                              'error: training.batch_size: must be > 0, got 0']
  code, _, err = run_main(['check', '--config', str(path), '--data-dir', str(tmp_path),
                           '--verbose'], capsys)
  assert code == 2 and 'Traceback' in err
  assert err.splitlines()[-1] == 'error: training.batch_size: must be > 0, got 0'


def test_a_failing_component_is_one_line_with_the_cause_and_the_log(monkeypatch, tmp_path):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def fail(self, pipeline):
    del self, pipeline
    absl = logging.getLogger('absl')
    absl.info('Component CsvExampleGen is running.')
    absl.info('Component CsvExampleGen is finished.')
    absl.info('Component Trainer is running.')
    try:
      raise tf.errors.InvalidArgumentError(
          None, None, 'Graph execution error:\n\nDetected at node x defined at (most recent '
          'call last):\n  File "m.py", line 1\nassertion failed: [Labels must be >= 0.]\n'
          '\t [[{{node x}}]] [Op:__inference_train_function_9]')
    except tf.errors.InvalidArgumentError as error:
      raise RuntimeError('Component Trainer failed') from error

  monkeypatch.setattr(tfx.orchestration.LocalDagRunner, 'run', fail)
  out, err = io.StringIO(), io.StringIO()
  code = cli.main(['run', '--config', support.CONFIG_PATH, '--output-dir', str(tmp_path),
                   '--rows', '30'], out, err)
  assert code == 1
  line = err.getvalue()
  assert line.startswith('error: Trainer failed: InvalidArgumentError: assertion failed: '
                         '[Labels must be >= 0.] (full log: '), line
  log = line.rstrip(')\n').split('(full log: ')[1]
  assert len(line.splitlines()) == 1 and os.path.dirname(log) == str(tmp_path / 'logs')
  with open(log) as f:
    text = f.read()
  assert 'Traceback' in text and 'Labels must be >= 0.' in text
  assert '[2/8] Trainer ...' in out.getvalue()


@pytest.mark.parametrize('argv, message', [
    (['run', '--rows', '0'], '--rows: must be >= 1, got 0'),
    (['run', '--train-steps', '-3'], '--train-steps: must be >= 1, got -3'),
    (['run', '--workers', '-1'], '--workers: must be >= 0, got -1'),
    (['compile', '--output', 'spec.txt'], '--output: must end in .yaml, .yml or .json'),
])
def test_bad_values_are_short_errors(capsys, argv, message):
  code, _, err = run_main(argv + ['--config', support.CONFIG_PATH], capsys)
  assert code == 2
  assert err == 'error: {}\n'.format(message) or err.startswith('error: ' + message)


def test_unknown_target_is_rejected(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(['compile', '--config', support.CONFIG_PATH, '--target', 'airflow'])
  assert exit_info.value.code == 2
  assert "invalid choice: 'airflow'" in capsys.readouterr().err


def test_prepare_data_writes_the_cleaned_csv(capsys, tmp_path):
  code, out, _ = run_main(['prepare-data', '--output-dir', str(tmp_path), '--rows', '5'],
                          capsys)
  assert code == 0
  assert (tmp_path / 'penguins.csv').read_text().count('\n') == 6
  assert str(tmp_path / 'penguins.csv') in out


def test_default_beam_args_are_direct_runner_multi_processing():
  args = cli.build_parser().parse_args(['run', '--config', 'x', '--workers', '3'])
  assert cli._beam_args(args, []) == [
      '--runner=DirectRunner', '--direct_running_mode=multi_processing',
      '--direct_num_workers=3']
  assert cli._beam_args(args, ['--runner=DataflowRunner']) == ['--runner=DataflowRunner']
