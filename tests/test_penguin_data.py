"""The cleaned penguins CSV that CsvExampleGen reads."""
import csv
import io
import os

import pytest

from pipelines import data


def rows(text):
  return list(csv.DictReader(io.StringIO(text)))


def test_all_rows_no_na_and_float_measurements():
  text = data.penguins_csv_text()
  table = rows(text)
  assert len(table) == 344
  assert 'NA' not in text.replace('\n', ',').split(',')
  for column in data.FLOAT_COLUMNS:
    present = [row[column] for row in table if row[column]]
    assert all('.' in value for value in present), column
    assert len(present) == 342, column
  assert sum(1 for row in table if not row['sex']) == 11
  assert {row['species'] for row in table} == {'Adelie', 'Chinstrap', 'Gentoo'}


def test_rows_is_a_fixed_shuffle_covering_every_species():
  first = rows(data.penguins_csv_text(rows=30))
  assert len(first) == 30
  assert first == rows(data.penguins_csv_text(rows=30))
  assert first == rows(data.penguins_csv_text())[:30]
  assert {row['species'] for row in first} == {'Adelie', 'Chinstrap', 'Gentoo'}
  with pytest.raises(ValueError, match='rows must be >= 1, got 0'):
    data.penguins_csv_text(rows=0)


def test_writing_the_same_data_again_keeps_the_file_for_the_cache(tmp_path):
  path = data.write_penguins_csv(str(tmp_path), rows=10)
  os.utime(path, (1, 1))
  assert data.write_penguins_csv(str(tmp_path), rows=10) == path
  assert os.stat(path).st_mtime == 1
  data.write_penguins_csv(str(tmp_path), rows=11)
  assert os.stat(path).st_mtime != 1
  assert len(rows(open(path).read())) == 11
