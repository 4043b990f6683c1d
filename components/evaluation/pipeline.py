"""The batched Evaluator as one Beam pipeline, from TFRecord files to TFMA's result files.

  Create(files)                 the eval split's files, spread over the workers
                                (Create reshuffles several elements)
  | ReadBatches                 the same batches of serialized tf.Examples on any
                                number of workers (reading.py)
  | BatchStates                 per batch: the slices' rows (slicing.py), then every
                                model's metric state per slice (statistics.py); models
                                load once per worker process (shared.Shared), and
                                local worker processes share out the cores
                                (threads_per_worker)
  | CombinePerKey(SumStates)    float64 sums per slice (combine.py)
  | Finalise                    metrics, candidate - baseline diffs and plots per
                                slice (combine.py)
  | WriteResults                thresholds and TFMA's writers (writing.py)

Nothing is per example in Python, and nothing relies on running in one
process: it runs on DirectRunner (in_memory or multi_processing), Dataflow,
Flink or Spark alike.
"""

import os
import time
import typing

import apache_beam as beam
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.utils import shared
from absl import logging

from components import collector
from components import eval_config as eval_config_lib
from components import evaluate
from components.evaluation import combine
from components.evaluation import head_changes
from components.evaluation import reading
from components.evaluation import slicing
from components.evaluation import statistics
from components.evaluation import writing
from components.evaluation.statistics import EvaluationInputError

COUNTER_NAMESPACE = 'heads_evaluation'
EXAMPLES_COUNTER = 'examples'
BATCH_START = 'batch_start_ms'  # wall-clock spans of the batches, for the scoring time
BATCH_END = 'batch_end_ms'
_DIRECT_RUNNERS = ('DirectRunner', 'BundleBasedDirectRunner', 'SwitchingDirectRunner')


def is_direct_runner(options):
  """Whether the PipelineOptions run on DirectRunner (also when no runner is named)."""
  runner = options.view_as(StandardOptions).runner
  return runner is None or runner.split('.')[-1] in _DIRECT_RUNNERS


