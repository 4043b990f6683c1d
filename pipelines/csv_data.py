"""A directory of CSV files as CsvExampleGen will read it: files, header, rows, column types.

CsvExampleGen reads every file in its input directory, splits the header line
at commas without CSV quoting (`"a","b"` gives columns `"a"` and `"b"`),
decodes rows as UTF-8 and infers a column type from the values: INT when
every value is an int64, FLOAT when every value is a number, else BYTES
(tfx_bsl's csv_decoder). An empty field is a missing value.

`scan` reads a directory the same way, in plain Python and in seconds, and
reports what would break the pipeline later (non-CSV files, headers that
differ, non-UTF-8 bytes, rows of the wrong width, ...) as `Problem`s that
name file and line. It profiles the columns it is asked about: inferred
type, missing values, numbers, distinct values, each with the first row
where it occurs. `stage` writes a copy with a plain header when a header
is quoted or starts with a byte-order mark, so the pipeline reads the column
names `check` and `init` saw.
"""

import collections
import csv
import json
import math
import os

CSV_SUFFIX = '.csv'
DISTINCT_LIMIT = 1000
DEFAULT_SAMPLE = 100000
ERROR = 'error'
WARNING = 'warning'

UNKNOWN, INT, FLOAT, STRING = range(4)  # tfx_bsl's ColumnType order: the widest value wins
TYPE_NAMES = {UNKNOWN: None, INT: 'INT', FLOAT: 'FLOAT', STRING: 'BYTES'}
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_UTF8_BOM = b'\xef\xbb\xbf'
_UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')


class Problem(collections.namedtuple('Problem', 'where message severity')):
  """One finding: `where` is a field path or file:line; one line of output."""

  def __new__(cls, where, message, severity=ERROR):
    return super().__new__(cls, where, message, severity)

  def __str__(self):
    return '{}: {}'.format(self.where, self.message) if self.where else self.message


_NOT_INT = frozenset('.eEnNiIaAfFtTyY')


def cell_type(cell):
  """The column type CsvExampleGen infers from one cell (tfx_bsl `_InferValueType`).

  tfx_bsl parses the cell's UTF-8 bytes: int() first, then float().
  """
  if not cell:
    return UNKNOWN
  if not cell.isascii():
    return STRING  # int() and float() of bytes read ASCII only
  digits = cell.strip()
  if digits[:1] in ('+', '-'):
    digits = digits[1:]
  if digits.isdigit() or not _NOT_INT.intersection(cell):
    try:
      value = int(cell)
    except ValueError:
      pass
    else:
      return INT if _INT64[0] <= value <= _INT64[1] else STRING
  try:
    float(cell)
  except ValueError:
    return STRING
  return FLOAT


