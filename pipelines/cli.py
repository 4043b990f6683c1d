"""heads-pipeline: run the penguin pipeline locally, or compile it for Kubeflow Pipelines."""

import argparse
import contextlib
import logging
import os
import re
import sys
import time
import traceback
import warnings

DEFAULT_IMAGE = 'tf-heads-pipeline:0.1.0'
TARGETS = ('kubeflow',)

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
The penguin pipeline of tf-heads: CsvExampleGen -> StatisticsGen -> SchemaGen
-> ExampleValidator -> Trainer -> Evaluator -> Pusher, with the model, its heads
and the Evaluator's thresholds all taken from one heads config (YAML/JSON).
"""


def _add_common(parser):
  parser.add_argument('--config', required=True, metavar='FILE',
                      help='heads config (YAML or JSON), e.g. pipelines/configs/penguins.yaml')
  parser.add_argument('--pipeline-name', default=None, metavar='NAME',
                      help='pipeline name (default: penguin-heads)')
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
  run.add_argument('--verbose', action='store_true', help='show all TFX/Beam/TF logs')

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
  """A user error: printed without a traceback."""


INTERRUPTED = ('interrupted; rerun the same command to continue: finished components are '
               'reused from the cache, and a training resumes from its last checkpoint')


def _reported_error(error):
  """The one-line message of an error a run reports without a traceback, else None.

  Bad data, a non-finite loss and a training stopped by a signal are the
  user's to act on; anything else is a bug and keeps its traceback.
  """
  from components import non_finite  # pylint: disable=g-import-not-at-top
  from components import resume  # pylint: disable=g-import-not-at-top
  from heads import non_finite_loss  # pylint: disable=g-import-not-at-top
  if isinstance(error, (non_finite.NonFiniteDataError, non_finite_loss.NonFiniteLossError,
                        resume.TrainingStopped)):
    return str(error)
  return None


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

  def emit(self, record):
    message = record.getMessage()
    running = self._RUNNING.match(message)
    if running:
      self.count += 1
      self.started = time.time()
      self.cached = False
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


def _load_config(path):
  from components import config as config_lib  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise CliError('--config: no such file: {}'.format(path))
  try:
    data = config_lib.read_config_data(path)
    return data, config_lib.parse_config(data)
  except config_lib.ConfigError as error:
    raise CliError('{}: {}'.format(path, error)) from None


def _beam_args(args, beam_args):
  from pipelines import penguin  # pylint: disable=g-import-not-at-top
  return list(beam_args) if beam_args else penguin.direct_runner_args(args.workers)


def _check_positive(args):
  for name in ('train_steps', 'eval_steps', 'rows'):
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
  blessing = {True: 'BLESSED', False: 'NOT BLESSED (a threshold failed)',
              None: 'none (the config sets no thresholds)'}[result.blessed]
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


def run_command(args, beam_args, out):
  """`run`: prepares data, runs the pipeline with LocalDagRunner, prints the summary."""
  config_data, config = _load_config(args.config)
  _quiet_logs(args.verbose)
  from pipelines import penguin  # pylint: disable=g-import-not-at-top

  name = args.pipeline_name or penguin.PIPELINE_NAME
  layout = penguin.LocalLayout(args.output_dir or os.path.join('.runs', name))
  with _exclusive(layout.output_dir):
    return _run_locked(args, beam_args, out, config_data, config, name, layout)


def _run_locked(args, beam_args, out, config_data, config, name, layout):
  """`run` while holding the output dir's lock."""
  from components import resume  # pylint: disable=g-import-not-at-top
  from pipelines import data  # pylint: disable=g-import-not-at-top
  from pipelines import penguin  # pylint: disable=g-import-not-at-top
  from pipelines import results  # pylint: disable=g-import-not-at-top
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  _cancel_stale(layout, name, out)
  if args.data_dir:
    data_root = os.path.abspath(args.data_dir)
    if not os.path.isdir(data_root):
      raise CliError('--data-dir: no such directory: {}'.format(args.data_dir))
  else:
    data_root = layout.data_root
    data.write_penguins_csv(data_root, rows=args.rows)
  pipeline = penguin.create_pipeline(
      config_data, data_root=data_root, pipeline_root=layout.pipeline_root,
      serving_dir=layout.serving_dir, pipeline_name=name, metadata_path=layout.metadata_path,
      beam_pipeline_args=_beam_args(args, beam_args), train_steps=args.train_steps,
      eval_steps=args.eval_steps, enable_cache=not args.no_cache)

  out.write('Running {} ({} components) in {}\n'.format(name, len(pipeline.components),
                                                         layout.output_dir))
  progress = _Progress(len(pipeline.components), out)
  absl_logging.set_verbosity(absl_logging.INFO)  # the absl flag: TF restores it, not the level
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(progress)
  started = time.time()
  try:
    with resume.signals_interrupt():
      tfx.orchestration.LocalDagRunner().run(pipeline)
  except KeyboardInterrupt:
    _cancel_stale(layout, name, out)
    raise
  finally:
    absl_logger.removeHandler(progress)
  out.write('Finished in {:.0f}s\n'.format(time.time() - started))
  result = results.latest_run(layout.metadata_path, name)
  _print_summary(result, config, layout, out)
  return result


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


def main(argv=None, out=None):
  """Entry point of `heads-pipeline` and `python -m pipelines`; returns the exit code."""
  out = out or sys.stdout
  own, beam_args = split_beam_args(list(sys.argv[1:] if argv is None else argv))
  args = build_parser().parse_args(own)
  if beam_args and args.command == 'prepare-data':
    build_parser().error('prepare-data takes no Beam arguments')
  _quiet_environment(getattr(args, 'verbose', False))
  try:
    _check_positive(args)
    if args.command == 'run':
      run_command(args, beam_args, out)
    elif args.command == 'compile':
      compile_command(args, beam_args, out)
    else:
      prepare_data_command(args, out)
  except CliError as error:
    sys.stderr.write('heads-pipeline {}: error: {}\n'.format(args.command, error))
    return 2
  except KeyboardInterrupt:
    if getattr(args, 'verbose', False):
      traceback.print_exc()
    sys.stderr.write('heads-pipeline {}: {}\n'.format(args.command, INTERRUPTED))
    return 130
  except Exception as error:  # pylint: disable=broad-except
    message = _reported_error(error)
    if message is None:
      raise
    if getattr(args, 'verbose', False):
      traceback.print_exc()
    from components import resume  # pylint: disable=g-import-not-at-top
    if isinstance(error, resume.TrainingStopped):
      sys.stderr.write('heads-pipeline {}: {}\n'.format(args.command, message))
      return 130
    sys.stderr.write('heads-pipeline {}: error: {}\n'.format(args.command, message))
    return 1
  return 0