def threads_per_worker(options):
  """TensorFlow threads for each worker process, or None for TensorFlow's default (all cores).

  DirectRunner multi_processing starts its workers on this machine: each gets
  its share of the cores, as TensorFlow's pools in every worker would
  otherwise size themselves to all cores and the workers would contend for
  them (2 workers on 2 cores score 8% more rows/s with one thread each).
  Other runners place their workers themselves; in_memory runs in this process.
  """
  direct = options.view_as(DirectOptions)
  if not is_direct_runner(options) or direct.direct_running_mode != 'multi_processing':
    return None
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  workers = direct.direct_num_workers or cores  # 0: one worker per core, as Beam reads it
  return max(1, cores // workers) if workers > 1 else None


class BatchStates(beam.DoFn):
  """Batch -> (slice key, {model name: state}) for every slice with rows in the batch."""

  def __init__(self, model_dirs, slicing_specs, column_types=None, threads=None):
    super().__init__()
    self._model_dirs = dict(model_dirs)
    self._threads = threads
    self._slicing_specs = list(slicing_specs)
    self._column_types = column_types
    self._shared = shared.Shared()
    self._statistics = None
    self._slicer = None
    self._examples = beam.metrics.Metrics.counter(COUNTER_NAMESPACE, EXAMPLES_COUNTER)
    self._starts = beam.metrics.Metrics.distribution(COUNTER_NAMESPACE, BATCH_START)
    self._ends = beam.metrics.Metrics.distribution(COUNTER_NAMESPACE, BATCH_END)

  def setup(self):
    model_dirs, threads = self._model_dirs, self._threads
    self._statistics = self._shared.acquire(
        lambda: statistics.BatchStatistics(model_dirs, threads),
        tag=repr((sorted(model_dirs.items()), threads)))
    self._slicer = slicing.Slicer(self._slicing_specs, self._column_types)

  def process(self, batch):
    self._starts.update(int(time.time() * 1000))
    try:
      slices = self._slicer.slices(batch.records)
      states = self._statistics.batch_states(batch.records, [rows for _, rows in slices])
    except EvaluationInputError as error:
      raise EvaluationInputError('{} (records {} to {}): {}'.format(
          batch.file, batch.start, batch.start + len(batch.records) - 1, error)) from None
    self._examples.inc(len(batch.records))
    self._ends.update(int(time.time() * 1000))
    for index, (slice_key, _) in enumerate(slices):
      yield slice_key, {name: model_states[index] for name, model_states in states.items()}


def prepare_eval_config(eval_config, has_baseline):
  """The EvalConfig with candidate / baseline model specs, as the TFX Evaluator prepares it.

  Without a baseline, change thresholds are dropped (rubber stamp).
  """
  updated = tfma.utils.update_eval_config_with_defaults(
      eval_config, has_baseline=has_baseline, rubber_stamp=True)
  tfma.utils.verify_eval_config(updated)
  return updated


def model_names(eval_config):
  """(candidate model name, baseline model name or None) of a prepared EvalConfig."""
  candidates = [spec.name for spec in eval_config.model_specs if not spec.is_baseline]
  baselines = [spec.name for spec in eval_config.model_specs if spec.is_baseline]
  if len(candidates) != 1 or len(baselines) > 1:
    raise ValueError('the EvalConfig needs one candidate and at most one baseline model '
                     'spec, got {}'.format([s.name for s in eval_config.model_specs]))
  return candidates[0], (baselines[0] if baselines else None)


@beam.ptransform_fn
def EvaluateAndWrite(pipeline, files, model_dirs, eval_config, output_dir,  # pylint: disable=invalid-name
                     column_types=None, batch_size=reading.DEFAULT_BATCH_SIZE):
  """Evaluates the models on the files and writes TFMA's result files to output_dir.

  model_dirs: {model name: SavedModel dir}, named as the prepared EvalConfig's
  model specs (`prepare_eval_config`). column_types: optional {column:
  'BYTES' | 'INT' | 'FLOAT'} of the data schema, for slice columns.
  """
  candidate_name, baseline_name = model_names(eval_config)
  if eval_config.cross_slicing_specs:
    raise ValueError('cross_slicing_specs are not computed by the batched Evaluator; use '
                     'evaluation.engine: tfma')
  configs = {name: statistics.check_model(path) for name, path in model_dirs.items()}
  if baseline_name is not None:
    changes = head_changes.compare(configs[candidate_name], configs[baseline_name])
    eval_config = head_changes.without_unmatched_change_thresholds(eval_config, changes)
  sums = (pipeline
          | 'Files' >> beam.Create(files, reshuffle=True)
          | 'ReadBatches' >> beam.ParDo(reading.ReadBatches(batch_size))
          | 'BatchStates' >> beam.ParDo(BatchStates(
              model_dirs, eval_config.slicing_specs, column_types,
              threads_per_worker(pipeline.pipeline.options)))
          | 'SumStates' >> beam.CombinePerKey(combine.SumStates()))
  results = sums | 'Finalise' >> beam.ParDo(combine.Finalise(configs, baseline_name))
  evaluation = {
      'metrics': results | 'Metrics' >> beam.Map(
          lambda result: (result[0], result[1])).with_output_types(typing.Any),
      'plots': results | 'Plots' >> beam.Map(
          lambda result: (result[0], result[2])).with_output_types(typing.Any)}
  return evaluation | 'WriteResults' >> writing.WriteResults(  # pylint: disable=no-value-for-parameter
      eval_config=eval_config, output_dir=output_dir, rubber_stamp=baseline_name is None,
      data_location=','.join(files), model_locations=dict(model_dirs))


def model_dirs_for(eval_config, model_dir, baseline_dir=None):
  """{model name: dir} for the prepared EvalConfig's candidate and baseline."""
  candidate, baseline = model_names(eval_config)
  dirs = {candidate: model_dir}
  if baseline is not None:
    if baseline_dir is None:
      raise ValueError('the EvalConfig has a baseline model spec but no baseline model was given')
    dirs[baseline] = baseline_dir
  return dirs


class Run(typing.NamedTuple):
  """What a finished evaluation did: examples, and seconds in all and scoring batches."""

  examples: typing.Optional[int]
  seconds: float
  scoring_seconds: typing.Optional[float]


def run(file_patterns, model_dir, output_dir, eval_config, baseline_dir=None,
        pipeline_options=None, column_types=None, batch_size=reading.DEFAULT_BATCH_SIZE):
  """Runs the evaluation pipeline; returns a Run.

  `scoring_seconds` spans the first batch's start to the last batch's end on
  any worker: the time without pipeline and worker start-up.

  eval_config: the EvalConfig (not yet prepared: the candidate / baseline
  specs are added here). Fails with EvaluationInputError, naming the file,
  model, head or value, when the data or a model cannot be evaluated, and
  when the files hold no example.
  """
  eval_config = prepare_eval_config(eval_config, has_baseline=baseline_dir is not None)
  model_dirs = model_dirs_for(eval_config, model_dir, baseline_dir)
  files = reading.list_files(file_patterns)
  logging.info('Batched evaluation of %s on %d file(s), %.1f MiB: %s', model_dirs, len(files),
               reading.total_bytes(files) / 2**20, files)
  started = time.time()
  with collector.existing_objects_frozen():
    pipeline = beam.Pipeline(options=pipeline_options or evaluate.direct_runner_options())
    _ = pipeline | 'EvaluateAndWrite' >> EvaluateAndWrite(  # pylint: disable=no-value-for-parameter
        files, model_dirs, eval_config, output_dir, column_types, batch_size)
    result = pipeline.run()
    result.wait_until_finish()
  done = _run_of(result, time.time() - started)
  logging.info('Evaluated %s examples in %.1f s (%s s scoring batches); results in %s',
               done.examples, done.seconds, done.scoring_seconds, output_dir)
  if done.examples == 0:
    raise EvaluationInputError('no eval data: the files {} hold no example'.format(files))
  return done


def _run_of(result, seconds):
  """A Run from a finished pipeline's metrics (None where the runner reports none)."""
  query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(COUNTER_NAMESPACE))

  def value(metric):
    return metric.committed if metric.committed is not None else metric.attempted

  counters = [c for c in query.get('counters') or [] if c.key.metric.name == EXAMPLES_COUNTER]
  spans = {d.key.metric.name: value(d) for d in query.get('distributions') or []}
  scoring = None
  if spans.get(BATCH_START) is not None and spans.get(BATCH_END) is not None:
    scoring = (spans[BATCH_END].max - spans[BATCH_START].min) / 1000
  examples = sum(value(c) for c in counters) if counters else None
  return Run(examples, seconds, scoring)


def run_evaluation(model_dir, data_pattern, output_dir, config, baseline_dir=None,
                   pipeline_options=None, batch_size=reading.DEFAULT_BATCH_SIZE):
  """Evaluates model_dir on data_pattern with the EvalConfig of a HeadsConfig, as the Evaluator does.

  The counterpart of components.evaluate.run_evaluation (the TFMA path):
  same arguments, same output files. Returns a Run.
  """
  return run([data_pattern], model_dir, output_dir, eval_config_lib.build_eval_config(config),
             baseline_dir=baseline_dir, pipeline_options=pipeline_options, batch_size=batch_size)
