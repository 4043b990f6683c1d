"""The Keras body from the config: encoded features -> hidden layers -> logits per head.

Numeric features are imputed (NaN, inf -> training mean) and standardised;
categorical features are looked up in their vocabulary or hashed, then
one-hot encoded or embedded when `embedding_dim` is set. Hidden units and
dropout come from `config.model`; each head gets a Dense logits layer.

Lookups are plain TF ops (no lookup-table resources), so the model exports as
a SavedModel without extra assets.
"""

import re

import keras
import tensorflow as tf

from heads.model import HeadModel
from heads.model import LOGITS

NUMERIC = 'numeric'
VOCABULARY = 'categorical_vocabulary'
HASH = 'categorical_hash'
REGRESSION = 'regression'
_MIN_VARIANCE = 1e-12


class _MeanVariance(keras.layers.Layer):
  """A layer holding a fixed (non-trainable) mean and variance from the training data."""

  def __init__(self, mean=0.0, variance=1.0, **kwargs):
    super().__init__(**kwargs)
    self._init_mean = float(mean)
    self._init_variance = float(variance)
    self.mean = self.add_weight(shape=(), initializer=keras.initializers.Constant(mean),
                                trainable=False, name='mean')
    self.variance = self.add_weight(
        shape=(), initializer=keras.initializers.Constant(variance), trainable=False,
        name='variance')

  def std(self):
    return keras.ops.sqrt(keras.ops.maximum(self.variance, _MIN_VARIANCE))

  def get_config(self):
    return {**super().get_config(), 'mean': self._init_mean, 'variance': self._init_variance}


class ImputeNormalize(_MeanVariance):
  """(x - mean) / std, with NaN, inf and -inf replaced by the mean (so they become 0).

  Training data is checked first (components.non_finite); at serving time a
  non-finite value is treated as missing whatever the feature's policy.
  """

  def call(self, inputs):
    x = keras.ops.cast(inputs, 'float32')
    x = keras.ops.where(keras.ops.isfinite(x), x, self.mean)
    return (x - self.mean) / self.std()


class Rescale(_MeanVariance):
  """mean + std * x: from a standardised scale back to label units."""

  def call(self, inputs):
    return self.mean + inputs * self.std()

  def get_config(self):
    return {**super().get_config(), 'mean': self._init_mean, 'variance': self._init_variance}


def _as_string(inputs):
  return inputs if inputs.dtype == tf.string else tf.strings.as_string(inputs)


class VocabularyIndex(keras.layers.Layer):
  """Vocabulary position + 1 of each value; 0 for values outside the vocabulary."""

  def __init__(self, vocabulary, **kwargs):
    super().__init__(**kwargs)
    self.vocabulary = [str(value) for value in vocabulary]

  def call(self, inputs):
    values = _as_string(inputs)
    vocabulary = tf.constant(self.vocabulary)
    matches = tf.cast(tf.equal(tf.expand_dims(values, -1), vocabulary), tf.int64)
    positions = tf.range(1, len(self.vocabulary) + 1, dtype=tf.int64)
    return tf.reduce_sum(matches * positions, axis=-1)

  def compute_output_spec(self, inputs):
    return keras.KerasTensor(inputs.shape, dtype='int64')

  def get_config(self):
    return {**super().get_config(), 'vocabulary': self.vocabulary}


class HashIndex(keras.layers.Layer):
  """A stable hash bucket in [0, num_buckets) of each value's string form."""

  def __init__(self, num_buckets, **kwargs):
    super().__init__(**kwargs)
    self.num_buckets = int(num_buckets)

  def call(self, inputs):
    return tf.strings.to_hash_bucket_fast(_as_string(inputs), self.num_buckets)

  def compute_output_spec(self, inputs):
    return keras.KerasTensor(inputs.shape, dtype='int64')

  def get_config(self):
    return {**super().get_config(), 'num_buckets': self.num_buckets}


def _safe_name(column):
  """A Keras name for a column: CSV headers may hold '/', spaces or nothing at all."""
  return re.sub(r'[^A-Za-z0-9_.-]', '_', column) or 'column'


def _layer_name(feature, suffix):
  return '{}_{}'.format(_safe_name(feature.name), suffix)


def _encode(feature, inputs, stats):
  """The encoded [batch, width] float tensor of one feature."""
  if feature.kind == NUMERIC:
    mean, variance = stats.get(feature.name, (0.0, 1.0))
    return ImputeNormalize(mean, variance, name=_layer_name(feature, 'normalize'))(inputs)
  if feature.kind == VOCABULARY:
    depth = len(feature.vocabulary) + 1
    ids = VocabularyIndex(feature.vocabulary, name=_layer_name(feature, 'vocabulary'))(inputs)
  else:
    depth = feature.hash_buckets
    ids = HashIndex(depth, name=_layer_name(feature, 'hash'))(inputs)
  ids = keras.layers.Reshape(())(ids)
  if feature.embedding_dim:
    return keras.layers.Embedding(depth, feature.embedding_dim,
                                  name=_layer_name(feature, 'embedding'))(ids)
  return keras.layers.CategoryEncoding(depth, output_mode='one_hot',
                                       name=_layer_name(feature, 'one_hot'))(ids)


def build_body(config, stats=None):
  """Functional Keras model: {feature: [batch, 1]} -> {head name: logits}.

  `stats` maps numeric feature and regression label names to (mean,
  variance) over the training data (see `components.trainer.column_stats`);
  a missing entry means (0, 1). A regression head's logits are
  `mean + std * dense(hidden)`: the network works on a standardised scale
  while the head's loss and metrics stay in label units (e.g. grams).
  """
  stats = stats or {}
  model_config = config.model
  inputs = {feature.name: keras.Input(shape=(1,), dtype=feature.dtype,
                                     name=_safe_name(feature.name))
            for feature in model_config.features}
  encoded = [_encode(feature, inputs[feature.name], stats)
             for feature in model_config.features]
  hidden = encoded[0] if len(encoded) == 1 else keras.layers.Concatenate()(encoded)
  for i, units in enumerate(model_config.hidden_units):
    hidden = keras.layers.Dense(units, activation='relu', name='hidden_{}'.format(i))(hidden)
    if model_config.dropout:
      hidden = keras.layers.Dropout(model_config.dropout, name='dropout_{}'.format(i))(hidden)
  logits = {}
  for head_config, head in zip(config.heads, config.build_head().heads):
    output = keras.layers.Dense(head.logits_dimension,
                                name='logits_{}'.format(head_config.name))(hidden)
    if head_config.type == REGRESSION and head_config.label in stats:
      mean, variance = stats[head_config.label]
      output = Rescale(mean, variance, name='rescale_{}'.format(head_config.name))(output)
    logits[head_config.name] = output
  return keras.Model(inputs=inputs, outputs=logits, name='body')


def build_model(config, stats=None):
  """HeadModel of the configured heads (a MultiHead) on the configured body.

  The head losses are weighed as `training.loss_balancing` says.
  """
  return HeadModel(config.build_head(), build_body(config, stats), body_output=LOGITS,
                   loss_balancing=config.training.loss_balancing.build(), name='head_model')
