"""TRAIN mode of create_estimator_spec: §7 errors and a real optimizer step."""
import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import heads
from conftest import TRAIN, assert_close, esc, f32

LR = 0.1
X = f32([[1., 2.], [3., -1.], [0.5, 0.5]])
Y = f32([[1.], [2.], [-1.]])
W0 = f32([[0.3], [-0.2]])
B0 = f32([0.1])


def linear_model():
  return tf.Variable(W0), tf.Variable(B0)


def regression_grads(weights=None):
  """d/d(w, b) of mean_i w_i (x_i w + b - y_i)^2 / N, by hand."""
  weights = np.ones((3, 1), np.float32) if weights is None else weights
  residual = X @ W0 + B0 - Y
  n = X.shape[0]
  grad_w = 2. / n * X.T @ (weights * residual)
  grad_b = 2. / n * np.sum(weights * residual, axis=0)
  return grad_w, grad_b


# §7 errors ----------------------------------------------------------------------

def _spec(**kwargs):
  head = heads.RegressionHead()
  return head.create_estimator_spec({}, TRAIN, f32([[1.], [2.]]), f32([[1.], [1.]]), **kwargs)


def test_train_op_fn_and_optimizer_both_set():
  with pytest.raises(ValueError, match=esc('train_op_fn and optimizer cannot both be set.')):
    _spec(optimizer=tf_keras.optimizers.SGD(LR), train_op_fn=lambda loss: tf.no_op(),
          trainable_variables=[tf.Variable(1.)], tape=tf.GradientTape())


def test_train_op_fn_and_optimizer_both_none():
  with pytest.raises(ValueError, match=esc('train_op_fn and optimizer cannot both be None.')):
    _spec()


@pytest.mark.parametrize('optimizer', ['my_optimizer', object(),
                                       tf.compat.v1.train.GradientDescentOptimizer(0.1)])
def test_optimizer_wrong_type(optimizer):
  with pytest.raises(ValueError, match=esc(
      'The given optimizer is not a tf_keras.optimizers.Optimizer instance')) as info:
    _spec(optimizer=optimizer, trainable_variables=[tf.Variable(1.)], tape=tf.GradientTape())
  assert 'Received optimizer of type {}'.format(type(optimizer)) in str(info.value)


def test_trainable_variables_none():
  with pytest.raises(ValueError, match=esc('trainable_variables cannot be None. Given None')):
    _spec(optimizer=tf_keras.optimizers.SGD(LR), tape=tf.GradientTape())


def test_trainable_variables_not_list():
  variables = {'w': tf.Variable(1.)}
  with pytest.raises(ValueError, match=esc(
      "trainable_variables should be a list or a tuple. Given type: <class 'dict'>.")):
    _spec(optimizer=tf_keras.optimizers.SGD(LR), trainable_variables=variables,
          tape=tf.GradientTape())


@pytest.mark.parametrize('update_ops', [tf.constant(1), {'a': 1}, 'op'])
def test_update_ops_not_list(update_ops):
  with pytest.raises(ValueError, match=esc(
      'update_ops should be a list or a tuple. Given type: {}.'.format(type(update_ops)))):
    _spec(train_op_fn=lambda loss: tf.no_op(), update_ops=update_ops)


def test_update_ops_list_accepted_and_spec_fields():
  counter = tf.Variable(0)
  spec = _spec(train_op_fn=lambda loss: 'train', update_ops=[counter.assign_add(1)])
  assert spec.mode == TRAIN
  assert spec.eval_metric_ops == {}
  assert spec.export_outputs is None
  assert_close(spec.loss, 0.5)
  assert int(counter.numpy()) == 1


def test_optimizer_without_tape():
  with pytest.raises(ValueError, match=esc('tape=')):
    _spec(optimizer=tf_keras.optimizers.SGD(LR), trainable_variables=[tf.Variable(1.)])


