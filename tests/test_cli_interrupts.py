"""The CLI after bad data, a stopped training or a kill: one line, no stale RUNNING executions."""
import io
import logging
import os

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import penguin_support as support
from components import non_finite
from components import resume
from heads.non_finite_loss import NonFiniteLossError
from pipelines import cli
from pipelines import results

STATES = metadata_store_pb2.Execution.State


@pytest.fixture(autouse=True)
def keep_environment(monkeypatch):
  """main() quiets TF and warnings through the environment; undo it after each test."""
  monkeypatch.setenv('PYTHONWARNINGS', 'default')
  monkeypatch.setenv('TF_CPP_MIN_LOG_LEVEL', os.environ.get('TF_CPP_MIN_LOG_LEVEL', '3'))


LONG_DATA_ERROR = '; '.join(
    "model.features[{}] (column 'x{}'): 2 rows of the train split hold NaN or inf; set "
    'non_finite: impute on this feature to treat them as missing values, or fix the data'.format(
        i, i) for i in range(3))


def _run_with_runner_raising(monkeypatch, tmp_path, error, *flags):
  """`run` on 30 penguins whose LocalDagRunner raises `error` in the Trainer.

  Returns (exit code, stdout, stderr, the run's log text).
  """
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  def run(self, pipeline):
    del self, pipeline
    logging.getLogger('absl').info('Component Trainer is running.')
    raise error

  monkeypatch.setattr(tfx.orchestration.LocalDagRunner, 'run', run)
  out, err = io.StringIO(), io.StringIO()
  code = cli.main(['run', '--config', support.CONFIG_PATH, '--output-dir', str(tmp_path),
                   '--rows', '30'] + list(flags), out, err)
  logs = list((tmp_path / 'logs').iterdir())
  assert len(logs) == 1
  return code, out.getvalue(), err.getvalue(), logs[0].read_text()


def _wrapped(error):
  """`error` as the cause of another, as TFX's launcher re-raises executor errors."""
  try:
    raise error
  except Exception as cause:  # pylint: disable=broad-except
    try:
      raise RuntimeError('Execution 7 failed') from cause
    except RuntimeError as wrapper:
      return wrapper


@pytest.mark.parametrize('error, code, line', [
    (resume.TrainingStopped('Training stopped by SIGTERM at step 7 of 50; a rerun resumes.', 7),
     130, 'Training stopped by SIGTERM at step 7 of 50; a rerun resumes'),
    (_wrapped(non_finite.NonFiniteDataError(LONG_DATA_ERROR)),
     1, 'error: Trainer failed: ' + LONG_DATA_ERROR),
    (_wrapped(NonFiniteLossError('Training stopped at step 3: the training loss is nan', 3,
                                 ['a'])),
     1, 'error: Trainer failed: Training stopped at step 3: the training loss is nan'),
    (KeyboardInterrupt(), 130, 'Trainer interrupted; ' + cli.INTERRUPTED),
], ids=['stopped', 'data', 'loss', 'ctrl-c'])
def test_a_stopped_or_refused_run_is_one_line_with_the_log(monkeypatch, tmp_path, caplog,
                                                           error, code, line):
  got, out, err, log = _run_with_runner_raising(monkeypatch, tmp_path, error)
  assert got == code
  assert err.startswith(line + ' (full log: {}'.format(tmp_path / 'logs')), err
  assert len(err.splitlines()) == 1 and 'Traceback' not in out + err
  assert 'Traceback' in log and type(error).__name__ in log
  assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info], (
      'the traceback went to the console handlers too')


def test_verbose_raises_with_the_traceback(monkeypatch, tmp_path):
  with pytest.raises(resume.TrainingStopped):
    _run_with_runner_raising(monkeypatch, tmp_path, resume.TrainingStopped('stopped', 1),
                             '--verbose')


def test_ctrl_c_outside_the_pipeline_is_one_line(monkeypatch, capsys):
  def run(*args):
    raise KeyboardInterrupt

  monkeypatch.setattr(cli, 'run_command', run)
  assert cli.main(['run', '--config', 'unused.yaml']) == 130
  assert capsys.readouterr().err == 'interrupted\n'


