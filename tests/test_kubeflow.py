"""`heads-pipeline compile --target kubeflow`: a KFP v2 spec with every step and the image."""
import json
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import penguin_support as support
from components import config as config_lib

IMAGE = 'registry.example.com/tf-heads-pipeline:test'
ROOT = 'gs://bucket/tf-heads/root'
NODES = ('CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator', 'Trainer',
         'Evaluator', 'Pusher')


@pytest.fixture(scope='module')
def spec(tmp_path_factory):
  """The compiled spec, parsed back into the KFP PipelineSpec proto."""
  output = tmp_path_factory.mktemp('kfp') / 'pipeline.yaml'
  command = [sys.executable, '-m', 'pipelines', 'compile', '--target', 'kubeflow',
             '--config', support.CONFIG_PATH, '--output', str(output), '--image', IMAGE,
             '--pipeline-root', ROOT, '--data-root', 'gs://bucket/data', '--',
             '--runner=DirectRunner', '--direct_running_mode=in_memory']
  done = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert str(output) in done.stdout
  with open(output) as f:
    text = f.read()
  return json_format.Parse(json.dumps(yaml.safe_load(text)), pipeline_spec_pb2.PipelineSpec())


def test_every_component_is_a_task_with_an_executor(spec):
  tasks = set(spec.root.dag.tasks)
  for node in NODES:
    assert node in tasks, node
    assert node in spec.components, node
  assert any(task.startswith('latest_blessed_model_resolver') for task in tasks)
  assert spec.pipeline_info.name == 'penguin-heads'
  assert spec.default_pipeline_root == ROOT


def test_every_container_runs_the_project_image(spec):
  executors = json_format.MessageToDict(spec.deployment_spec)['executors']
  containers = {name: e['container'] for name, e in executors.items() if 'container' in e}
  for node in NODES:
    assert containers[node + '_executor']['image'] == IMAGE, node


def test_the_evaluator_runs_the_batched_executor_from_the_image(spec):
  container = json_format.MessageToDict(spec.deployment_spec)['executors'][
      'Evaluator_executor']['container']
  path = container['args'][container['args'].index('--executor_class_path') + 1]
  assert path == 'components.evaluation.executor.Executor'
  module, name = path.rsplit('.', 1)
  assert getattr(__import__(module, fromlist=[name]), name).__name__ == name


def _constant(task, name):
  value = task.inputs.parameters[name].runtime_value.constant_value
  return value.string_value


def test_the_trainer_carries_the_config_and_beam_args_pass_through(spec):
  trainer = spec.root.dag.tasks['Trainer']
  assert _constant(trainer, 'run_fn') == 'components.trainer.run_fn'
  custom = json.loads(_constant(trainer, 'custom_config'))
  assert config_lib.parse_config(custom['heads_config']) == config_lib.load_config(
      support.CONFIG_PATH)
  evaluator = json.dumps(json_format.MessageToDict(
      spec.deployment_spec)['executors']['Evaluator_executor'])
  assert '--direct_running_mode=in_memory' in evaluator
  assert 'multi_processing' not in evaluator