def test_multi_head_train_errors():
  multi = heads.MultiHead([heads.RegressionHead(name='a'), heads.RegressionHead(name='b')])
  logits, labels = f32([[1., 2.]]), {'a': f32([[1.]]), 'b': f32([[1.]])}
  with pytest.raises(ValueError, match=esc('train_op_fn and optimizer cannot both be None.')):
    multi.create_estimator_spec({}, TRAIN, logits, labels)
  with pytest.raises(ValueError, match=esc('train_op_fn and optimizer cannot both be set.')):
    multi.create_estimator_spec({}, TRAIN, logits, labels, train_op_fn=lambda l: l,
                                optimizer=tf_keras.optimizers.SGD(LR),
                                trainable_variables=[tf.Variable(1.)], tape=tf.GradientTape())
  with pytest.raises(ValueError, match=esc('tape=')):
    multi.create_estimator_spec({}, TRAIN, logits, labels,
                                optimizer=tf_keras.optimizers.SGD(LR),
                                trainable_variables=[tf.Variable(1.)])


# Real optimizer step: single head ------------------------------------------------------

OPTIMIZERS = {'keras3_sgd': lambda: keras.optimizers.SGD(LR),
              'tf_keras_sgd': lambda: tf_keras.optimizers.SGD(LR),
              'tf_keras_legacy_sgd': lambda: tf_keras.optimizers.legacy.SGD(LR)}


