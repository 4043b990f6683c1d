"""NaN and inf in the data: the per-feature policy, labels, weights, and a non-finite loss.

Cells are written as pandas ('inf', 'nan') and R ('Inf', '-Inf', 'NaN') write
them; CsvExampleGen parses each as a float, unlike an empty cell, which is a
missing value.
"""
import math
import os

import numpy as np
import pytest
import tensorflow as tf

import penguin_support as support
from components import body
from components import columns
from components import config as config_lib
from components import non_finite
from components import resume
from components import trainer
from heads.non_finite_loss import NonFiniteLossError


def _rows(changes):
  """60 penguins with {row index: {column: cell}} changes (rows 0-39 are the train split)."""
  rows = support.csv_rows(60)
  for index, cells in changes.items():
    rows[index].update(cells)
  return rows


def _fn_args(tmp_path, examples, train_steps=4, **config_changes):
  mapping = support.config_data(training={'batch_size': 16})
  for head in mapping['heads']:
    head.update(config_changes.get(head['name'], {}))
  mapping['model']['features'] = [
      dict({'name': f} if isinstance(f, str) else f, **config_changes.get(
          f if isinstance(f, str) else f['name'], {}))
      for f in mapping['model']['features']]
  return support.fn_args(str(tmp_path), mapping, train_steps=train_steps, eval_steps=1,
                         data=examples)


@pytest.fixture
def no_export(monkeypatch):
  exports = []
  monkeypatch.setattr(trainer.signatures, 'export', lambda *args: exports.append(args[2]))
  return exports


# Config ----------------------------------------------------------------------------------

def test_rules_of_the_penguin_config():
  config = config_lib.parse_config(support.config_data())
  rules = non_finite.rules(config)
  assert [(r.column, r.field, r.kind) for r in rules] == [
      ('bill_length_mm', 'model.features[0]', 'feature'),
      ('bill_depth_mm', 'model.features[1]', 'feature'),
      ('flipper_length_mm', 'model.features[2]', 'feature')]
  mapping = support.config_data()
  mapping['heads'][2].pop('missing_label')
  mapping['heads'][1]['weight_column'] = 'w'
  mapping['model']['features'][0] = {'name': 'bill_length_mm', 'non_finite': 'impute'}
  rules = non_finite.rules(config_lib.parse_config(mapping))
  assert [(r.column, r.kind, r.head) for r in rules] == [
      ('bill_depth_mm', 'feature', None), ('flipper_length_mm', 'feature', None),
      ('w', 'weight', 'sex'), ('body_mass_g', 'label', 'body_mass_g')]


def test_policy_per_column_and_its_messages():
  mapping = support.config_data()
  mapping['model']['features'][0] = {'name': 'bill_length_mm', 'non_finite': 'impute'}
  mapping['heads'][1]['weight_column'] = 'w'
  config = config_lib.parse_config(mapping)
  policies = {(c.name, c.role): non_finite.policy(c) for c in columns.configured_columns(config)}
  assert policies == {
      ('bill_length_mm', 'feature'): 'impute', ('bill_depth_mm', 'feature'): 'error',
      ('flipper_length_mm', 'feature'): 'error', ('island', 'feature'): 'error',
      ('year', 'feature'): 'error', ('species', 'label'): 'error', ('sex', 'label'): 'error',
      ('w', 'weight'): 'error', ('body_mass_g', 'label'): 'mask'}
  feature = non_finite.Rule('x', 'model.features[0]', non_finite.FEATURE)
  weight = non_finite.Rule('w', 'heads[0].weight_column', non_finite.WEIGHT, 'a')
  values = [np.inf, -np.inf, np.nan, -3.5, 0., 2.]
  assert feature.bad_values(values).tolist() == [True, True, True, False, False, False]
  assert weight.bad_values(values).tolist() == [True, True, True, True, False, False]
  messages = non_finite.errors([feature, weight], {'x': 1, 'w': 0}, 'data.csv')
  assert messages == [
      "model.features[0] (column 'x'): 1 row of data.csv holds NaN or inf; set non_finite: "
      'impute on this feature to treat them as missing values, or fix the data']


def test_bad_rows_are_counted_once_per_row_in_sparse_ragged_and_dense_batches():
  weight = non_finite.Rule('w', 'heads[0].weight_column', non_finite.WEIGHT, 'a')
  label = non_finite.Rule('y', 'heads[0].label', non_finite.LABEL, 'a')
  sparse = tf.sparse.from_dense(tf.constant([[1., -1.], [2., 0.], [np.inf, -2.]]))
  ragged = tf.ragged.constant([[1., np.nan], [], [3.]])
  dense = tf.constant([[np.nan, np.inf], [1., 2.], [-np.inf, 0.]])
  counts = non_finite.count_bad_rows([{'w': sparse, 'y': ragged}, {'w': dense, 'y': dense}],
                                     [weight, label])
  assert counts == {'w': 2 + 2, 'y': 1 + 2}
  with pytest.raises(non_finite.NonFiniteDataError) as info:
    non_finite.check([weight, label], counts, 'the train split')
  assert str(info.value) == (
      "heads[0].weight_column (column 'w', head 'a'): 4 rows of the train split hold a "
      "negative, NaN or inf example weight; weights must be finite and >= 0; heads[0].label "
      "(column 'y', head 'a'): 3 rows of the train split hold a NaN or inf label; set "
      'missing_label: mask on the head to leave them out of its loss and metrics, or fix the '
      'data')


