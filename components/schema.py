"""tf.Example parsing specs derived from the heads config (features, labels, weights)."""

import tensorflow as tf

_DTYPES = {'float32': tf.float32, 'int64': tf.int64, 'string': tf.string}


def _label_spec(head):
  """A label with its missing-value default: NaN, '' or -1 when masked, else required."""
  if head.label_is_float:
    dtype, shape = tf.float32, [head.label_dimension]
  elif head.type == 'multi_label':
    dtype, shape = (tf.string if head.label_is_string else tf.int64), None
  else:
    dtype, shape = (tf.string if head.label_is_string else tf.int64), [1]
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
  for i, feature in enumerate(config.model.features):
    if feature.name not in known:
      raise ValueError('model.features[{}].name: column {!r} is not in the data schema '
                       '(columns: {})'.format(i, feature.name, sorted(known)))
  for i, head in enumerate(config.heads):
    if head.label not in known:
      raise ValueError('heads[{}].label: column {!r} is not in the data schema '
                       '(columns: {})'.format(i, head.label, sorted(known)))
    if head.weight_column and head.weight_column not in known:
      raise ValueError('heads[{}].weight_column: column {!r} is not in the data schema '
                       '(columns: {})'.format(i, head.weight_column, sorted(known)))


# ----------------------------------------------------------------------------
# Reading real data: empty value lists, the Schema artifact, TFXIO.

_SCHEMA_TYPES = {tf.float32: 'FLOAT', tf.int64: 'INT', tf.string: 'BYTES'}


def tolerant_spec(spec):
  """`spec` with every FixedLenFeature parsed as ragged; `densify` restores the dense shape.

  CsvExampleGen turns an empty CSV field into a feature with an empty value
  list, which a FixedLenFeature rejects ('Number of values != expected') even
  when it has a default. Parsed ragged, an empty list and an absent feature
  are both a missing value.
  """
  return {name: tf.io.RaggedFeature(s.dtype, row_splits_dtype=tf.int64)
          if isinstance(s, tf.io.FixedLenFeature) else s
          for name, s in spec.items()}


def densify(features, spec):
  """Ragged or sparse features of `spec`'s FixedLenFeatures as dense [batch] + shape tensors.

  A row with no value gets the spec's default; without a default, and for a
  row with too many values, it fails naming the column. Dense tensors and
  columns that are not FixedLenFeatures pass through unchanged.
  """
  dense = dict(features)
  for name, s in spec.items():
    value = features.get(name)
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


def schema_columns(schema_proto):
  """{column name: 'FLOAT' | 'INT' | 'BYTES'} of a tensorflow_metadata Schema."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  return {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema_proto.feature}


def check_schema(config, schema_proto):
  """Fails before training when a configured column is missing or has another type.

  Names first (`check_against_schema`), then types: a float32 feature needs a
  FLOAT column, int64 an INT column, string a BYTES column; labels likewise.
  """
  columns = schema_columns(schema_proto)
  check_against_schema(config, columns)
  fields = {}
  for i, feature in enumerate(config.model.features):
    fields[feature.name] = 'model.features[{}]'.format(i)
  for i, head in enumerate(config.heads):
    fields[head.label] = 'heads[{}].label'.format(i)
    if head.weight_column:
      fields[head.weight_column] = 'heads[{}].weight_column'.format(i)
  for name, spec in full_spec(config).items():
    want = _SCHEMA_TYPES[spec.dtype]
    if columns[name] != want:
      raise ValueError('{}: column {!r} is {} in the data schema, but the config reads it as '
                       '{} (a {} column)'.format(fields[name], name, columns[name],
                                                 spec.dtype.name, want))


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
