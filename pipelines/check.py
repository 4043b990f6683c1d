"""`heads-pipeline check`: a heads config against the CSV files it will train on.

Runs before any component, in plain Python: the files as CsvExampleGen will
read them (`csv_data.scan`), then every configured column against its rows.
Each finding is one line naming the field path, the column, the value, how
many rows hold it and the first file:line. `run` calls `check_data` first
and stops on errors.
"""

import difflib
import math
import time

from components import columns as columns_lib
from components import non_finite
from pipelines import csv_data

_EXAMPLES = 3


class Report:
  """Problems found, with what was read."""

  def __init__(self, scan, problems, seconds):
    self.scan = scan
    self.problems = problems
    self.seconds = seconds

  @property
  def errors(self):
    return [p for p in self.problems if p.severity == csv_data.ERROR]

  def summary(self):
    scan = self.scan
    sample = ' (a sample: the first rows of each file; --all reads every row)' if (
        scan.truncated) else ''
    errors, warnings = len(self.errors), len(self.problems) - len(self.errors)
    return 'checked {} row{} of {} file{} in {:.1f}s{}: {} error{}, {} warning{}'.format(
        scan.rows, _s(scan.rows), len(scan.files), _s(len(scan.files)), self.seconds, sample,
        errors, _s(errors), warnings, _s(warnings))


def _s(count):
  return '' if count == 1 else 's'


def check_data(config, data_dir, limit=csv_data.DEFAULT_SAMPLE):
  """Report of `config` (a HeadsConfig) against the CSV files in `data_dir`.

  `limit` rows are read in all (None: every row).
  """
  started = time.time()
  configured = columns_lib.configured_columns(config)
  wanted = [c.name for c in configured] + [
      key for keys in config.evaluation.slicing for key in keys]
  scan = csv_data.scan(data_dir, columns=wanted, limit=limit)
  problems = list(scan.problems)
  if scan.columns:
    for column in configured:
      if column.name not in scan.columns:
        field = column.field + ('.name' if column.role == columns_lib.FEATURE else '')
        problems.append(_missing_column(field, column.name, scan.columns))
    for i, keys in enumerate(config.evaluation.slicing):
      for key in keys:
        if key not in scan.columns:
          problems.append(_missing_column('evaluation.slicing[{}]'.format(i), key,
                                          scan.columns))
    if scan.rows:
      for column in configured:
        profile = scan.profiles.get(column.name)
        if profile is not None:
          problems += column_problems(column, profile)
  return Report(scan, problems, time.time() - started)


def _missing_column(field, name, columns):
  close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
  close += [c for c in columns if c.lower() == name.lower() and c not in close]
  hint = 'did you mean {!r}?'.format(close[0]) if close else 'columns: {}'.format(
      _listing(columns))
  return csv_data.Problem(field, 'column {!r} is not in the data ({})'.format(name, hint))


def _listing(values, limit=12):
  shown = ', '.join(repr(v) for v in values[:limit])
  return '[{}{}]'.format(shown, ', ...' if len(values) > limit else '')


def _rows(count):
  return '{} row{}'.format(count, _s(count))


def _examples(items):
  """"'a' (3 rows), 'b' (1 row)" of [(value, count, where)]."""
  shown = ', '.join('{!r} ({})'.format(value, _rows(count)) for value, count, _ in
                    items[:_EXAMPLES])
  return shown + (', ...' if len(items) > _EXAMPLES else '')


def _first(items):
  return csv_data.where_text(min(items, key=lambda item: _order(item[2]))[2])


def _order(where):
  csv_file, line = where
  return csv_file.display, line


def _problem(where, column, text, severity=csv_data.ERROR):
  if isinstance(where, tuple):
    where = csv_data.where_text(where)
  return csv_data.Problem(where, '{}: {}'.format(column.field, text), severity)


# ----------------------------------------------------------------------------
# The rules, per configured column. Each returns a list of problems.

def column_problems(column, profile):
  """Every problem of one configured column in the rows read."""
  if profile.type_name is None:
    return [csv_data.Problem(column.field, 'column {!r} has no values in the {} rows read'
                             .format(column.name, profile.empty))]
  problems = _type(column, profile)
  if problems:
    return problems
  problems += _non_finite(column, profile)
  if column.role == columns_lib.LABEL:
    problems += _label(column, profile)
  elif column.role == columns_lib.WEIGHT:
    problems += _range(column, profile, 0, None, 'weights must be >= 0')
  elif column.entry.kind == 'categorical_vocabulary':
    problems += _out_of_vocabulary(column, profile)
  return problems


def _type(column, profile):
  """The column's values can feed the configured input or label (columns.ACCEPTS)."""
  mismatch = columns_lib.type_mismatch(column, profile.type_name)
  if mismatch is None:
    return []
  if profile.type_name == 'BYTES':
    text = profile.text_values()
    numbers = profile.count - sum(count for _, count, _ in text)
    if numbers and columns_lib.accepts(column, 'FLOAT'):
      return [_problem(_first(text), column, 'column {!r} holds text where numbers are read: '
                       '{} ({} read as numbers); write a missing value as an empty '
                       'field'.format(column.name, _examples(text), _rows(numbers)))]
  if column.role == columns_lib.LABEL and not column.entry.label_is_float and (
      not profile.overflow):
    values = sorted(value for value, _, _ in profile.distinct())
    mismatch += ' {}'.format(_listing(values, 20))
  first = profile.first_of_type[max(profile.first_of_type)]
  return [_problem(first, column, mismatch)]


