"""Adding metric states up across batches and workers, then turning the sums into results.

`SumStates` is the Beam CombineFn of `CombinePerKey(slice key)`: its
accumulator maps model names to float64 state vectors and merges by
elementwise addition, so it is picklable, associative, commutative, safe
with empty accumulators and needs no setup(). Counts are sums of 0/1 in
float64, exact below 2**53.

`Finalise` assigns each slice's summed state to fresh metric objects of each
model's heads and asks them for `result()`, giving TFMA's per-slice
`{MetricKey: value}` (plus candidate - baseline diff keys, as TFMA writes
them) and `{PlotKey: plot proto}`.
"""

import apache_beam as beam
import tensorflow as tf
import tensorflow_model_analysis as tfma

from components.evaluation import graphs
from components.evaluation import metric_set as metric_set_lib
from components.evaluation import state as state_lib


class SumStates(beam.CombineFn):
  """{model name: state vector} accumulators, added elementwise."""

  def create_accumulator(self):
    return {}

  def add_input(self, accumulator, states):
    for name, state in states.items():
      if name in accumulator:
        accumulator[name] = accumulator[name] + state
      else:
        accumulator[name] = state.copy()
    return accumulator

  def merge_accumulators(self, accumulators):
    merged = {}
    for accumulator in accumulators:
      self.add_input(merged, accumulator)
    return merged

  def extract_output(self, accumulator):
    return accumulator


class _ModelResults:
  """A model's metric sets and state layout, to read results from a summed state.

  The results are computed in one tf.function call (without AutoGraph, which
  would convert every Keras `result()` when called eagerly).
  """

  def __init__(self, config):
    self.metric_sets = [metric_set_lib.HeadMetricSet(head) for head in config.heads]
    self.layout = state_lib.StateLayout(self.metric_sets)
    self._names = [(metric_set.config.name, name) for metric_set in self.metric_sets
                   for name in metric_set.metrics]
    self._results = tf.function(self._compute, autograph=False, input_signature=[
        tf.TensorSpec([self.layout.size], tf.float64)])
    with graphs.without_graph_optimizer():
      self._results(tf.zeros([self.layout.size], tf.float64))

  def _compute(self, state):
    # tf.function orders the assignments before the reads of each variable (program order);
    # no control_dependencies block, which would tie every assignment to every op of result().
    self.layout.assign_ops(state)
    return [value for metric_set in self.metric_sets for value in metric_set.result_tensors()]

  def results(self, state, model_name):
    with graphs.without_graph_optimizer():
      values = self._results(state)
    metrics = {}
    for (head, name), value in zip(self._names, values):
      metrics[tfma.metrics.MetricKey(name=name, model_name=model_name, output_name=head,
                                     example_weighted=True)] = float(value)
    plots = {}
    for metric_set in self.metric_sets:
      for name, proto in metric_set.plots().items():
        plots[tfma.metrics.PlotKey(name=name, model_name=model_name,
                                   output_name=metric_set.config.name,
                                   example_weighted=True)] = proto
    return metrics, plots


def add_diffs(metrics, baseline_name):
  """Adds candidate - baseline under each candidate key's diff key (TFMA's is_diff keys)."""
  diffs = {}
  for key, value in metrics.items():
    if key.model_name != baseline_name and not key.is_diff:
      baseline_key = key.make_baseline_key(baseline_name)
      if baseline_key in metrics:
        diffs[key.make_diff_key()] = value - metrics[baseline_key]
  metrics.update(diffs)
  return metrics


class Finalise(beam.DoFn):
  """(slice key, {model: summed state}) -> (slice key, {MetricKey: value}, {PlotKey: plot}).

  configs: {model name: HeadsConfig}; baseline_name: the baseline's model
  name, or None without a baseline.
  """

  def __init__(self, configs, baseline_name=None):
    super().__init__()
    self._configs = configs
    self._baseline_name = baseline_name
    self._models = None

  def setup(self):
    shared = []
    self._models = {}
    for name, config in self._configs.items():
      match = next((model for model, c in shared if c == config), None)
      if match is None:
        match = _ModelResults(config)
        shared.append((match, config))
      self._models[name] = match

  def process(self, element):
    slice_key, states = element
    metrics, plots = {}, {}
    for name in sorted(states):
      model_metrics, model_plots = self._models[name].results(states[name], name)
      metrics.update(model_metrics)
      plots.update(model_plots)
    if self._baseline_name is not None:
      add_diffs(metrics, self._baseline_name)
    yield slice_key, metrics, plots
