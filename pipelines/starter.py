"""`heads-pipeline init`: a commented starter heads config inferred from CSV files.

Features are the columns that are not labels: numbers become numeric
features (with `non_finite: impute`, said in a comment, when some cells are
NaN or inf); text becomes a categorical feature with a vocabulary (up to
VOCABULARY_LIMIT values) or hashed. A head per label, its type given as
COLUMN:TYPE or inferred: numbers -> regression, two values -> binary, up to
CLASS_LIMIT text values -> multi_class, cells like 'a|b' -> multi_label.
Labels with gaps (or NaN / inf numbers) get `missing_label: mask`. When a regression label's
squared error is off the scale of the other heads' losses (variance outside
[0.5, 2]), training balances the losses with `loss_balancing: normalize`
rather than a hand-set weight (benchmarks/loss_balancing.py measured it as
good as weight 1 / variance). Training defaults follow the row count. Each
head gets two blessing gates: its average_loss must beat predicting a
constant (the label's mean or class shares in the data), and
its main metric must be no worse than the last blessed model's; commented
examples use the head's real metric names.

The text is validated and checked against the data (`check.check_data`)
before it is written, so `run` can take it as it is.
"""

import math
import re

import yaml

from components import config as config_lib
from pipelines import check as check_lib
from pipelines import csv_data

VOCABULARY_LIMIT = 50
CLASS_LIMIT = 100
LIST_SEPARATORS = ('|', ';')
EPOCHS = 20
COMMENT_COLUMN = 34

# The "no worse than the last blessed model" gate of each head type, on the metric most
# users watch first: (metric, direction, tolerance kind, tolerance, what it allows).
_CHANGE_GATES = {
    'binary': ('auc', 'higher_is_better', 'absolute', -0.01, 'at most 0.01 below'),
    'multi_class': ('accuracy', 'higher_is_better', 'absolute', -0.01, 'at most 0.01 below'),
    'multi_label': ('auc', 'higher_is_better', 'absolute', -0.01, 'at most 0.01 below'),
    'regression': ('mean_absolute_error', 'lower_is_better', 'relative', 0.05,
                   'at most 5% above'),
    'poisson_regression': ('mean_absolute_error', 'lower_is_better', 'relative', 0.05,
                           'at most 5% above'),
    'logistic_regression': ('mean_absolute_error', 'lower_is_better', 'relative', 0.05,
                            'at most 5% above'),
}


class InitError(ValueError):
  """The data cannot give a starter config; the message says why and what to pass."""


def parse_label(spec):
  """'COLUMN' or 'COLUMN:TYPE' -> (column, type or None)."""
  column, _, head_type = spec.rpartition(':')
  if column and head_type in config_lib.HEAD_TYPES:
    return column, head_type
  if column and head_type and ':' not in head_type and head_type.isidentifier() and (
      head_type.islower()):
    raise InitError('--label {}: unknown head type {!r}; one of {}'.format(
        spec, head_type, list(config_lib.HEAD_TYPES)))
  return spec, None


def _yaml(value):
  """`value` as a YAML flow scalar or list ('no' and '1.5' stay strings)."""
  text = yaml.safe_dump(value, default_flow_style=True, width=float('inf'),
                        allow_unicode=True).strip()
  return text[:-4].strip() if text.endswith('\n...') else text


def _head_name(column, taken):
  name = re.sub(r'[^A-Za-z0-9_.-]', '_', column).strip('_') or 'label'
  unique, n = name, 2
  while unique in taken:
    unique, n = '{}_{}'.format(name, n), n + 1
  taken.add(unique)
  return unique


def _significant(value, digits=2):
  return float('{:.{}g}'.format(value, digits))


def _numeric_with_text(profile):
  """[(value, count, where)] of text cells when the other cells are numbers."""
  text = profile.text_values()
  numbers = profile.count - sum(count for _, count, _ in text)
  return text if text and numbers >= sum(count for _, count, _ in text) else []


