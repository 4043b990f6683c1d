"""HeadModel: fit / evaluate / predict driven by a head, in every body-output mode."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import assert_metrics, metric_results
from heads.model import HeadModel

ROWS = 40
HEAD_WEIGHTS = (1., 2., .5)
MULTI_KEYS = [
    'loss', 'regularization_loss',
    'loss/bin', 'accuracy/bin', 'accuracy_baseline/bin', 'auc/bin', 'auc_precision_recall/bin',
    'average_loss/bin', 'label/mean/bin', 'precision/bin', 'prediction/mean/bin', 'recall/bin',
    'loss/mc', 'accuracy/mc', 'average_loss/mc',
    'loss/reg', 'average_loss/reg', 'label/mean/reg', 'prediction/mean/reg',
    'head_weight/bin', 'head_weight/mc', 'head_weight/reg']


def make_data(rows=ROWS, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(rows, 4)).astype(np.float32)
  features = {'x': x, 'w': rng.uniform(0.5, 2., size=(rows, 1)).astype(np.float32)}
  labels = {'bin': (x[:, :1] + rng.normal(size=(rows, 1)) > 0).astype(np.float32),
            'mc': rng.integers(0, 5, size=(rows, 1)),
            'reg': x[:, 1:2] * 2.}
  return features, labels


def dataset(features, labels, batch_size):
  return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size)


def multi_head():
  return heads.MultiHead([heads.BinaryClassHead(name='bin', weight_column='w'),
                          heads.MultiClassHead(5, name='mc'),
                          heads.RegressionHead(name='reg')], head_weights=list(HEAD_WEIGHTS))


def functional_body(outputs, regularizer=None):
  """Functional body on {'x'}: a hidden layer, then `outputs(hidden)` (or the hidden layer)."""
  inputs = {'x': keras.Input((4,), name='x')}
  hidden = keras.layers.Dense(6, activation='tanh', kernel_regularizer=regularizer)(inputs['x'])
  return keras.Model(inputs, outputs(hidden) if outputs else hidden)


def expected_results(model, batches):
  """What evaluate must give: head.metrics() + head.update_metrics() over `batches`.

  Plus 'loss' (mean of the batch losses, regularization included),
  'regularization_loss' when the model has some, and the head weights.
  """
  head = model.head
  regularization_losses = list(model.losses) or None
  metrics = head.metrics()
  losses = []
  for features, labels in batches:
    logits = model(features)
    head.update_metrics(metrics, features, logits, labels)
    losses.append(float(head.loss(labels, logits, features, 'eval', regularization_losses)))
  results = metric_results(metrics)
  results['loss'] = float(np.mean(losses))
  if regularization_losses:
    results['regularization_loss'] = float(tf.math.add_n(regularization_losses))
  if isinstance(head, heads.MultiHead) and head.head_weights:
    for sub_head, weight in zip(head.heads, head.head_weights):
      results['head_weight/' + sub_head.name] = weight
  return results


def tensorboard_scalars(log_dir):
  """{tag: [values]} of the scalar summaries in the event files under log_dir."""
  scalars = {}
  for root, _, files in os.walk(log_dir):
    for name in files:
      for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
        for value in event.summary.value:
          scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
  return scalars


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A 3-head logits_input model fit 1 epoch with learning rate 0 (weights unchanged).

  3 batches (16, 16, 8) with steps_per_execution=2, and a TensorBoard callback.
  """
  keras.utils.set_random_seed(1)
  model = HeadModel(multi_head(), functional_body(None, keras.regularizers.l2(0.05)),
                    body_output='logits_input')
  model.compile(keras.optimizers.SGD(0.), steps_per_execution=2)
  features, labels = make_data()
  log_dir = str(tmp_path_factory.mktemp('tensorboard'))
  history = model.fit(dataset(features, labels, 16), epochs=1, verbose=0,
                      callbacks=[keras.callbacks.TensorBoard(log_dir)])
  return model, features, labels, history.history, log_dir


def batches_of(features, labels, batch_size):
  return [(f, l) for f, l in dataset(features, labels, batch_size)]


def test_fit_reports_the_head_keys(trained):
  model, features, labels, history, _ = trained
  assert sorted(model.logits_layers) == ['bin', 'mc', 'reg']
  assert sorted(history) == sorted(MULTI_KEYS)
  logs = {key: values[-1] for key, values in history.items()}
  # Learning rate 0: the training pass equals the evaluation of the same batches.
  assert_metrics(logs, expected_results(model, batches_of(features, labels, 16)), rtol=1e-5)


@pytest.mark.parametrize('batch_size', [ROWS, 16], ids=['one_batch', 'three_batches'])
def test_evaluate_equals_head_update_metrics(trained, batch_size):
  model, features, labels, _, _ = trained
  evaluated = model.evaluate(dataset(features, labels, batch_size), verbose=0, return_dict=True)
  assert_metrics(evaluated, expected_results(model, batches_of(features, labels, batch_size)))


