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