class ColumnProfile:
  """What one column holds in the rows read; every finding keeps its first file:line."""

  def __init__(self, name):
    self.name = name
    self.type = UNKNOWN
    self.count = 0
    self.empty = 0
    self.first_empty = None
    self.first_of_type = {}
    self.values = {}  # value -> [count, first where, type, number], up to DISTINCT_LIMIT
    self.overflow = False
    self.non_finite = collections.Counter()
    self.first_non_finite = {}
    self.numbers = 0
    self.total = 0.0
    self.total_squares = 0.0
    self.minimum = math.inf
    self.maximum = -math.inf

  def add(self, cells, lines, csv_file):
    """Adds a column's cells from `csv_file`, each read at the line in `lines`."""
    counts = collections.Counter(cells)
    last = len(cells) - 1
    first = dict(zip(reversed(cells), range(last, -1, -1)))  # value -> first index
    for cell, count in counts.items():
      where = (csv_file, lines[first[cell]])
      if not cell:
        self.empty += count
        if self.first_empty is None:
          self.first_empty = where
        continue
      self.count += count
      entry = self.values.get(cell)
      if entry is not None:
        entry[0] += count
        kind, number = entry[2], entry[3]
      else:
        kind = cell_type(cell)
        number = float(cell) if kind in (INT, FLOAT) else None
        if kind not in self.first_of_type:
          self.first_of_type[kind] = where
        if len(self.values) < DISTINCT_LIMIT:
          self.values[cell] = [count, where, kind, number]
        else:
          self.overflow = True
      if kind > self.type:
        self.type = kind
      if number is not None:
        self._add_number(cell, number, count, where)

  def _add_number(self, cell, number, count, where):
    if not math.isfinite(number):
      self.non_finite[cell] += count
      self.first_non_finite.setdefault(cell, where)
      return
    self.numbers += count
    self.total += number * count
    self.total_squares += number * number * count
    self.minimum = min(self.minimum, number)
    self.maximum = max(self.maximum, number)

  @property
  def type_name(self):
    """'INT', 'FLOAT', 'BYTES', or None for a column without values."""
    return TYPE_NAMES[self.type]

  @property
  def mean(self):
    return self.total / self.numbers if self.numbers else 0.0

  @property
  def variance(self):
    if not self.numbers:
      return 0.0
    return max(0.0, self.total_squares / self.numbers - self.mean ** 2)

  def text_values(self):
    """[(value, count, first where)] of the cells that are not numbers."""
    return [(value, entry[0], entry[1]) for value, entry in self.values.items()
            if entry[2] == STRING]

  def distinct(self):
    """[(value, count, first where)] in order of first appearance."""
    return [(value, entry[0], entry[1]) for value, entry in self.values.items()]


class CsvFile:
  """One .csv file: its column names, as the pipeline will read them, and header facts."""

  def __init__(self, path, display):
    self.path = path
    self.display = display
    self.columns = []
    self.header_bytes = b''
    self.needs_plain_header = False
    self.rows = 0

  def where(self, line):
    return '{}:{}'.format(self.display, line)


class Scan:
  """The result of `scan`: files, columns, profiles, rows read and problems."""

  def __init__(self, data_dir):
    self.data_dir = data_dir
    self.files = []
    self.columns = []
    self.profiles = {}
    self.rows = 0
    self.truncated = False
    self.problems = []

  def error(self, where, message):
    self.problems.append(Problem(where, message, ERROR))

  def warn(self, where, message):
    self.problems.append(Problem(where, message, WARNING))

  @property
  def errors(self):
    return [p for p in self.problems if p.severity == ERROR]

  @property
  def needs_staging(self):
    return any(f.needs_plain_header for f in self.files)


