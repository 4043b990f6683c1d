"""The slices of a batch: the rows of each slice key, found column-wise.

Slicing specs are TFMA SlicingSpecs (`feature_keys`, `feature_values`) over
data columns, which need not be model inputs. Per batch, the slice columns
are parsed in one `tf.io.parse_example` call (ragged) and the rows of every
slice are found with numpy on whole columns; nothing is done per example. As
in TFMA, an example with several values of a column is in the slice of each
value, an example without a value in none, and the overall slice (no
columns) has every row. Slice keys are TFMA's: sorted (column, value)
tuples, with text values as str.

A column's type comes from the data schema when there is one, else from the
first example that has the column.
"""

import numpy as np
import tensorflow as tf

from components.evaluation.statistics import EvaluationInputError
from components.evaluation.statistics import tf_error_text

_DTYPES = {'bytes_list': tf.string, 'int64_list': tf.int64, 'float_list': tf.float32}
_SCHEMA_DTYPES = {'BYTES': tf.string, 'INT': tf.int64, 'FLOAT': tf.float32}


def _typed(text):
  """A feature_values string as TFMA compares it: int, else float, else the string."""
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


class _Spec:
  """One slicing spec: columns whose every value makes a slice, and fixed (column, value)s."""

  def __init__(self, proto):
    if proto.slice_keys_sql:
      raise ValueError('slicing spec {}: slice_keys_sql is not supported by the batched '
                       'Evaluator; use feature_keys / feature_values'.format(proto))
    self.columns = sorted(proto.feature_keys)
    self.fixed = sorted((column, _typed(value)) for column, value in proto.feature_values.items())
    self.texts = {column: value for column, value in proto.feature_values.items()}
    overlap = set(self.columns) & set(self.texts)
    if overlap:
      raise ValueError('slicing spec {}: columns {} are both feature_keys and '
                       'feature_values'.format(proto, sorted(overlap)))


class Slicer:
  """Slicing specs -> `slices(records)`: [(slice key, row indices)] of a batch."""

  def __init__(self, slicing_specs, column_types=None):
    self._specs = []
    for proto in slicing_specs:
      spec = _Spec(proto)
      if not any(vars(spec) == vars(s) for s in self._specs):
        self._specs.append(spec)
    self.columns = sorted({c for s in self._specs for c in s.columns + list(s.texts)})
    self._dtypes = {name: _SCHEMA_DTYPES[kind] for name, kind in (column_types or {}).items()
                    if name in self.columns and kind in _SCHEMA_DTYPES}

  def _dtype(self, column, records):
    if column not in self._dtypes:
      for record in records:
        feature = tf.train.Example.FromString(record).features.feature.get(column)
        kind = feature.WhichOneof('kind') if feature is not None else None
        if kind:
          self._dtypes[column] = _DTYPES[kind]
          break
    return self._dtypes.get(column)

  def _columns(self, records):
    """{column: (rows, values)}: each value of the column and the row it belongs to."""
    spec = {}
    for column in self.columns:
      dtype = self._dtype(column, records)
      if dtype is not None:
        spec[column] = tf.io.RaggedFeature(dtype, row_splits_dtype=tf.int64)
    if not spec:
      return {}
    try:
      parsed = tf.io.parse_example(records, spec)
    except tf.errors.InvalidArgumentError as error:
      raise EvaluationInputError('slice columns {}: {}'.format(
          sorted(spec), tf_error_text(error))) from None
    columns = {}
    for column, ragged in parsed.items():
      rows = np.repeat(np.arange(len(records)), ragged.row_lengths().numpy())
      columns[column] = (rows, _values(column, ragged.flat_values.numpy()))
    return columns

  def slices(self, records):
    """[(slice key, int64 rows)] of a batch of serialized tf.Examples, each key once."""
    columns = self._columns(records) if self.columns else {}
    result = {}
    for spec in self._specs:
      for key, rows in _spec_slices(spec, columns, len(records)):
        result.setdefault(key, rows)
    return list(result.items())


def _values(column, values):
  if values.dtype == object:
    try:
      return np.array([v.decode('utf-8') for v in values], dtype=object)
    except UnicodeDecodeError as error:
      raise EvaluationInputError('slice column {!r}: a value is not UTF-8 text: {}'.format(
          column, error)) from None
  return values


def _python(value):
  return value.item() if isinstance(value, np.generic) else value


def _matching_rows(column, text, columns):
  """Rows that have the value `text` (a feature_values string) in the column."""
  if column not in columns:
    return np.zeros([0], np.int64)
  rows, values = columns[column]
  typed = _typed(text)
  hit = np.array([v == typed or str(v) == text for v in values.tolist()], bool)
  return np.unique(rows[hit]) if hit.size else np.zeros([0], np.int64)


def _spec_slices(spec, columns, n_rows):
  """(slice key, rows) of one spec: the product of its columns' values, per row."""
  rows = np.arange(n_rows, dtype=np.int64)
  for column, text in sorted(spec.texts.items()):
    rows = np.intersect1d(rows, _matching_rows(column, text, columns))
  combos = np.zeros([len(rows), 0], np.int64)
  uniques = []
  for column in spec.columns:
    if column not in columns:
      return []
    value_rows, values = columns[column]
    column_uniques, codes = np.unique(values, return_inverse=True)
    uniques.append(column_uniques)
    counts = np.bincount(value_rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    repeat = counts[rows]
    offsets = np.arange(repeat.sum()) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    picked = codes[np.repeat(starts[rows], repeat) + offsets]
    rows = np.repeat(rows, repeat)
    combos = np.column_stack([np.repeat(combos, repeat, axis=0), picked])
  if not spec.columns:
    return [(tuple(spec.fixed), rows)] if len(rows) or not spec.fixed else []
  pairs = np.unique(np.column_stack([combos, rows]), axis=0)  # one row per slice once
  keys, inverse = np.unique(pairs[:, :-1], axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  order = np.argsort(inverse, kind='stable')
  bounds = np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1]
  result = []
  for key, key_rows in zip(keys, np.split(pairs[order, -1], bounds)):
    entries = [(column, _python(uniques[i][code])) for i, (column, code) in enumerate(
        zip(spec.columns, key))]
    result.append((tuple(sorted(entries + list(spec.fixed))), key_rows.astype(np.int64)))
  return result
