"""Run the TFMA path's per-head evaluation outside TFX, as TFX's TFMA Evaluator runs it.

`run_evaluation` evaluates an exported model (optionally against a baseline)
on TFRecord files of tf.Examples with the EvalConfig of the heads config, and
writes the same output the Evaluator writes (metrics, plots, validation).
`evaluation.engine: tfma` selects this path in the pipeline;
components.evaluation.pipeline.run_evaluation is the batched engine's
counterpart.
"""

import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions

from components import eval_config as eval_config_lib
from components import signatures
from components.evaluation import head_changes

CANDIDATE = 'candidate'
BASELINE = 'baseline'


def direct_runner_options(workers=1, mode=None):
  """DirectRunner options; explicit, so Beam never falls back to (and downloads) Prism.

  mode defaults to 'in_memory' for one worker and 'multi_processing' otherwise.
  """
  if workers < 1:
    raise ValueError('workers must be >= 1, got {}'.format(workers))
  mode = mode or ('in_memory' if workers == 1 else 'multi_processing')
  return PipelineOptions(['--runner=DirectRunner', '--direct_running_mode={}'.format(mode),
                          '--direct_num_workers={}'.format(workers)])


def eval_config_for(config, with_baseline=False):
  """build_eval_config(config), with candidate/baseline model specs when there is a baseline."""
  eval_config = eval_config_lib.build_eval_config(config)
  return tfma.utils.update_eval_config_with_defaults(
      eval_config, has_baseline=with_baseline, rubber_stamp=not with_baseline)


def for_changed_heads(eval_config, model_dir, baseline_dir):
  """The prepared (candidate + baseline) EvalConfig, fitted to heads that changed since the baseline.

  The baseline's ModelSpec reads labels and weights of its own heads only,
  a head the baseline lacks is computed for the candidate alone, and change
  thresholds without a baseline value are dropped (head_changes.py). Without
  changes the config is returned as it is.
  """
  candidate_config = signatures.read_heads_config(model_dir)
  baseline_config = signatures.read_heads_config(baseline_dir)
  changes = head_changes.compare(candidate_config, baseline_config)
  if not (changes.new_heads or changes.removed_heads or changes.metrics_without_baseline):
    return eval_config
  updated = head_changes.without_unmatched_change_thresholds(eval_config, changes)
  shared = {head.name for head in baseline_config.heads} - set(changes.removed_heads)
  candidate_name = None
  for spec in updated.model_specs:
    if spec.is_baseline:
      for keys in (spec.label_keys, spec.example_weight_keys):
        for head in [name for name in keys if name not in shared]:
          del keys[head]
    else:
      candidate_name = spec.name
  for spec in updated.metrics_specs:
    if set(spec.output_names) & set(changes.new_heads):
      spec.model_names[:] = [candidate_name]
  return updated


def run_evaluation(model_dir, data_pattern, output_dir, config, baseline_dir=None,
                   pipeline_options=None):
  """Evaluates model_dir on data_pattern into output_dir; returns the tfma EvalResult(s).

  Without a baseline, change thresholds are skipped (rubber stamp), as in the
  Evaluator's first run. The validation result (the blessing) is in
  `tfma.load_validation_result(output_dir)` when the config has thresholds.
  """
  with_baseline = baseline_dir is not None
  eval_config = eval_config_for(config, with_baseline)
  if with_baseline:
    eval_config = for_changed_heads(eval_config, model_dir, baseline_dir)
    shared = [tfma.default_eval_shared_model(path, model_name=name, eval_config=eval_config)
              for name, path in ((CANDIDATE, model_dir), (BASELINE, baseline_dir))]
  else:
    shared = tfma.default_eval_shared_model(model_dir, eval_config=eval_config,
                                            rubber_stamp=True)
  return tfma.run_model_analysis(
      eval_shared_model=shared, eval_config=eval_config, data_location=data_pattern,
      output_path=output_dir, pipeline_options=pipeline_options or direct_runner_options())
