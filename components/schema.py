"""tf.Example parsing specs derived from the heads config (features, labels, weights).

The specs hold what the model takes (`export_spec`, `full_spec`). What the
data holds, INT, FLOAT or BYTES per column, comes from the data schema at
training time: the Trainer records it with the exported model
(`write_column_types`), and `example_parser(config, column_types)` parses
each column as stored and converts it to the model's dtype. Every reader of
tf.Examples (the Trainer, the exported signatures, any evaluator) parses
through it.
"""

import json
import os

import tensorflow as tf

from components import columns as columns_lib

_DTYPES = {'float32': tf.float32, 'int64': tf.int64, 'string': tf.string}
_COLUMN_DTYPES = {columns_lib.FLOAT: tf.float32, columns_lib.INT: tf.int64,
                  columns_lib.BYTES: tf.string}
COLUMN_TYPES_FILE = os.path.join('assets.extra', 'column_types.json')


def _label_spec(head):
  """A label with its missing-value default: NaN, '' or -1 when masked, else required."""
  dtype = _DTYPES[columns_lib.label_dtype(head)]
  if head.label_is_float:
    shape = [head.label_dimension]
  elif head.type == 'multi_label':
    shape = None
  else:
    shape = [1]
  if shape is None:
    return tf.io.VarLenFeature(dtype)
  missing = head.missing_label_value
  if missing is None:
    return tf.io.FixedLenFeature(shape, dtype)
  return tf.io.FixedLenFeature(shape, dtype, default_value=[missing] * shape[0])


def feature_spec(config):
  """Parse spec of the model's input features (what serving signatures read)."""
  spec = {}
  for feature in config.model.features:
    spec[feature.name] = tf.io.FixedLenFeature([1], _DTYPES[feature.dtype],
                                               default_value=_missing_feature(feature))
  for head in config.heads:
    if head.weight_column:
      spec[head.weight_column] = tf.io.FixedLenFeature([1], tf.float32, default_value=[1.0])
  return spec


def _missing_feature(feature):
  if feature.dtype == 'string':
    return ['']
  if feature.dtype == 'int64':
    return [0]
  return [float('nan')]


def label_spec(config):
  """Parse spec of the head labels, keyed by label feature name."""
  return {head.label: _label_spec(head) for head in config.heads}


def export_spec(config):
  """What exported signatures parse: features, weights and every label as optional.

  Serving requests carry no labels, so each label falls back to a sentinel
  (its missing-label value, else NaN / '' / -1). The TFMA `transform_features`
  signature reads the labels from the same parse; a required label that is
  absent then fails the head's label checks there.
  """
  spec = feature_spec(config)
  for head in config.heads:
    spec[head.label] = _optional_label_spec(head)
  return spec


def _optional_label_spec(head):
  spec = _label_spec(head)
  if not isinstance(spec, tf.io.FixedLenFeature) or spec.default_value is not None:
    return spec
  if spec.dtype == tf.float32:
    missing = float('nan')
  else:
    missing = '' if spec.dtype == tf.string else -1
  return tf.io.FixedLenFeature(spec.shape, spec.dtype, default_value=[missing] * spec.shape[0])


def full_spec(config):
  """Features, weights and labels: what training and evaluation read."""
  spec = feature_spec(config)
  spec.update(label_spec(config))
  return spec


def check_against_schema(config, schema_feature_names):
  """Fails before training when the config names a column the data does not have."""
  known = set(schema_feature_names)
  for column in columns_lib.configured_columns(config):
    if column.name not in known:
      field = column.field + ('.name' if column.role == columns_lib.FEATURE else '')
      raise ValueError('{}: column {!r} is not in the data schema (columns: {})'.format(
          field, column.name, sorted(known)))


# ----------------------------------------------------------------------------
# Reading real data: empty value lists, column types, the Schema artifact, TFXIO.

def tolerant_spec(spec, column_types=None):
  """`spec` with every FixedLenFeature parsed as ragged; `densify` restores the dense shape.

  CsvExampleGen turns an empty CSV field into a feature with an empty value
  list, which a FixedLenFeature rejects ('Number of values != expected') even
  when it has a default. Parsed ragged, an empty list and an absent feature
  are both a missing value. `column_types` ({column: 'INT' | 'FLOAT' |
  'BYTES'}) parses each listed column as the data stores it; `densify`
  converts it to the spec's dtype.
  """
  column_types = column_types or {}
  parsed = {}
  for name, s in spec.items():
    dtype = _COLUMN_DTYPES[column_types[name]] if name in column_types else s.dtype
    if isinstance(s, tf.io.FixedLenFeature):
      parsed[name] = tf.io.RaggedFeature(dtype, row_splits_dtype=tf.int64)
    elif isinstance(s, tf.io.VarLenFeature):
      parsed[name] = tf.io.VarLenFeature(dtype)
    else:
      parsed[name] = s
  return parsed


