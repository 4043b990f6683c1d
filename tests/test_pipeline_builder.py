"""The penguin pipeline as built from a heads config (no run)."""
import json

from tfx import v1 as tfx

import penguin_support as support
from pipelines import penguin

IDS = ['CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator', 'Trainer',
       penguin.RESOLVER_ID, 'Evaluator', 'Pusher']


def build(mapping=None, **kwargs):
  return penguin.create_pipeline(mapping or support.config_data(), data_root='/data',
                                 pipeline_root='/root', serving_dir='/serving', **kwargs)


def components(pipeline):
  return {component.id: component for component in pipeline.components}


def test_components_and_their_wiring():
  pipeline = build(metadata_path='/tmp/m.sqlite')
  parts = components(pipeline)
  assert sorted(parts) == sorted(IDS)
  trainer = parts['Trainer']
  assert trainer.exec_properties['run_fn'] == penguin.TRAINER_RUN_FN
  assert json.loads(trainer.exec_properties['custom_config']) == {
      'heads_config': support.config_data()}
  assert set(trainer.inputs) >= {'examples', 'schema'}
  evaluator = parts['Evaluator']
  assert evaluator.inputs['baseline_model'] is parts[penguin.RESOLVER_ID].outputs['model']
  assert 'eval_config' in evaluator.exec_properties
  pusher = parts['Pusher']
  assert pusher.inputs['model_blessing'] is evaluator.outputs['blessing']
  assert pipeline.metadata_connection_config.sqlite.filename_uri == '/tmp/m.sqlite'
  # ExampleGen reads the .csv files of the data directory, not a NOTES.txt beside them.
  splits = json.loads(parts['CsvExampleGen'].exec_properties['input_config'])['splits']
  assert [split['pattern'] for split in splits] == ['*.csv']


def test_steps_come_from_the_config_unless_overridden():
  trainer = components(build())['Trainer']
  assert json.loads(trainer.exec_properties['train_args']) == {'num_steps': 500}
  assert json.loads(trainer.exec_properties['eval_args']) == {'num_steps': 4}
  trainer = components(build(train_steps=7, eval_steps=3))['Trainer']
  assert json.loads(trainer.exec_properties['train_args']) == {'num_steps': 7}
  assert json.loads(trainer.exec_properties['eval_args']) == {'num_steps': 3}


def test_beam_args_default_to_direct_runner_multi_processing_and_pass_through():
  assert build().beam_pipeline_args == penguin.direct_runner_args()
  args = ['--runner=FlinkRunner', '--flink_master=h:8081', '--environment_type=LOOPBACK']
  assert build(beam_pipeline_args=args).beam_pipeline_args == args


def test_without_thresholds_every_model_is_pushed():
  mapping = support.config_data(evaluation={'slicing': [[]]})
  assert 'model_blessing' not in components(build(mapping))['Pusher'].inputs


def test_the_resolver_takes_the_latest_blessed_model():
  resolver = components(build())[penguin.RESOLVER_ID]
  assert resolver.exec_properties['resolver_class'] is (
      tfx.dsl.experimental.LatestBlessedModelStrategy)
