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

`heads-pipeline check` (pipelines/check.py) applies `policy` to the CSV
cells before any component runs. The Trainer scans its splits again before
training (`count_bad_rows` on TFXIO batches, `errors` / `check`): data that
did not come through the CSV check, e.g. TFRecords, meets the same rules.
"""

import dataclasses
from typing import Optional

import numpy as np

from components import columns

FEATURE = columns.FEATURE
LABEL = columns.LABEL
WEIGHT = columns.WEIGHT
_FLOAT = 'float32'


class NonFiniteDataError(ValueError):
  """Data holds NaN, inf or negative weights where the config does not allow them."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """One column whose present values must be finite (and >= 0 for weights)."""

  column: str
  field: str
  kind: str
  head: Optional[str] = None

  def bad_values(self, values):
    """Boolean mask of the values of a numpy array that break the rule."""
    values = np.asarray(values, np.float64)
    bad = ~np.isfinite(values)
    if self.kind == WEIGHT:
      bad |= values < 0
    return bad

  def message(self, rows, where):
    """One line: the config field, the column, how many rows, and what to do."""
    rows = '{} row{} of {} {}'.format(rows, '' if rows == 1 else 's', where,
                                      'holds' if rows == 1 else 'hold')
    if self.kind == FEATURE:
      return ('{} (column {!r}): {} NaN or inf; set non_finite: impute on this feature to '
              'treat them as missing values, or fix the data'.format(
                  self.field, self.column, rows))
    if self.kind == LABEL:
      return ('{} (column {!r}, head {!r}): {} a NaN or inf label; set missing_label: mask on '
              'the head to leave them out of its loss and metrics, or fix the data'.format(
                  self.field, self.column, self.head, rows))
    return ('{} (column {!r}, head {!r}): {} a negative, NaN or inf example weight; weights '
            'must be finite and >= 0'.format(self.field, self.column, self.head, rows))


def policy(column):
  """What NaN and inf in a configured column (a columns.Column) are: 'error', 'impute' or 'mask'.

  'impute' for a float feature with `non_finite: impute`, 'mask' for a float
  label of a head with `missing_label: mask`, else 'error' (also for a text
  or integer column, where a cell 'nan' is most likely a missing value written
  out by a tool).
  """
  entry = column.entry
  if column.role == FEATURE and entry.kind == 'numeric' and column.dtype == _FLOAT:
    return entry.non_finite
  if column.role == LABEL and entry.label_is_float and entry.missing_label == 'mask':
    return 'mask'
  return 'error'


def rules(config):
  """The Rules of a HeadsConfig: its float columns whose policy is 'error', and weights."""
  unique = {}
  for column in columns.configured_columns(config):
    if column.dtype == _FLOAT and policy(column) == 'error':
      head = None if column.role == FEATURE else column.entry.name
      unique.setdefault(column.name, Rule(column.name, column.field, column.role, head))
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
