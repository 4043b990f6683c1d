"""Which data columns must hold finite numbers, and the error when some do not.

The policy, from the heads config:
- a float numeric feature: NaN or inf is an error (`non_finite: error`, the
  default), or is imputed like a missing value (`non_finite: impute`);
- a float label (regression heads): NaN or inf is an error, unless the head
  has `missing_label: mask`, which leaves it out of that head's loss and
  metrics like a missing label;
- an example weight (`weight_column`): must be finite and >= 0.

A missing value (an empty CSV field, an absent feature) is not a non-finite
value: features impute it, labels follow `missing_label`, weights default to 1.

The Trainer counts the bad rows of its splits before training
(`count_bad_rows` on TFXIO batches); a data check reading CSV files can test
each parsed number with `Rule.is_bad`. Both report with `errors` / `check`.
"""

import dataclasses
import math
from typing import Optional

import numpy as np

FEATURE = 'feature'
LABEL = 'label'
WEIGHT = 'weight'
_FLOAT_FEATURE_DTYPE = 'float32'


class NonFiniteDataError(ValueError):
  """Data holds NaN, inf or negative weights where the config does not allow them."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """One column whose present values must be finite (and >= 0 for weights)."""

  column: str
  field: str
  kind: str
  head: Optional[str] = None

  def is_bad(self, value):
    """Whether one present value breaks the rule."""
    value = float(value)
    return not math.isfinite(value) or (self.kind == WEIGHT and value < 0)

  def bad_values(self, values):
    """Boolean mask of the values of a numpy array that break the rule."""
    values = np.asarray(values, np.float64)
    bad = ~np.isfinite(values)
    if self.kind == WEIGHT:
      bad |= values < 0
    return bad

  def message(self, rows, where):
    """One line: the config field, the column, how many rows, and what to do."""
    plural = 'row' if rows == 1 else 'rows'
    if self.kind == FEATURE:
      return ('{} (column {!r}): {} {} of {} hold NaN or inf; set non_finite: impute on this '
              'feature to treat them as missing values, or fix the data'.format(
                  self.field, self.column, rows, plural, where))
    if self.kind == LABEL:
      return ('{} (column {!r}, head {!r}): {} {} of {} hold a NaN or inf label; set '
              'missing_label: mask on the head to leave them out of its loss and metrics, '
              'or fix the data'.format(self.field, self.column, self.head, rows, plural, where))
    return ('{} (column {!r}, head {!r}): {} {} of {} hold a negative, NaN or inf example '
            'weight; weights must be finite and >= 0'.format(
                self.field, self.column, self.head, rows, plural, where))


def rules(config):
  """The Rules of a HeadsConfig: features with non_finite: error, unmasked float labels, weights."""
  found = []
  for i, feature in enumerate(config.model.features):
    if (feature.kind == 'numeric' and feature.dtype == _FLOAT_FEATURE_DTYPE
        and feature.non_finite == 'error'):
      found.append(Rule(feature.name, 'model.features[{}]'.format(i), FEATURE))
  for i, head in enumerate(config.heads):
    if head.label_is_float and head.missing_label != 'mask':
      found.append(Rule(head.label, 'heads[{}].label'.format(i), LABEL, head.name))
    if head.weight_column:
      found.append(Rule(head.weight_column, 'heads[{}].weight_column'.format(i), WEIGHT,
                        head.name))
  unique = {}
  for rule in found:
    unique.setdefault(rule.column, rule)
  return list(unique.values())


def _bad_rows(rule, column):
  """Row indices of one batch column (SparseTensor, RaggedTensor or dense) with a bad value."""
  if hasattr(column, 'indices') and hasattr(column, 'dense_shape'):
    rows = np.asarray(column.indices)[:, 0]
    return np.unique(rows[rule.bad_values(column.values)])
  if hasattr(column, 'value_rowids'):
    rows = np.asarray(column.value_rowids())
    return np.unique(rows[rule.bad_values(column.flat_values)])
  values = np.asarray(column)
  bad = rule.bad_values(values).reshape(values.shape[0], -1)
  return np.flatnonzero(bad.any(axis=1))


def count_bad_rows(batches, column_rules):
  """{column: number of rows with a bad value} over an iterable of {column: tensor} batches."""
  counts = {rule.column: 0 for rule in column_rules}
  for batch in batches:
    for rule in column_rules:
      counts[rule.column] += int(_bad_rows(rule, batch[rule.column]).size)
  return counts


def errors(column_rules, counts, where):
  """One message per rule whose column has bad rows (`where`, e.g. 'the train split')."""
  return [rule.message(counts[rule.column], where) for rule in column_rules
          if counts.get(rule.column)]


def check(column_rules, counts, where):
  """Raises NonFiniteDataError listing every column with bad rows."""
  found = errors(column_rules, counts, where)
  if found:
    raise NonFiniteDataError('; '.join(found))