def test_regularization_losses_go_into_the_loss(trained):
  model, features, labels, _, _ = trained
  evaluated = model.evaluate(dataset(features, labels, ROWS), verbose=0, return_dict=True)
  regularization = float(tf.math.add_n(model.losses))
  assert regularization > 0.
  np.testing.assert_allclose(evaluated['regularization_loss'], regularization, rtol=1e-6)
  unregularized = float(model.head.loss(labels, model(features), features))
  np.testing.assert_allclose(evaluated['loss'], unregularized + regularization, rtol=1e-5)


def test_predict_returns_the_head_predictions(trained):
  model, features, _, _, _ = trained
  predicted = model.predict(features, batch_size=16, verbose=0)
  expected = model.head.predictions(model(features))
  assert sorted(predicted) == sorted('{}/{}'.format(*key) for key in expected)
  for (head_name, key), value in expected.items():
    value = value.numpy()
    if value.dtype.kind in 'OSU':
      np.testing.assert_array_equal(predicted['{}/{}'.format(head_name, key)], value)
    else:
      np.testing.assert_allclose(predicted['{}/{}'.format(head_name, key)], value, atol=1e-6)


def test_tensorboard_gets_per_head_scalars(trained):
  _, _, _, history, log_dir = trained
  scalars = tensorboard_scalars(os.path.join(log_dir, 'train'))
  for key in MULTI_KEYS:
    assert 'epoch_' + key in scalars, sorted(scalars)
    np.testing.assert_allclose(scalars['epoch_' + key][-1], history[key][-1], rtol=1e-6)
  for name, weight in zip(('bin', 'mc', 'reg'), HEAD_WEIGHTS):
    assert scalars['epoch_head_weight/' + name] == [weight]


@pytest.mark.parametrize('mode', ['logits_dict', 'logits_tensor'])
def test_body_giving_logits(mode):
  """The body outputs the logits: a dict keyed by head name, or one tensor split in order."""
  if mode == 'logits_dict':
    def outputs(hidden):
      return {'bin': keras.layers.Dense(1)(hidden), 'mc': keras.layers.Dense(5)(hidden),
              'reg': keras.layers.Dense(1)(hidden)}
  else:
    def outputs(hidden):
      return keras.layers.Dense(7)(hidden)
  keras.utils.set_random_seed(3)
  model = HeadModel(multi_head(), functional_body(outputs))
  assert not model.logits_layers
  model.compile(keras.optimizers.SGD(0.1))
  features, labels = make_data()
  evaluated = model.evaluate(dataset(features, labels, 16), verbose=0, return_dict=True)
  assert sorted(evaluated) == sorted(k for k in MULTI_KEYS if k != 'regularization_loss')
  assert_metrics(evaluated, expected_results(model, batches_of(features, labels, 16)))
  before = [w.copy() for w in model.get_weights()]
  model.train_on_batch(features, labels)
  assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_single_head_model(capsys):
  """A plain head (not a MultiHead): labels a tensor, its own metric keys, progress bar on."""
  keras.utils.set_random_seed(4)
  head = heads.BinaryClassHead(weight_column='w')
  model = HeadModel(head, functional_body(lambda hidden: keras.layers.Dense(1)(hidden)))
  model.compile(keras.optimizers.SGD(0.))
  features, labels = make_data()
  data = dataset(features, labels['bin'], 16)
  history = model.fit(data, epochs=1)
  assert 'accuracy' in capsys.readouterr().out  # Keras' progress bar, on by default
  expected = expected_results(model, batches_of(features, labels['bin'], 16))
  assert sorted(history.history) == sorted(expected)
  assert 'auc' in expected and 'regularization_loss' not in expected
  assert_metrics({k: v[-1] for k, v in history.history.items()}, expected)
  assert_metrics(model.evaluate(data, verbose=0, return_dict=True), expected)
  predicted = model.predict(features, verbose=0)
  np.testing.assert_allclose(predicted['logistic'],
                             head.predictions(model(features))['logistic'].numpy(), rtol=1e-6)


def test_three_tuple_data_is_refused():
  model = HeadModel(heads.RegressionHead(), keras.layers.Dense(1))
  model.compile(keras.optimizers.SGD(0.1))
  x = np.ones((4, 2), np.float32)
  data = tf.data.Dataset.from_tensor_slices((x, x[:, :1], np.ones(4, np.float32))).batch(2)
  with pytest.raises(ValueError, match=r'expects data as \(features, labels\). Got 3'):
    model.fit(data, verbose=0)


def test_compile_refuses_a_loss_or_metrics():
  model = HeadModel(heads.RegressionHead(), keras.layers.Dense(1))
  with pytest.raises(ValueError, match='loss and metrics from the head'):
    model.compile(keras.optimizers.SGD(0.1), loss='mse')


def test_unknown_body_output_is_refused():
  with pytest.raises(ValueError, match="body_output must be 'logits' or 'logits_input'"):
    HeadModel(heads.RegressionHead(), keras.layers.Dense(1), body_output='hidden')
