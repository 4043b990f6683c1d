"""The TFX executor of the batched Evaluator: runs the pipeline, then writes the blessing.

Inputs, exec properties and outputs are the TFX Evaluator's
(`EvaluatorSpec`): the Examples (split `eval` unless `example_splits`), the
candidate Model, the optional baseline Model and Schema, and the EvalConfig
(from `components.eval_config.build_eval_config`: thresholds and slices).
Each model is scored with the heads config it carries. The blessing is
written as the TFX Evaluator writes it: an empty BLESSED or NOT_BLESSED file
and the custom properties `blessed`, `current_model`, `current_model_id`,
`baseline_model` and `baseline_model_id`, only when the EvalConfig has
thresholds. Any error stops the executor before a blessing is written.

Runner: the Beam arguments are used as given, with one exception. On
DirectRunner, a split smaller than IN_PROCESS_MAX_BYTES is evaluated
in-process (`in_memory`, one worker): starting worker processes costs 20-40 s
here, more than evaluating such a split takes, and the results do not depend
on the number of workers. Larger splits on DirectRunner multi_processing
share out the cores between the worker processes
(`pipeline.threads_per_worker`). On DirectRunner the executor also skips TFX's
ephemeral TFX sdist for remote workers (local workers import the installed
packages).
"""

import os

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import config_pb2
from absl import logging
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils
from tfx.utils import json_utils
from tfx.utils import path_utils
from tfx.utils import proto_utils

from components.evaluation import pipeline as pipeline_lib
from components.evaluation import reading

IN_PROCESS_MAX_BYTES = 64 << 20
DEFAULT_SPLITS = ('eval',)


def is_direct_runner(beam_args):
  return pipeline_lib.is_direct_runner(PipelineOptions(beam_args))


def runner_args(beam_args, split_bytes, max_bytes=IN_PROCESS_MAX_BYTES):
  """The Beam args to run with: in_memory for a small split on DirectRunner, else as given.

  Without a runner, DirectRunner is named (Beam would otherwise look for Prism).
  """
  args = list(beam_args)
  if PipelineOptions(args).view_as(StandardOptions).runner is None:
    args.insert(0, '--runner=DirectRunner')
  options = PipelineOptions(args).view_as(DirectOptions)
  if (is_direct_runner(args) and split_bytes < max_bytes
      and (options.direct_running_mode != 'in_memory' or options.direct_num_workers != 1)):
    logging.info('The eval split has %.1f MiB (< %d MiB): evaluating in-process on '
                 'DirectRunner in_memory, as worker start-up would cost more.',
                 split_bytes / 2**20, max_bytes >> 20)
    args += ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  return args


def _file_patterns(examples, splits):
  patterns = []
  for split in splits:
    uris = artifact_utils.get_split_uris(examples, split)
    if not uris:
      raise ValueError('the Examples have no split {!r}'.format(split))
    patterns.extend(io_utils.all_files_pattern(uri) for uri in uris)
  return patterns


def _model_dir(artifacts):
  artifact = artifact_utils.get_single_instance(artifacts)
  return path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))


def _column_types(input_dict):
  """{column: 'BYTES' | 'INT' | 'FLOAT'} of the optional Schema input."""
  if not input_dict.get(specs.SCHEMA_KEY):
    return None
  from components import schema as schema_lib  # pylint: disable=g-import-not-at-top
  from components import trainer  # pylint: disable=g-import-not-at-top
  uri = artifact_utils.get_single_uri(input_dict[specs.SCHEMA_KEY])
  return schema_lib.schema_columns(trainer.load_schema(io_utils.get_only_uri_in_dir(uri)))


class Executor(base_beam_executor.BaseBeamExecutor):
  """Batched per-head evaluation (components/evaluation) with the TFX Evaluator's blessing."""

  def __init__(self, context=None):
    beam_args = list(getattr(context, 'beam_pipeline_args', None) or [])
    if beam_args and is_direct_runner(beam_args):
      context.beam_pipeline_args = []  # no ephemeral TFX sdist: local workers have TFX
      try:
        super().__init__(context)
      finally:
        context.beam_pipeline_args = beam_args
      self._beam_pipeline_args = beam_args
    else:
      super().__init__(context)

  def Do(self, input_dict, output_dict, exec_properties):
    if not exec_properties.get(specs.EVAL_CONFIG_KEY):
      raise ValueError('the batched Evaluator needs an eval_config (components.eval_config.'
                       'build_eval_config)')
    eval_config = config_pb2.EvalConfig()
    proto_utils.json_to_proto(exec_properties[specs.EVAL_CONFIG_KEY], eval_config)
    splits = json_utils.loads(exec_properties.get(specs.EXAMPLE_SPLITS_KEY, 'null')) or list(
        DEFAULT_SPLITS)
    has_baseline = bool(input_dict.get(specs.BASELINE_MODEL_KEY))
    model_dir = _model_dir(input_dict[specs.MODEL_KEY])
    baseline_dir = _model_dir(input_dict[specs.BASELINE_MODEL_KEY]) if has_baseline else None
    output_uri = artifact_utils.get_single_uri(output_dict[specs.EVALUATION_KEY])
    files = reading.list_files(_file_patterns(input_dict[specs.EXAMPLES_KEY], splits))
    beam_args = runner_args(self._beam_pipeline_args, reading.total_bytes(files))
    prepared = pipeline_lib.prepare_eval_config(eval_config, has_baseline)
    pipeline_lib.run(files, model_dir, output_uri, eval_config, baseline_dir=baseline_dir,
                     pipeline_options=PipelineOptions(beam_args),
                     column_types=_column_types(input_dict))
    if tfma.metrics.metric_thresholds_from_metrics_specs(prepared.metrics_specs,
                                                         eval_config=prepared):
      self._write_blessing(input_dict, output_dict, output_uri)
    else:
      logging.info('No threshold configured: no blessing written.')

  @staticmethod
  def _write_blessing(input_dict, output_dict, output_uri):
    """BLESSED / NOT_BLESSED and the blessing's custom properties, as the TFX Evaluator."""
    blessing = artifact_utils.get_single_instance(output_dict[specs.BLESSING_KEY])
    model = input_dict[specs.MODEL_KEY][0]
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                        model.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    if input_dict.get(specs.BASELINE_MODEL_KEY):
      baseline = input_dict[specs.BASELINE_MODEL_KEY][0]
      blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                          baseline.uri)
      blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
                                       baseline.id)
    blessed = tfma.load_validation_result(output_uri).validation_ok
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), '')
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY,
        constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)
    logging.info('Blessing %s written to %s.', name, blessing.uri)
