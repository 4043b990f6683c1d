"""Numbers are numbers: INT columns train, export and evaluate as the model's floats or strings.

The Trainer on data whose numeric feature, hashed category and count, amount,
share and rating labels are INT columns (as CsvExampleGen infers them from
'0', '1', '2', ...), plus a multi_label column of cells like 'x|z'. The export
parses each column as the data stores it and records the types for other
readers.
"""
import random

import numpy as np
import pytest
import tensorflow as tf

import penguin_support as support
from components import config as config_lib
from components import schema
from components import trainer

TYPES = {'rooms': 'INT', 'area': 'FLOAT', 'shop': 'INT', 'visits': 'INT', 'spent': 'INT',
         'bought': 'INT', 'rating': 'INT', 'tags': 'BYTES'}
CONFIG = {
    'heads': [
        {'name': 'visits', 'type': 'poisson_regression', 'missing_label': 'mask'},
        {'name': 'spent', 'type': 'regression', 'weight': 1e-4},
        {'name': 'bought', 'type': 'logistic_regression'},
        {'name': 'rating', 'type': 'multi_class', 'label_vocabulary': ['1', '2', '3']},
        {'name': 'tags', 'type': 'multi_label', 'label_vocabulary': ['x', 'y', 'z'],
         'label_separator': '|'},
    ],
    'model': {'features': ['rooms', 'area', {'name': 'shop', 'kind': 'categorical_hash',
                                             'hash_buckets': 8}],
              'hidden_units': [8]},
    'training': {'batch_size': 16},
}


def rows(count=90, seed=0):
  rng = random.Random(seed)
  data = []
  for i in range(count):
    rooms = rng.randint(1, 6)
    data.append({
        'rooms': str(rooms) if i % 9 else '', 'area': '{:.1f}'.format(20 + 15 * rooms),
        'shop': str(rng.randint(100, 120)), 'visits': str(rng.randint(0, rooms)) if i % 7 else '',
        'spent': str(rooms * 100 + rng.randint(0, 50)), 'bought': str(int(rooms > 3)),
        'rating': str(1 + rooms // 3), 'tags': '|'.join(t for t in 'xyz' if rng.random() < .4)})
  return data


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('integers'))
  fn_args = support.fn_args(workdir, CONFIG, train_steps=20, data=rows(), types=TYPES)
  model, config = trainer.train(fn_args)
  return model, config, fn_args


def serialized(data):
  return [support.to_example(row, TYPES).SerializeToString() for row in data]


def test_integer_columns_train_and_the_export_records_their_types(trained):
  model, config, fn_args = trained
  assert schema.read_column_types(fn_args.serving_model_dir) == TYPES
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  examples = serialized(rows(12, seed=1))
  expected = support.expected_signature_outputs(model, config, examples, TYPES)
  support.assert_signatures_match(loaded, expected, examples)
  predictions = loaded.signatures['predict'](examples=tf.constant(examples))
  for key in ('visits/predictions', 'spent/predictions', 'bought/predictions'):
    assert np.all(np.isfinite(predictions[key].numpy())), key


def test_the_evaluator_reads_integer_labels_as_the_heads_do(trained):
  _, _, fn_args = trained
  data = rows(12, seed=2)
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  parts = loaded.signatures['transform_features'](examples=tf.constant(serialized(data)))
  visits = [float(row['visits']) if row['visits'] else 0. for row in data]
  np.testing.assert_allclose(parts['visits__label'].numpy()[:, 0], visits)
  np.testing.assert_array_equal(parts['visits__labelled'].numpy(),
                                [1. if row['visits'] else 0. for row in data])
  np.testing.assert_allclose(parts['spent__label'].numpy()[:, 0],
                             [float(row['spent']) for row in data])
  np.testing.assert_array_equal(parts['rating__label'].numpy()[:, 0],
                                [int(row['rating']) - 1 for row in data])
  np.testing.assert_array_equal(parts['tags__label'].numpy(),
                                [[int(t in row['tags']) for t in 'xyz'] for row in data])


def test_the_parser_converts_integers_and_splits_multi_labels():
  config = config_lib.parse_config(CONFIG)
  parse = schema.example_parser(config, TYPES)
  columns = parse(tf.constant(serialized([
      {'rooms': '3', 'area': '2.5', 'shop': '101', 'visits': '', 'spent': '7', 'bought': '1',
       'rating': '2', 'tags': 'x|z'}])))
  assert columns['rooms'].dtype == tf.float32 and columns['rooms'].numpy().tolist() == [[3.]]
  assert columns['shop'].numpy().tolist() == [[b'101']]  # hashed as text
  assert np.isnan(columns['visits'].numpy()[0, 0])  # a masked label
  assert columns['spent'].numpy().tolist() == [[7.]]
  assert columns['rating'].numpy().tolist() == [[b'2']]
  assert tf.sparse.to_dense(columns['tags']).numpy().tolist() == [[b'x', b'z']]


def test_a_class_head_over_text_without_vocabulary_fails_before_training(tmp_path):
  mapping = dict(CONFIG, heads=[{'name': 'tags', 'type': 'multi_class', 'n_classes': 3}])
  fn_args = support.fn_args(str(tmp_path), mapping, data=rows(6), types=TYPES)
  with pytest.raises(ValueError, match=r"heads\[0\].label: data schema: column 'tags' holds "
                                       r'text \(BYTES\); without label_vocabulary'):
    trainer.run_fn(fn_args)
