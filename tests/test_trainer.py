"""The Trainer module: run_fn from a heads config, its export, and its checks before training."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

import penguin_support as support
import serving_support as serving
from components import config as config_lib
from components import trainer

HEADS = ('species', 'sex', 'body_mass_g')
SIGNATURES = {
    'serving_default', 'predict', 'head_outputs', 'transform_features',
    'species', 'species/classification', 'species/predict',
    'sex', 'sex/classification', 'sex/regression', 'sex/predict',
    'body_mass_g', 'body_mass_g/regression', 'body_mass_g/predict'}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """run_fn's training, in process: (model, config, fn_args)."""
  workdir = str(tmp_path_factory.mktemp('trainer'))
  fn_args = support.fn_args(workdir, support.config_data(), train_steps=20)
  model, config = trainer.train(fn_args)
  return model, config, fn_args


def serialized_examples():
  """Penguins, the last one with empty value lists (no measurements, no sex)."""
  rows = support.csv_rows(12)
  examples = [support.to_example(row) for row in rows]
  examples.append(support.empty_row_example())
  return [e.SerializeToString() for e in examples]


def test_run_fn_writes_the_serving_model_and_tensorboard_logs(trained):
  _, _, fn_args = trained
  assert tf.saved_model.contains_saved_model(fn_args.serving_model_dir)
  events = [name for _, _, files in os.walk(fn_args.model_run_dir) for name in files
            if name.startswith('events.out.tfevents')]
  assert events, 'no TensorBoard event files in {}'.format(fn_args.model_run_dir)


def test_every_signature_answers_serialized_examples_like_the_in_process_model(trained):
  model, config, fn_args = trained
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  assert set(loaded.signatures) == SIGNATURES
  serialized = serialized_examples()
  expected = support.expected_signature_outputs(model, config, serialized)
  support.assert_signatures_match(loaded, expected, serialized)


def test_every_signature_serves_under_the_session_loader(trained):
  _, _, fn_args = trained
  examples = np.array(serialized_examples(), dtype=object)
  served = serving.assert_serves_like_tf2(fn_args.serving_model_dir, {'examples': examples})
  assert set(served.outputs) == SIGNATURES
  assert set(served.method_names.values()) == {serving.PREDICT_METHOD}


def test_serving_default_is_the_configured_head_and_missing_values_are_imputed(trained):
  model, config, fn_args = trained
  assert config.serving_default_head == 'species'
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  serialized = tf.constant(serialized_examples())
  default = loaded.signatures['serving_default'](examples=serialized)
  species = loaded.signatures['species/classification'](examples=serialized)
  np.testing.assert_allclose(default['scores'], species['scores'])
  # Hand-built dense features: NaN for the unmeasured penguin, as the parse default.
  features = {
      'bill_length_mm': tf.constant([[np.nan]]), 'bill_depth_mm': tf.constant([[np.nan]]),
      'flipper_length_mm': tf.constant([[np.nan]]), 'island': tf.constant([['Dream']]),
      'year': tf.constant([['2008']])}
  logits = model(features, training=False)
  empty_row = loaded.signatures['predict'](examples=serialized[-1:])
  for head, key in (('species', 'species/logits'), ('sex', 'sex/logits'),
                    ('body_mass_g', 'body_mass_g/predictions')):
    np.testing.assert_allclose(empty_row[key], logits[head], rtol=1e-5)
  assert np.all(np.isfinite(empty_row['species/probabilities']))


def test_head_outputs_and_transform_features_are_keyed_by_head(trained):
  _, _, fn_args = trained
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  serialized = tf.constant(serialized_examples())
  outputs = loaded.signatures['head_outputs'](examples=serialized)
  assert sorted(outputs) == sorted(HEADS)
  assert outputs['species'].shape == (len(serialized_examples()), 3)
  parts = loaded.signatures['transform_features'](examples=serialized)
  # The penguin without a sex or a body mass is masked for those heads only.
  assert parts['sex__labelled'].numpy()[-1] == 0
  assert parts['body_mass_g__labelled'].numpy()[-1] == 0
  assert parts['species__labelled'].numpy()[-1] == 1