def scan(data_dir, columns=None, limit=DEFAULT_SAMPLE):
  """Scans the CSV files of `data_dir`: headers, then rows (up to `limit` in all, None: all).

  Profiles `columns` (None: every column). The rows are spread over the
  files: each file gives up to limit / files rows.
  """
  result = Scan(data_dir)
  _find_files(result)
  if not result.files:
    return result
  for csv_file in result.files:
    _read_header(result, csv_file)
  headed = [f for f in result.files if f.columns]
  if not headed:
    return result
  result.columns = headed[0].columns
  for csv_file in headed[1:]:
    _compare_headers(result, headed[0], csv_file)
  wanted = result.columns if columns is None else [c for c in columns if c in result.columns]
  result.profiles = {name: ColumnProfile(name) for name in wanted}
  per_file = None if limit is None else max(1, limit // len(headed))
  for csv_file in headed:
    if csv_file.columns == result.columns:
      _read_rows(result, csv_file, per_file)
  empty = [f for f in headed if not f.rows and f.columns == result.columns]
  if result.rows == 0:
    result.error(headed[0].where(1), 'no data rows: the file{} hold{} only a header'.format(
        's' if len(headed) > 1 else '', '' if len(headed) > 1 else 's'))
  else:
    for csv_file in empty:
      result.warn(csv_file.where(1), 'header only, no data rows')
  return result


def _find_files(result):
  data_dir = result.data_dir
  if not os.path.isdir(data_dir):
    result.error(data_dir, 'no such directory')
    return
  for name in sorted(os.listdir(data_dir)):
    path = os.path.join(data_dir, name)
    display = os.path.join(data_dir, name)
    if os.path.isdir(path):
      result.warn(display, 'a directory; ignored (the pipeline reads the .csv files directly '
                           'in {})'.format(data_dir))
    elif not name.endswith(CSV_SUFFIX):
      hint = ' (rename it to end in .csv to read it)' if name.lower().endswith('.csv') else ''
      result.warn(display, 'not a .csv file; ignored{}'.format(hint))
    else:
      result.files.append(CsvFile(path, display))
  if not result.files:
    result.error(data_dir, 'no .csv files')


def _read_header(result, csv_file):
  with open(csv_file.path, 'rb') as f:
    raw = f.readline()
  where = csv_file.where(1)
  if not raw.strip():
    result.error(where, 'empty file: a CSV file needs a header line with the column names')
    return
  if raw.startswith(_UTF16_BOMS):
    result.error(where, 'the file is UTF-16; save it as UTF-8 (CSV UTF-8 in spreadsheets; '
                        'iconv -f utf-16 -t utf-8)')
    return
  plain = raw[len(_UTF8_BOM):] if raw.startswith(_UTF8_BOM) else raw
  try:
    line = plain.decode('utf-8').rstrip('\r\n')
  except UnicodeDecodeError as error:
    result.error(where, _not_utf8(plain, error))
    return
  names = next(csv.reader([line]))
  if len(names) == 1:
    for separator, label in ((';', 'semicolons'), ('\t', 'tabs')):
      if separator in line:
        result.error(where, 'the columns are separated by {}; the pipeline reads comma-'
                            'separated files: save as CSV with commas (pandas: '
                            'df.to_csv(path, index=False))'.format(label))
        return
  for name in names:
    if ',' in name:
      result.error(where, 'column name {!r} holds a comma, which CsvExampleGen cannot read in a '
                          'header: rename the column'.format(name))
      return
  duplicates = sorted({name for name in names if names.count(name) > 1})
  if duplicates:
    result.error(where, 'duplicate column names {}: rename them'.format(duplicates))
    return
  csv_file.columns = names
  csv_file.header_bytes = raw
  csv_file.needs_plain_header = raw.startswith(_UTF8_BOM) or line.strip().split(',') != names


def _compare_headers(result, first, other):
  if other.columns == first.columns:
    return
  missing = [c for c in first.columns if c not in other.columns]
  extra = [c for c in other.columns if c not in first.columns]
  if missing or extra:
    detail = '; '.join(part for part in (
        'missing {}'.format(missing) if missing else '',
        'extra {}'.format(extra) if extra else '') if part)
  else:
    detail = 'same columns in another order'
  result.error(other.where(1), 'header differs from {} ({}); every file needs the same '
                              'header'.format(first.display, detail))


def _not_utf8(raw, error):
  byte = raw[error.start:error.start + 1]
  return ('byte 0x{} at column {} is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 '
          '-t utf-8 FILE > NEW)'.format(byte.hex(), error.start + 1))


def _records(csv_file, bad_lines):
  """(first line number, text) of each record after the header, as CsvExampleGen groups them.

  Lines are joined until their double quotes balance (a quoted field may
  span lines); undecodable lines are recorded in `bad_lines` and replaced.
  """
  buffer, quotes, first = [], 0, None
  with open(csv_file.path, 'rb') as f:
    f.readline()
    for number, raw in enumerate(f, start=2):
      try:
        line = raw.decode('utf-8')
      except UnicodeDecodeError as error:
        bad_lines.append((number, _not_utf8(raw, error)))
        line = raw.decode('utf-8', errors='replace')
      if not buffer:
        first = number
      buffer.append(line)
      quotes += line.count('"')
      if quotes % 2 == 0:
        yield first, ''.join(buffer)
        buffer, quotes = [], 0
  if buffer:
    yield first, None


class _OneRecord:
  """Feeds one record at a time to a single csv.reader (as tfx_bsl's _CSVRecordReader)."""

  def __init__(self):
    self.record = None
    self.reader = csv.reader(self)

  def __iter__(self):
    return self

  def __next__(self):
    return self.record

  def cells(self, record):
    self.record = record
    return next(self.reader)


_CHUNK = 20000


def _read_rows(result, csv_file, limit):
  bad_lines = []
  parser = _OneRecord()
  width = len(csv_file.columns)
  positions = [(csv_file.columns.index(name), profile)
               for name, profile in result.profiles.items()]
  wrong_width = []
  rows, lines = [], []
  for line, record in _records(csv_file, bad_lines):
    if record is None:
      result.error(csv_file.where(line), 'a quoted field is never closed (unbalanced double '
                                         'quotes from here to the end of the file)')
      break
    try:
      cells = parser.cells(record)
    except csv.Error as error:
      result.error(csv_file.where(line), 'cannot parse: {}'.format(error))
      break
    if not cells:
      continue  # CsvExampleGen skips blank lines
    if limit is not None and csv_file.rows >= limit:
      result.truncated = True
      break
    if len(cells) != width:
      wrong_width.append((line, len(cells)))
      continue
    csv_file.rows += 1
    rows.append(cells)
    lines.append(line)
    if len(rows) == _CHUNK:
      _profile(rows, lines, positions, csv_file)
      rows, lines = [], []
  _profile(rows, lines, positions, csv_file)
  result.rows += csv_file.rows
  if bad_lines:
    number, message = bad_lines[0]
    result.error(csv_file.where(number), '{} ({} line{})'.format(
        message, len(bad_lines), 's' if len(bad_lines) > 1 else ''))
  if wrong_width:
    line, cells = wrong_width[0]
    result.error(csv_file.where(line), '{} fields where the header has {} ({} row{}); '
                 'quote fields that hold commas'.format(
                     cells, width, len(wrong_width), 's' if len(wrong_width) > 1 else ''))


def _profile(rows, lines, positions, csv_file):
  if not rows:
    return
  columns = list(zip(*rows))
  for index, profile in positions:
    profile.add(columns[index], lines, csv_file)


def where_text(where):
  """'file:line' of a (CsvFile, line) pair kept by a profile."""
  csv_file, line = where
  return csv_file.where(line)


# ----------------------------------------------------------------------------
# A copy with plain headers, for CsvExampleGen.

_MANIFEST = '.staged.json'


def stage(result, staging_dir):
  """The directory the pipeline should read: `data_dir`, or a copy with plain headers.

  CsvExampleGen splits the header at commas and keeps quotes and a byte-order
  mark in the column names. When some header needs it, every .csv file is
  copied to `staging_dir` with the header written plainly and the rows
  unchanged. A copy whose source has not changed (size and mtime, recorded
  in a manifest) is kept, so ExampleGen's cache stays valid.
  """
  if not result.needs_staging:
    return result.data_dir
  os.makedirs(staging_dir, exist_ok=True)
  manifest_path = os.path.join(staging_dir, _MANIFEST)
  manifest = {}
  if os.path.exists(manifest_path):
    with open(manifest_path) as f:
      manifest = json.load(f)
  wanted = {}
  for csv_file in result.files:
    name = os.path.basename(csv_file.path)
    info = os.stat(csv_file.path)
    wanted[name] = [info.st_size, info.st_mtime_ns]
    target = os.path.join(staging_dir, name)
    if manifest.get(name) == wanted[name] and os.path.exists(target):
      continue
    _copy_with_plain_header(csv_file, target)
  for name in os.listdir(staging_dir):
    if name != _MANIFEST and name not in wanted:
      os.remove(os.path.join(staging_dir, name))
  with open(manifest_path, 'w') as f:
    json.dump(wanted, f, indent=1, sort_keys=True)
  return staging_dir


def _copy_with_plain_header(csv_file, target):
  ending = b'\r\n' if csv_file.header_bytes.endswith(b'\r\n') else b'\n'
  header = ','.join(csv_file.columns).encode('utf-8') + ending
  with open(csv_file.path, 'rb') as source, open(target + '.tmp', 'wb') as out:
    source.readline()
    out.write(header)
    while True:
      chunk = source.read(1 << 20)
      if not chunk:
        break
      out.write(chunk)
  os.replace(target + '.tmp', target)
