"""The penguin pipeline, built from a heads config.

CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer
-> Evaluator (baseline: the latest blessed model) -> Pusher. The Pusher takes
the Evaluator's blessing, so only a blessed model is pushed; a config without
thresholds gets no blessing, and then every trained model is pushed. The same
pipeline object runs locally (LocalDagRunner, SQLite ML Metadata) or compiles
for Kubeflow Pipelines (see pipelines/cli.py).
"""

import os

from tfx import v1 as tfx

from components import trainer as trainer_lib

PIPELINE_NAME = 'penguin-heads'
TRAINER_RUN_FN = 'components.trainer.run_fn'
RESOLVER_ID = 'latest_blessed_model_resolver'
CSV_FILES = tfx.proto.Input(splits=[tfx.proto.Input.Split(name='single_split', pattern='*.csv')])


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
  """The pipeline as a tfx.dsl.Pipeline.

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
  example_gen = tfx.components.CsvExampleGen(input_base=data_root, input_config=CSV_FILES)
  statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs['statistics'])
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
  trainer = tfx.components.Trainer(
      run_fn=TRAINER_RUN_FN,
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'],
      train_args=tfx.proto.TrainArgs(num_steps=train_steps or config.training.train_steps),
      eval_args=tfx.proto.EvalArgs(num_steps=eval_steps or config.training.eval_steps),
      custom_config=trainer_lib.custom_config(config_data))
  model_resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id(RESOLVER_ID)
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      eval_config=eval_config_lib.build_eval_config(config))
  pusher_inputs = {}
  if eval_config_lib.has_thresholds(config):
    pusher_inputs['model_blessing'] = evaluator.outputs['blessing']
  pusher = tfx.components.Pusher(
      model=trainer.outputs['model'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)),
      **pusher_inputs)

  metadata = None
  if metadata_path is not None:
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  return tfx.dsl.Pipeline(
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
