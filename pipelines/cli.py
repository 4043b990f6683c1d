"""heads-pipeline: start a config from your CSVs, check it, run the pipeline, or compile it.

Config and data errors print one line each, `error: <field path or
file:line>: <message>`, and exit with status 2; `--verbose` shows tracebacks.
A component that fails prints its name, the cause and where the full log is
(status 1); a run stopped by Ctrl-C or SIGTERM says where it stopped and that
a rerun continues (status 130).
"""

import argparse
import contextlib
import logging
import os
import re
import sys
import time
import traceback
import warnings
from importlib import resources

from components import collector
from components import config as config_lib
from pipelines import csv_data

DEFAULT_IMAGE = 'tf-heads-pipeline:0.1.0'
TARGETS = ('kubeflow',)
LOG_DIR = 'logs'

_BEAM_HELP = """\
Beam arguments: everything after a lone `--` goes unchanged to every Beam
component (ExampleGen, StatisticsGen, Evaluator) and replaces the default
`--runner=DirectRunner --direct_running_mode=multi_processing
--direct_num_workers=N`. Examples:
  Dataflow: -- --runner=DataflowRunner --project=P --region=R
               --temp_location=gs://B/tmp --experiments=use_runner_v2
               --sdk_container_image=IMAGE
  Flink:    -- --runner=FlinkRunner --flink_master=HOST:8081
               --environment_type=LOOPBACK
  Spark:    -- --runner=SparkRunner --spark_master_url=spark://HOST:7077
               --environment_type=LOOPBACK
"""

_DESCRIPTION = """\
The tf-heads pipeline: CsvExampleGen -> StatisticsGen -> SchemaGen
-> ExampleValidator -> Trainer -> Evaluator -> Pusher, with the model, its heads
and the Evaluator's thresholds all taken from one heads config (YAML/JSON).

Your own CSV in three commands:
  heads-pipeline init --data-dir DIR --label COLUMN[:TYPE] ... --output config.yaml
  heads-pipeline check --config config.yaml --data-dir DIR
  heads-pipeline run --config config.yaml --data-dir DIR
"""


def _add_config(parser):
  parser.add_argument('--config', required=True, metavar='FILE|NAME',
                      help='heads config: a YAML or JSON file, or the name of a config shipped '
                           'with tf-heads ({})'.format(', '.join(sorted(packaged_configs()))))


def _add_sample(parser, what):
  rows = parser.add_mutually_exclusive_group()
  rows.add_argument('--sample', type=int, default=None, metavar='N',
                    help='{} the first N rows, spread over the files (default: {})'.format(
                        what, csv_data.DEFAULT_SAMPLE))
  rows.add_argument('--all', action='store_true', help='{} every row'.format(what))


def _add_common(parser):
  _add_config(parser)
  parser.add_argument('--pipeline-name', default=None, metavar='NAME',
                      help='pipeline name (default: penguin-heads, or <data dir>-heads with '
                           '--data-dir)')
  parser.add_argument('--train-steps', type=int, default=None, metavar='N',
                      help="training steps (default: the config's training.train_steps)")
  parser.add_argument('--eval-steps', type=int, default=None, metavar='N',
                      help="validation steps (default: the config's training.eval_steps)")
  parser.add_argument('--workers', type=int, default=2, metavar='N',
                      help='DirectRunner worker processes, multi_processing mode; 0 = one per '
                           'CPU (default: 2). Ignored when Beam arguments are given')


