"""SequentialHeadWrapper: reference §8 and test vectors 42-43."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_metrics, esc, f32, i64


def v42_inputs():
  features = {
      'weights': tf.SparseTensor(indices=((0, 0), (0, 1), (1, 0)), values=(0.5, 0.2, 0.3),
                                 dense_shape=(2, 2)),
      'sequence_mask': tf.constant([[1, 1], [1, 0]])}
  logits = tf.constant([[[2., 3., 4.], [5., -0.5, 0.]], [[-1., 2., 0.5], [1., 0.5, 2.]]])
  labels = tf.SparseTensor(indices=((0, 0), (0, 1), (1, 0)), values=(0, 1, 2),
                           dense_shape=(2, 2))
  return features, logits, labels


def v42_head():
  return heads.SequentialHeadWrapper(heads.MultiClassHead(3, weight_column='weights'),
                                     'sequence_mask', 'weights')


# Vector 42 ----------------------------------------------------------------------

def test_v42_loss_reduction_eager():
  features, logits, labels = v42_inputs()
  loss = v42_head().loss(logits=logits, labels=labels, features=features)
  assert float(loss) == pytest.approx(0.942783, abs=1e-4)


def test_v42_loss_positional_order_is_logits_labels():
  features, logits, labels = v42_inputs()
  loss = v42_head().loss(logits, labels, features)
  assert float(loss) == pytest.approx(0.942783, abs=1e-4)


def test_v42_loss_reduction_graph():
  head = v42_head()

  @tf.function
  def loss(logits, labels, features):
    return head.loss(logits=logits, labels=labels, features=features)

  features, logits, labels = v42_inputs()
  assert float(loss(logits, labels, features)) == pytest.approx(0.942783, abs=1e-4)


def test_v42_train_spec_loss():
  features, logits, labels = v42_inputs()
  spec = v42_head().create_estimator_spec(features, TRAIN, logits, labels,
                                          train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 0.942783, atol=1e-4)
  assert spec.eval_metric_ops == {}


def test_v42_loss_by_hand():
  # Unmasked steps: (logits, label, weight) for the 3 valid steps.
  steps = [([2., 3., 4.], 0, 0.5), ([5., -0.5, 0.], 1, 0.2), ([-1., 2., 0.5], 2, 0.3)]
  total = 0.
  for logits, label, weight in steps:
    logits = np.asarray(logits)
    total += weight * (np.log(np.sum(np.exp(logits))) - logits[label])
  features, logits, labels = v42_inputs()
  assert float(v42_head().loss(logits, labels, features)) == pytest.approx(total / 3, rel=1e-5)


# Vector 43 ----------------------------------------------------------------------

V43_EXPECTED = {
    'average_loss': 30.5, 'accuracy': 0.7, 'prediction/mean': 0.7, 'label/mean': 1.0,
    'regularization_loss': 100., 'precision': 1.0, 'recall': 0.7, 'accuracy_baseline': 1.0,
    'auc': 0., 'auc_precision_recall': 1.0}


def v43_inputs():
  features = {'sequence_mask': tf.constant(np.array([[1, 1, 1], [1, 0, 0]])),
              'weights': tf.constant(np.array([[2, 5, 1], [2, 100, 100]]))}
  logits = tf.constant([[-101, 102, -103], [104, 100, 100]])
  labels = tf.SparseTensor(values=[1, 1, 1, 1], indices=((0, 0), (0, 1), (0, 2), (1, 0)),
                           dense_shape=(2, 3))
  return features, logits, labels


def v43_head():
  return heads.SequentialHeadWrapper(heads.BinaryClassHead(weight_column='weights'),
                                     'sequence_mask', 'weights')


def test_v43_metrics_computation_update_metrics():
  head = v43_head()
  features, logits, labels = v43_inputs()
  metrics = head.metrics(regularization_losses=[100.])
  metrics = head.update_metrics(metrics, features, logits, labels,
                                regularization_losses=[100.])
  results = {k: float(m.result()) for k, m in metrics.items()}
  assert_metrics(results, V43_EXPECTED, rtol=1e-5, atol=1e-5)


def test_v43_update_metrics_regularization_positional_like_original():
  head = v43_head()
  features, logits, labels = v43_inputs()
  metrics = head.metrics(regularization_losses=[100.])
  metrics = head.update_metrics(metrics, features, logits, labels, [100.])
  assert float(metrics['regularization_loss'].result()) == pytest.approx(100.)


def test_v43_metrics_computation_eval_spec():
  head = v43_head()
  features, logits, labels = v43_inputs()
  spec = head.create_estimator_spec(features, EVAL, logits, labels,
                                    regularization_losses=[100.])
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, V43_EXPECTED, rtol=1e-5, atol=1e-5)
  # loss = (101*2 + 103*1) / 4 + 100
  assert_close(spec.loss, 305. / 4 + 100.)


# Properties, predictions, metrics ------------------------------------------------

def test_head_properties():
  static = heads.BinaryClassHead(loss_reduction='sum', name='a_static_head')
  head = heads.SequentialHeadWrapper(static, 'a_sequence_mask_col')
  assert head.name == 'a_static_head_sequential'
  assert head.logits_dimension == 1
  assert head.loss_reduction == 'sum'
  assert head.input_sequence_mask_key == 'a_sequence_mask_col'
  assert head.static_head is static
  assert heads.SequentialHeadWrapper(heads.BinaryClassHead()).name is None
  assert heads.SequentialHeadWrapper(heads.BinaryClassHead()).input_sequence_mask_key == \
      'sequence_length_mask'


def test_predictions_delegate():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')
  logits = f32([[[0.3], [-0.4]], [[0.2], [0.2]]])
  predictions = head.predictions(logits, keys=['logits', 'logistic'])
  assert set(predictions) == {'logits', 'logistic'}
  assert_close(predictions['logistic'], [[[0.574443], [0.401312]], [[0.549834], [0.549834]]])


def test_predict_spec_adds_mask_and_keeps_sequence_shape():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')
  logits = f32([[[0.3], [-0.4]], [[0.2], [0.2]]])
  mask = tf.constant([[1, 1], [1, 0]])
  spec = head.create_estimator_spec({'sequence_mask': mask}, PREDICT, logits)
  assert 'sequence_mask' in spec.predictions
  np.testing.assert_array_equal(spec.predictions['sequence_mask'], [[1, 1], [1, 0]])
  assert_close(spec.predictions['logits'], logits)
  assert_close(spec.predictions['logistic'], [[[0.574443], [0.401312]], [[0.549834], [0.549834]]])
  assert spec.export_outputs is not None


def test_metrics_delegate():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'mask')
  metrics = head.metrics(regularization_losses=2.5)
  assert 'accuracy' in metrics
  assert 'regularization_loss' in metrics


def test_dense_labels_are_flattened_with_mask():
  head = heads.SequentialHeadWrapper(heads.RegressionHead(weight_column='w'), 'mask', ['w'])
  features = {'mask': tf.constant([[1, 1], [1, 0]]), 'w': f32([[1., 2.], [3., 100.]])}
  logits = f32([[[1.], [2.]], [[3.], [4.]]])
  labels = f32([[0., 0.], [0., 1000.]])
  # (1*1 + 2*4 + 3*9) / 3
  assert float(head.loss(logits, labels, features)) == pytest.approx(12., rel=1e-6)
  # rank-2 logits [batch, time] gain a trailing dim of 1
  assert float(head.loss(logits[..., 0], labels, features)) == pytest.approx(12., rel=1e-6)


def test_features_not_listed_are_dropped():
  head = heads.SequentialHeadWrapper(heads.RegressionHead(weight_column='w'), 'mask')
  features = {'mask': tf.constant([[1, 1], [1, 0]]), 'w': f32([[1., 2.], [3., 100.]])}
  with pytest.raises(ValueError):
    head.loss(f32([[1., 2.], [3., 4.]]), f32([[0., 0.], [0., 0.]]), features)


# §8 errors ----------------------------------------------------------------------

def test_wrong_mask_type():
  with pytest.raises(TypeError, match=esc(
      "`sequence_mask` column must be a string. Given type: <class 'int'>.")):
    heads.SequentialHeadWrapper(heads.BinaryClassHead(), sequence_length_mask=1)


def test_wrong_feature_column_type():
  with pytest.raises(TypeError, match=esc(
      '`feature_columns` must be either a string or an iterable of strings got '
      "<class 'int'> instead.")):
    heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'mask', feature_columns=1)


def test_wrong_feature_column_type_in_iterable():
  with pytest.raises(TypeError, match=esc("Column must a string. Given type: <class 'int'>.")):
    heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'mask', feature_columns=[1])


def test_multi_head_not_supported():
  with pytest.raises(ValueError, match=esc(
      '`MultiHead` is not supported with `SequentialHeadWrapper`.')):
    heads.SequentialHeadWrapper(heads.MultiHead([heads.BinaryClassHead(name='test-head')]))


def _flatten_inputs():
  labels = tf.SparseTensor(indices=((0, 0), (0, 1), (1, 0)), values=(1, 2, 3),
                           dense_shape=(2, 2))
  logits = tf.constant([[[10.], [11.]], [[12.], [13.]]])
  return labels, logits


def test_missing_mask():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')
  labels, logits = _flatten_inputs()
  with pytest.raises(ValueError, match=esc(
      'The provided sequence_length_mask key `sequence_mask` should be included in the '
      'features dictionary, but was not found. Found keys: ')):
    head.loss(logits, labels, {'x': f32([1.])})


def test_mask_wrong_rank():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')
  labels, logits = _flatten_inputs()
  with pytest.raises(ValueError, match=esc('Mask is expected to have two dimensions, got 1 '
                                           'instead.')):
    head.loss(logits, labels, {'sequence_mask': tf.constant([1, 1])})


def test_missing_feature_column():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask', ['weights'])
  labels, logits = _flatten_inputs()
  with pytest.raises(ValueError, match=esc('`weights` column expected in features dictionary.')):
    head.loss(logits, labels, {'sequence_mask': tf.constant([[1, 1], [1, 0]])})


def test_feature_wrong_rank():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask', ['weights'])
  labels, logits = _flatten_inputs()
  with pytest.raises(ValueError, match=esc(
      'Input tensor expected to have at least 2 dimensions, got 1 instead.')):
    head.loss(logits, labels, {'sequence_mask': tf.constant([[1, 1], [1, 0]]),
                               'weights': f32([0.5, 0.5, 1., 0.])})


def test_tensor_incompatible_with_mask_eager():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')
  labels, logits = _flatten_inputs()
  with pytest.raises(ValueError, match=esc('Tensor shape is incompatible with provided mask.')):
    head.loss(logits, labels, {'sequence_mask': tf.constant([[1, 1], [1, 1]])})


def test_tensor_incompatible_with_mask_graph():
  head = heads.SequentialHeadWrapper(heads.BinaryClassHead(), 'sequence_mask')

  @tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.float32),
                                tf.SparseTensorSpec([None, None], tf.int32),
                                tf.TensorSpec([None, None], tf.int32)])
  def loss(logits, labels, mask):
    return head.loss(logits, labels, {'sequence_mask': mask})

  labels, logits = _flatten_inputs()
  labels = tf.SparseTensor(labels.indices, tf.constant([1, 0, 1]), labels.dense_shape)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=esc('Tensor shape is incompatible with provided mask.')):
    loss(logits, labels, tf.constant([[1, 1], [1, 1]]))
  # And the same function works with a compatible mask.
  assert np.isfinite(float(loss(logits, labels, tf.constant([[1, 1], [1, 0]]))))
