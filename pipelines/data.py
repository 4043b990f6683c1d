"""The penguins CSV, cleaned for CsvExampleGen.

palmerpenguins writes 'NA' for missing values, which would make CsvExampleGen
read the numeric columns as strings. Here missing values become empty fields
and measurements are written as floats, so every measurement column is a FLOAT
feature whose missing values parse to NaN.
"""

import csv
import io
import os
import random

from importlib import resources

FILENAME = 'penguins.csv'
FLOAT_COLUMNS = ('bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g')
MISSING = 'NA'


def _source_rows():
  text = resources.files('palmerpenguins').joinpath('data', FILENAME).read_text()
  reader = csv.DictReader(io.StringIO(text))
  return reader.fieldnames, list(reader)


def _clean(row):
  cleaned = {}
  for column, value in row.items():
    if value == MISSING:
      cleaned[column] = ''
    elif column in FLOAT_COLUMNS:
      cleaned[column] = repr(float(value))
    else:
      cleaned[column] = value
  return cleaned


def penguins_csv_text(rows=None, seed=0):
  """The cleaned CSV as text: all 344 rows, or the first `rows` of a seeded shuffle."""
  columns, source = _source_rows()
  order = list(range(len(source)))
  random.Random(seed).shuffle(order)
  if rows is not None:
    if rows < 1:
      raise ValueError('rows must be >= 1, got {}'.format(rows))
    order = order[:rows]
  out = io.StringIO()
  writer = csv.DictWriter(out, fieldnames=columns, lineterminator='\n')
  writer.writeheader()
  for index in order:
    writer.writerow(_clean(source[index]))
  return out.getvalue()


def write_penguins_csv(data_dir, rows=None, seed=0):
  """Writes data_dir/penguins.csv; leaves an identical file untouched (keeps the cache valid).

  CsvExampleGen fingerprints its input by size and mtime, so rewriting the same
  bytes would make the next run recompute everything.
  """
  os.makedirs(data_dir, exist_ok=True)
  path = os.path.join(data_dir, FILENAME)
  text = penguins_csv_text(rows, seed)
  if os.path.exists(path):
    with open(path) as f:
      if f.read() == text:
        return path
  with open(path, 'w') as f:
    f.write(text)
  return path
