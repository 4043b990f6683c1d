"""The slices of a batch: the rows of each slice key, found column-wise.

Slicing specs are TFMA SlicingSpecs (`feature_keys`, `feature_values`) over
data columns, which need not be model inputs. Per batch, the slice columns
are parsed in one `tf.io.parse_example` call (ragged), each column's values
become codes into its distinct values (text is decoded once per distinct
value), and the rows of every slice are found with numpy on whole columns;
nothing is done per example. As in TFMA, an example with several values of
a column is in the slice of each value, an example without a value in none,
and the overall slice (no columns) has every row. Slice keys are TFMA's:
sorted (column, value) tuples, with text values as str.

A column's type comes from the data schema when there is one, else from the
first example that has the column.
"""

import typing

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
    """{column: _Column} of the slice columns present in the batch."""
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
    return {column: _column(column, ragged) for column, ragged in parsed.items()}

  def slices(self, records):
    """[(slice key, int64 rows)] of a batch of serialized tf.Examples, each key once."""
    columns = self._columns(records) if self.columns else {}
    result = {}
    for spec in self._specs:
      for key, rows in _spec_slices(spec, columns, len(records)):
        result.setdefault(key, rows)
    return list(result.items())


class _Column(typing.NamedTuple):
  """A slice column's values in a batch, as codes into its distinct values."""

  rows: np.ndarray  # the row of each value, ascending
  uniques: np.ndarray  # the distinct values, sorted; text as str
  codes: np.ndarray  # each value's index in uniques


def _column(column, ragged):
  splits = ragged.row_splits.numpy()
  rows = np.repeat(np.arange(len(splits) - 1, dtype=np.int64), np.diff(splits))
  values = ragged.flat_values
  if values.dtype != tf.string:
    uniques, codes = np.unique(values.numpy(), return_inverse=True)
    return _Column(rows, uniques, codes)
  # Text is deduplicated before it is decoded and sorted: a batch has few distinct values.
  uniques, codes = tf.unique(values, out_idx=tf.int64)
  try:
    texts = np.array([value.decode('utf-8') for value in uniques.numpy()], dtype=object)
  except UnicodeDecodeError as error:
    raise EvaluationInputError('slice column {!r}: a value is not UTF-8 text: {}'.format(
        column, error)) from None
  order = np.argsort(texts, kind='stable')
  rank = np.empty_like(order)
  rank[order] = np.arange(len(order))
  return _Column(rows, texts[order], rank[codes.numpy()])


def _python(value):
  return value.item() if isinstance(value, np.generic) else value


def _matching_rows(column, text, columns):
  """Rows that have the value `text` (a feature_values string) in the column."""
  if column not in columns:
    return np.zeros([0], np.int64)
  values = columns[column]
  typed = _typed(text)
  hits = [code for code, value in enumerate(values.uniques.tolist())
          if value == typed or str(value) == text]
  return np.unique(values.rows[np.isin(values.codes, hits)])


def _combination_ids(codes, sizes, n_rows):
  """An int64 per row of `codes` (value codes, a column each): equal for equal rows, in their order.

  The ids leave room for n_rows distinct rows each, for de-duplicating (id, row) pairs.
  """
  if np.prod([float(size) for size in sizes]) * max(n_rows, 1) < 2.0**62:
    ids = np.zeros([len(codes)], np.int64)
    for index, size in enumerate(sizes):
      ids = ids * size + codes[:, index]
    return ids
  return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _spec_slices(spec, columns, n_rows):
  """(slice key, rows) of one spec: the product of its columns' values, per row."""
  rows = np.arange(n_rows, dtype=np.int64)
  for column, text in sorted(spec.texts.items()):
    rows = np.intersect1d(rows, _matching_rows(column, text, columns))
  if not spec.columns:
    return [(tuple(spec.fixed), rows)] if len(rows) or not spec.fixed else []
  if any(column not in columns for column in spec.columns):
    return []
  codes = np.zeros([len(rows), 0], np.int64)  # per (row, combination of its values)
  for column in spec.columns:
    values = columns[column]
    counts = np.bincount(values.rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    repeat = counts[rows]
    offsets = np.arange(repeat.sum()) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    picked = values.codes[np.repeat(starts[rows], repeat) + offsets]
    rows = np.repeat(rows, repeat)
    codes = np.column_stack([np.repeat(codes, repeat, axis=0), picked])
  if not len(rows):
    return []
  ids = _combination_ids(codes, [len(columns[column].uniques) for column in spec.columns],
                         n_rows)
  # Sorted by (combination, row), and an example with a value twice is in its slice once.
  _, first = np.unique(ids * n_rows + rows, return_index=True)
  ids, rows, codes = ids[first], rows[first], codes[first]
  bounds = np.flatnonzero(np.diff(ids)) + 1
  result = []
  for key_rows, key_codes in zip(np.split(rows, bounds), np.split(codes, bounds)):
    entries = [(column, _python(columns[column].uniques[code]))
               for column, code in zip(spec.columns, key_codes[0])]
    result.append((tuple(sorted(entries + list(spec.fixed))), key_rows))
  return result
