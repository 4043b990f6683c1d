"""BatchedEvaluator: the TFX Evaluator component, run by the batched per-head evaluation.

Same inputs, outputs and EvalConfig as `tfx.components.Evaluator`, so the
Pusher and `LatestBlessedModelStrategy` work unchanged; only the executor
differs (components/evaluation/executor.py). It takes no module file: there
are no custom extractors or models to plug in, since every model is scored by
the heads it carries.
"""

from tfx.components import Evaluator
from tfx.dsl.components.base import executor_spec

from components.evaluation import executor


class BatchedEvaluator(Evaluator):
  """Evaluates the candidate (and the baseline) with their own heads; writes the blessing."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, examples, model, eval_config, baseline_model=None, example_splits=None,
               schema=None):
    """eval_config: the tfma.EvalConfig of `components.eval_config.build_eval_config`."""
    if eval_config is None:
      raise ValueError('BatchedEvaluator needs eval_config (components.eval_config.'
                       'build_eval_config(config))')
    super().__init__(examples=examples, model=model, baseline_model=baseline_model,
                     example_splits=example_splits, eval_config=eval_config, schema=schema)