def _separator(profile):
  """The list separator of cells like 'a|b', if the column looks like lists of classes."""
  values = [value for value, _, _ in profile.distinct()]
  for separator in LIST_SEPARATORS:
    if any(separator in value for value in values):
      parts = {part for value in values for part in value.split(separator) if part}
      if len(parts) <= CLASS_LIMIT:
        return separator
  return None


class _Head:
  """One head entry being written: fields (in order) and a comment per field."""

  def __init__(self, column, head_type, profile, taken, why):
    self.column = column
    self.profile = profile
    self.fields = [('name', _head_name(column, taken)), ('type', head_type),
                   ('label', column)]
    self.comments = {'type': why}
    self.label_variance = None  # set when the squared error is off the others' scale

  @property
  def name(self):
    return self.fields[0][1]

  @property
  def type(self):
    return self.fields[1][1]

  def set(self, key, value, comment=None):
    self.fields.append((key, value))
    if comment:
      self.comments[key] = comment

  def as_dict(self):
    return dict(self.fields)


def _infer_head(column, head_type, profile, taken):
  """The head of one label column (head_type None: inferred from the values)."""
  if profile.type_name is None:
    raise InitError('--label {}: column {!r} has no values'.format(column, column))
  text = _numeric_with_text(profile) if profile.type_name == 'BYTES' else []
  if text:
    value, count, where = text[0]
    raise InitError('{}: --label {}: column {!r} holds numbers and text ({!r} in {} rows); '
                    'write a missing value as an empty field'.format(
                        csv_data.where_text(where), column, column, value, count))
  distinct = profile.distinct()
  separator = _separator(profile) if profile.type_name == 'BYTES' else None
  why = 'given'
  if head_type is None:
    if profile.type_name == 'BYTES' and separator:
      head_type, why = 'multi_label', "inferred: cells list classes, e.g. {!r}".format(
          next(v for v, _, _ in distinct if separator in v))
    elif len(distinct) == 2 and not profile.overflow and profile.type_name != 'FLOAT':
      head_type, why = 'binary', 'inferred: two values'
    elif profile.type_name == 'BYTES':
      if profile.overflow or len(distinct) > CLASS_LIMIT:
        raise InitError('--label {}: column {!r} holds {}{} text values, too many for a class '
                        'head; give the type as {}:TYPE'.format(
                            column, column, len(distinct), '+' if profile.overflow else '',
                            column))
      head_type, why = 'multi_class', 'inferred: {} values'.format(len(distinct))
    else:
      head_type, why = 'regression', 'inferred: numbers ({})'.format(profile.type_name)
  head = _Head(column, head_type, profile, taken, why)
  if head_type in config_lib.CLASS_HEADS:
    _class_fields(head, profile, separator)
  non_finite = sum(profile.non_finite.values()) if head_type in config_lib.FLOAT_LABEL_HEADS else 0
  if (profile.empty or non_finite) and head_type != 'multi_label':
    head.set('missing_label', 'mask', '{} of {} rows have no {}{}'.format(
        profile.empty + non_finite, profile.empty + profile.count, column,
        ' (empty, NaN or inf)' if non_finite else ''))
  if head_type == 'regression' and profile.variance > 0 and not (
      0.5 <= 1.0 / profile.variance <= 2):
    head.label_variance = profile.variance
  return head


def _class_fields(head, profile, separator):
  values = [value for value, _, _ in profile.distinct()]
  if head.type == 'multi_label':
    separator = separator or LIST_SEPARATORS[0]
    values = {part for value in values for part in value.split(separator) if part}
    head.set('label_vocabulary', sorted(values))
    head.set('label_separator', separator)
    return
  if profile.type_name == 'INT':
    ids = sorted(int(value) for value in values)
    if ids == list(range(len(ids))):
      if head.type == 'multi_class':
        head.set('n_classes', len(ids), 'labels are class ids 0..{}'.format(len(ids) - 1))
      return
    head.set('label_vocabulary', [str(i) for i in ids])
    return
  head.set('label_vocabulary', sorted(values))