def _non_finite(column, profile):
  """NaN and inf cells, where the column's policy (components.non_finite) makes them errors."""
  if not profile.non_finite or non_finite.policy(column) != 'error':
    return []
  items = [(value, count, profile.first_non_finite[value])
           for value, count in profile.non_finite.most_common()]
  shown = _examples(items)
  if len(items) > 1:
    shown += ' ({} in all)'.format(_rows(sum(count for _, count, _ in items)))
  return [_problem(_first(items), column, 'column {!r} holds non-finite numbers: {}; {}'.format(
      column.name, shown, _non_finite_fix(column)))]


def _non_finite_fix(column):
  """What to do about non-finite cells in a column whose policy makes them errors."""
  floats = column.dtype == 'float32'
  if column.role == columns_lib.FEATURE and floats:
    return ('set non_finite: impute on the feature to treat them as missing values, or write '
            'a missing value as an empty field')
  if column.role == columns_lib.LABEL and floats:
    return ('set {}.missing_label: mask to leave these rows out of that head, or write a '
            'missing label as an empty field'.format(column.field.rsplit('.', 1)[0]))
  if column.role == columns_lib.WEIGHT:
    return 'weights must be finite numbers >= 0'
  return 'write a missing value as an empty field'


def _label(column, profile):
  head = column.entry
  problems = []
  if profile.empty and head.missing_label != 'mask' and head.type != 'multi_label':
    problems.append(_problem(profile.first_empty, column, 'column {!r} is empty in {} of {} '
                             'rows; set {}.missing_label: mask so rows without it train the '
                             'other heads only'.format(
                                 column.name, profile.empty, profile.empty + profile.count,
                                 column.field.rsplit('.', 1)[0])))
  if head.label_dimension > 1:
    problems.append(csv_data.Problem(column.field, 'label_dimension {} needs {} values per '
                                     'row; a CSV column holds one'.format(
                                         head.label_dimension, head.label_dimension)))
  if head.type == 'poisson_regression':
    problems += _range(column, profile, 0, None, 'a poisson_regression head reads counts >= 0')
  elif head.type == 'logistic_regression':
    problems += _range(column, profile, 0, 1, 'a logistic_regression head reads values in '
                                              '[0, 1]')
  elif head.type in ('binary', 'multi_class', 'multi_label'):
    problems += _classes(column, profile)
  return problems


def _range(column, profile, low, high, rule):
  outside = []
  for value, count, where in profile.distinct():
    number = float(value)
    if not math.isfinite(number):
      continue  # reported by _non_finite
    if (low is not None and number < low) or (high is not None and number > high):
      outside.append((value, count, where))
  if not outside:
    return []
  return [_problem(_first(outside), column, 'column {!r} holds {}; {}'.format(
      column.name, _examples(outside), rule))]


def _class_values(column, profile):
  """[(class value, count, first where)]: cells, or their parts for a label_separator."""
  separator = column.entry.label_separator
  if not separator:
    return profile.distinct()
  parts = {}
  for value, count, where in profile.distinct():
    for part in value.split(separator):
      if part:
        entry = parts.setdefault(part, [0, where])
        entry[0] += count
        if _order(where) < _order(entry[1]):
          entry[1] = where
  return [(part, count, where) for part, (count, where) in parts.items()]


def _classes(column, profile):
  head = column.entry
  values = _class_values(column, profile)
  if head.type == 'binary' and len(values) > 2:
    values.sort(key=lambda item: -item[1])
    return [_problem(_first(values[2:]), column, 'a binary head reads two values, but column '
                     '{!r} holds {}{}: {}; make the head multi_class, or fix the values'.format(
                         column.name, len(values), '+' if profile.overflow else '',
                         _examples(values)))]
  if head.label_vocabulary:
    known = set(head.label_vocabulary)
    unknown = [item for item in values if item[0] not in known]
    rule = 'not in label_vocabulary {}'.format(_listing(head.label_vocabulary, 8))
  else:
    unknown = [item for item in values if not 0 <= int(item[0]) < head.n_classes]
    rule = 'not a class id in [0, {})'.format(head.n_classes)
  if not unknown:
    return []
  return [_problem(_first(unknown), column, 'column {!r} holds {}, {}'.format(
      column.name, _examples(unknown), rule))]


def _out_of_vocabulary(column, profile):
  known = {str(value) for value in column.entry.vocabulary}
  unknown = [item for item in profile.distinct() if item[0] not in known]
  if not unknown:
    return []
  return [_problem(_first(unknown), column, 'column {!r} holds {}, not in its vocabulary: '
                   'such values share one out-of-vocabulary bucket'.format(
                       column.name, _examples(unknown)), csv_data.WARNING)]
