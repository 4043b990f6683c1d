"""Heads that changed between the baseline and the candidate, and the thresholds that still apply.

A candidate may add a head the baseline (the last blessed model) lacks, drop
one, or compute a metric the baseline's head does not (say, another
`thresholds` entry). Each model is scored with its own heads, so both are
evaluated as they are; what changes is validation: a change threshold needs
the baseline's value, so it is skipped where there is none, and the metric's
value bounds (and the finite-loss gate) still apply. A removed head has no
thresholds: the candidate's config no longer names it. The model is then
blessed when the heads both models share pass their thresholds and every new
head passes its bounds.
"""

import dataclasses
import json
from typing import Dict, List

from absl import logging
from tensorflow_model_analysis.proto import config_pb2

from components.evaluation import metric_set

NEW_HEAD_NOTE = 'new head: no baseline'
REMOVED_HEAD_NOTE = 'removed head: in the baseline only'


@dataclasses.dataclass
class HeadChanges:
  """What the candidate's heads have that the baseline's lack, and the reverse."""

  new_heads: List[str]
  removed_heads: List[str]
  metrics_without_baseline: Dict[str, List[str]]  # head both have: metrics only the candidate has

  def without_baseline(self, head, metric):
    return head in self.new_heads or metric in self.metrics_without_baseline.get(head, ())


def compare(candidate_config, baseline_config):
  """HeadChanges of two HeadsConfigs (the ones the exported models carry)."""
  baseline = {head.name: head for head in baseline_config.heads}
  candidate = {head.name: head for head in candidate_config.heads}
  missing = {}
  for name, head in candidate.items():
    if name in baseline:
      only_candidate = sorted(set(metric_set.metric_names(head))
                              - set(metric_set.metric_names(baseline[name])))
      if only_candidate:
        missing[name] = only_candidate
  return HeadChanges(new_heads=[name for name in candidate if name not in baseline],
                     removed_heads=[name for name in baseline if name not in candidate],
                     metrics_without_baseline=missing)


def without_unmatched_change_thresholds(eval_config, changes):
  """A copy of the EvalConfig whose change thresholds all have a baseline value to compare with."""
  updated = config_pb2.EvalConfig()
  updated.CopyFrom(eval_config)
  for spec in updated.metrics_specs:
    for metric in spec.metrics:
      name = metric_name(metric)
      for head in spec.output_names:
        if not changes.without_baseline(head, name):
          continue
        kept = []
        for per_slice in metric.per_slice_thresholds:
          if per_slice.threshold.HasField('change_threshold'):
            logging.info('%s %s: no baseline value; its change threshold is skipped', head, name)
            per_slice.threshold.ClearField('change_threshold')
          if per_slice.threshold.HasField('value_threshold'):
            kept.append(per_slice)
        del metric.per_slice_thresholds[:]
        metric.per_slice_thresholds.extend(kept)
        if metric.threshold.HasField('change_threshold'):
          metric.threshold.ClearField('change_threshold')
  for head in changes.new_heads:
    logging.info('Head %r: %s; only its value bounds apply.', head, NEW_HEAD_NOTE)
  for head in changes.removed_heads:
    logging.info('Head %r: %s.', head, REMOVED_HEAD_NOTE)
  return updated


def metric_name(metric_config):
  """The name a MetricConfig's metric is written under."""
  config = json.loads(metric_config.config) if metric_config.config else {}
  return config.get('name', metric_config.class_name)