@pytest.mark.parametrize('make_optimizer', list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_single_head_optimizer_step(make_optimizer):
  w, b = linear_model()
  head = heads.RegressionHead()
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
  spec = head.create_estimator_spec({'x': X}, TRAIN, logits, Y, optimizer=make_optimizer(),
                                    trainable_variables=[w, b], tape=tape)
  grad_w, grad_b = regression_grads()
  expected_loss = np.mean((X @ W0 + B0 - Y) ** 2)
  assert_close(spec.loss, expected_loss)
  assert spec.train_op is not None
  assert_close(w, W0 - LR * grad_w)
  assert_close(b, B0 - LR * grad_b)


def test_single_head_optimizer_step_spec_inside_tape_context():
  w, b = linear_model()
  head = heads.RegressionHead(weight_column='w')
  weights = f32([[1.], [0.5], [2.]])
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
    head.create_estimator_spec({'w': weights}, TRAIN, logits, Y,
                               optimizer=keras.optimizers.SGD(LR), trainable_variables=[w, b],
                               tape=tape)
  grad_w, grad_b = regression_grads(weights)
  assert_close(w, W0 - LR * grad_w)
  assert_close(b, B0 - LR * grad_b)


def test_single_head_regularization_gradient_flows():
  w, b = linear_model()
  head = heads.RegressionHead()
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
    l2 = 0.5 * tf.reduce_sum(tf.square(w))
  head.create_estimator_spec({}, TRAIN, logits, Y, optimizer=keras.optimizers.SGD(LR),
                             trainable_variables=[w, b], tape=tape, regularization_losses=[l2])
  grad_w, grad_b = regression_grads()
  assert_close(w, W0 - LR * (grad_w + W0))
  assert_close(b, B0 - LR * grad_b)


def test_single_head_train_op_fn_with_tape():
  w, b = linear_model()
  head = heads.RegressionHead()
  optimizer = tf_keras.optimizers.SGD(LR)
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b

  def train_op_fn(loss):
    grads = tape.gradient(loss, [w, b])
    return optimizer.apply_gradients(zip(grads, [w, b]))

  spec = head.create_estimator_spec({}, TRAIN, logits, Y, train_op_fn=train_op_fn, tape=tape)
  assert spec.train_op is not None
  grad_w, grad_b = regression_grads()
  assert_close(w, W0 - LR * grad_w)
  assert_close(b, B0 - LR * grad_b)


def test_single_head_train_op_fn_receives_loss():
  head = heads.BinaryClassHead()
  seen = []
  spec = head.create_estimator_spec({}, TRAIN, f32([[45.], [-41.]]), f32([[1.], [1.]]),
                                    train_op_fn=lambda loss: seen.append(loss) or 'my_op')
  assert spec.train_op == 'my_op'
  assert len(seen) == 1
  assert float(seen[0]) == pytest.approx(20.5)
  assert_close(spec.loss, 20.5)


def test_single_head_optimizer_step_in_tf_function():
  w, b = linear_model()
  head = heads.RegressionHead()
  optimizer = tf_keras.optimizers.SGD(LR)

  @tf.function
  def step(x, y):
    with tf.GradientTape() as tape:
      logits = tf.matmul(x, w) + b
    spec = head.create_estimator_spec({}, TRAIN, logits, y, optimizer=optimizer,
                                      trainable_variables=[w, b], tape=tape)
    return spec.loss

  loss = step(X, Y)
  grad_w, grad_b = regression_grads()
  assert_close(loss, np.mean((X @ W0 + B0 - Y) ** 2))
  assert_close(w, W0 - LR * grad_w)
  assert_close(b, B0 - LR * grad_b)


# Real optimizer step: MultiHead ---------------------------------------------------------

def test_multi_head_optimizer_step():
  # One linear layer, 2 outputs: column 0 -> regression head, column 1 -> binary head.
  w = tf.Variable(f32([[0.3, -0.5], [-0.2, 0.4]]))
  b = tf.Variable(f32([0.1, -0.1]))
  y_reg = f32([[1.], [2.], [-1.]])
  y_bin = f32([[1.], [0.], [1.]])
  multi = heads.MultiHead([heads.RegressionHead(name='reg'), heads.BinaryClassHead(name='bin')],
                          head_weights=[1., 3.])
  w0, b0 = w.numpy(), b.numpy()

  # Independent gradient of the hand-written loss.
  wi, bi = tf.Variable(w0), tf.Variable(b0)
  with tf.GradientTape() as independent:
    z = tf.matmul(X, wi) + bi
    reg = tf.reduce_mean(tf.square(z[:, :1] - y_reg))
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_bin, logits=z[:, 1:]))
    expected_loss = reg + 3. * bce
  grad_w, grad_b = independent.gradient(expected_loss, [wi, bi])

  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
  spec = multi.create_estimator_spec({}, TRAIN, logits, {'reg': y_reg, 'bin': y_bin},
                                     optimizer=keras.optimizers.SGD(LR),
                                     trainable_variables=[w, b], tape=tape)
  assert_close(spec.loss, expected_loss)
  assert_close(w, w0 - LR * grad_w.numpy())
  assert_close(b, b0 - LR * grad_b.numpy())
  assert not np.allclose(w.numpy(), w0)


def test_multi_head_train_op_fn_with_tape_and_dict_logits():
  w = tf.Variable(f32([[0.3, -0.5], [-0.2, 0.4]]))
  b = tf.Variable(f32([0.1, -0.1]))
  y_reg, y_bin = f32([[1.], [2.], [-1.]]), f32([[1.], [0.], [1.]])
  multi = heads.MultiHead([heads.RegressionHead(name='reg'), heads.BinaryClassHead(name='bin')])
  w0, b0 = w.numpy(), b.numpy()
  wi, bi = tf.Variable(w0), tf.Variable(b0)
  with tf.GradientTape() as independent:
    z = tf.matmul(X, wi) + bi
    expected_loss = (tf.reduce_mean(tf.square(z[:, :1] - y_reg)) + tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=y_bin, logits=z[:, 1:])))
  grad_w, grad_b = independent.gradient(expected_loss, [wi, bi])

  optimizer = tf_keras.optimizers.SGD(LR)
  with tf.GradientTape() as tape:
    z = tf.matmul(X, w) + b
    logits = {'reg': z[:, :1], 'bin': z[:, 1:]}

  def train_op_fn(loss):
    grads = tape.gradient(loss, [w, b])
    return optimizer.apply_gradients(zip(grads, [w, b]))

  spec = multi.create_estimator_spec({}, TRAIN, logits, {'reg': y_reg, 'bin': y_bin},
                                     train_op_fn=train_op_fn, tape=tape)
  assert_close(spec.loss, expected_loss)
  assert_close(w, w0 - LR * grad_w.numpy())
  assert_close(b, b0 - LR * grad_b.numpy())