# The Trainer -----------------------------------------------------------------------------

@pytest.mark.needs_tfx
def test_an_inf_feature_is_an_error_naming_column_and_rows_before_training(tmp_path, no_export):
  examples = _rows({3: {'bill_length_mm': 'inf'}, 7: {'bill_length_mm': '-Inf'},
                    9: {'bill_length_mm': 'NaN', 'flipper_length_mm': ''},
                    45: {'flipper_length_mm': 'Inf'}})
  args = _fn_args(tmp_path, examples)
  with pytest.raises(non_finite.NonFiniteDataError) as info:
    trainer.run_fn(args)
  assert str(info.value) == (
      "model.features[0] (column 'bill_length_mm'): 3 rows of the train split hold NaN or inf; "
      'set non_finite: impute on this feature to treat them as missing values, or fix the '
      "data; model.features[2] (column 'flipper_length_mm'): 1 row of the eval split holds "
      'NaN or inf; set non_finite: impute on this feature to treat them as missing values, or '
      'fix the data')
  assert not no_export and not os.path.exists(args.model_run_dir)


@pytest.mark.needs_tfx
@pytest.mark.parametrize('cell', ['inf', 'nan'])
def test_a_non_finite_label_is_an_error_without_mask(tmp_path, no_export, cell):
  examples = _rows({2: {'body_mass_g': cell}, 5: {'body_mass_g': cell}})
  args = _fn_args(tmp_path, examples, body_mass_g={'missing_label': 'error'})
  with pytest.raises(non_finite.NonFiniteDataError, match=(
      r"^heads\[2\].label \(column 'body_mass_g', head 'body_mass_g'\): 2 rows of the train "
      'split hold a NaN or inf label; set missing_label: mask on the head')):
    trainer.run_fn(args)
  assert not no_export


@pytest.mark.needs_tfx
def test_inf_features_are_imputed_and_non_finite_labels_masked_by_policy(tmp_path, no_export):
  """One training: bill_length_mm has non_finite: impute, body_mass_g missing_label: mask."""
  examples = _rows({3: {'bill_length_mm': 'inf'}, 7: {'bill_length_mm': '-Inf'},
                    9: {'bill_length_mm': 'NaN'}, 2: {'body_mass_g': 'inf'},
                    5: {'body_mass_g': 'nan'}, 6: {'body_mass_g': '-Inf'},
                    50: {'body_mass_g': 'inf', 'bill_length_mm': 'inf'}})
  args = _fn_args(tmp_path, examples, bill_length_mm={'non_finite': 'impute'})
  model, config = trainer.train(args)
  assert no_export == [args.serving_model_dir]
  for layer_name, column in (('bill_length_mm_normalize', 'bill_length_mm'),
                             ('rescale_body_mass_g', 'body_mass_g')):
    finite = [float(r[column]) for r in examples[:40]
              if r[column] and math.isfinite(float(r[column]))]
    layer = model.body.get_layer(layer_name)
    assert float(layer.mean.numpy()) == pytest.approx(np.mean(finite), rel=1e-5), column
  normalize = model.body.get_layer('bill_length_mm_normalize')
  encoded = normalize(tf.constant([[np.inf], [-np.inf], [np.nan], [float(normalize.mean)]]))
  np.testing.assert_allclose(encoded.numpy(), 0., atol=1e-6)
  assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)
  metrics = model.evaluate(trainer.input_fn(
      args.eval_files, args.data_accessor, config, trainer.load_schema(args.schema_path), 16,
      shuffle=False), steps=2, return_dict=True, verbose=0)
  assert all(math.isfinite(value) for value in metrics.values()), metrics


@pytest.mark.needs_tfx
def test_a_non_finite_training_loss_stops_the_trainer_naming_the_heads(tmp_path, no_export):
  mapping = support.config_data(training={'batch_size': 16, 'learning_rate': 1e30})
  args = support.fn_args(str(tmp_path), mapping, train_steps=8, eval_steps=1, rows=60)
  message = r"^Training stopped at step \d+: the training loss is (nan|inf); the loss of head"
  with pytest.raises(NonFiniteLossError, match=message) as info:
    trainer.run_fn(args)
  assert info.value.heads and set(info.value.heads) <= {'species', 'sex', 'body_mass_g'}
  assert not no_export
  assert not os.path.exists(resume.checkpoint_dir(args, 8, 1))


def test_column_stats_ignore_non_finite_values():
  dataset = tf.data.Dataset.from_tensor_slices(
      {'a': [[1.], [np.inf], [3.], [-np.inf], [np.nan]]}).batch(2)
  assert trainer.column_stats(dataset, ['a'])['a'] == pytest.approx((2.0, 1.0))


def test_impute_normalize_treats_inf_like_nan():
  layer = body.ImputeNormalize(mean=2., variance=4.)
  out = layer(tf.constant([[np.inf], [-np.inf], [np.nan], [4.]]))
  np.testing.assert_allclose(out.numpy(), [[0.], [0.], [0.], [1.]])
