"""The Keras body from the config, and reading tf.Examples with empty value lists."""
import numpy as np
import pytest
import tensorflow as tf

import penguin_support as support
from components import body
from components import config as config_lib
from components import schema


def penguin_config(**overrides):
  return config_lib.parse_config(support.config_data(**overrides))


def test_numeric_features_are_imputed_with_the_mean_and_standardised():
  layer = body.ImputeNormalize(mean=10., variance=4.)
  out = layer(tf.constant([[np.nan], [12.], [6.]]))
  np.testing.assert_allclose(out, [[0.], [1.], [-2.]])


def test_vocabulary_index_is_one_based_with_zero_for_unknown_values():
  layer = body.VocabularyIndex(['Biscoe', 'Dream', 'Torgersen'])
  np.testing.assert_array_equal(
      layer(tf.constant([['Dream'], ['Atlantis'], ['Biscoe'], ['']])), [[2], [0], [1], [0]])
  years = body.VocabularyIndex([2007, 2008])
  np.testing.assert_array_equal(years(tf.constant([[2008], [2010]], tf.int64)), [[2], [0]])


def test_hash_index_is_stable_and_in_range():
  layer = body.HashIndex(8)
  values = tf.constant([[2007], [2008], [2007]], tf.int64)
  ids = layer(values).numpy()
  assert ids[0, 0] == ids[2, 0] and np.all((ids >= 0) & (ids < 8))
  np.testing.assert_array_equal(ids, body.HashIndex(8)(values))


def test_rescale_maps_a_standardised_output_to_label_units():
  np.testing.assert_allclose(body.Rescale(4200., 640000.)(tf.constant([[0.], [1.]])),
                             [[4200.], [5000.]])


def test_body_encodes_every_configured_feature_and_returns_logits_per_head():
  config = penguin_config()
  model = body.build_body(config, {'bill_length_mm': (44., 30.), 'body_mass_g': (4200., 6.4e5)})
  assert sorted(model.input) == sorted(f.name for f in config.model.features)
  names = {layer.name for layer in model.layers}
  assert {'island_vocabulary', 'island_embedding', 'year_hash', 'year_one_hot',
          'bill_length_mm_normalize', 'hidden_0', 'dropout_0', 'hidden_1',
          'rescale_body_mass_g'} <= names
  assert model.get_layer('island_embedding').output_dim == 2
  assert [model.get_layer('hidden_{}'.format(i)).units for i in range(2)] == [32, 16]
  features = support.parse_for_serving(config, [
      support.to_example(row).SerializeToString() for row in support.csv_rows(4)])
  logits = model({name: features[name] for name in model.input})
  assert {name: tuple(value.shape) for name, value in logits.items()} == {
      'species': (4, 3), 'sex': (4, 1), 'body_mass_g': (4, 1)}


def test_hash_feature_without_embedding_is_one_hot_and_no_dropout_when_zero():
  mapping = support.config_data(model={
      'features': [{'name': 'island', 'kind': 'categorical_hash', 'hash_buckets': 5}],
      'hidden_units': [4], 'dropout': 0.0})
  model = body.build_body(config_lib.parse_config(mapping))
  assert model.get_layer('island_one_hot').num_tokens == 5
  assert not [layer for layer in model.layers if 'dropout' in layer.name]


def _parse(config, examples):
  parse = schema.example_parser(config, support.COLUMN_TYPES)
  return parse(tf.constant([e.SerializeToString() for e in examples]))


def test_empty_value_lists_and_absent_features_both_read_as_missing():
  config = penguin_config()
  parsed = _parse(config, [support.empty_row_example(), tf.train.Example()])
  assert np.all(np.isnan(parsed['bill_length_mm'].numpy()))
  np.testing.assert_array_equal(parsed['sex'], [[b''], [b'']])
  np.testing.assert_array_equal(parsed['island'], [[b'Dream'], [b'']])
  np.testing.assert_array_equal(parsed['year'], [[b'2008'], [b'']])  # an INT column, as text
  assert parsed['body_mass_g'].shape == (2, 1)


def test_fixed_len_parse_rejects_what_csv_example_gen_writes():
  # Why the signatures parse ragged: a FixedLenFeature with a default still fails here.
  spec = {'sex': tf.io.FixedLenFeature([1], tf.string, default_value=[''])}
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf.io.parse_example([support.empty_row_example().SerializeToString()], spec)


def test_densify_names_the_column_with_too_many_values_or_a_missing_required_value():
  spec = {'x': tf.io.FixedLenFeature([1], tf.float32)}
  two = tf.RaggedTensor.from_row_lengths([1., 2., 3.], [2, 1])
  with pytest.raises(tf.errors.InvalidArgumentError, match="column 'x': more than 1 value"):
    schema.densify({'x': two}, spec)
  none = tf.RaggedTensor.from_row_lengths([1.], [1, 0])
  with pytest.raises(tf.errors.InvalidArgumentError, match="column 'x': a row has no value"):
    schema.densify({'x': none}, spec)


def test_densify_accepts_sparse_tensors_and_passes_dense_ones_through():
  spec = {'x': tf.io.FixedLenFeature([1], tf.float32, default_value=[-1.])}
  sparse = tf.sparse.SparseTensor([[0, 0], [2, 0]], [5., 7.], [3, 1])
  np.testing.assert_allclose(schema.densify({'x': sparse}, spec)['x'], [[5.], [-1.], [7.]])
  dense = tf.constant([[1.]])
  assert schema.densify({'x': dense}, spec)['x'] is dense


def test_dataset_schema_reads_only_the_configured_columns_as_sparse():
  config = penguin_config()
  read_schema = schema.dataset_schema(config, support.schema_proto())
  representations = read_schema.tensor_representation_group[''].tensor_representation
  assert sorted(representations) == sorted(schema.full_spec(config))
  assert all(r.WhichOneof('kind') == 'varlen_sparse_tensor' for r in representations.values())