def _feature(column, profile, notes):
  """A feature entry (a name or a mapping) and its comment, or None with a note why not."""
  if column == '':
    notes.append('an unnamed column (row numbers?)')
    return None
  if profile.type_name is None:
    notes.append('{} (no values)'.format(_yaml(column)))
    return None
  distinct = profile.distinct()
  if len(distinct) == 1 and not profile.overflow and not profile.non_finite:
    notes.append('{} (one value: {})'.format(_yaml(column), _yaml(distinct[0][0])))
    return None
  if profile.type_name in ('INT', 'FLOAT'):
    if not profile.numbers:
      notes.append('{} (only non-finite numbers such as {!r})'.format(
          _yaml(column), next(iter(profile.non_finite))))
      return None
    comment = 'numeric ({}), {:.4g} .. {:.4g}'.format(
        profile.type_name, profile.minimum, profile.maximum)
    if not profile.non_finite:
      return column, comment
    value = profile.non_finite.most_common(1)[0][0]
    comment += '; NaN or inf in {} rows (e.g. {!r} at {}) are imputed like missing values'.format(
        sum(profile.non_finite.values()), value,
        csv_data.where_text(profile.first_non_finite[value]))
    return {'name': column, 'non_finite': 'impute'}, comment
  comment = ''
  text = _numeric_with_text(profile)
  if text:
    value, count, where = text[0]
    comment = 'text because of {!r} ({} rows, first {}): write it as an empty field to ' \
              'make this numeric'.format(value, count, csv_data.where_text(where))
  if not profile.overflow and len(distinct) <= VOCABULARY_LIMIT:
    entry = {'name': column, 'kind': 'categorical_vocabulary',
             'vocabulary': sorted(value for value, _, _ in distinct)}
    return entry, comment or '{} values'.format(len(distinct))
  if all(count == 1 for _, count, _ in distinct) and profile.count >= 20:
    notes.append('{} (every value differs: an id?)'.format(_yaml(column)))
    return None
  buckets = min(4096, 2 ** math.ceil(math.log2(max(16, 2 * len(distinct)))))
  entry = {'name': column, 'kind': 'categorical_hash', 'hash_buckets': buckets,
           'embedding_dim': 8}
  return entry, comment or '{}{} values'.format(len(distinct), '+' if profile.overflow else '')