def build_parser():
  parser = argparse.ArgumentParser(
      prog='heads-pipeline', description=_DESCRIPTION, epilog=_BEAM_HELP,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

  run = commands.add_parser(
      'run', help='run the pipeline locally (LocalDagRunner, SQLite ML Metadata)',
      description='Runs the pipeline locally (LocalDagRunner, SQLite ML Metadata, Beam\n'
                  'DirectRunner) and ends with per-head metrics, the report and the pushed\n'
                  'model. A second run with the same inputs reuses cached results, and\n'
                  'after Ctrl-C, SIGTERM or a kill it resumes training from its last\n'
                  'checkpoint.',
      epilog=_BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
  _add_common(run)
  run.add_argument('--output-dir', default=None, metavar='DIR',
                   help='where data, artifacts, ML Metadata, report and pushed models go '
                        '(default: .runs/<pipeline name>)')
  run.add_argument('--data-dir', default=None, metavar='DIR',
                   help='read the CSV file(s) in DIR instead of the palmerpenguins data')
  run.add_argument('--rows', type=int, default=None, metavar='N',
                   help='use N rows of the penguins data (a fixed shuffle; for quick tests)')
  run.add_argument('--no-cache', action='store_true', help='recompute every component')
  _add_sample(run, 'before the pipeline, check')
  run.add_argument('--verbose', action='store_true',
                   help='show all TFX/Beam/TF logs, and tracebacks')
  run.add_argument('--dry-run', action='store_true',
                   help='check the config and the data, build the pipeline and print what a '
                        'run would do, without running it')

  init = commands.add_parser(
      'init', help='write a starter config from the CSV files in a directory',
      description='Reads the CSV files in --data-dir and writes a commented heads config:\n'
                  'a head per --label (type inferred unless given as COLUMN:TYPE), every\n'
                  'other column as a feature, training defaults and blessing gates. It\n'
                  'passes `check`, so `run` takes it as it is.',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  init.add_argument('--data-dir', required=True, metavar='DIR', help='the CSV files')
  init.add_argument('--label', required=True, action='append', metavar='COLUMN[:TYPE]',
                    help='a label column, once per head; TYPE is one of {}'.format(
                        ', '.join(config_lib.HEAD_TYPES)))
  init.add_argument('--output', default='config.yaml', metavar='FILE',
                    help='where the config goes (default: %(default)s)')
  init.add_argument('--force', action='store_true', help='overwrite --output')
  _add_sample(init, 'infer from')
  init.add_argument('--verbose', action='store_true', help='show tracebacks')

  check = commands.add_parser(
      'check', help='check a config against the CSV files, in seconds',
      description='Checks the config, then every configured column against the CSV files,\n'
                  'and reports every problem at once, one line each: missing columns,\n'
                  'values that are not numbers, labels outside the vocabulary, missing\n'
                  'labels, non-finite numbers, headers, encodings. `run` does the same first.',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  _add_config(check)
  check.add_argument('--data-dir', required=True, metavar='DIR', help='the CSV files')
  _add_sample(check, 'check')
  check.add_argument('--verbose', action='store_true', help='show tracebacks')

  schema = commands.add_parser(
      'schema', help='print the JSON Schema of the config file',
      description='Writes the JSON Schema of heads configs (what editors validate with;\n'
                  'pipelines/configs/heads-config.schema.json is this output).',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  schema.add_argument('--output', default=None, metavar='FILE',
                      help='write to FILE instead of standard output')

  compile_ = commands.add_parser(
      'compile', help='compile the pipeline to a Kubeflow Pipelines v2 spec',
      description='Writes the pipeline as a KFP v2 PipelineSpec (KubeflowV2DagRunner).\n'
                  'Build the image with kubeflow/Dockerfile; submit the spec with kfp.Client\n'
                  'or Vertex AI Pipelines, as kubeflow/README.md shows.',
      epilog=_BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
  _add_common(compile_)
  compile_.add_argument('--target', choices=TARGETS, default='kubeflow',
                        help='orchestrator (default: kubeflow)')
  compile_.add_argument('--output', default='pipeline.yaml', metavar='FILE',
                        help='spec file: .yaml/.yml (PipelineSpec) or .json (PipelineJob) '
                             '(default: pipeline.yaml)')
  compile_.add_argument('--image', default=DEFAULT_IMAGE,
                        help='container image of every step, built from kubeflow/Dockerfile '
                             '(default: %(default)s)')
  compile_.add_argument('--pipeline-root', default='gs://YOUR_BUCKET/tf-heads/pipeline_root',
                        metavar='URI', help='artifact root the cluster can write '
                                            '(default: %(default)s)')
  compile_.add_argument('--data-root', default='gs://YOUR_BUCKET/tf-heads/data', metavar='URI',
                        help='directory with the CSV data, e.g. written by `heads-pipeline '
                             'prepare-data` and copied there (default: %(default)s)')
  compile_.add_argument('--serving-dir', default=None, metavar='URI',
                        help='where the Pusher puts blessed models (default: '
                             '<pipeline root>/serving)')

  data = commands.add_parser(
      'prepare-data', help='write the cleaned penguins CSV (e.g. to upload for Kubeflow)',
      description='Writes penguins.csv with empty fields for missing values and float\n'
                  'measurements, as `run` does.',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  data.add_argument('--output-dir', required=True, metavar='DIR', help='where penguins.csv goes')
  data.add_argument('--rows', type=int, default=None, metavar='N',
                    help='only N rows (a fixed shuffle)')
  return parser


def split_beam_args(argv):
  """(our args, Beam args): Beam args are whatever follows the first lone '--'."""
  if '--' in argv:
    i = argv.index('--')
    return argv[:i], argv[i + 1:]
  return argv, []


class CliError(Exception):
  """A config, data or argument error: printed as `error: <where>: <message>` lines, status 2.

  `problems` are csv_data.Problem lines; warnings among them print too.
  """

  def __init__(self, message=None, problems=None):
    self.problems = list(problems or [csv_data.Problem('', message)])
    errors = [p for p in self.problems if p.severity == csv_data.ERROR]
    super().__init__(str(errors[0]) if errors else message)


class ComponentError(Exception):
  """A pipeline run failed or was stopped: printed as one line with the log's path.

  Status 1 for a failure (printed as `error: ...`), 130 for a run stopped by
  Ctrl-C or SIGTERM, which a rerun of the same command continues.
  """

  def __init__(self, message, status=1):
    super().__init__(message)
    self.status = status


INTERRUPTED = ('rerun the same command to continue: finished components are reused from the '
               'cache, and a training resumes from its last checkpoint')


def _component_error(error, component, log_path):
  """The ComponentError of an exception out of LocalDagRunner.

  Bad data and a non-finite loss are the user's to act on, so their whole
  message is the line; a training stopped by a signal says where it stopped
  and that a rerun resumes. Anything else shows its innermost cause.
  """
  from components import non_finite  # pylint: disable=g-import-not-at-top
  from components import resume  # pylint: disable=g-import-not-at-top
  from heads import non_finite_loss  # pylint: disable=g-import-not-at-top
  cause = _innermost(error)
  if isinstance(cause, resume.TrainingStopped):
    return ComponentError('{} (full log: {})'.format(str(cause).rstrip('.'), log_path),
                          status=130)
  if isinstance(cause, (non_finite.NonFiniteDataError, non_finite_loss.NonFiniteLossError)):
    message = str(cause).rstrip('.')
  else:
    message = _one_line(error)
  return ComponentError('{} failed: {} (full log: {})'.format(
      component or 'the pipeline', message, log_path))


def _log_failure(log_handler, message, component):
  """Writes the exception being handled, traceback included, to the run's log file only.

  Through the root logger it would reach the console handler too.
  """
  log_handler.handle(logging.getLogger(__name__).makeRecord(
      __name__, logging.ERROR, __file__, 0, message, (component or 'the pipeline',),
      sys.exc_info()))


@contextlib.contextmanager
def _exclusive(output_dir):
  """Holds a lock on the output dir: a second run there fails instead of corrupting the first."""
  import fcntl  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, '.heads-pipeline.lock'), 'w') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise CliError('another heads-pipeline run is using {}; wait for it or choose another '
                     '--output-dir'.format(output_dir)) from None
    yield


def _cancel_stale(layout, name, out):
  """Marks executions a killed run left RUNNING as CANCELED, and says so."""
  from pipelines import results  # pylint: disable=g-import-not-at-top
  cancelled = results.cancel_stale_executions(layout.metadata_path, name, layout.pipeline_root)
  if cancelled:
    out.write('Marked {} execution(s) an interrupted run left RUNNING as CANCELED: {}\n'.format(
        len(cancelled), ', '.join('{} ({})'.format(node, execution)
                                  for node, execution in cancelled)))


def _quiet_environment(verbose):
  """Before TensorFlow is imported: no C++ log lines or Python warnings, unless verbose.

  Set in the environment, so Beam's worker processes inherit it.
  """
  if not verbose:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    warnings.simplefilter('ignore')


def _quiet_logs(verbose):
  """Progress lines only, unless verbose: TFX, Beam and TF log a lot at INFO/WARNING."""
  level = logging.INFO if verbose else logging.ERROR
  root = logging.getLogger()
  if not root.handlers:
    root.addHandler(logging.StreamHandler())
  for handler in root.handlers:
    handler.setLevel(level)
    if not verbose:
      handler.addFilter(_not_failed_execution)
  logging.getLogger('tensorflow').setLevel(level)


def _not_failed_execution(record):
  """Drops TFX's 'Execution N failed.': the error that failed it gets its own line."""
  return record.msg != 'Execution %d failed.'


class _Progress(logging.Handler):
  """Turns LocalDagRunner's log lines into '[3/8] Trainer ... done in 41s' lines."""

  _RUNNING = re.compile(r'^Component (\S+) is running\.$')
  _FINISHED = re.compile(r'^Component (\S+) is finished\.$')
  _CACHED = re.compile(r'^A cached execution \d+ is used\.$')

  def __init__(self, total, out):
    super().__init__(logging.INFO)
    self.total = total
    self.out = out
    self.count = 0
    self.started = None
    self.cached = False
    self.running = None

  def emit(self, record):
    message = record.getMessage()
    running = self._RUNNING.match(message)
    if running:
      self.count += 1
      self.started = time.time()
      self.cached = False
      self.running = running.group(1)
      self.out.write('[{}/{}] {} ...\n'.format(self.count, self.total, running.group(1)))
      self.out.flush()
    elif self._CACHED.match(message):
      self.cached = True
    else:
      finished = self._FINISHED.match(message)
      if finished:
        how = 'cached' if self.cached else 'done in {:.0f}s'.format(time.time() - self.started)
        self.out.write('[{}/{}] {} {}\n'.format(self.count, self.total, finished.group(1), how))
        self.out.flush()
        self.running = None


def packaged_configs():
  """{name: path} of the heads configs shipped in the package (pipelines/configs/*.yaml)."""
  directory = resources.files('pipelines').joinpath('configs')
  return {os.path.splitext(entry.name)[0]: str(entry) for entry in directory.iterdir()
          if entry.name.endswith(('.yaml', '.yml'))}


def resolve_config(value):
  """The config file `value` names: a path, else a packaged config ('penguins', 'penguins.yaml')."""
  if os.path.isfile(value):
    return value
  packaged = packaged_configs()
  name = os.path.splitext(value)[0] if os.path.basename(value) == value else None
  if name in packaged and value in (name, os.path.basename(packaged[name])):
    return packaged[name]
  raise CliError('--config: no such file: {} (configs shipped with tf-heads: {})'.format(
      value, ', '.join(sorted(packaged))))


def _load_config(path, threshold_problems=None):
  """(mapping, HeadsConfig) of --config; CliError lists every problem found.

  Thresholds are checked against each head's metric names too (that needs
  TensorFlow to build the heads, so it is imported only when the config sets
  thresholds). Their problems go to the `threshold_problems` list when one is
  given.
  """
  path = resolve_config(path)
  try:
    data = config_lib.read_config_data(path)
    config = config_lib.parse_config(data)
  except config_lib.ConfigError as error:
    raise CliError(problems=_problems(error)) from None
  if any(config.evaluation.thresholds.values()):
    from components.evaluation import thresholds  # pylint: disable=g-import-not-at-top
    try:
      thresholds.check(config)
    except config_lib.ConfigError as error:
      if threshold_problems is None:
        raise CliError(problems=_problems(error)) from None
      threshold_problems.extend(_problems(error))
  return data, config


def _problems(config_error):
  return [csv_data.Problem(where, message) for where, message in config_error.problems]


def _row_limit(args):
  if getattr(args, 'all', False):
    return None
  return args.sample or csv_data.DEFAULT_SAMPLE


def _check_data(config, data_dir, args, err):
  """Runs `check` on the data; raises CliError on errors, prints warnings; returns the report."""
  from pipelines import check  # pylint: disable=g-import-not-at-top
  report = check.check_data(config, data_dir, _row_limit(args))
  if report.errors:
    raise CliError(problems=report.problems)
  for problem in report.problems:
    err.write('{}: {}\n'.format(problem.severity, problem))
  return report


def _beam_args(args, beam_args):
  from pipelines import penguin  # pylint: disable=g-import-not-at-top
  return list(beam_args) if beam_args else penguin.direct_runner_args(args.workers)


def _check_positive(args):
  for name in ('train_steps', 'eval_steps', 'rows', 'sample'):
    value = getattr(args, name, None)
    if value is not None and value < 1:
      raise CliError('--{}: must be >= 1, got {}'.format(name.replace('_', '-'), value))
  if getattr(args, 'workers', 0) < 0:
    raise CliError('--workers: must be >= 0, got {}'.format(args.workers))


def _print_summary(result, config, layout, out):
  """Per-head metrics, blessing, report and pushed model of a finished run."""
  from components import eval_config  # pylint: disable=g-import-not-at-top
  from components import report  # pylint: disable=g-import-not-at-top
  from pipelines import results  # pylint: disable=g-import-not-at-top

  evaluation = result.node('Evaluator').uri('evaluation')
  metrics = results.head_metrics(evaluation, [head.name for head in config.heads])
  out.write('\nPer-head metrics (eval split, all examples):\n')
  for head in config.heads:
    names = _summary_metric_names(head, config, eval_config.head_metric_names(head))
    values = '  '.join('{} {}'.format(name, results.format_value(metrics[head.name].get(name)))
                       for name in names)
    out.write('  {:<14} {:<12} {}\n'.format(head.name, head.type, values))
  read = report.Evaluation(evaluation)
  new_heads, removed_heads = read.head_changes()
  for name in new_heads:
    out.write('  {:<14} new head: no baseline (its change thresholds were skipped)\n'.format(name))
  for name in removed_heads:
    out.write('  {:<14} removed head: in the baseline only\n'.format(name))
  failed = ['{} {}'.format(head.name, failure) for head in config.heads
            for failure in read.failures(head.name).values()]
  blessing = {True: 'BLESSED',
              False: 'NOT BLESSED: ' + ('; '.join(failed) or 'a threshold failed'),
              None: 'none (the Evaluator wrote no blessing)'}[result.blessed]
  html = report.write_report(evaluation, config, layout.report_dir)
  out.write('\n')
  for label, value in (('Blessing', blessing), ('Evaluation', evaluation), ('Report', html),
                       ('Trained model', result.node('Trainer').uri('model')),
                       ('Pushed model', result.pushed_model or
                        'not pushed (the model was not blessed)')):
    out.write('{:<15}{}\n'.format(label + ':', value))


_SUMMARY_METRICS = ('accuracy', 'auc', 'precision', 'recall', 'average_loss',
                    'mean_absolute_error', 'example_count', 'missing_label_count')


def _summary_metric_names(head, config, names):
  gated = {item.metric for item in config.evaluation.thresholds.get(head.name, [])}
  return [name for name in names if name in _SUMMARY_METRICS or name in gated]


def run_command(args, beam_args, out, err=None):
  """`run`: checks config and data, runs the pipeline with LocalDagRunner, prints the summary."""
  err = err or sys.stderr
  config_data, config = _load_config(args.config)
  report = None
  if args.data_dir:
    if not os.path.isdir(args.data_dir):
      raise CliError('--data-dir: no such directory: {}'.format(args.data_dir))
    report = _check_data(config, args.data_dir, args, err)  # before TFX is even imported
  from pipelines import penguin  # pylint: disable=g-import-not-at-top
  name = args.pipeline_name or _default_name(args.data_dir, penguin.PIPELINE_NAME)
  layout = penguin.LocalLayout(args.output_dir or os.path.join('.runs', name))
  lock = contextlib.nullcontext() if args.dry_run else _exclusive(layout.output_dir)
  with lock:
    return _run_locked(args, beam_args, out, err, config_data, config, report, name, layout)


def _run_locked(args, beam_args, out, err, config_data, config, report, name, layout):
  """`run` once the data is checked, holding the output dir's lock (unless a dry run)."""
  from pipelines import penguin  # pylint: disable=g-import-not-at-top
  if args.dry_run:
    data_root = os.path.abspath(args.data_dir) if args.data_dir else layout.data_root
  elif report is not None:
    data_root = os.path.abspath(csv_data.stage(report.scan, layout.data_root))
  else:
    from pipelines import data  # pylint: disable=g-import-not-at-top
    data.write_penguins_csv(layout.data_root, rows=args.rows)
    _check_data(config, layout.data_root, args, err)
    data_root = layout.data_root
  _quiet_logs(args.verbose)
  from pipelines import results  # pylint: disable=g-import-not-at-top
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.local import local_dag_runner  # pylint: disable=g-import-not-at-top

  if not args.dry_run:
    _cancel_stale(layout, name, out)
  pipeline = penguin.create_pipeline(
      config_data, data_root=data_root, pipeline_root=layout.pipeline_root,
      serving_dir=layout.serving_dir, pipeline_name=name, metadata_path=layout.metadata_path,
      beam_pipeline_args=_beam_args(args, beam_args), train_steps=args.train_steps,
      eval_steps=args.eval_steps, enable_cache=not args.no_cache)
  if args.dry_run:
    _print_plan(args, pipeline, config, data_root, layout, out)
    return None

  out.write('Running {} ({} components) in {}\n'.format(name, len(pipeline.components),
                                                         layout.output_dir))
  progress = _Progress(len(pipeline.components), out)
  absl_logging.set_verbosity(absl_logging.INFO)  # the absl flag: TF restores it, not the level
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(progress)
  root_level = logging.getLogger().level
  log_path, log_handler = _log_file(layout.output_dir)
  started = time.time()
  try:
    with collector.existing_objects_frozen():
      local_dag_runner.LocalDagRunner().run(pipeline)
  except KeyboardInterrupt:
    _log_failure(log_handler, '%s interrupted', progress.running)
    _cancel_stale(layout, name, out)
    if args.verbose:
      raise
    raise ComponentError('{} interrupted; {} (full log: {})'.format(
        progress.running or 'the pipeline', INTERRUPTED, log_path), status=130) from None
  except Exception as error:  # pylint: disable=broad-except
    _log_failure(log_handler, '%s failed', progress.running)
    if args.verbose:
      raise
    raise _component_error(error, progress.running, log_path) from error
  finally:
    absl_logger.removeHandler(progress)
    logging.getLogger().removeHandler(log_handler)
    logging.getLogger().setLevel(root_level)
    log_handler.close()
  out.write('Finished in {:.0f}s (log: {})\n'.format(time.time() - started, log_path))
  result = results.latest_run(layout.metadata_path, name)
  _print_summary(result, config, layout, out)
  return result


def _print_plan(args, pipeline, config, data_root, layout, out):
  """--dry-run: what `run` would do. Reads the penguins data if a run would write it."""
  from pipelines import data  # pylint: disable=g-import-not-at-top
  if not args.data_dir:
    rows = data.penguins_csv_text(rows=args.rows).count('\n') - 1
    data_root = '{} ({} palmerpenguins rows, written by a real run)'.format(data_root, rows)
  heads = ', '.join(head.name for head in config.heads)
  out.write('Dry run of {} ({} components): nothing was run.\n'.format(
      pipeline.pipeline_info.pipeline_name, len(pipeline.components)))
  for label, value in (('Config', '{} (heads: {})'.format(resolve_config(args.config), heads)),
                       ('Data', data_root),
                       ('Components', ' -> '.join(c.id for c in pipeline.components)),
                       ('Output', layout.output_dir)):
    out.write('{:<12}{}\n'.format(label + ':', value))


def _default_name(data_dir, penguins):
  """'<data dir name>-heads' for your own data, so runs on different data stay apart."""
  if not data_dir:
    return penguins
  base = re.sub(r'[^a-z0-9]+', '-', os.path.basename(os.path.abspath(data_dir)).lower())
  return '{}-heads'.format(base.strip('-') or 'data')


def _log_file(output_dir):
  """A file handler on the root logger that keeps every INFO+ log line of this run."""
  directory = os.path.join(output_dir, LOG_DIR)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, 'run-{}.log'.format(time.strftime('%Y%m%d-%H%M%S')))
  handler = logging.FileHandler(path)
  handler.setLevel(logging.INFO)
  handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  root = logging.getLogger()
  root.addHandler(handler)
  root.setLevel(logging.INFO)
  return path, handler


_NOT_THE_CAUSE = ('Graph execution error', 'Detected at node', 'Traceback', 'File "', '[[')


def _innermost(error):
  """The exception at the root of `error`'s chain of causes."""
  while error.__cause__ is not None or (
      error.__context__ is not None and not error.__suppress_context__):
    error = error.__cause__ or error.__context__
  return error


def _one_line(error):
  """The cause of a component failure in one line: the innermost exception's message.

  TensorFlow errors open with 'Graph execution error:' and a stack; the first
  line that is neither is the message.
  """
  error = _innermost(error)
  lines = [line.strip() for line in str(error).splitlines()
           if line.strip() and not line[0].isspace()]
  message = next((line for line in lines if not line.startswith(_NOT_THE_CAUSE)),
                 lines[0] if lines else '')
  message = '{}: {}'.format(type(error).__name__, message) if message else type(error).__name__
  return message if len(message) <= 300 else message[:297] + '...'


def check_command(args, out, err):
  """`check`: every config and data problem at once; status 2 when there are errors."""
  from pipelines import check  # pylint: disable=g-import-not-at-top
  threshold_problems = []
  _, config = _load_config(args.config, threshold_problems)
  report = check.check_data(config, args.data_dir, _row_limit(args))
  out.write(report.summary() + '\n')
  problems = threshold_problems + report.problems
  if threshold_problems or report.errors:
    raise CliError(problems=problems)
  for problem in problems:
    err.write('{}: {}\n'.format(problem.severity, problem))
  return report


def init_command(args, out, err):
  """`init`: writes a starter config inferred from the CSV files."""
  from pipelines import starter  # pylint: disable=g-import-not-at-top
  if os.path.exists(args.output) and not args.force:
    raise CliError('--output: {} exists; pass --force to overwrite it'.format(args.output))
  try:
    text, config, report = starter.starter_config(
        args.data_dir, args.label, _row_limit(args), config_name=args.output)
  except starter.InitError as error:
    raise CliError(str(error)) from None
  for problem in report.problems:
    err.write('{}: {}\n'.format(problem.severity, problem))
  with open(args.output, 'w') as f:
    f.write(text)
  out.write('Wrote {} ({} head{}, {} feature{}) from {} rows of {}.\n'.format(
      args.output, len(config.heads), '' if len(config.heads) == 1 else 's',
      len(config.model.features), '' if len(config.model.features) == 1 else 's',
      report.scan.rows, args.data_dir))
  out.write('Next:\n  heads-pipeline check --config {0} --data-dir {1}\n'
            '  heads-pipeline run --config {0} --data-dir {1}\n'.format(args.output,
                                                                        args.data_dir))
  return text


def schema_command(args, out):
  """`schema`: the JSON Schema of config files."""
  text = config_lib.json_schema_text()
  if args.output:
    with open(args.output, 'w') as f:
      f.write(text)
    out.write('Wrote {}\n'.format(args.output))
  else:
    out.write(text)
  return text


def compile_command(args, beam_args, out):
  """`compile`: writes the KFP v2 spec of the pipeline with KubeflowV2DagRunner."""
  config_data, _ = _load_config(args.config)
  if not args.output.endswith(('.yaml', '.yml', '.json')):
    raise CliError('--output: must end in .yaml, .yml or .json, got {}'.format(args.output))
  _quiet_logs(False)
  from pipelines import kubeflow  # pylint: disable=g-import-not-at-top
  from pipelines import penguin  # pylint: disable=g-import-not-at-top

  name = args.pipeline_name or penguin.PIPELINE_NAME
  root = args.pipeline_root.rstrip('/')
  pipeline = penguin.create_pipeline(
      config_data, data_root=args.data_root, pipeline_root=root,
      serving_dir=args.serving_dir or root + '/serving', pipeline_name=name,
      beam_pipeline_args=_beam_args(args, beam_args), train_steps=args.train_steps,
      eval_steps=args.eval_steps)
  output = kubeflow.compile_pipeline(pipeline, args.output, args.image)
  out.write('Wrote the Kubeflow Pipelines v2 spec of {} to {} (image {}, pipeline root {})\n'
            .format(name, output, args.image, root))
  return output


def prepare_data_command(args, out):
  from pipelines import data  # pylint: disable=g-import-not-at-top
  path = data.write_penguins_csv(args.output_dir, rows=args.rows)
  out.write('Wrote {}\n'.format(path))
  return path


def main(argv=None, out=None, err=None):
  """Entry point of `heads-pipeline` and `python -m pipelines`; returns the exit code."""
  out = out or sys.stdout
  err = err or sys.stderr
  own, beam_args = split_beam_args(list(sys.argv[1:] if argv is None else argv))
  args = build_parser().parse_args(own)
  if beam_args and args.command not in ('run', 'compile'):
    build_parser().error('{} takes no Beam arguments'.format(args.command))
  verbose = getattr(args, 'verbose', False)
  _quiet_environment(verbose)
  try:
    _check_positive(args)
    if args.command == 'run':
      run_command(args, beam_args, out, err)
    elif args.command == 'compile':
      compile_command(args, beam_args, out)
    elif args.command == 'check':
      check_command(args, out, err)
    elif args.command == 'init':
      init_command(args, out, err)
    elif args.command == 'schema':
      schema_command(args, out)
    else:
      prepare_data_command(args, out)
  except (CliError, config_lib.ConfigError) as error:
    if verbose:
      traceback.print_exc(file=err)
    problems = error.problems if isinstance(error, CliError) else _problems(error)
    for problem in problems:
      err.write('{}: {}\n'.format(problem.severity, problem))
    return 2
  except ComponentError as error:
    err.write('{}{}\n'.format('error: ' if error.status != 130 else '', error))
    return error.status
  except KeyboardInterrupt:
    if verbose:
      raise
    err.write('interrupted\n')
    return 130
  return 0
