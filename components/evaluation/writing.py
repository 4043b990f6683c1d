"""Validation against the EvalConfig's thresholds and TFMA's writers: the Evaluator's output.

The files are the ones the TFMA Evaluator writes (`metrics-*`, `plots-*`,
`validations.tfrecord`, `eval_config.json`), written by TFMA's own writers,
with thresholds checked by TFMA's `metrics_validator`, so
`tfma.load_metrics`, `tfma.load_validation_result`, the report and the
blessing read them as they read the TFMA path's.
"""

import os

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.writers import eval_config_writer
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer


def threshold_slice_specs(eval_config):
  """The SlicingSpecs the config's thresholds apply to, or None when one applies to every slice."""
  thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
      eval_config.metrics_specs, eval_config=eval_config)
  specs = []
  for per_slice in thresholds.values():
    for spec, _ in per_slice:
      if spec is None:
        return None
      if isinstance(spec, config_pb2.SlicingSpec):
        specs.append(slicer_lib.SingleSliceSpec(spec=spec))
  return specs


class _Validate(beam.DoFn):
  """(slice key, metrics) -> ValidationResult, for the slices some threshold applies to.

  TFMA's validator on every other slice checks nothing and reports nothing,
  so they are skipped (it rebuilds the thresholds on every call).
  """

  def __init__(self, eval_config):
    super().__init__()
    self._eval_config = eval_config
    self._specs = None

  def setup(self):
    self._specs = threshold_slice_specs(self._eval_config)

  def process(self, element):
    slice_key = element[0]
    if self._specs is None or any(s.is_slice_applicable(slice_key) for s in self._specs):
      yield metrics_validator.validate_metrics(element, self._eval_config)


def output_paths(output_dir):
  return {key: os.path.join(output_dir, key) for key in (
      tfma_constants.METRICS_KEY, tfma_constants.PLOTS_KEY, tfma_constants.VALIDATIONS_KEY)}


@beam.ptransform_fn
def WriteResults(evaluation, eval_config, output_dir, rubber_stamp,  # pylint: disable=invalid-name
                 data_location, model_locations):
  """Validates the per-slice metrics and writes metrics, plots, validations and eval_config.

  evaluation: {'metrics': PCollection of (slice key, {MetricKey: value}),
  'plots': PCollection of (slice key, {PlotKey: plot proto})}. rubber_stamp:
  True without a baseline (change thresholds were dropped).
  """
  metrics = evaluation[tfma_constants.METRICS_KEY]
  evaluation = dict(evaluation)
  evaluation[tfma_constants.VALIDATIONS_KEY] = (
      metrics | 'Validate' >> beam.ParDo(_Validate(eval_config)))
  writers = [
      eval_config_writer.EvalConfigWriter(
          output_dir, eval_config=eval_config, data_location=data_location,
          data_file_format='tfrecords', model_locations=model_locations),
      metrics_plots_and_validations_writer.MetricsPlotsAndValidationsWriter(
          output_paths=output_paths(output_dir), eval_config=eval_config,
          rubber_stamp=rubber_stamp)]
  return evaluation | 'WriteResults' >> tfma.WriteResults(writers=writers)
