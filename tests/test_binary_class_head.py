"""BinaryClassHead: reference §1-§5 and test vectors 14-23."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, assert_metrics, esc
from conftest import eval_metrics, f32, i64

LOGITS = f32([[45.], [-41.]])
LABELS = i64([[1], [1]])
FEATURES = {'x': f32([[1.], [2.]])}

V15_METRICS = {
    'average_loss': 20.5, 'accuracy': 0.5, 'precision': 1., 'recall': 0.5,
    'prediction/mean': 0.5, 'label/mean': 1., 'accuracy_baseline': 1., 'auc': 0.,
    'auc_precision_recall': 1.}


def test_head_properties():
  head = heads.BinaryClassHead(name='b')
  assert head.logits_dimension == 1
  assert head.name == 'b'
  assert head.loss_reduction == 'sum_over_batch_size'


# Vector 14 ----------------------------------------------------------------------

def test_v14_predict_values_dtypes_shapes():
  head = heads.BinaryClassHead()
  logits = f32([[0.3], [-0.4]])
  spec = head.create_estimator_spec(FEATURES, PREDICT, logits)
  p = spec.predictions
  assert set(p) == {'logits', 'logistic', 'probabilities', 'class_ids', 'classes',
                    'all_class_ids', 'all_classes'}
  assert_close(p['logits'], logits)
  assert_close(p['logistic'], [[0.574443], [0.401312]])
  assert_close(p['probabilities'], [[0.425557, 0.574443], [0.598688, 0.401312]])
  np.testing.assert_array_equal(p['class_ids'], [[1], [0]])
  np.testing.assert_array_equal(p['classes'], [[b'1'], [b'0']])
  np.testing.assert_array_equal(p['all_class_ids'], [[0, 1], [0, 1]])
  np.testing.assert_array_equal(p['all_classes'], [[b'0', b'1'], [b'0', b'1']])
  expected_types = {
      'logits': (tf.float32, (2, 1)), 'logistic': (tf.float32, (2, 1)),
      'probabilities': (tf.float32, (2, 2)), 'class_ids': (tf.int64, (2, 1)),
      'classes': (tf.string, (2, 1)), 'all_class_ids': (tf.int32, (2, 2)),
      'all_classes': (tf.string, (2, 2))}
  for key, (dtype, shape) in expected_types.items():
    assert p[key].dtype == dtype, key
    assert tuple(p[key].shape) == shape, key


def test_v14_export_outputs():
  head = heads.BinaryClassHead()
  logits = f32([[0.3], [-0.4]])
  spec = head.create_estimator_spec(FEATURES, PREDICT, logits)
  outputs = spec.export_outputs
  assert set(outputs) == {'classification', 'regression', 'predict', 'serving_default'}
  for key in ('classification', 'serving_default'):
    assert isinstance(outputs[key], heads.ClassificationOutput)
    assert_close(outputs[key].scores, [[0.425557, 0.574443], [0.598688, 0.401312]])
    np.testing.assert_array_equal(outputs[key].classes, [[b'0', b'1'], [b'0', b'1']])
  assert isinstance(outputs['regression'], heads.RegressionOutput)
  assert_close(outputs['regression'].value, [[0.574443], [0.401312]])
  assert isinstance(outputs['predict'], heads.PredictOutput)
  assert set(outputs['predict'].outputs) == set(spec.predictions)
  assert spec.loss is None and spec.train_op is None


def test_v14_prediction_keys_subset():
  head = heads.BinaryClassHead()
  predictions = head.predictions(f32([[0.3], [-0.4]]), keys=['logistic', 'class_ids'])
  assert set(predictions) == {'logistic', 'class_ids'}


def test_multi_dim_predictions_shapes():
  head = heads.BinaryClassHead()
  logits = f32([[[1.], [-1.], [2.]], [[-2.], [3.], [0.5]]])
  p = head.predictions(logits)
  assert tuple(p['logistic'].shape) == (2, 3, 1)
  assert tuple(p['probabilities'].shape) == (2, 3, 2)
  assert tuple(p['class_ids'].shape) == (2, 3, 1)
  assert tuple(p['classes'].shape) == (2, 3, 1)
  # all_* use the batch dim only.
  assert tuple(p['all_class_ids'].shape) == (2, 2)
  assert tuple(p['all_classes'].shape) == (2, 2)


def test_predictions_graph_mode_unknown_batch():
  head = heads.BinaryClassHead(label_vocabulary=['aang', 'iroh'])

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)])
  def predict(logits):
    return head.predictions(logits)

  p = predict(f32([[1.], [0.], [-1.]]))
  np.testing.assert_array_equal(p['classes'], [[b'iroh'], [b'aang'], [b'aang']])
  np.testing.assert_array_equal(p['all_classes'], [[b'aang', b'iroh']] * 3)


# Vectors 15-17 ------------------------------------------------------------------

def test_v15_eval():
  head = heads.BinaryClassHead()
  assert_loss(head, LABELS, LOGITS, 20.5)
  spec = head.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS)
  assert_close(spec.loss, 20.5)
  assert spec.export_outputs is None
  assert set(spec.predictions) == {'logits', 'logistic', 'probabilities', 'class_ids',
                                   'classes', 'all_class_ids', 'all_classes'}
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, V15_METRICS)


def test_v15_eval_named_head_metric_keys():
  head = heads.BinaryClassHead(name='some_binary_head')
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS)
  assert_metrics(metrics, {k + '/some_binary_head': v for k, v in V15_METRICS.items()})


def test_v16_sum_reduction():
  head = heads.BinaryClassHead(loss_reduction='sum')
  assert_loss(head, LABELS, LOGITS, 41.)


def test_v17_train_with_regularization_losses(summaries):
  head = heads.BinaryClassHead()
  regs = [1.5, 0.5]
  assert_loss(head, LABELS, LOGITS, 22.5, regularization_losses=regs)
  spec, values = summaries(lambda: head.create_estimator_spec(
      FEATURES, TRAIN, LOGITS, LABELS, train_op_fn=lambda loss: tf.no_op(),
      regularization_losses=regs))
  assert_close(spec.loss, 22.5)
  assert spec.eval_metric_ops == {}
  assert spec.export_outputs is None
  assert values == pytest.approx({'loss': 22.5, 'regularization_loss': 2.})


def test_v17_eval_regularization_metric():
  head = heads.BinaryClassHead()
  metrics = eval_metrics(head, FEATURES, LOGITS, LABELS, regularization_losses=[1.5, 0.5])
  assert_metrics(metrics, dict(V15_METRICS, regularization_loss=2.))


# Vector 18 ----------------------------------------------------------------------

def test_v18_eval_with_thresholds():
  head = heads.BinaryClassHead(thresholds=[0.25, 0.5, 0.75])
  logits, labels = f32([[-1.], [1.]]), i64([[1], [1]])
  assert_loss(head, labels, logits, 1.62652338 / 2)
  metrics = eval_metrics(head, FEATURES, logits, labels)
  expected = {
      'average_loss': 1.62652338 / 2, 'accuracy': 0.5, 'precision': 1., 'recall': 0.5,
      'prediction/mean': 0.5, 'label/mean': 1., 'accuracy_baseline': 1., 'auc': 0.,
      'auc_precision_recall': 1.,
      'accuracy/positive_threshold_0.25': 1., 'precision/positive_threshold_0.25': 1.,
      'recall/positive_threshold_0.25': 1.,
      'accuracy/positive_threshold_0.5': 0.5, 'precision/positive_threshold_0.5': 1.,
      'recall/positive_threshold_0.5': 0.5,
      'accuracy/positive_threshold_0.75': 0., 'precision/positive_threshold_0.75': 0.,
      'recall/positive_threshold_0.75': 0.}
  assert_metrics(metrics, expected)
  assert metrics['average_loss'] == pytest.approx(0.813, abs=1e-3)


def test_v18_threshold_keys_with_head_name():
  head = heads.BinaryClassHead(thresholds=[0.5], name='head1')
  keys = set(head.metrics())
  assert {'accuracy/positive_threshold_0.5/head1', 'precision/positive_threshold_0.5/head1',
          'recall/positive_threshold_0.5/head1'} <= keys


# Vector 19 ----------------------------------------------------------------------

def test_v19_eval_with_vocabulary_list():
  head = heads.BinaryClassHead(label_vocabulary=['aang', 'iroh'])
  labels = np.array([[b'iroh'], [b'iroh']])
  assert_loss(head, labels, LOGITS, 20.5)
  metrics = eval_metrics(head, FEATURES, LOGITS, labels)
  assert metrics['accuracy'] == pytest.approx(0.5)
  assert_metrics(metrics, V15_METRICS)


def test_v19_predict_with_vocabulary_list():
  head = heads.BinaryClassHead(label_vocabulary=['aang', 'iroh'])
  spec = head.create_estimator_spec(FEATURES, PREDICT, f32([[1.], [0.]]))
  np.testing.assert_array_equal(spec.predictions['classes'], [[b'iroh'], [b'aang']])
  np.testing.assert_array_equal(spec.predictions['all_classes'], [[b'aang', b'iroh']] * 2)
  np.testing.assert_array_equal(spec.export_outputs['classification'].classes,
                                [[b'aang', b'iroh']] * 2)


def test_v19_vocabulary_tuple_accepted():
  head = heads.BinaryClassHead(label_vocabulary=('aang', 'iroh'))
  assert_loss(head, np.array([[b'iroh'], [b'iroh']]), LOGITS, 20.5)
  assert_loss(head, np.array([[b'iroh'], [b'aang']]), LOGITS, 0., atol=1e-5)


@pytest.mark.parametrize('graph', [False, True])
def test_v19_out_of_vocabulary_label(graph):
  head = heads.BinaryClassHead(label_vocabulary=['aang', 'iroh'])
  labels = np.array([[b'iroh'], [b'zuko']])
  if not graph:
    with pytest.raises(ValueError, match=esc('Labels must be >= 0')):
      head.loss(labels, LOGITS)
    return

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.string),
                                tf.TensorSpec([None, 1], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be >= 0')):
    loss(labels, LOGITS)


# Vectors 20-21 ------------------------------------------------------------------

def test_v20_float_labels():
  head = heads.BinaryClassHead()
  logits, labels = f32([[0.5], [-0.3]]), f32([[0.8], [0.4]])
  assert_loss(head, labels, logits, 0.6242161)
  spec = head.create_estimator_spec(FEATURES, TRAIN, logits, labels,
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 0.6242161)
  metrics = eval_metrics(head, FEATURES, logits, labels)
  assert metrics['average_loss'] == pytest.approx(0.6242161, rel=1e-5)


def test_v21_float_labels_invalid_values_eager():
  head = heads.BinaryClassHead()
  logits = f32([[0.5], [-0.3]])
  with pytest.raises(ValueError, match=esc('Labels must be <= 2 - 1')):
    head.loss(f32([[1.2], [0.4]]), logits)
  with pytest.raises(ValueError, match=esc('Labels must be >= 0')):
    head.loss(f32([[-0.2], [0.4]]), logits)


def test_v21_float_labels_invalid_values_graph():
  head = heads.BinaryClassHead()

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)] * 2)
  def loss(labels, logits):
    return head.loss(labels, logits)

  logits = f32([[0.5], [-0.3]])
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be <= n_classes - 1')):
    loss(f32([[1.2], [0.4]]), logits)
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be >= 0')):
    loss(f32([[-0.2], [0.4]]), logits)
  # valid input still runs through the same concrete function.
  assert float(loss(f32([[0.8], [0.4]]), logits)) == pytest.approx(0.6242161, rel=1e-5)


# Vector 22 ----------------------------------------------------------------------

def test_v22_weighted_multi_example_eval():
  head = heads.BinaryClassHead(weight_column='label_weights')
  features = {'x': f32([[1.], [2.], [3.]]), 'label_weights': f32([[1.], [.1], [1.5]])}
  logits, labels = f32([[45.], [-41.], [44.]]), i64([[1], [1], [0]])
  assert_loss(head, labels, logits, 23.366666667, features=features)
  spec = head.create_estimator_spec(features, EVAL, logits, labels)
  assert_close(spec.loss, 23.366666667)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, {
      'average_loss': 26.9615384615, 'accuracy': .38461538461, 'precision': 1. / 2.5,
      'recall': 1. / 1.1, 'prediction/mean': .96153846153, 'label/mean': .42307692307,
      'accuracy_baseline': 1 - .42307692307, 'auc': .45454565,
      'auc_precision_recall': .4010627})


def test_v22_rank1_weights_and_labels():
  head = heads.BinaryClassHead(weight_column='label_weights')
  features = {'label_weights': f32([1., .1, 1.5])}
  assert_loss(head, i64([1, 1, 0]), f32([[45.], [-41.], [44.]]), 23.366666667,
              features=features)


# Vector 23 ----------------------------------------------------------------------

def test_v23_multi_dim_weighted_eval():
  head = heads.BinaryClassHead(weight_column='w')
  logits = f32([[[10.], [-10.]], [[12.], [-12.]]])
  labels = i64([[[0], [0]], [[1], [1]]])
  features = {'w': f32([[1., 1.5], [2., 2.5]])}
  assert_loss(head, labels, logits, 10., features=features)
  metrics = eval_metrics(head, features, logits, labels)
  assert_metrics(metrics, {
      'average_loss': 40. / 7, 'accuracy': 3.5 / 7, 'precision': 2. / 3, 'recall': 2. / 4.5,
      'prediction/mean': 3. / 7, 'label/mean': 4.5 / 7, 'accuracy_baseline': 4.5 / 7},
      exact_keys=False)
  assert metrics['auc'] == pytest.approx(0.5222, abs=1e-2)
  assert metrics['auc_precision_recall'] == pytest.approx(0.6582, abs=1e-2)
  assert sorted(metrics) == sorted(V15_METRICS)


def test_custom_loss_fn_and_features_argument():
  def loss_fn(labels, logits, features):
    return tf.math.abs(labels - logits) * features['scale']

  head = heads.BinaryClassHead(loss_fn=loss_fn)
  features = {'scale': f32([[2.], [3.]])}
  logits, labels = f32([[0.5], [-0.5]]), f32([[1.], [0.]])
  # (0.5*2 + 0.5*3) / 2
  assert_loss(head, labels, logits, 1.25, features=features)


def test_accuracy_baseline_uses_majority_class():
  head = heads.BinaryClassHead()
  metrics = eval_metrics(head, {}, f32([[1.], [1.], [1.], [1.]]), i64([[0], [0], [0], [1]]))
  assert metrics['accuracy_baseline'] == pytest.approx(0.75)
  assert metrics['label/mean'] == pytest.approx(0.25)
