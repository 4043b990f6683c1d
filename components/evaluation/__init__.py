"""The batched per-head Evaluator: the heads' own metrics on batches, in TFMA's result format.

One idea per module, in the order the data flows:

  reading.py     the eval split's files as the same batches on any number of workers
  slicing.py     the rows of each slice of a batch, found on whole columns
  metric_set.py  what is computed for one head: its own metrics, the Evaluator's
                 additions and plot statistics
  thresholds.py  the config's thresholds per head and metric, checked against
                 those metric names (without TFMA, for `heads-pipeline check`)
  state.py       a model's metric state as one additive float64 vector
  statistics.py  per batch: every model's state per slice, in one graph call per model
  combine.py     summing states per slice; sums to metrics, diffs and plots
  plots.py       TFMA plot protos from metric states
  writing.py     TFMA's threshold validation and writers
  pipeline.py    the Beam pipeline of the stages above
  executor.py    the TFX executor: the pipeline, then the blessing
  component.py   BatchedEvaluator, the TFX component
"""
