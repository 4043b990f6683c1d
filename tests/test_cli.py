"""The heads-pipeline command line: help, argument checks and error messages."""
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
  for word in ('run', 'compile', 'prepare-data', 'DataflowRunner', 'FlinkRunner',
               'SparkRunner', '--direct_running_mode=multi_processing'):
    assert word in text, word


@pytest.mark.parametrize('command, words', [
    ('run', ('--config', '--rows', '--workers', '--output-dir', '--no-cache', 'cached')),
    ('compile', ('--target', 'kubeflow', '--output', '--image', '--pipeline-root',
                 'kubeflow/README.md')),
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
  assert 'heads-pipeline run: error: --config: no such file' in err


def test_invalid_config_names_the_field(capsys, tmp_path):
  path = tmp_path / 'bad.yaml'
  path.write_text('heads:\n  - {name: a, type: multi_class}\nmodel: {features: [x]}\n')
  code, _, err = run_main(['compile', '--config', str(path)], capsys)
  assert code == 2
  assert 'heads[0].n_classes: must be > 2 for multi_class' in err


@pytest.mark.parametrize('argv, message', [
    (['run', '--rows', '0'], '--rows: must be >= 1, got 0'),
    (['run', '--train-steps', '-3'], '--train-steps: must be >= 1, got -3'),
    (['run', '--workers', '-1'], '--workers: must be >= 0, got -1'),
    (['compile', '--output', 'spec.txt'], '--output: must end in .yaml, .yml or .json'),
])
def test_bad_values_are_short_errors(capsys, argv, message):
  code, _, err = run_main(argv + ['--config', support.CONFIG_PATH], capsys)
  assert code == 2
  assert message in err


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


def test_a_failing_component_is_one_line_naming_it(capsys, tmp_path, monkeypatch):
  import logging  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  class FailingRunner:
    def run(self, pipeline):
      del pipeline
      logging.getLogger('absl').info('Component Evaluator is running.')
      raise ValueError("eval.gz (records 0 to 9): head 'species': values [b'Emperor'] are not "
                       'in label_vocabulary\nTraceback (most recent call last): ...')

  monkeypatch.setattr(tfx.orchestration, 'LocalDagRunner', FailingRunner)
  code, out, err = run_main(['run', '--config', support.CONFIG_PATH, '--output-dir',
                             str(tmp_path), '--rows', '10'], capsys)
  assert code == 2
  assert err == ("heads-pipeline run: error: Evaluator failed: eval.gz (records 0 to 9): head "
                 "'species': values [b'Emperor'] are not in label_vocabulary (--verbose shows "
                 'the traceback)\n')
  assert '[1/8] Evaluator ...' in out