def test_a_second_run_in_the_same_output_dir_is_refused(tmp_path):
  with cli._exclusive(str(tmp_path)):  # pylint: disable=protected-access
    with pytest.raises(cli.CliError, match='another heads-pipeline run is using'):
      with cli._exclusive(str(tmp_path)):  # pylint: disable=protected-access
        pass
  with cli._exclusive(str(tmp_path)):  # pylint: disable=protected-access
    pass


def _metadata_with_a_killed_trainer(tmp_path):
  """SQLite ML Metadata as LocalDagRunner leaves it after a SIGKILL during the Trainer."""
  path = str(tmp_path / 'metadata.sqlite')
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  store = metadata_store.MetadataStore(config)
  context_types = {name: store.put_context_type(metadata_store_pb2.ContextType(name=name))
                   for name in ('pipeline', 'node', 'pipeline_run')}
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Trainer'))

  def context(kind, name):
    return store.put_contexts([metadata_store_pb2.Context(
        type_id=context_types[kind], name=name)])[0]

  pipeline, run = context('pipeline', 'p'), context('pipeline_run', 'run-1')
  executions = {}
  for node, state in (('CsvExampleGen', STATES.COMPLETE), ('Trainer', STATES.RUNNING),
                      ('Other', STATES.COMPLETE)):
    node_context = context('node', 'p.' + node)
    execution = metadata_store_pb2.Execution(type_id=execution_type, last_known_state=state)
    execution_id = store.put_executions([execution])[0]
    store.put_attributions_and_associations([], [
        metadata_store_pb2.Association(context_id=c, execution_id=execution_id)
        for c in (pipeline, run, node_context)])
    executions[node] = execution_id
  return path, store, executions


def test_executions_a_killed_run_left_running_are_cancelled(tmp_path):
  path, store, executions = _metadata_with_a_killed_trainer(tmp_path)
  root = tmp_path / 'pipeline_root'
  trainer_id = executions['Trainer']
  empty = root / 'Trainer' / 'model' / str(trainer_id) / 'Format-Serving'
  empty.mkdir(parents=True)
  logs = root / 'Trainer' / 'model_run' / str(trainer_id)
  logs.mkdir(parents=True)
  (logs / 'events.out.tfevents.1').write_text('x')
  done = root / 'CsvExampleGen' / 'examples' / str(executions['CsvExampleGen'])
  done.mkdir(parents=True)

  assert results.cancel_stale_executions(path, 'p', str(root)) == [('Trainer', trainer_id)]
  states = {e.id: e.last_known_state for e in store.get_executions()}
  assert states == {executions['CsvExampleGen']: STATES.COMPLETE, trainer_id: STATES.CANCELED,
                    executions['Other']: STATES.COMPLETE}
  assert not (root / 'Trainer' / 'model' / str(trainer_id)).exists()
  assert (logs / 'events.out.tfevents.1').exists() and done.exists()
  assert results.cancel_stale_executions(path, 'p', str(root)) == []
  assert results.cancel_stale_executions(path, 'other-pipeline', str(root)) == []
  assert results.cancel_stale_executions(str(tmp_path / 'none.sqlite'), 'p', str(root)) == []


def test_the_cli_reports_what_it_cancelled(tmp_path, capsys):
  path, _, executions = _metadata_with_a_killed_trainer(tmp_path)

  class Layout:
    metadata_path = path
    pipeline_root = str(tmp_path / 'root')

  cli._cancel_stale(Layout, 'p', cli.sys.stdout)  # pylint: disable=protected-access
  assert capsys.readouterr().out == (
      'Marked 1 execution(s) an interrupted run left RUNNING as CANCELED: Trainer ({})\n'.format(
          executions['Trainer']))


def test_tfx_failed_execution_line_is_dropped_unless_verbose():
  import logging  # pylint: disable=g-import-not-at-top
  failed = logging.LogRecord('absl', logging.ERROR, 'launcher.py', 1, 'Execution %d failed.',
                             (14,), None)
  other = logging.LogRecord('absl', logging.ERROR, 'x.py', 1, 'something else', (), None)
  assert not cli._not_failed_execution(failed)  # pylint: disable=protected-access
  assert cli._not_failed_execution(other)  # pylint: disable=protected-access
