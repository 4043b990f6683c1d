"""Bad values the original heads accepted silently are errors that name the column or head.

tf.estimator returned a NaN, zero or negative loss for non-finite labels,
negative or non-finite example weights and negative head weights, and
MultiHead(allow_missing_labels=True) dropped a head whose label key was
misspelled. Where the originals raised their own error, that error stays
(the golden tests check it); these tests cover what is new.
"""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, TRAIN, esc, eval_metrics, f32, i64
from heads.model import HeadModel
from heads.non_finite_loss import NonFiniteLossError
from heads.non_finite_loss import StopOnNonFiniteLoss

NAN, INF = float('nan'), float('inf')
WEIGHTS_MSG = 'Example weights (weight column: w) must be finite and >= 0'

HEADS = {
    'regression': (lambda **kw: heads.RegressionHead(**kw), f32([[1.], [2.]])),
    'poisson': (lambda **kw: heads.PoissonRegressionHead(**kw), f32([[1.], [2.]])),
    'logistic': (lambda **kw: heads.LogisticRegressionHead(**kw), f32([[.2], [.7]])),
    'binary': (lambda **kw: heads.BinaryClassHead(**kw), i64([[1], [0]])),
    'multi_class': (lambda **kw: heads.MultiClassHead(3, **kw), i64([[2], [0]])),
    'multi_label': (lambda **kw: heads.MultiLabelHead(2, **kw), i64([[1, 0], [1, 1]])),
}


def _logits(head):
  return np.linspace(-1., 1., 2 * head.logits_dimension, dtype=np.float32).reshape(2, -1)


def _graph(fn, *args):
  """fn(*args) inside a tf.function whose batch dimension is unknown until it runs."""
  signature = [tf.TensorSpec([None] + list(np.shape(a))[1:], tf.as_dtype(np.asarray(a).dtype))
               for a in args]
  return tf.function(fn, input_signature=signature)(*args)


# Example weights ----------------------------------------------------------------------

@pytest.mark.parametrize('name', list(HEADS))
@pytest.mark.parametrize('bad', [-1., NAN, INF], ids=['negative', 'nan', 'inf'])
def test_bad_example_weights_raise_eagerly_naming_the_column(name, bad):
  make, labels = HEADS[name]
  head = make(weight_column='w')
  features = {'w': f32([[bad], [1.]])}
  with pytest.raises(ValueError, match=esc(WEIGHTS_MSG + '; 1 of 2 values are not')):
    head.loss(labels, _logits(head), features)
  with pytest.raises(ValueError, match=esc(WEIGHTS_MSG)):
    eval_metrics(head, features, _logits(head), labels)
  with pytest.raises(ValueError, match=esc(WEIGHTS_MSG)):
    head.create_estimator_spec(features, TRAIN, _logits(head), labels,
                               train_op_fn=lambda loss: tf.no_op())


@pytest.mark.parametrize('name', list(HEADS))
def test_negative_example_weights_raise_inside_tf_function(name):
  make, labels = HEADS[name]
  head = make(weight_column='w')
  logits = _logits(head)

  def loss(labels, logits, weights):
    return head.loss(labels, logits, {'w': weights})

  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    _graph(loss, labels, logits, f32([[1.], [-1.]]))
  assert WEIGHTS_MSG in str(info.value)
  good = float(_graph(loss, labels, logits, f32([[1.], [0.]])))
  assert good == pytest.approx(float(head.loss(labels, logits, {'w': f32([[1.], [0.]])})))


def test_weights_that_were_negative_before_the_normalizer_are_fine():
  # The documented tf.estimator vector 5: raw weights [0, -0.9, 0.5], normalizer_fn x + 1.
  column = tf.feature_column.numeric_column('w', normalizer_fn=lambda x: x + 1.)
  head = heads.RegressionHead(weight_column=column)
  loss = head.loss(f32([[35.], [42.], [45.]]), f32([[45.], [41.], [44.]]),
                   {'w': f32([[0.], [-.9], [.5]])})
  assert float(loss) == pytest.approx(33.8666667)


