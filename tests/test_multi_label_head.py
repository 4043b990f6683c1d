"""MultiLabelHead: reference §1-§5 and test vectors 30-37."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, assert_metrics, esc
from conftest import eval_metrics, f32, i64

LOGITS = f32([[-1., 1.], [-1.5, 1.5]])
LABELS = i64([[1, 0], [1, 1]])
FEATURES = {'x': f32([[1.], [2.]])}


def bce(labels, logits):
  labels, logits = np.asarray(labels, np.float64), np.asarray(logits, np.float64)
  return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


V30_LOSS = 0.5 * np.sum(np.mean(bce(LABELS, LOGITS), axis=-1))


def sparse_labels():
  return tf.SparseTensor(values=i64([0, 0, 1]), indices=i64([[0, 0], [1, 0], [1, 1]]),
                         dense_shape=i64([2, 2]))


def vocab_sparse_labels():
  return tf.SparseTensor(values=np.array([b'class0', b'class0', b'class1']),
                         indices=i64([[0, 0], [1, 0], [1, 1]]), dense_shape=i64([2, 2]))


def test_head_properties():
  head = heads.MultiLabelHead(4, name='ml')
  assert head.logits_dimension == 4
  assert head.name == 'ml'
  assert head.loss_reduction == 'sum_over_batch_size'


# Predictions / export (§3, §5) ----------------------------------------------------

def test_predictions_and_export_outputs():
  head = heads.MultiLabelHead(3)
  logits = f32([[-1., 1., 0.5], [2., -2., 0.]])
  spec = head.create_estimator_spec(FEATURES, PREDICT, logits)
  p = spec.predictions
  assert set(p) == {'logits', 'probabilities', 'classes'}
  assert_close(p['logits'], logits)
  assert_close(p['probabilities'], 1. / (1. + np.exp(-logits)))
  np.testing.assert_array_equal(p['classes'], [[b'0', b'1', b'2']] * 2)
  assert p['probabilities'].dtype == tf.float32
  assert p['classes'].dtype == tf.string
  assert tuple(p['classes'].shape) == (2, 3)
  outputs = spec.export_outputs
  assert set(outputs) == {'serving_default', 'classification', 'predict'}
  for key in ('serving_default', 'classification'):
    assert isinstance(outputs[key], heads.ClassificationOutput)
    assert_close(outputs[key].scores, p['probabilities'])
    np.testing.assert_array_equal(outputs[key].classes, [[b'0', b'1', b'2']] * 2)
  assert isinstance(outputs['predict'], heads.PredictOutput)


def test_predictions_with_vocabulary():
  head = heads.MultiLabelHead(2, label_vocabulary=['a', 'b'])
  p = head.predictions(LOGITS)
  np.testing.assert_array_equal(p['classes'], [[b'a', b'b']] * 2)


def test_unknown_prediction_key():
  head = heads.MultiLabelHead(2)
  with pytest.raises(ValueError, match=esc('Prediction key must be in PredictionKeys, '
                                           'given: class_ids.Valid prediction keys include')):
    head.predictions(LOGITS, keys=['class_ids'])


# Vector 30-31 -------------------------------------------------------------------

V30_METRICS = {'average_loss': V30_LOSS, 'auc': 0.3333, 'auc_precision_recall': 0.7689}


def _check_v30(labels, head):
  assert_loss(head, labels, LOGITS, V30_LOSS)
  assert V30_LOSS == pytest.approx(1.1323375, rel=1e-6)
  spec = head.create_estimator_spec(FEATURES, EVAL, LOGITS, labels)
  assert_close(spec.loss, V30_LOSS)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, V30_METRICS, rtol=0, atol=1e-4)


def test_v30_eval():
  _check_v30(LABELS, heads.MultiLabelHead(2))


def test_v31_eval_sparse_labels():
  _check_v30(sparse_labels(), heads.MultiLabelHead(2))


def test_v31_eval_with_label_vocabulary():
  _check_v30(vocab_sparse_labels(), heads.MultiLabelHead(2, label_vocabulary=['class0',
                                                                             'class1']))


def test_v31_sparse_labels_in_graph_mode():
  head = heads.MultiLabelHead(2)

  @tf.function(input_signature=[tf.SparseTensorSpec([None, None], tf.int64),
                                tf.TensorSpec([None, 2], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  assert float(loss(sparse_labels(), LOGITS)) == pytest.approx(V30_LOSS, rel=1e-5)


# Vector 32 ----------------------------------------------------------------------

def test_v32_eval_with_thresholds():
  head = heads.MultiLabelHead(2, thresholds=[0.25, 0.5, 0.75])
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS)
  expected = dict(V30_METRICS)
  expected.update({
      'accuracy/positive_threshold_0.25': 2. / 4, 'precision/positive_threshold_0.25': 2. / 3,
      'recall/positive_threshold_0.25': 2. / 3,
      'accuracy/positive_threshold_0.5': 1. / 4, 'precision/positive_threshold_0.5': 1. / 2,
      'recall/positive_threshold_0.5': 1. / 3,
      'accuracy/positive_threshold_0.75': 2. / 4, 'precision/positive_threshold_0.75': 1.,
      'recall/positive_threshold_0.75': 1. / 3})
  assert_metrics(metrics, expected, rtol=0, atol=1e-4)


# Vector 33 ----------------------------------------------------------------------

def test_v33_classes_for_class_based_metrics():
  head = heads.MultiLabelHead(2, classes_for_class_based_metrics=[0, 1])
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS)
  p0 = np.mean(1. / (1. + np.exp([1., 1.5])))
  expected = dict(V30_METRICS)
  expected.update({
      'probability_mean/class0': p0, 'auc/class0': 0., 'auc_precision_recall/class0': 1.,
      'probability_mean/class1': 1. - p0, 'auc/class1': 1., 'auc_precision_recall/class1': 1.})
  assert_metrics(metrics, expected, rtol=0, atol=1e-4)
  assert metrics['probability_mean/class0'] == pytest.approx(0.22568, abs=1e-5)
  assert metrics['probability_mean/class1'] == pytest.approx(0.77432, abs=1e-5)


def test_v33_classes_for_class_based_metrics_strings():
  head = heads.MultiLabelHead(2, label_vocabulary=['a', 'b'],
                              classes_for_class_based_metrics=['a', 'b'], name='ml')
  labels = tf.SparseTensor(values=np.array([b'a', b'a', b'b']),
                           indices=i64([[0, 0], [1, 0], [1, 1]]), dense_shape=i64([2, 2]))
  metrics = eval_metrics(head, FEATURES, LOGITS, labels)
  p0 = np.mean(1. / (1. + np.exp([1., 1.5])))
  expected = {k + '/ml': v for k, v in V30_METRICS.items()}
  expected.update({
      'probability_mean/a/ml': p0, 'auc/a/ml': 0., 'auc_precision_recall/a/ml': 1.,
      'probability_mean/b/ml': 1. - p0, 'auc/b/ml': 1., 'auc_precision_recall/b/ml': 1.})
  assert_metrics(metrics, expected, rtol=0, atol=1e-4)


def test_v33_one_class_only():
  head = heads.MultiLabelHead(3, classes_for_class_based_metrics=[2])
  assert {k for k in head.metrics() if 'class' in k} == {
      'probability_mean/class2', 'auc/class2', 'auc_precision_recall/class2'}


# Vector 34 ----------------------------------------------------------------------

T_LOGITS = f32([[-10., 10.], [-15., 10.]])


@pytest.mark.parametrize('label_kind', ['dense', 'sparse', 'vocabulary'])
def test_v34_train(label_kind, summaries):
  if label_kind == 'vocabulary':
    head = heads.MultiLabelHead(2, label_vocabulary=['class0', 'class1'])
    labels = vocab_sparse_labels()
  else:
    head = heads.MultiLabelHead(2)
    labels = LABELS if label_kind == 'dense' else sparse_labels()
  assert_loss(head, labels, T_LOGITS, 8.75, rtol=1e-4)
  assert_loss(head, labels, T_LOGITS, 10.75, regularization_losses=[1.5, 0.5], rtol=1e-4)
  spec, values = summaries(lambda: head.create_estimator_spec(
      FEATURES, TRAIN, T_LOGITS, labels, train_op_fn=lambda loss: tf.no_op(),
      regularization_losses=[1.5, 0.5]))
  assert_close(spec.loss, 10.75, rtol=1e-4)
  assert spec.eval_metric_ops == {}
  assert values == pytest.approx({'loss': 10.75, 'regularization_loss': 2.}, rel=1e-4)


# Vector 35 ----------------------------------------------------------------------

def test_v35_eval_with_weights():
  head = heads.MultiLabelHead(2, weight_column='example_weights')
  features = {'x': f32([[41.], [42.]]), 'example_weights': f32([[1.], [2.]])}
  assert_loss(head, LABELS, T_LOGITS, 12.5, features=features, rtol=1e-4)
  metrics = eval_metrics(head, features, T_LOGITS, LABELS)
  assert_metrics(metrics, {'average_loss': 12.5 * 2. / 3, 'auc': 0.2000,
                           'auc_precision_recall': 0.7280}, rtol=0, atol=1e-3)


def test_v35_sum_reduction():
  head = heads.MultiLabelHead(2, weight_column='example_weights', loss_reduction='sum')
  features = {'example_weights': f32([[1.], [2.]])}
  assert_loss(head, LABELS, T_LOGITS, 25., features=features, rtol=1e-4)


def test_v35_rank1_weights():
  head = heads.MultiLabelHead(2, weight_column='example_weights')
  assert_loss(head, LABELS, T_LOGITS, 12.5, features={'example_weights': f32([1., 2.])},
              rtol=1e-4)


# Vector 36 ----------------------------------------------------------------------

def test_v36_multi_dim_weighted():
  head = heads.MultiLabelHead(3, weight_column='w')
  logits = f32([[[-10., 10., -10.], [10., -10., 10.]], [[-12., 12., -12.], [12., -12., 12.]]])
  labels = i64([[[1, 0, 0], [1, 0, 0]], [[0, 1, 1], [0, 1, 1]]])
  features = {'w': f32([[1., 1.5], [2., 2.5]])}
  assert_loss(head, labels, logits, 9.9167, features=features, rtol=0, atol=1e-3)
  spec = head.create_estimator_spec(features, TRAIN, logits, labels,
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 9.9167, rtol=0, atol=1e-3)
  metrics = eval_metrics(head, features, logits, labels)
  assert_metrics(metrics, {'average_loss': 9.9167 * 4 / 7, 'auc': 0.4977,
                           'auc_precision_recall': 0.5461}, rtol=0, atol=1e-3)


# Vector 37 ----------------------------------------------------------------------

def test_v37_invalid_sparse_labels_eager():
  head = heads.MultiLabelHead(2)
  labels = tf.SparseTensor(values=i64([2, 0, 1]), indices=i64([[0, 0], [1, 0], [1, 1]]),
                           dense_shape=i64([2, 2]))
  with pytest.raises(ValueError, match=esc(
      'labels must be an integer SparseTensor with values in [0, 2)')):
    head.loss(labels, T_LOGITS)


@pytest.mark.parametrize('bad', [2, -1])
def test_v37_invalid_sparse_labels_graph(bad):
  head = heads.MultiLabelHead(2)

  @tf.function(input_signature=[tf.SparseTensorSpec([None, None], tf.int64),
                                tf.TensorSpec([None, 2], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  labels = tf.SparseTensor(values=i64([bad, 0, 1]), indices=i64([[0, 0], [1, 0], [1, 1]]),
                           dense_shape=i64([2, 2]))
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(
      'labels must be an integer SparseTensor with values in [0, 2)')):
    loss(labels, T_LOGITS)


def test_v37_invalid_dense_labels_eager_and_graph():
  head = heads.MultiLabelHead(2)
  labels = i64([[2, 0], [1, 1]])
  msg = esc('labels must be an integer indicator Tensor with values in [0, 1]')
  with pytest.raises(ValueError, match=msg):
    head.loss(labels, T_LOGITS)

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int64),
                                tf.TensorSpec([None, 2], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
    loss(labels, T_LOGITS)


def test_sparse_float_labels_rejected():
  head = heads.MultiLabelHead(2)
  labels = tf.SparseTensor(values=f32([0., 0., 1.]), indices=i64([[0, 0], [1, 0], [1, 1]]),
                           dense_shape=i64([2, 2]))
  with pytest.raises(ValueError, match=esc('Labels dtype should be integer. Instead got')):
    head.loss(labels, T_LOGITS)


def test_dense_labels_wrong_dimension():
  head = heads.MultiLabelHead(2)
  with pytest.raises(ValueError, match=esc('Expected labels dimension=2')):
    head.loss(i64([[1, 0, 0], [1, 1, 0]]), T_LOGITS)


def test_per_class_weights_not_supported():
  head = heads.MultiLabelHead(2, weight_column='w')
  with pytest.raises(ValueError, match=esc(
      'weights shape must be [D0, D1, ... DN] or [D0, D1, ... DN, 1], '
      'logits_shape: (2, 2). weights_shape: (2, 2).')):
    head.loss(LABELS, T_LOGITS, {'w': f32([[1., 2.], [3., 4.]])})


def test_custom_loss_fn():
  def loss_fn(labels, logits):
    return tf.reduce_sum(tf.cast(labels, tf.float32) * logits, axis=-1, keepdims=True)

  head = heads.MultiLabelHead(2, loss_fn=loss_fn)
  # rows: -10 ; -15 + 10 = -5 -> mean -7.5
  assert_loss(head, LABELS, T_LOGITS, -7.5)
