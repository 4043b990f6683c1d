"""Which data columns a heads config reads, in which role, and which column types it accepts.

A column's type is what CsvExampleGen and SchemaGen infer: INT, FLOAT or
BYTES. The model takes float32, int64 or string; numbers convert where no
information is lost: an INT column feeds a float32 input or label (counts,
integer measurements) and a string one (integer categories, labels looked up
in a vocabulary). The Trainer's schema check and `heads-pipeline check` both
read this table. No TensorFlow here.
"""

import collections

INT = 'INT'
FLOAT = 'FLOAT'
BYTES = 'BYTES'

ACCEPTS = {'float32': (FLOAT, INT), 'int64': (INT,), 'string': (BYTES, INT)}

FEATURE = 'feature'
LABEL = 'label'
WEIGHT = 'weight'

Column = collections.namedtuple('Column', 'name field role entry dtype')
Column.__doc__ = """One configured column: `field` is its config path, `entry` the
HeadConfig or FeatureConfig, `dtype` what the model takes ('float32', 'int64',
'string')."""


def label_dtype(head):
  if head.label_is_float:
    return 'float32'
  return 'string' if head.label_is_string or head.label_separator else 'int64'


def configured_columns(config):
  """Every column the config reads: features, then each head's label and weight column."""
  columns = []
  for i, feature in enumerate(config.model.features):
    columns.append(Column(feature.name, 'model.features[{}]'.format(i), FEATURE, feature,
                          feature.dtype))
  for i, head in enumerate(config.heads):
    columns.append(Column(head.label, 'heads[{}].label'.format(i), LABEL, head,
                          label_dtype(head)))
    if head.weight_column:
      columns.append(Column(head.weight_column, 'heads[{}].weight_column'.format(i), WEIGHT,
                            head, 'float32'))
  return columns


def accepts(column, column_type):
  """Whether a column of `column_type` ('INT', 'FLOAT', 'BYTES') can feed `column`."""
  return column_type in ACCEPTS[column.dtype]


def type_mismatch(column, column_type):
  """Why a `column_type` column cannot feed `column`, or None when it can."""
  if accepts(column, column_type):
    return None
  what = {FLOAT: 'numbers with decimals', INT: 'integers', BYTES: 'text'}[column_type]
  if column.role == FEATURE and column.entry.kind == 'numeric':
    fix = ('a numeric feature reads numbers: make it categorical_vocabulary / '
           'categorical_hash, or fix the values' if column_type == BYTES else
           'dtype int64 reads integers only: drop dtype to read numbers as float32')
  elif column.role == FEATURE:
    fix = ('a categorical feature reads text or integers: make it numeric'
           if column_type == FLOAT else 'dtype int64 reads integers only: drop dtype')
  elif column.role == WEIGHT:
    fix = 'a weight column holds numbers'
  elif column.entry.label_is_float:
    fix = 'a {} head reads numbers'.format(column.entry.type)
  elif column_type == FLOAT:
    fix = 'a {} head reads class names or integer class ids'.format(column.entry.type)
  else:
    fix = ('without label_vocabulary a {} head reads integer class ids: list the values '
           'in label_vocabulary'.format(column.entry.type))
  return 'column {!r} holds {} ({}); {}'.format(column.name, what, column_type, fix)
