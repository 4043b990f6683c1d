"""RegressionHead: reference §1, §2, §3, §4, §5 and test vectors 1-11 (§9)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, assert_metrics
from conftest import eval_metrics, f32

LOGITS = f32([[45.], [41.]])
LABELS = f32([[43.], [44.]])
FEATURES = {'x': f32([[1.], [2.]])}


def test_head_properties():
  head = heads.RegressionHead(label_dimension=3, name='r')
  assert head.logits_dimension == 3
  assert head.name == 'r'
  assert head.loss_reduction == 'sum_over_batch_size'
  assert heads.RegressionHead().name is None


# Vector 1 ----------------------------------------------------------------------

def test_v1_eval_loss_metrics_and_predictions():
  head = heads.RegressionHead()
  assert_loss(head, LABELS, LOGITS, 6.5)
  spec = head.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS)
  assert spec.mode == EVAL
  assert_close(spec.loss, 6.5)
  assert spec.train_op is None
  assert spec.export_outputs is None
  assert set(spec.predictions) == {'predictions'}
  assert_close(spec.predictions['predictions'], LOGITS)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, {'average_loss': 6.5, 'label/mean': 43.5, 'prediction/mean': 43.0})


# Vector 2 ----------------------------------------------------------------------

def test_v2_sum_reduction():
  head = heads.RegressionHead(loss_reduction=tf_keras.losses.Reduction.SUM)
  assert head.loss_reduction == 'sum'
  assert_loss(head, LABELS, LOGITS, 13.)
  spec = head.create_estimator_spec(FEATURES, TRAIN, LOGITS, LABELS,
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 13.)


# Vector 3 ----------------------------------------------------------------------

def test_v3_eval_with_regularization_losses():
  head = heads.RegressionHead()
  regs = [1.5, 0.5]
  assert_loss(head, LABELS, LOGITS, 8.5, regularization_losses=regs)
  spec = head.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS, regularization_losses=regs)
  assert_close(spec.loss, 8.5)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, {'average_loss': 6.5, 'regularization_loss': 2.,
                           'prediction/mean': (45 + 41) / 2., 'label/mean': (43 + 44) / 2.})


def test_v3_train_with_regularization_losses_summaries(summaries):
  head = heads.RegressionHead()
  spec, values = summaries(lambda: head.create_estimator_spec(
      FEATURES, TRAIN, LOGITS, LABELS, train_op_fn=lambda loss: tf.no_op(),
      regularization_losses=[1.5, 0.5]))
  assert_close(spec.loss, 8.5)
  assert spec.eval_metric_ops == {}
  assert spec.export_outputs is None
  assert values == pytest.approx({'loss': 8.5, 'regularization_loss': 2.})


def test_named_head_summary_and_metric_keys(summaries):
  head = heads.RegressionHead(name='head1')
  spec, values = summaries(lambda: head.create_estimator_spec(
      FEATURES, TRAIN, LOGITS, LABELS, train_op_fn=lambda loss: tf.no_op(),
      regularization_losses=[1.5, 0.5]))
  assert values == pytest.approx({'loss/head1': 8.5, 'regularization_loss/head1': 2.})
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS, regularization_losses=[1.5, 0.5])
  assert_metrics(metrics, {'average_loss/head1': 6.5, 'regularization_loss/head1': 2.,
                           'prediction/mean/head1': 43., 'label/mean/head1': 43.5})


# Vectors 4-6: weights ------------------------------------------------------------

W_LOGITS = f32([[45.], [41.], [44.]])
W_LABELS = f32([[35.], [42.], [45.]])
WEIGHTS = f32([[1.], [.1], [1.5]])


def test_v4_weighted_multi_example_eval():
  head = heads.RegressionHead(weight_column='label_weights')
  features = {'x': f32([[1.], [2.], [3.]]), 'label_weights': WEIGHTS}
  assert_loss(head, W_LABELS, W_LOGITS, 33.8666667, features=features)
  metrics = eval_metrics(head, features, W_LOGITS, W_LABELS)
  assert_metrics(metrics, {
      'average_loss': 39.0769231,
      'prediction/mean': (45 + 41 * 0.1 + 44 * 1.5) / 2.6,
      'label/mean': (35 + 42 * 0.1 + 45 * 1.5) / 2.6})


def test_v5_weight_with_numeric_column():
  column = tf.feature_column.numeric_column('label_weights', normalizer_fn=lambda x: x + 1.)
  head = heads.RegressionHead(weight_column=column)
  features = {'x': f32([[1.], [2.], [3.]]), 'label_weights': f32([[0.], [-0.9], [0.5]])}
  assert_loss(head, W_LABELS, W_LOGITS, 33.8666667, features=features)


def test_v6_rank1_labels_and_weights():
  head = heads.RegressionHead(weight_column='label_weights')
  features = {'x': f32([[1.], [2.], [3.]]), 'label_weights': f32([1., .1, 1.5])}
  assert_loss(head, f32([35., 42., 45.]), W_LOGITS, 33.8666667, features=features)
  spec = head.create_estimator_spec(features, TRAIN, W_LOGITS, f32([35., 42., 45.]),
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 33.8666667)


def test_integer_weights_are_cast_to_float():
  head = heads.RegressionHead(weight_column='w')
  features = {'w': np.array([[1], [2]], dtype=np.int64)}
  # (4*1 + 9*2) / 2 = 11
  assert_loss(head, LABELS, LOGITS, 11., features=features)


# Vector 7-9: multi-dimensional -----------------------------------------------------

def test_v7_weighted_multi_value_eval():
  head = heads.RegressionHead(label_dimension=3, weight_column='label_weights')
  features = {'label_weights': f32([[1., .1, 1.5]])}
  logits, labels = f32([[45., 41., 44.]]), f32([[35., 42., 45.]])
  assert_loss(head, labels, logits, 33.8666667, features=features)
  metrics = eval_metrics(head, features, logits, labels)
  assert_metrics(metrics, {
      'average_loss': 39.0769231,
      'prediction/mean': (45 + 41 * 0.1 + 44 * 1.5) / 2.6,
      'label/mean': (35 + 42 * 0.1 + 45 * 1.5) / 2.6})


def test_v8_multi_dim_weighted_train():
  head = heads.RegressionHead(label_dimension=3, weight_column='label_weights')
  logits = f32([[[0., 1., 2.], [10., 11., 12.]], [[20., 21., 22.], [30., 31., 32.]]])
  labels = f32([[[1., 2., 3.], [12., 13., 14.]], [[23., 24., 25.], [34., 35., 36.]]])
  features = {'label_weights': f32([[1., 1.5], [2., 2.5]])}
  assert_loss(head, labels, logits, 16.25, features=features)
  spec = head.create_estimator_spec(features, TRAIN, logits, labels,
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 16.25)
  assert spec.predictions['predictions'].shape == (2, 2, 3)


def test_v8_weights_with_trailing_one_and_per_logit_weights():
  head = heads.RegressionHead(label_dimension=3, weight_column='w')
  logits = f32([[[0., 1., 2.], [10., 11., 12.]], [[20., 21., 22.], [30., 31., 32.]]])
  labels = logits + f32([[[1.], [2.]], [[3.], [4.]]])
  w = f32([[1., 1.5], [2., 2.5]])
  assert_loss(head, labels, logits, 16.25, features={'w': w[..., None]})
  per_logit = np.repeat(w[..., None], 3, axis=-1)
  assert_loss(head, labels, logits, 16.25, features={'w': per_logit})


def test_v9_custom_loss_fn():
  def loss_fn(labels, logits):
    del labels, logits
    return tf.constant([[0., 1.], [2., 3.]])

  head = heads.RegressionHead(label_dimension=2, loss_fn=loss_fn)
  logits, labels = f32([[-1., 1.], [-2., 2.]]), f32([[1., 0.], [2., -1.]])
  assert_loss(head, labels, logits, 1.5)
  spec = head.create_estimator_spec({'x': f32([[1.], [2.]])}, EVAL, logits, labels)
  assert_close(spec.loss, 1.5)
  assert float(spec.eval_metric_ops['average_loss'].result()) == pytest.approx(1.5)


def test_loss_fn_receives_features_only_if_named():
  seen = {}

  def with_features(labels, logits, features):
    seen['features'] = features
    return tf.math.squared_difference(labels, logits)

  def without_features(labels, logits):
    return tf.math.squared_difference(labels, logits)

  features = {'x': f32([[1.], [2.]])}
  heads.RegressionHead(loss_fn=with_features).loss(LABELS, LOGITS, features)
  assert seen['features'] is features
  assert float(heads.RegressionHead(loss_fn=without_features).loss(
      LABELS, LOGITS, features)) == pytest.approx(6.5)


# Vector 10 ----------------------------------------------------------------------

def test_v10_weighted_multi_batch_eval():
  head = heads.RegressionHead(weight_column='label_weights')
  metrics = head.metrics()
  losses = []
  for i in range(3):
    features = {'label_weights': WEIGHTS[i:i + 1]}
    losses.append(float(head.loss(W_LABELS[i:i + 1], W_LOGITS[i:i + 1], features)))
    head.update_metrics(metrics, features, W_LOGITS[i:i + 1], W_LABELS[i:i + 1])
  np.testing.assert_allclose(losses, [100., .1, 1.5], rtol=1e-5)
  results = {k: float(m.result()) for k, m in metrics.items()}
  assert_metrics(results, {
      'average_loss': 39.076923,
      'prediction/mean': (45 + 41 * 0.1 + 44 * 1.5) / 2.6,
      'label/mean': (35 + 42 * 0.1 + 45 * 1.5) / 2.6})
  assert results['prediction/mean'] == pytest.approx(44.269, abs=1e-3)
  assert results['label/mean'] == pytest.approx(41.038, abs=1e-3)


# Vector 11 + §3 / §5 ------------------------------------------------------------

def test_v11_predict_with_inverse_link_fn():
  head = heads.RegressionHead(inverse_link_fn=lambda logits: logits - 10.)
  spec = head.create_estimator_spec(FEATURES, PREDICT, LOGITS)
  assert spec.mode == PREDICT
  assert spec.loss is None and spec.train_op is None
  assert set(spec.predictions) == {'predictions', 'logits'}
  assert_close(spec.predictions['predictions'], [[35.], [31.]])
  assert_close(spec.predictions['logits'], LOGITS)
  assert set(spec.export_outputs) == {'serving_default', 'predict', 'regression'}
  assert isinstance(spec.export_outputs['serving_default'], heads.RegressionOutput)
  assert isinstance(spec.export_outputs['regression'], heads.RegressionOutput)
  assert isinstance(spec.export_outputs['predict'], heads.PredictOutput)
  assert_close(spec.export_outputs['predict'].outputs['logits'], LOGITS)
  assert_close(spec.export_outputs['predict'].outputs['predictions'], [[35.], [31.]])
  assert_close(spec.export_outputs['regression'].value, [[35.], [31.]])
  assert_close(spec.export_outputs['serving_default'].value, [[35.], [31.]])


def test_v11_prediction_mean_uses_inverse_link():
  head = heads.RegressionHead(inverse_link_fn=lambda logits: logits - 10.)
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS)
  assert metrics['prediction/mean'] == pytest.approx(33.)
  assert metrics['average_loss'] == pytest.approx(6.5)


@pytest.mark.parametrize('label_dimension', [1, 3])
def test_predictions_dtype_shape_and_export(label_dimension):
  head = heads.RegressionHead(label_dimension=label_dimension)
  logits = np.arange(2 * label_dimension, dtype=np.float64).reshape(2, label_dimension)
  predictions = head.predictions(logits)
  assert set(predictions) == {'predictions'}
  assert predictions['predictions'].dtype == tf.float32
  assert predictions['predictions'].shape == (2, label_dimension)
  spec = head.create_estimator_spec({}, PREDICT, logits)
  assert set(spec.export_outputs) == {'serving_default', 'predict', 'regression'}
  assert_close(spec.export_outputs['serving_default'].value, logits)
  assert list(spec.export_outputs['predict'].outputs) == ['predictions']


def test_predictions_in_graph_mode():
  head = heads.RegressionHead(label_dimension=2)

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
  def predict(logits):
    return head.predictions(logits)['predictions']

  assert_close(predict(f32([[1., 2.], [3., 4.]])), [[1., 2.], [3., 4.]])


def test_auto_reduction_is_sum_over_batch_size():
  head = heads.RegressionHead(loss_reduction=tf_keras.losses.Reduction.AUTO)
  assert_loss(head, LABELS, LOGITS, 6.5)


def test_eval_and_train_loss_identical_with_weights():
  head = heads.RegressionHead(weight_column='label_weights')
  features = {'label_weights': WEIGHTS}
  train = head.create_estimator_spec(features, TRAIN, W_LOGITS, W_LABELS,
                                     train_op_fn=lambda loss: tf.no_op(),
                                     regularization_losses=[1.])
  evaluation = head.create_estimator_spec(features, EVAL, W_LOGITS, W_LABELS,
                                          regularization_losses=[1.])
  assert_close(train.loss, 34.8666667)
  assert_close(evaluation.loss, 34.8666667)
