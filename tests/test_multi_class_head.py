"""MultiClassHead: reference §1-§5 and test vectors 24-29."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, assert_metrics, esc
from conftest import eval_metrics, f32, i64

VOCAB = ['aang', 'iroh', 'zuko']
LOGITS = f32([[10., 0., 0.], [0., 10., 0.]])
LABELS = i64([[1], [1]])
FEATURES = {'x': f32([[1.], [2.]])}


def test_head_properties():
  head = heads.MultiClassHead(3, name='mc')
  assert head.logits_dimension == 3
  assert head.name == 'mc'
  assert head.loss_reduction == 'sum_over_batch_size'


def test_tensor_n_classes_is_accepted():
  head = heads.MultiClassHead(tf.constant(3))
  assert int(head.logits_dimension) == 3
  p = head.predictions(f32([[1., 0., 0.], [0., 0., 1.]]))
  np.testing.assert_array_equal(p['class_ids'], [[0], [2]])
  np.testing.assert_array_equal(p['all_class_ids'], [[0, 1, 2]] * 2)


# Vector 24 ----------------------------------------------------------------------

def test_v24_predict():
  head = heads.MultiClassHead(3)
  logits = f32([[1., 0., 0.], [0., 0., 1.]])
  spec = head.create_estimator_spec(FEATURES, PREDICT, logits)
  p = spec.predictions
  assert set(p) == {'logits', 'probabilities', 'class_ids', 'classes', 'all_class_ids',
                    'all_classes'}
  assert_close(p['logits'], logits)
  assert_close(p['probabilities'], [[0.576117, 0.2119416, 0.2119416],
                                    [0.2119416, 0.2119416, 0.576117]])
  np.testing.assert_array_equal(p['class_ids'], [[0], [2]])
  np.testing.assert_array_equal(p['classes'], [[b'0'], [b'2']])
  np.testing.assert_array_equal(p['all_class_ids'], [[0, 1, 2]] * 2)
  np.testing.assert_array_equal(p['all_classes'], [[b'0', b'1', b'2']] * 2)
  expected_types = {
      'logits': (tf.float32, (2, 3)), 'probabilities': (tf.float32, (2, 3)),
      'class_ids': (tf.int64, (2, 1)), 'classes': (tf.string, (2, 1)),
      'all_class_ids': (tf.int32, (2, 3)), 'all_classes': (tf.string, (2, 3))}
  for key, (dtype, shape) in expected_types.items():
    assert p[key].dtype == dtype, key
    assert tuple(p[key].shape) == shape, key
  outputs = spec.export_outputs
  assert set(outputs) == {'serving_default', 'predict', 'classification'}
  for key in ('serving_default', 'classification'):
    assert isinstance(outputs[key], heads.ClassificationOutput)
    assert_close(outputs[key].scores, p['probabilities'])
    np.testing.assert_array_equal(outputs[key].classes, [[b'0', b'1', b'2']] * 2)
  assert isinstance(outputs['predict'], heads.PredictOutput)
  assert set(outputs['predict'].outputs) == set(p)


def test_v24_predict_with_vocabulary():
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB)
  spec = head.create_estimator_spec(FEATURES, PREDICT, f32([[1., 0., 0.], [0., 0., 1.]]))
  np.testing.assert_array_equal(spec.predictions['classes'], [[b'aang'], [b'zuko']])
  np.testing.assert_array_equal(spec.predictions['all_classes'],
                                [[b'aang', b'iroh', b'zuko']] * 2)
  np.testing.assert_array_equal(spec.export_outputs['classification'].classes,
                                [[b'aang', b'iroh', b'zuko']] * 2)
  np.testing.assert_array_equal(spec.export_outputs['serving_default'].classes,
                                [[b'aang', b'iroh', b'zuko']] * 2)


def test_multi_dim_predictions_all_use_batch_dim_only():
  head = heads.MultiClassHead(3)
  logits = f32([[[10., 0., 0.], [12., 0., 0.]], [[0., 10., 0.], [0., 15., 0.]]])
  p = head.predictions(logits)
  assert tuple(p['class_ids'].shape) == (2, 2, 1)
  assert tuple(p['classes'].shape) == (2, 2, 1)
  assert tuple(p['probabilities'].shape) == (2, 2, 3)
  assert tuple(p['all_class_ids'].shape) == (2, 3)
  assert tuple(p['all_classes'].shape) == (2, 3)


def test_unknown_prediction_key():
  head = heads.MultiClassHead(3)
  with pytest.raises(ValueError, match=esc('Prediction key must be in PredictionKeys, '
                                           'given: logistic.Valid prediction keys include')):
    head.predictions(f32([[1., 0., 0.]]), keys=['logistic'])


# Vector 25 ----------------------------------------------------------------------

def test_v25_eval():
  head = heads.MultiClassHead(3)
  assert_loss(head, LABELS, LOGITS, 5., rtol=1e-4)
  spec = head.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS)
  assert_close(spec.loss, 5., rtol=1e-4)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, {'average_loss': 5., 'accuracy': 0.5}, rtol=1e-4)


def test_v25_sum_reduction_and_unreduced_loss():
  head = heads.MultiClassHead(3, loss_reduction='sum')
  assert_loss(head, LABELS, LOGITS, 10., rtol=1e-4)
  unreduced = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 1], logits=LOGITS)
  np.testing.assert_allclose(unreduced, [10., 0.], atol=1e-3)


def test_v25_rank1_labels():
  head = heads.MultiClassHead(3)
  assert_loss(head, i64([1, 1]), LOGITS, 5., rtol=1e-4)


def test_v25_int32_labels():
  head = heads.MultiClassHead(3)
  assert_loss(head, np.array([[1], [1]], np.int32), LOGITS, 5., rtol=1e-4)


# Vector 26 ----------------------------------------------------------------------

def test_v26_eval_with_label_vocabulary():
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB)
  labels = np.array([[b'iroh'], [b'iroh']])
  assert_loss(head, labels, LOGITS, 5., rtol=1e-4)
  metrics = eval_metrics(head, FEATURES, LOGITS, labels)
  assert_metrics(metrics, {'average_loss': 5., 'accuracy': 0.5}, rtol=1e-4)


# Vector 27 ----------------------------------------------------------------------

def test_v27_weighted_multi_example_eval():
  head = heads.MultiClassHead(3, weight_column='label_weights')
  features = {'label_weights': f32([[1.], [2.], [3.]])}
  logits = f32([[10., 0., 0.], [0., 10., 0.], [0., 0., 10.]])
  labels = i64([[1], [2], [2]])
  assert_loss(head, labels, logits, 10., features=features, rtol=1e-4)
  spec = head.create_estimator_spec(features, EVAL, logits, labels)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, {'average_loss': 5., 'accuracy': 0.5}, rtol=1e-4)


# Vector 28 ----------------------------------------------------------------------

def test_v28_multi_dim_weighted_eval():
  head = heads.MultiClassHead(3, weight_column='w')
  logits = f32([[[10., 0., 0.], [12., 0., 0.]], [[0., 10., 0.], [0., 15., 0.]]])
  labels = i64([[[0], [1]], [[1], [2]]])
  features = {'w': f32([[1., 1.5], [2., 2.5]])}
  assert_loss(head, labels, logits, 13.875, features=features, rtol=1e-4)
  metrics = eval_metrics(head, features, logits, labels)
  assert_metrics(metrics, {'average_loss': 55.5 / 7, 'accuracy': 3. / 7}, rtol=1e-4)


def test_v28_regularization_and_name():
  head = heads.MultiClassHead(3, name='mc')
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS, regularization_losses=[1.5, 0.5])
  assert_metrics(metrics, {'average_loss/mc': 5., 'accuracy/mc': 0.5,
                           'regularization_loss/mc': 2.}, rtol=1e-4)
  assert_loss(head, LABELS, LOGITS, 7., regularization_losses=[1.5, 0.5], rtol=1e-4)


# Vector 29 ----------------------------------------------------------------------

def test_v29_invalid_label_values_eager():
  head = heads.MultiClassHead(3)
  logits = f32([[1., 0., 0.], [0., 0., 1.]])
  with pytest.raises(ValueError, match=esc('Labels must be <= 3 - 1')):
    head.loss(i64([[1], [45]]), logits)
  with pytest.raises(ValueError, match=esc('Labels must be >= 0')):
    head.loss(i64([[1], [-5]]), logits)


def test_v29_invalid_label_values_graph():
  head = heads.MultiClassHead(3)

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int64),
                                tf.TensorSpec([None, 3], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  logits = f32([[1., 0., 0.], [0., 0., 1.]])
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be <= n_classes - 1')):
    loss(i64([[1], [45]]), logits)
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be >= 0')):
    loss(i64([[1], [-5]]), logits)


def test_v29_float_labels_rejected():
  head = heads.MultiClassHead(3)
  with pytest.raises(ValueError, match=esc('Labels dtype should be integer. Instead got')):
    head.loss(f32([[1.], [2.]]), LOGITS)


def test_v29_sparse_labels_rejected():
  head = heads.MultiClassHead(3)
  labels = tf.SparseTensor(indices=[[0, 0], [1, 0]], values=i64([1, 1]), dense_shape=[2, 1])
  with pytest.raises(ValueError, match=esc('SparseTensor labels are not supported.')):
    head.loss(labels, LOGITS)


def test_vocabulary_requires_string_labels():
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB)
  with pytest.raises(ValueError, match=esc(
      'Labels dtype should be string if there is a vocabulary. Instead got')):
    head.loss(LABELS, LOGITS)


@pytest.mark.parametrize('graph', [False, True])
def test_out_of_vocabulary_label(graph):
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB)
  labels = np.array([[b'iroh'], [b'katara']])
  if not graph:
    with pytest.raises(ValueError, match=esc('Labels must be >= 0')):
      head.loss(labels, LOGITS)
    return

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.string),
                                tf.TensorSpec([None, 3], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be >= 0')):
    loss(labels, LOGITS)


def test_train_spec():
  head = heads.MultiClassHead(3)
  seen = []
  spec = head.create_estimator_spec(FEATURES, TRAIN, LOGITS, LABELS,
                                    train_op_fn=lambda loss: seen.append(float(loss)) or 'op')
  assert spec.train_op == 'op'
  assert seen == pytest.approx([5.], rel=1e-4)
  assert spec.eval_metric_ops == {}
  assert spec.export_outputs is None
  assert set(spec.predictions) == {'logits', 'probabilities', 'class_ids', 'classes',
                                   'all_class_ids', 'all_classes'}