def test_weight_check_is_not_pruned_from_a_v1_graph():
  head = heads.BinaryClassHead(weight_column='w')
  with tf.Graph().as_default():
    weights = tf.compat.v1.placeholder(tf.float32, [None, 1])
    loss = head.loss(tf.constant([[1], [0]], tf.int64), tf.constant([[1.], [-1.]]),
                     {'w': weights})
    with tf.compat.v1.Session() as session:
      assert session.run(loss, {weights: [[1.], [1.]]}) > 0
      with pytest.raises(tf.errors.InvalidArgumentError, match=esc(WEIGHTS_MSG)):
        session.run(loss, {weights: [[1.], [-2.]]})


def test_weight_and_label_checks_compile_under_xla():
  head = heads.RegressionHead(weight_column='w', name='r')
  labels, logits, weights = f32([[1.], [3.]]), f32([[2.], [2.]]), f32([[1.], [2.]])

  @tf.function(jit_compile=True)
  def loss(labels, logits, weights):
    return head.loss(labels, logits, {'w': weights})

  assert float(loss(labels, logits, weights)) == pytest.approx(1.5)


# Labels -------------------------------------------------------------------------------

@pytest.mark.parametrize('bad', [INF, -INF, NAN], ids=['inf', '-inf', 'nan'])
@pytest.mark.parametrize('make', [heads.RegressionHead, heads.PoissonRegressionHead],
                         ids=['regression', 'poisson'])
def test_a_non_finite_label_without_missing_labels_names_the_head(make, bad):
  head = make(name='mass')
  labels, logits = f32([[1.], [bad], [2.]]), f32([[0.], [0.], [0.]])
  with pytest.raises(ValueError, match=esc('Labels (head: mass) must be finite')) as info:
    head.loss(labels, logits)
  assert 'Found 1 non-finite of 3 label values' in str(info.value)
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels (head: mass)')):
    _graph(lambda labels, logits: head.loss(labels, logits), labels, logits)


@pytest.mark.parametrize('bad', [INF, -INF, NAN], ids=['inf', '-inf', 'nan'])
def test_a_non_finite_label_is_masked_with_the_nan_sentinel(bad):
  masked = heads.RegressionHead(missing_label_value=NAN)
  labels, logits = f32([[1.], [bad], [4.]]), f32([[0.], [0.], [0.]])
  assert float(masked.loss(labels, logits)) == pytest.approx((1. + 16.) / 2)
  assert float(_graph(lambda a, b: masked.loss(a, b), labels, logits)) == pytest.approx(8.5)
  metrics = eval_metrics(masked, {}, logits, labels)
  assert metrics['label/mean'] == pytest.approx(2.5)
  assert all(math.isfinite(value) for value in metrics.values())


def test_an_inf_binary_label_is_masked_with_the_nan_sentinel():
  masked = heads.BinaryClassHead(missing_label_value=NAN)
  plain = heads.BinaryClassHead()
  logits = f32([[1.], [-2.], [.5]])
  expected = float(plain.loss(f32([[1.], [0.]]), logits[[0, 2]]))
  assert float(masked.loss(f32([[1.], [INF], [0.]]), logits)) == pytest.approx(expected)


@pytest.mark.parametrize('make, message, graph_message', [
    (heads.BinaryClassHead, 'Labels must be <= 2 - 1', 'Labels must be <= n_classes - 1'),
    (heads.LogisticRegressionHead, 'Labels must be in range [0, 1]',
     'Labels must be in range [0, 1]'),
], ids=['binary', 'logistic'])
def test_heads_whose_original_rejected_a_nan_label_keep_that_error(make, message, graph_message):
  head = make()
  labels, logits = f32([[1.], [NAN]]), f32([[0.], [0.]])
  with pytest.raises(ValueError, match=esc(message)):
    head.loss(labels, logits)
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(graph_message)):
    _graph(lambda labels, logits: head.loss(labels, logits), labels, logits)


# MultiHead ----------------------------------------------------------------------------

def _two_heads(**kwargs):
  return heads.MultiHead([heads.RegressionHead(name='mass'), heads.BinaryClassHead(name='sex')],
                         **kwargs)


@pytest.mark.parametrize('weights, shown', [([1., -0.5], '-0.5'), ([1., NAN], 'nan'),
                                            ([INF, 1.], 'inf')])
