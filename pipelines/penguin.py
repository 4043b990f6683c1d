"""The penguin pipeline, built from a heads config.

CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer
-> Evaluator (baseline: the latest blessed model) -> Pusher. The Pusher takes
the Evaluator's blessing, so only a blessed model is pushed. Every run is
gated: besides the config's thresholds, each head's eval loss must be finite
(components/eval_config.py). The same
pipeline object runs locally (LocalDagRunner, SQLite ML Metadata) or compiles
for Kubeflow Pipelines (see pipelines/cli.py).

The Evaluator is the batched per-head Evaluator (components/evaluation), or
TFX's TFMA Evaluator with `evaluation.engine: tfma`; the node id is
`Evaluator` either way.
"""

import os

# TFX's implementation modules rather than `tfx.v1`, whose import loads every Google Cloud
# extension (Vertex AI, BigQuery): 10 s of CPU more in every process that builds the pipeline.
from tfx.components import CsvExampleGen
from tfx.components import ExampleValidator
from tfx.components import Pusher
from tfx.components import SchemaGen
from tfx.components import StatisticsGen
from tfx.components import Trainer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2
from tfx.proto import pusher_pb2
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components import trainer as trainer_lib

PIPELINE_NAME = 'penguin-heads'
TRAINER_RUN_FN = 'components.trainer.run_fn'
RESOLVER_ID = 'latest_blessed_model_resolver'
EVALUATOR_ID = 'Evaluator'
CSV_FILES = example_gen_pb2.Input(
    splits=[example_gen_pb2.Input.Split(name='single_split', pattern='*.csv')])


def direct_runner_args(workers=2):
  """Beam args for DirectRunner in multi_processing mode with `workers` processes (0: one per CPU).

  The runner is explicit, so Beam never falls back to (and downloads) Prism.
  """
  if workers < 0:
    raise ValueError('workers must be >= 0, got {}'.format(workers))
  return ['--runner=DirectRunner', '--direct_running_mode=multi_processing',
          '--direct_num_workers={}'.format(workers)]


def create_pipeline(config_data, data_root, pipeline_root, serving_dir,
                    pipeline_name=PIPELINE_NAME, metadata_path=None, beam_pipeline_args=None,
                    train_steps=None, eval_steps=None, enable_cache=True):
  """The pipeline as a TFX Pipeline.

  `config_data` is the heads config mapping (as read from YAML/JSON); it is
  validated here and again by the Trainer. `data_root` holds the CSV files;
  ExampleGen reads its *.csv files and nothing else.
  `metadata_path` is the SQLite ML Metadata file for local runs (None on
  Kubeflow, which brings its own). `beam_pipeline_args` go to every Beam
  component unchanged (default: `direct_runner_args()`). `train_steps` and
  `eval_steps` override the config's training section.
  """
  from components import config as config_lib  # pylint: disable=g-import-not-at-top
  from components import eval_config as eval_config_lib  # pylint: disable=g-import-not-at-top

  config = config_lib.parse_config(config_data)
  example_gen = CsvExampleGen(input_base=data_root, input_config=CSV_FILES)
  statistics_gen = StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = SchemaGen(statistics=statistics_gen.outputs['statistics'])
  example_validator = ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
  trainer = Trainer(
      run_fn=TRAINER_RUN_FN,
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'],
      train_args=trainer_pb2.TrainArgs(num_steps=train_steps or config.training.train_steps),
      eval_args=trainer_pb2.EvalArgs(num_steps=eval_steps or config.training.eval_steps),
      custom_config=trainer_lib.custom_config(config_data))
  model_resolver = Resolver(
      strategy_class=LatestBlessedModelStrategy,
      model=Channel(type=standard_artifacts.Model),
      model_blessing=Channel(type=standard_artifacts.ModelBlessing),
  ).with_id(RESOLVER_ID)
  if config.evaluation.engine == 'batched':
    from components.evaluation import component  # pylint: disable=g-import-not-at-top
    evaluator_class = component.BatchedEvaluator
  else:
    from components import tfma_evaluator  # pylint: disable=g-import-not-at-top
    evaluator_class = tfma_evaluator.TfmaEvaluator
  evaluator = evaluator_class(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      eval_config=eval_config_lib.build_eval_config(config)).with_id(EVALUATOR_ID)
  pusher = Pusher(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)))

  metadata = None
  if metadata_path is not None:
    metadata = tfx_metadata.sqlite_metadata_connection_config(metadata_path)
  return tfx_pipeline.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[example_gen, statistics_gen, schema_gen, example_validator, trainer,
                  model_resolver, evaluator, pusher],
      enable_cache=enable_cache,
      metadata_connection_config=metadata,
      beam_pipeline_args=list(beam_pipeline_args or direct_runner_args()))


class LocalLayout:
  """Where a local run keeps everything, under one output directory."""

  def __init__(self, output_dir):
    self.output_dir = os.path.abspath(output_dir)
    self.data_root = os.path.join(self.output_dir, 'data')
    self.pipeline_root = os.path.join(self.output_dir, 'pipeline_root')
    self.metadata_path = os.path.join(self.output_dir, 'metadata.sqlite')
    self.serving_dir = os.path.join(self.output_dir, 'serving')
    self.report_dir = os.path.join(self.output_dir, 'report')
