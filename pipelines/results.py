"""What a local run produced, read back from its SQLite ML Metadata.

For the latest run of a pipeline: each component's execution state (COMPLETE,
CACHED, ...) and output artifacts, the blessing, the pushed model's path and
the per-head metrics of the evaluation. Also the clean-up after a killed run:
its executions left RUNNING are marked CANCELED.
"""

import dataclasses
import glob
import math
import os
import shutil
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

_STATES = metadata_store_pb2.Execution.State


@dataclasses.dataclass
class NodeResult:
  """One component's execution in a run."""

  node_id: str
  state: str
  outputs: Dict[str, List[metadata_store_pb2.Artifact]]
  seconds: Optional[float] = None  # execution registered to last update: start-up included

  def uri(self, key):
    """URI of the (first) artifact of output `key`, or None."""
    artifacts = self.outputs.get(key) or []
    return artifacts[0].uri if artifacts else None


@dataclasses.dataclass
class RunResult:
  run_id: str
  nodes: Dict[str, NodeResult]

  def node(self, node_id):
    if node_id not in self.nodes:
      raise KeyError('component {!r} did not run in {} (ran: {})'.format(
          node_id, self.run_id, sorted(self.nodes)))
    return self.nodes[node_id]

  @property
  def blessed(self):
    """True / False from the Evaluator's blessing; None when it wrote none."""
    blessing = (self.nodes.get('Evaluator') or NodeResult('', '', {})).outputs.get('blessing')
    if not blessing or 'blessed' not in blessing[0].custom_properties:
      return None
    return blessing[0].custom_properties['blessed'].int_value == 1

  @property
  def pushed_model(self):
    """Where the Pusher put the model, or None when it pushed nothing."""
    pushed = (self.nodes.get('Pusher') or NodeResult('', '', {})).outputs.get('pushed_model')
    if not pushed:
      return None
    properties = pushed[0].custom_properties
    if properties.get('pushed') is None or properties['pushed'].int_value != 1:
      return None
    return properties['pushed_destination'].string_value


def _store(metadata_path, writable=False):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE if writable
      else metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
  return metadata_store.MetadataStore(config)


def _node_ids(store, execution_id, pipeline_name):
  prefix = pipeline_name + '.'
  node_type = store.get_context_type('node').id
  return [c.name[len(prefix):] for c in store.get_contexts_by_execution(execution_id)
          if c.type_id == node_type and c.name.startswith(prefix)]


def _holds_no_file(directory):
  return not any(files for _, _, files in os.walk(directory))


def cancel_stale_executions(metadata_path, pipeline_name, pipeline_root):
  """Marks the pipeline's executions left NEW or RUNNING by a killed run as CANCELED.

  Only for a local run that nothing else is running (the CLI holds a lock on
  the output dir): a live execution would be cancelled too. Their output
  dirs that hold no file (e.g. the empty Trainer/model/<id>/) are removed;
  TensorBoard logs of a killed training stay. Returns [(node id, execution
  id)] of the executions it cancelled.
  """
  if not os.path.exists(metadata_path):
    return []
  store = _store(metadata_path, writable=True)
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return []
  stale = [e for e in store.get_executions_by_context(pipeline.id)
           if e.last_known_state in (_STATES.NEW, _STATES.RUNNING)]
  cancelled = []
  for execution in stale:
    execution.last_known_state = _STATES.CANCELED
    store.put_executions([execution])
    for node_id in _node_ids(store, execution.id, pipeline_name) or ['']:
      cancelled.append((node_id, execution.id))
      if not node_id:
        continue
      for directory in glob.glob(os.path.join(pipeline_root, node_id, '*', str(execution.id))):
        if os.path.isdir(directory) and _holds_no_file(directory):
          shutil.rmtree(directory)
  return cancelled


def latest_run(metadata_path, pipeline_name):
  """RunResult of the latest run of `pipeline_name` recorded in `metadata_path`."""
  store = _store(metadata_path)
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    raise ValueError('no run of pipeline {!r} in {}'.format(pipeline_name, metadata_path))
  in_pipeline = {e.id for e in store.get_executions_by_context(pipeline.id)}
  runs = [run for run in store.get_contexts_by_type('pipeline_run')
          if any(e.id in in_pipeline for e in store.get_executions_by_context(run.id))]
  run = max(runs, key=lambda context: context.id)
  executions = store.get_executions_by_context(run.id)
  events = store.get_events_by_execution_ids([e.id for e in executions])
  artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
  nodes = {}
  for execution in executions:
    node_ids = _node_ids(store, execution.id, pipeline_name)
    outputs = {}
    for event in events:
      if event.execution_id == execution.id and event.type == metadata_store_pb2.Event.OUTPUT:
        key = event.path.steps[0].key if event.path.steps else ''
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    for node_id in node_ids:
      seconds = (execution.last_update_time_since_epoch
                 - execution.create_time_since_epoch) / 1000
      nodes[node_id] = NodeResult(node_id, _STATES.Name(execution.last_known_state), outputs,
                                  seconds)
  return RunResult(run.name, nodes)


def head_metrics(evaluation_uri, head_names):
  """{head: {metric: value}} of the candidate model on the overall slice."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  metrics = {name: {} for name in head_names}
  for metrics_for_slice in tfma.load_metrics(evaluation_uri):
    if metrics_for_slice.slice_key.single_slice_keys:
      continue
    for item in metrics_for_slice.metric_keys_and_values:
      key = item.key
      if (key.model_name not in ('', 'candidate') or key.is_diff or key.HasField('sub_key')
          or key.output_name not in metrics or not item.value.HasField('double_value')):
        continue
      metrics[key.output_name][key.name] = item.value.double_value.value
  return metrics


def format_value(value: Optional[float]):
  if value is None:
    return '-'
  if math.isfinite(value) and value == int(value) and abs(value) < 1e9:
    return str(int(value))
  return '{:.4g}'.format(value)
