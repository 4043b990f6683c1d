"""TFX's TFMA Evaluator (`evaluation.engine: tfma`), fitted to heads that changed since the baseline.

The stock Evaluator scores the baseline with the candidate's label keys, so a
head added since the last blessed model fails every run ("... is not among
the transformed features"). This executor hands it an EvalConfig fitted to
both models' heads (`components.evaluate.for_changed_heads`), then runs it
unchanged.
"""

from tfx.components import Evaluator
from tfx.components.evaluator import executor as tfma_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import path_utils
from tfx.utils import proto_utils

from components import evaluate


def _model_dir(artifacts):
  artifact = artifact_utils.get_single_instance(artifacts)
  return path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))


class Executor(tfma_executor.Executor):
  """The TFMA Evaluator's executor, with the EvalConfig fitted to the baseline's heads."""

  def Do(self, input_dict, output_dict, exec_properties):
    if input_dict.get(specs.BASELINE_MODEL_KEY) and exec_properties.get(specs.EVAL_CONFIG_KEY):
      import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
      eval_config = tfma.EvalConfig()
      proto_utils.json_to_proto(exec_properties[specs.EVAL_CONFIG_KEY], eval_config)
      prepared = tfma.utils.update_eval_config_with_defaults(
          eval_config, has_baseline=True, rubber_stamp=True)
      fitted = evaluate.for_changed_heads(
          prepared, _model_dir(input_dict[specs.MODEL_KEY]),
          _model_dir(input_dict[specs.BASELINE_MODEL_KEY]))
      if fitted is not prepared:
        exec_properties = dict(exec_properties)
        exec_properties[specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(fitted)
    return super().Do(input_dict, output_dict, exec_properties)


class TfmaEvaluator(Evaluator):
  """tfx.components.Evaluator, with heads added or removed since the baseline evaluated too."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