def test_sequential_head_optimizer_step():
  w = tf.Variable(f32([[0.5], [-0.5]]))
  x = f32([[[1., 0.], [0., 1.]], [[1., 1.], [2., 2.]]])
  y = f32([[1., 0.], [0., 5.]])
  mask = tf.constant([[1, 1], [1, 0]])
  head = heads.SequentialHeadWrapper(heads.RegressionHead(), 'mask')
  wi = tf.Variable(w.numpy())
  with tf.GradientTape() as independent:
    pred = tf.squeeze(tf.matmul(x, wi), -1)
    expected = tf.reduce_sum(tf.square(pred - y) * tf.cast(mask, tf.float32)) / 3.
  grad = independent.gradient(expected, wi).numpy()
  w0 = w.numpy()
  with tf.GradientTape() as tape:
    logits = tf.matmul(x, w)
  spec = head.create_estimator_spec({'mask': mask}, TRAIN, logits, y,
                                    optimizer=keras.optimizers.SGD(LR), trainable_variables=[w],
                                    tape=tape)
  assert_close(spec.loss, expected)
  assert_close(w, w0 - LR * grad)


def test_optimizer_step_with_missing_labels_uses_labelled_rows_only():
  y = f32([[1.], [float('nan')], [-1.]])
  keep = [0, 2]
  w, b = linear_model()
  head = heads.RegressionHead(missing_label_value=float('nan'))
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
  spec = head.create_estimator_spec({}, TRAIN, logits, y, optimizer=keras.optimizers.SGD(LR),
                                    trainable_variables=[w, b], tape=tape)
  residual = X[keep] @ W0 + B0 - y[keep]
  grad_w = 2. / len(keep) * X[keep].T @ residual
  grad_b = 2. / len(keep) * np.sum(residual, axis=0)
  assert_close(spec.loss, np.mean(residual ** 2))
  assert np.all(np.isfinite(w.numpy())) and np.all(np.isfinite(b.numpy()))
  assert_close(w, W0 - LR * grad_w)
  assert_close(b, B0 - LR * grad_b)


def test_multi_head_optimizer_step_with_absent_head():
  w = tf.Variable(f32([[0.3, -0.5], [-0.2, 0.4]]))
  b = tf.Variable(f32([0.1, -0.1]))
  y_reg = f32([[1.], [2.], [-1.]])
  multi = heads.MultiHead([heads.RegressionHead(name='reg'), heads.BinaryClassHead(name='bin')],
                          head_weights=[2., 3.], allow_missing_labels=True)
  w0, b0 = w.numpy(), b.numpy()
  residual = X @ w0[:, :1] + b0[:1] - y_reg
  grad_w_col0 = 2. * 2. / 3. * X.T @ residual
  grad_b0 = 2. * 2. / 3. * np.sum(residual)
  with tf.GradientTape() as tape:
    logits = tf.matmul(X, w) + b
  multi.create_estimator_spec({}, TRAIN, logits, {'reg': y_reg},
                              optimizer=tf_keras.optimizers.SGD(LR), trainable_variables=[w, b],
                              tape=tape)
  assert_close(w[:, :1], w0[:, :1] - LR * grad_w_col0)
  assert_close(b[0], b0[0] - LR * grad_b0)
  # The absent head's column gets no gradient.
  assert_close(w[:, 1:], w0[:, 1:])
  assert_close(b[1], b0[1])
