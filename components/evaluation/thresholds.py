"""The config's per-head thresholds, grouped by metric and checked, without TFMA.

A threshold names one of the head's metric names (`metric_set.metric_names`);
a metric takes at most one value bound and one change threshold, from one or
two config entries. `components.eval_config` turns the groups into TFMA's
MetricThresholds; `heads-pipeline check` and `run` call `check` before
anything else, where importing TFMA would cost more than the whole check.
"""

from components.config import ConfigError
from components.evaluation import metric_set


def _has_bound(item):
  return item.lower_bound is not None or item.upper_bound is not None


def grouped(config, head):
  """{metric name: [(threshold entry, its config path)]} of one head; ConfigError if invalid."""
  names = metric_set.metric_names(head)
  groups = {}
  for i, item in enumerate(config.evaluation.thresholds.get(head.name, [])):
    path = 'evaluation.thresholds.{}[{}].metric'.format(head.name, i)
    if item.metric not in names:
      raise ConfigError('{}: {!r} is not a metric of {} head {!r}; choose one of {}'.format(
          path, item.metric, head.type, head.name, names))
    earlier = groups.setdefault(item.metric, [])
    for has, what in ((_has_bound, 'value bound'),
                      (lambda entry: entry.change_direction is not None, 'change threshold')):
      first = next((p for e, p in earlier if has(e)), None)
      if has(item) and first is not None:
        raise ConfigError('{}: a second {} for metric {!r} (first in {})'.format(
            path, what, item.metric, first))
    earlier.append((item, path))
  return groups


def check(config):
  """Raises ConfigError for the first invalid threshold of any head."""
  for head in config.heads:
    grouped(config, head)