def test_serving_signatures_answer_an_example_without_any_feature(trained):
  _, _, fn_args = trained
  loaded = tf.saved_model.load(fn_args.serving_model_dir)
  empty = tf.constant([tf.train.Example().SerializeToString()])
  for key in SIGNATURES - {'transform_features'}:
    for name, value in loaded.signatures[key](examples=empty).items():
      if value.dtype.is_floating:
        assert np.all(np.isfinite(value.numpy())), (key, name)


def test_config_travels_in_custom_config():
  data = support.config_data()
  assert json.loads(json.dumps(trainer.custom_config(data))) == {'heads_config': data}
  with pytest.raises(ValueError, match=r"custom_config\['heads_config'\] is missing"):
    trainer.config_from_fn_args(FnArgs(custom_config={'other': 1}))
  bad = support.config_data(training={'train_steps': -1})
  with pytest.raises(config_lib.ConfigError, match=r'^training.train_steps: must be > 0'):
    trainer.config_from_fn_args(FnArgs(custom_config=trainer.custom_config(bad)))


class _NoData:
  """A data accessor that fails the test if anything reads data."""

  def __getattr__(self, name):
    raise AssertionError('data was read before the schema check')


@pytest.mark.parametrize('mapping_change, message', [
    (lambda c: c['model']['features'].append('beak_colour'),
     r"model.features\[5\].name: column 'beak_colour' is not in the data schema"),
    (lambda c: c['heads'][2].update(label='weight_kg'),
     r"heads\[2\].label: column 'weight_kg' is not in the data schema"),
])
def test_a_column_missing_from_the_schema_fails_before_training(tmp_path, mapping_change,
                                                                  message):
  mapping = support.config_data()
  mapping_change(mapping)
  fn_args = support.fn_args(str(tmp_path), mapping, rows=6)
  fn_args.data_accessor = _NoData()
  with pytest.raises(ValueError, match=message):
    trainer.run_fn(fn_args)
  assert not os.path.exists(fn_args.serving_model_dir)


def test_a_column_of_another_type_fails_before_training(tmp_path):
  types = dict(support.COLUMN_TYPES, year='FLOAT')
  fn_args = support.fn_args(str(tmp_path), support.config_data(), rows=6, schema_types=types)
  fn_args.data_accessor = _NoData()
  with pytest.raises(ValueError, match=r"model.features\[4\]: data schema: column 'year' holds "
                                       r'numbers with decimals \(FLOAT\); a categorical feature'):
    trainer.run_fn(fn_args)


def test_run_fn_needs_the_schema(tmp_path):
  fn_args = support.fn_args(str(tmp_path), support.config_data(), rows=6)
  fn_args.schema_path = None
  with pytest.raises(ValueError, match='needs the schema input'):
    trainer.run_fn(fn_args)


def test_only_the_chief_exports_to_the_serving_dir(monkeypatch, tmp_path):
  fn_args = FnArgs(serving_model_dir=str(tmp_path / 'serving'),
                   model_run_dir=str(tmp_path / 'run'))
  cluster = {'chief': ['a:1'], 'worker': ['b:1', 'c:1']}
  monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': cluster,
                                              'task': {'type': 'chief', 'index': 0}}))
  assert trainer._output_dirs(fn_args) == (fn_args.serving_model_dir, fn_args.model_run_dir)
  monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': cluster,
                                              'task': {'type': 'worker', 'index': 0}}))
  export_dir, log_dir = trainer._output_dirs(fn_args)
  assert not export_dir.startswith(str(tmp_path)) and not log_dir.startswith(str(tmp_path))
  assert os.path.dirname(export_dir) == os.path.dirname(log_dir)


def test_column_stats_ignore_missing_values():
  dataset = tf.data.Dataset.from_tensor_slices(
      {'a': [[1.], [np.nan], [3.]], 'b': [[np.nan], [np.nan], [np.nan]]}).batch(2)
  stats = trainer.column_stats(dataset, ['a', 'b'])
  assert stats['a'] == pytest.approx((2.0, 1.0))
  assert stats['b'] == (0.0, 1.0)