def test_bad_head_weights_name_the_head(weights, shown):
  index = 1 if weights[0] == 1. else 0
  name = ['mass', 'sex'][index]
  with pytest.raises(ValueError, match=esc(
      'head_weights[{}] of head {!r} must be finite and >= 0. Given: {}'.format(
          index, name, shown))):
    _two_heads(head_weights=weights)


def test_zero_head_weight_is_allowed():
  multi = _two_heads(head_weights=[0., 2.])
  labels = {'mass': f32([[1.], [2.]]), 'sex': i64([[1], [0]])}
  logits = {'mass': f32([[0.], [0.]]), 'sex': f32([[0.], [0.]])}
  assert float(multi.loss(labels, logits)) == pytest.approx(2 * math.log(2.), rel=1e-6)


def test_a_misspelled_label_key_with_allow_missing_labels_names_key_and_heads():
  multi = _two_heads(allow_missing_labels=True)
  logits = {'mass': f32([[0.], [0.]]), 'sex': f32([[0.], [0.]])}
  labels = {'mass': f32([[1.], [2.]]), 'sx': i64([[1], [0]])}
  message = esc("labels has key(s) ['sx'] that name no head; the heads are ['mass', 'sex']")
  with pytest.raises(ValueError, match=message):
    multi.loss(labels, logits)
  with pytest.raises(ValueError, match=message):
    multi.update_metrics(multi.metrics(), {}, logits, labels)
  for mode in (TRAIN, EVAL):
    with pytest.raises(ValueError, match=message):
      multi.create_estimator_spec({}, mode, logits, labels, train_op_fn=lambda loss: tf.no_op())
  # The same labels without allow_missing_labels fail on the head they leave unlabelled.
  with pytest.raises(ValueError, match=esc("labels has missing values for head(s): ['sex']")):
    _two_heads().loss(labels, logits)


@pytest.mark.parametrize('width', [2, 4])
def test_concatenated_logits_of_the_wrong_width_state_both_sizes_right(width):
  multi = heads.MultiHead([heads.BinaryClassHead(name='a'), heads.MultiClassHead(3, name='b')])
  with pytest.raises(ValueError, match=esc(
      'Could not split logits of shape [2, {}] among the heads with individual logits '
      'dimensions: [1, 3]. The last dimension of the logits tensor should equal 4 but is '
      '{}.'.format(width + 1, width + 1))):
    multi.predictions(np.zeros((2, width + 1), np.float32))


# Non-finite training loss ---------------------------------------------------------------

def _model_with_independent_heads():
  """Head 'mass' sees only feature x, head 'sex' only feature z."""
  x = keras.Input(shape=(1,), name='x')
  z = keras.Input(shape=(1,), name='z')
  body = keras.Model({'x': x, 'z': z}, {'mass': keras.layers.Dense(1)(x),
                                        'sex': keras.layers.Dense(1)(z)})
  model = HeadModel(_two_heads(), body)
  model.compile(optimizer=keras.optimizers.SGD(0.01))
  return model


def _data(x_values):
  n = len(x_values)
  features = {'x': f32(x_values).reshape(n, 1), 'z': f32(np.linspace(-1, 1, n)).reshape(n, 1)}
  labels = {'mass': f32(np.arange(n)).reshape(n, 1), 'sex': i64(np.arange(n) % 2).reshape(n, 1)}
  return tf.data.Dataset.from_tensor_slices((features, labels)).batch(2)


def test_a_non_finite_loss_stops_training_naming_the_head():
  model = _model_with_independent_heads()
  with pytest.raises(NonFiniteLossError) as info:
    model.fit(_data([1., 2., 3., INF, 5., 6.]), epochs=1, verbose=0,
              callbacks=[StopOnNonFiniteLoss()])
  assert info.value.heads == ['mass']
  assert info.value.step == 2
  assert "Training stopped at step 2" in str(info.value)
  assert "the loss of head(s) 'mass' is non-finite (loss/mass = " in str(info.value)
  assert int(model.optimizer.iterations.numpy()) == 2


def test_finite_training_is_not_stopped():
  model = _model_with_independent_heads()
  history = model.fit(_data([1., 2., 3., 4.]), epochs=2, verbose=0,
                      callbacks=[StopOnNonFiniteLoss()])
  assert len(history.history['loss']) == 2
  assert all(math.isfinite(value) for value in history.history['loss/sex'])