def _training(rows, truncated):
  train_rows = max(1, rows * 2 // 3)  # CsvExampleGen's default split: 2/3 train, 1/3 eval
  eval_rows = max(1, rows - train_rows)
  batch_size = 32 if rows < 20000 else 128
  steps = max(100, min(20000, EPOCHS * train_rows // batch_size))
  steps = int(_significant(steps, 2))
  rows_text = '{}{}'.format('at least ' if truncated else '~', train_rows)
  return [
      ('train_steps', steps, '~{} epochs of {} training rows'.format(
          round(steps * batch_size / train_rows), rows_text)),
      ('eval_steps', max(1, min(100, math.ceil(eval_rows / batch_size))),
       'the eval split (~1/3 of the rows)'),
      ('batch_size', batch_size, None),
      ('optimizer', 'adam', None),
      ('learning_rate', 0.01, None),
      ('seed', 0, None),
  ]


class _Writer:
  """YAML lines with aligned trailing comments."""

  def __init__(self):
    self.lines = []

  def line(self, indent, text, comment=None):
    text = ' ' * indent + text
    if comment:
      text = '{:<{}} # {}'.format(text, COMMENT_COLUMN - 1, comment)
    self.lines.append(text)

  def comment(self, indent, text):
    self.lines.append(' ' * indent + '# ' + text)

  def text(self):
    return '\n'.join(self.lines) + '\n'


def _loss_balancing(out, heads):
  """`loss_balancing: normalize` when a regression loss is off the others' scale."""
  if len(heads) < 2:
    return
  off_scale = [head for head in heads if head.label_variance]
  if not off_scale:
    out.line(2, '# loss_balancing: normalize', "when one head's loss drowns the others")
    return
  out.line(2, 'loss_balancing: normalize', 'each loss over its running average: no hand-set')
  out.comment(COMMENT_COLUMN, 'weight for {}'.format(', '.join(
      '{} (variance {:.3g})'.format(head.column, head.label_variance) for head in off_scale)))


def _metric_names(head_dict, features):
  """The head's metric names (what thresholds may use), from the Evaluator's own list."""
  from components.evaluation import metric_set  # pylint: disable=g-import-not-at-top
  config = config_lib.parse_config({'heads': [head_dict], 'model': {'features': features}})
  return metric_set.metric_names(config.heads[0])


def _entropy(shares):
  return -sum(p * math.log(p) for p in shares if p > 0)


def _class_shares(head):
  """Share of the labelled rows holding each class (for multi_label: each part)."""
  profile = head.profile
  separator = dict(head.fields).get('label_separator')
  counts = {}
  for value, count, _ in profile.distinct():
    for part in set(value.split(separator)) if separator else [value]:
      if part:
        counts[part] = counts.get(part, 0) + count
  rows = profile.count + (profile.empty if separator else 0)
  return {value: count / rows for value, count in counts.items()}


def constant_loss(head):
  """The head's average_loss when it predicts the same for every row: the label's mean
  (regression heads) or the class shares (class heads), as seen in the data."""
  profile = head.profile
  mean = profile.mean
  if head.type == 'regression':
    return profile.variance
  if head.type == 'poisson_regression':
    return _poisson_constant_loss(profile)
  if head.type == 'logistic_regression':
    return _entropy([mean, 1 - mean])
  shares = _class_shares(head)
  if head.type == 'multi_label':
    return sum(_entropy([p, 1 - p]) for p in shares.values()) / max(1, len(shares))
  if head.type == 'binary' and len(shares) == 1:
    return 0.0
  return _entropy(shares.values())


def _poisson_constant_loss(profile):
  """Mean log-Poisson loss, with the Stirling term as the head computes it, at rate = mean."""
  mean = profile.mean
  if mean <= 0 or profile.overflow:
    return None
  total = 0.0
  for value, count, _ in profile.distinct():
    y = float(value)
    stirling = y * math.log(y) - y + 0.5 * math.log(2 * math.pi * y) if y > 1 else 0.0
    total += count * (mean - y * math.log(mean) + stirling)
  return total / profile.count


def _bound_gate(head):
  """(threshold line, comment): average_loss must beat predicting a constant."""
  loss = constant_loss(head)
  if loss is None or loss <= 0:
    return None
  bound = float('{:.3g}'.format(loss * 1.0005))
  return ('{{metric: average_loss, upper_bound: {}}}'.format(_yaml(bound)),
          'beats predicting {} for every row (~{:.3g})'.format(
              'the mean' if head.type in config_lib.FLOAT_LABEL_HEADS else 'the class shares',
              loss))


def _gate_examples(head):
  """Commented examples with values from the data."""
  profile = head.profile
  if head.type == 'binary':
    return ['{metric: auc, lower_bound: 0.7}']
  if head.type == 'multi_class':
    top = max(_class_shares(head).values())
    return ['{{metric: accuracy, lower_bound: {:.2f}}}   # the most common class is {:.0%} of '
            'the rows'.format(min(0.99, top + 0.05), top)]
  if head.type == 'multi_label':
    return ['{metric: auc_precision_recall, lower_bound: 0.5}']
  std = math.sqrt(profile.variance)
  return ['{{metric: mean_absolute_error, upper_bound: {:.4g}}}   # below the label\'s '
          'standard deviation'.format(std)]


def starter_config(data_dir, labels, limit=csv_data.DEFAULT_SAMPLE, config_name='config.yaml'):
  """(YAML text, HeadsConfig, check Report) of a starter config for the CSVs in `data_dir`.

  `labels` are 'COLUMN' or 'COLUMN:TYPE' strings.
  """
  parsed = [parse_label(spec) for spec in labels]
  if not parsed:
    raise InitError('--label: give at least one label column')
  scan = csv_data.scan(data_dir, limit=limit)
  errors = scan.errors
  if errors:
    raise InitError(str(errors[0]))
  taken = set()
  heads = []
  for column, head_type in parsed:
    if column not in scan.columns:
      raise InitError(str(check_lib._missing_column(  # pylint: disable=protected-access
          '--label', column, scan.columns)))
    if column in [h.column for h in heads]:
      raise InitError('--label {}: given twice'.format(column))
    heads.append(_infer_head(column, head_type, scan.profiles[column], taken))
  notes = []
  features = []
  for column in scan.columns:
    if column not in [h.column for h in heads]:
      feature = _feature(column, scan.profiles[column], notes)
      if feature:
        features.append(feature)
  if not features:
    raise InitError('{}: no column is left to be a feature (labels: {})'.format(
        data_dir, [h.column for h in heads]))
  text = _write(data_dir, scan, heads, features, notes, config_name)
  config = config_lib.load_config(text)
  report = check_lib.check_data(config, data_dir, limit)
  if report.errors:
    raise InitError('the starter config does not pass check: {}'.format(report.errors[0]))
  return text, config, report


def _write(data_dir, scan, heads, features, notes, config_name):
  out = _Writer()
  out.comment(0, 'yaml-language-server: $schema={}'.format(config_lib.schema_path()))
  out.comment(0, 'Heads config written by `heads-pipeline init` from {} ({}{} rows, {} file{}).'
              .format(data_dir, scan.rows, '+' if scan.truncated else '', len(scan.files),
                      '' if len(scan.files) == 1 else 's'))
  out.comment(0, 'Check: heads-pipeline check --config {} --data-dir {}'.format(
      config_name, data_dir))
  out.comment(0, 'Run:   heads-pipeline run --config {} --data-dir {}'.format(
      config_name, data_dir))
  out.line(0, 'heads:')
  for head in heads:
    first = True
    for key, value in head.fields:
      out.line(2, '{}{}: {}'.format('- ' if first else '  ', key, _yaml(value)),
               head.comments.get(key))
      first = False
  out.line(0, 'model:')
  out.line(2, 'features:')
  for entry, comment in features:
    if isinstance(entry, str):
      out.line(4, '- {}'.format(_yaml(entry)), comment)
      continue
    first = True
    for key, value in entry.items():
      out.line(4, '{}{}: {}'.format('- ' if first else '  ', key, _yaml(value)),
               comment if first else None)
      first = False
  if notes:
    out.comment(2, 'not used: {}'.format('; '.join(notes)))
  out.line(2, 'hidden_units: {}'.format(_yaml([64, 32] if len(features) > 10 else [32, 16])))
  out.line(2, 'dropout: 0.0')
  out.line(0, 'training:')
  for key, value, comment in _training(scan.rows, scan.truncated):
    out.line(2, '{}: {}'.format(key, _yaml(value)), comment)
  _loss_balancing(out, heads)
  out.line(0, 'evaluation:')
  out.comment(2, 'Blessing gates per head; the Pusher pushes blessed models only. Bounds')
  out.comment(2, 'always apply; change gates apply once there is a blessed model.')
  out.line(2, 'thresholds:')
  feature_entries = [entry for entry, _ in features]
  for head in heads:
    metric, direction, kind, amount, what = _CHANGE_GATES[head.type]
    out.line(4, '{}:'.format(_yaml(head.name)))
    names = _metric_names(head.as_dict(), feature_entries)
    out.comment(6, 'metrics: {}'.format(', '.join(names)))
    bound = _bound_gate(head)
    if bound:
      out.line(6, '- ' + bound[0], bound[1])
    out.line(6, '- metric: {}'.format(metric), 'no worse than the last blessed model:')
    out.line(6, '  change: {{direction: {}, {}: {}}}'.format(direction, kind, amount),
             '{} it'.format(what))
    for example in _gate_examples(head):
      out.comment(6, '- ' + example)
  out.line(2, 'slicing: [[]]', 'add [column] lists for metrics per value of a column')
  return out.text()