def _convert(value, dtype):
  """`value` (dense, ragged or sparse) as `dtype`: integers become floats or strings."""
  if value.dtype == dtype:
    return value
  if dtype == tf.string:
    convert = tf.strings.as_string
  elif value.dtype == tf.int64 and dtype == tf.float32:
    convert = lambda values: tf.cast(values, tf.float32)
  else:
    raise ValueError('cannot convert {} to {}'.format(value.dtype.name, dtype.name))
  if isinstance(value, tf.RaggedTensor):
    return value.with_flat_values(convert(value.flat_values))
  if isinstance(value, tf.SparseTensor):
    return tf.SparseTensor(value.indices, convert(value.values), value.dense_shape)
  return convert(value)


def densify(features, spec):
  """Features of `spec` in the spec's dtype, and FixedLenFeatures as dense [batch] + shape.

  Integer columns become floats or strings where the spec says so. A ragged or
  sparse row with no value gets the spec's default; without a default, and
  for a row with too many values, it fails naming the column. Dense tensors
  and columns that are not FixedLenFeatures keep their shape.
  """
  dense = dict(features)
  for name, s in spec.items():
    value = features.get(name)
    if value is None:
      continue
    value = dense[name] = _convert(value, s.dtype)
    if not isinstance(s, tf.io.FixedLenFeature) or not isinstance(
        value, (tf.RaggedTensor, tf.SparseTensor)):
      continue
    if isinstance(value, tf.SparseTensor):
      value = tf.RaggedTensor.from_sparse(value)
    width = int(s.shape[0]) if s.shape else 1
    lengths = value.row_lengths()
    checks = [tf.debugging.assert_less_equal(
        lengths, tf.cast(width, lengths.dtype),
        message='column {!r}: more than {} value(s) in a row'.format(name, width))]
    if s.default_value is None:
      checks.append(tf.debugging.assert_equal(
          lengths, tf.cast(width, lengths.dtype),
          message='column {!r}: a row has no value and the column has no default '
                  '(a label needs missing_label: mask to be optional)'.format(name)))
      default = None
    else:
      default = tf.constant(s.default_value, s.dtype)[0]
    with tf.control_dependencies(checks):
      dense[name] = tf.reshape(value.to_tensor(default_value=default, shape=[None, width]),
                               [-1] + list(s.shape or [1]))
  return dense


def _split_labels(labels, separator):
  """Sparse [batch, n] labels of cells like 'a|b': each cell split, empty parts dropped."""
  parts = tf.strings.split(tf.RaggedTensor.from_sparse(labels), separator).merge_dims(1, 2)
  return tf.ragged.boolean_mask(parts, tf.not_equal(parts, '')).to_sparse()


def model_columns(parsed, config, spec):
  """Parsed columns as the model and the heads take them.

  `densify` (model dtypes, defaults, dense shapes), then each multi_label
  head's cells split at its `label_separator`.
  """
  dense = densify(parsed, spec)
  for head in config.heads:
    if head.label_separator and head.label in dense:
      dense[head.label] = _split_labels(dense[head.label], head.label_separator)
  return dense


def example_parser(config, column_types=None):
  """fn(serialized tf.Examples) -> the model's columns: what exported signatures parse.

  Features, weights and every label as optional (`export_spec`), each column
  parsed as `column_types` says the data stores it (None: as the model
  takes it).
  """
  spec = export_spec(config)
  parse_spec = tolerant_spec(spec, column_types)

  def parse(serialized):
    return model_columns(tf.io.parse_example(serialized, parse_spec), config, spec)

  return parse


def write_column_types(export_dir, column_types):
  """Records the data's column types with an exported model (see `read_column_types`)."""
  path = os.path.join(export_dir, COLUMN_TYPES_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(column_types, indent=1, sort_keys=True))


def read_column_types(model_dir):
  """{column: 'INT' | 'FLOAT' | 'BYTES'} the model was trained on; None if not recorded."""
  path = os.path.join(model_dir, COLUMN_TYPES_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.loads(f.read())


def schema_columns(schema_proto):
  """{column name: 'FLOAT' | 'INT' | 'BYTES'} of a tensorflow_metadata Schema."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  return {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema_proto.feature}


def check_schema(config, schema_proto):
  """The configured columns' types in the data; fails if one is missing or cannot feed it.

  Names first (`check_against_schema`), then types (`columns.ACCEPTS`): a
  float32 input or label reads FLOAT or INT, int64 reads INT, string reads
  BYTES or INT. Returns {column: type} for `tolerant_spec` and the export.
  """
  types = schema_columns(schema_proto)
  check_against_schema(config, types)
  for column in columns_lib.configured_columns(config):
    problem = columns_lib.type_mismatch(column, types[column.name])
    if problem:
      raise ValueError('{}: data schema: {}'.format(column.field, problem))
  return {column.name: types[column.name]
          for column in columns_lib.configured_columns(config)}


def dataset_schema(config, schema_proto):
  """A copy of the data schema whose TFXIO tensors are the configured columns, as sparse.

  TFXIO then yields only those columns, each as a SparseTensor whatever the
  inferred shape, and `densify(features, full_spec(config))` fills the
  missing values exactly as the exported signatures do.
  """
  schema = type(schema_proto)()
  schema.CopyFrom(schema_proto)
  group = schema.tensor_representation_group['']
  group.Clear()
  for name in full_spec(config):
    group.tensor_representation[name].varlen_sparse_tensor.column_name = name
  return schema
