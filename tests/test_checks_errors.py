"""Error cases of reference §1 (constructors), §2 (labels/logits/weights), §3 and §7.

Graph-mode checks run inside a tf.function whose input_signature leaves the
batch dimension unknown, so they happen at run time and raise
tf.errors.InvalidArgumentError.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import heads
from conftest import EVAL, TRAIN, esc, f32, i64

LABEL_NONE = (
    'You must provide a labels Tensor. Given: None. Suggested troubleshooting steps: Check '
    'that your data contains your label feature. Check that your input_fn properly parses '
    'and returns labels.')
WEIGHTS_ERR = 'weights shape must be [D0, D1, ... DN] or [D0, D1, ... DN, 1]'
REG_WEIGHTS_ERR = ('weights shape must be [D0, D1, ... DN], [D0, D1, ... DN, 1] or '
                   '[D0, D1, ... DN, logits_dimension]')
LOGITS_DIM_ERR = 'logits shape must be [D0, D1, ... DN, logits_dimension]'

ALL_SINGLE_HEADS = {
    'regression': lambda **kw: heads.RegressionHead(**kw),
    'poisson': lambda **kw: heads.PoissonRegressionHead(**kw),
    'logistic': lambda **kw: heads.LogisticRegressionHead(**kw),
    'binary': lambda **kw: heads.BinaryClassHead(**kw),
    'multi_class': lambda **kw: heads.MultiClassHead(3, **kw),
    'multi_label': lambda **kw: heads.MultiLabelHead(2, **kw),
}


# §1 constructor errors ------------------------------------------------------------

@pytest.mark.parametrize('make', list(ALL_SINGLE_HEADS.values()), ids=list(ALL_SINGLE_HEADS))
@pytest.mark.parametrize('reduction', ['none', tf_keras.losses.Reduction.NONE, 'bogus',
                                       'weighted_sum'])
def test_invalid_loss_reduction(make, reduction):
  with pytest.raises(ValueError, match=esc('Invalid loss_reduction: {}. See '
                                           '`tf.losses.Reduction` for valid options.'.format(
                                               reduction))):
    make(loss_reduction=reduction)


@pytest.mark.parametrize('make', list(ALL_SINGLE_HEADS.values()), ids=list(ALL_SINGLE_HEADS))
@pytest.mark.parametrize('reduction', ['sum', 'sum_over_batch_size', 'auto',
                                       tf_keras.losses.Reduction.SUM,
                                       tf_keras.losses.Reduction.SUM_OVER_BATCH_SIZE,
                                       tf_keras.losses.Reduction.AUTO])
def test_valid_loss_reductions(make, reduction):
  assert make(loss_reduction=reduction).loss_reduction == reduction


@pytest.mark.parametrize('make', list(ALL_SINGLE_HEADS.values()), ids=list(ALL_SINGLE_HEADS))
def test_weight_column_type_error(make):
  with pytest.raises(TypeError, match=esc(
      "Weight column must be either a string or NumericColumn. Given type: <class 'int'>.")):
    make(weight_column=1)


def test_weight_column_categorical_column_rejected():
  column = tf.feature_column.categorical_column_with_identity('w', 3)
  with pytest.raises(TypeError, match=esc(
      'Weight column must be either a string or NumericColumn. Given type: ')):
    heads.BinaryClassHead(weight_column=column)


@pytest.mark.parametrize('label_dimension', [0, -1])
def test_regression_invalid_label_dimension(label_dimension):
  with pytest.raises(ValueError, match=esc('Invalid label_dimension {}.'.format(label_dimension))):
    heads.RegressionHead(label_dimension=label_dimension)


@pytest.mark.parametrize('make', [
    lambda fn: heads.RegressionHead(loss_fn=fn),
    lambda fn: heads.BinaryClassHead(loss_fn=fn),
    lambda fn: heads.MultiClassHead(3, loss_fn=fn),
    lambda fn: heads.MultiLabelHead(2, loss_fn=fn)], ids=['reg', 'bin', 'mc', 'ml'])
def test_loss_fn_argument_validation(make):
  def no_labels(logits):
    return logits

  def no_logits(labels):
    return labels

  def extra(labels, logits, name):
    del name
    return labels - logits

  with pytest.raises(ValueError, match=esc(
      "loss_fn must contain argument: labels. Given arguments: ('logits',)")):
    make(no_labels)
  with pytest.raises(ValueError, match=esc(
      "loss_fn must contain argument: logits. Given arguments: ('labels',)")):
    make(no_logits)
  with pytest.raises(ValueError, match=esc("loss_fn has unexpected args: ['name']")):
    make(extra)

  def fine(labels, logits, features, loss_reduction):
    del features, loss_reduction
    return labels - logits

  make(fine)


def test_binary_constructor_errors():
  with pytest.raises(ValueError, match=esc(
      "label_vocabulary should be a list or a tuple. Given type: <class 'str'>")):
    heads.BinaryClassHead(label_vocabulary='foo')
  with pytest.raises(ValueError, match=esc('thresholds not in (0, 1): ((0.5, 1.0),).')):
    heads.BinaryClassHead(thresholds=[0.5, 1.0])
  with pytest.raises(ValueError, match=esc('thresholds not in (0, 1): ((0.0,),).')):
    heads.BinaryClassHead(thresholds=(0.0,))


def test_multi_class_constructor_errors():
  with pytest.raises(ValueError, match=esc('n_classes cannot be None')):
    heads.MultiClassHead(None)
  with pytest.raises(ValueError, match=esc(
      "label_vocabulary should be a list or a tuple. Given type: <class 'str'>")):
    heads.MultiClassHead(3, label_vocabulary='foo')
  with pytest.raises(ValueError, match=esc(
      '"label_vocabulary" does not have "n_classes" items. len(label_vocabulary)=2, '
      "n_classes=3, label_vocabulary=['foo', 'bar']")):
    heads.MultiClassHead(3, label_vocabulary=['foo', 'bar'])
  for n_classes in (2, 1, 0):
    with pytest.raises(ValueError, match=esc('n_classes must be > 2: {}.'.format(n_classes))):
      heads.MultiClassHead(n_classes)


def test_multi_label_constructor_errors():
  for n_classes in (None, 1, 0):
    with pytest.raises(ValueError, match=esc(
        'n_classes must be > 1 for multi-label classification. Given: {}'.format(n_classes))):
      heads.MultiLabelHead(n_classes)
  with pytest.raises(ValueError, match=esc('thresholds must be in (0, 1) range. Given: 1.5')):
    heads.MultiLabelHead(2, thresholds=[0.5, 1.5])
  with pytest.raises(ValueError, match=esc('thresholds must be in (0, 1) range. Given: 0.0')):
    heads.MultiLabelHead(2, thresholds=[0.0])
  with pytest.raises(ValueError, match=esc(
      "label_vocabulary must be a list or tuple. Given type: <class 'str'>")):
    heads.MultiLabelHead(2, label_vocabulary='foo')
  with pytest.raises(ValueError, match=esc(
      'Length of label_vocabulary must be n_classes (3). Given: 2')):
    heads.MultiLabelHead(3, label_vocabulary=['a', 'b'])
  with pytest.raises(ValueError, match=esc(
      'All classes_for_class_based_metrics must be in range [0, 2]. Given: 3')):
    heads.MultiLabelHead(3, classes_for_class_based_metrics=[0, 3])
  with pytest.raises(ValueError, match=esc(
      'All classes_for_class_based_metrics must be in range [0, 2]. Given: -1')):
    heads.MultiLabelHead(3, classes_for_class_based_metrics=[-1])
  with pytest.raises(ValueError, match=esc(
      'label_vocabulary must be provided when classes_for_class_based_metrics are strings.')):
    heads.MultiLabelHead(3, classes_for_class_based_metrics=['a'])
  with pytest.raises(ValueError, match=esc("'z' is not in list")):
    heads.MultiLabelHead(2, label_vocabulary=['a', 'b'], classes_for_class_based_metrics=['z'])


# §1 weight column dtype --------------------------------------------------------------

def test_weight_column_not_castable_to_float():
  # tf.estimator 2.15 fails in the cast (UnimplementedError); the message also names the column.
  head = heads.RegressionHead(weight_column='w')
  with pytest.raises(tf.errors.UnimplementedError,
                     match="Cast string to float is not supported: weight column 'w'"):
    head.loss(f32([[1.], [2.]]), f32([[1.], [2.]]), {'w': np.array([['a'], ['b']])})


# §2 labels ----------------------------------------------------------------------

@pytest.mark.parametrize('name', list(ALL_SINGLE_HEADS))
def test_labels_none(name):
  head = ALL_SINGLE_HEADS[name]()
  logits = np.zeros((2, head.logits_dimension), np.float32)
  with pytest.raises(ValueError, match=esc(LABEL_NONE)):
    head.loss(None, logits)
  with pytest.raises(ValueError, match=esc(LABEL_NONE)):
    head.create_estimator_spec({}, EVAL, logits, None)


@pytest.mark.parametrize('name', ['regression', 'binary', 'multi_class'])
def test_sparse_labels_not_supported(name):
  head = ALL_SINGLE_HEADS[name]()
  logits = np.zeros((2, head.logits_dimension), np.float32)
  labels = tf.SparseTensor(indices=[[0, 0], [1, 0]], values=i64([1, 0]), dense_shape=[2, 1])
  with pytest.raises(ValueError, match=esc(
      'SparseTensor labels are not supported. Labels must be a Tensor of shape '
      '[D0, D1, ..., DN, 1], e.g. [batch_size, 1].Suggested Fix (1): ')):
    head.loss(labels, logits)


def test_labels_rank_too_small_eager():
  head = heads.RegressionHead()
  with pytest.raises(ValueError, match=esc(
      'labels must have rank at least 2.  Received rank 0, shape ()')):
    head.loss(f32(1.), f32([[1.]]))


def test_mismatched_label_dimension_eager():
  head = heads.RegressionHead(label_dimension=3)
  with pytest.raises(ValueError, match=esc(
      'Mismatched label shape. Expected labels dimension=3.  Received 2. Suggested Fix: ')):
    head.loss(f32([[1., 2.], [3., 4.]]), f32([[1., 2., 3.], [4., 5., 6.]]))


def test_mismatched_label_dimension_static_in_graph():
  head = heads.RegressionHead(label_dimension=3)

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32),
                                tf.TensorSpec([None, 3], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(ValueError, match=esc('Mismatched label shape. Expected labels '
                                           'dimension=3.  Received 2.')):
    loss(f32([[1., 2.]]), f32([[1., 2., 3.]]))


def test_labels_shape_mismatch_eager():
  head = heads.RegressionHead()
  with pytest.raises(ValueError, match=esc(
      'labels shape must be [D0, D1, ... DN, 1]. Suggested Fix: check your n_classes argument '
      'to the head and/or the shape of your label., expected_labels_shape: (2, 1). '
      'labels_shape: (3, 1).')):
    head.loss(f32([[1.], [2.], [3.]]), f32([[1.], [2.]]))


def test_labels_shape_mismatch_graph():
  head = heads.RegressionHead(label_dimension=3)

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32),
                                tf.TensorSpec([None, 3], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    loss(f32([[1.], [2.]]), f32([[1., 2., 3.], [4., 5., 6.]]))
  message = str(info.value)
  assert 'labels shape must be [D0, D1, ... DN, 3]' in message
  assert '[expected_labels_shape: ] [2 3] [labels_shape: ] [2 1]' in message


def test_labels_batch_mismatch_graph():
  head = heads.BinaryClassHead()

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32),
                                tf.TensorSpec([None, 1], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(
      '[expected_labels_shape: ] [2 1] [labels_shape: ] [3 1]')):
    loss(f32([[1.], [0.], [1.]]), f32([[1.], [2.]]))


def test_labels_rank_too_small_graph():
  head = heads.RegressionHead()

  @tf.function(input_signature=[tf.TensorSpec(None, tf.float32),
                                tf.TensorSpec([None, 1], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=esc('labels shape must be [D0, D1, ... DN, 1]')):
    loss(f32(1.), f32([[1.], [2.]]))


# §2 logits ----------------------------------------------------------------------

def test_logits_rank_too_small_eager():
  head = heads.BinaryClassHead()
  with pytest.raises(ValueError, match=esc(
      'logits must have rank at least 2.  Received rank 1, shape (2,)')):
    head.loss(f32([[1.], [0.]]), f32([1., 2.]))


@pytest.mark.parametrize('name', list(ALL_SINGLE_HEADS))
def test_logits_wrong_last_dim_eager(name):
  head = ALL_SINGLE_HEADS[name]()
  logits = np.zeros((2, head.logits_dimension + 1), np.float32)
  with pytest.raises(ValueError, match=esc(
      'logits shape must be [D0, D1, ... DN, logits_dimension], got (2, {}).'.format(
          head.logits_dimension + 1))):
    head.predictions(logits)


def test_logits_wrong_last_dim_graph_dynamic():
  head = heads.MultiClassHead(3)

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int64),
                                tf.TensorSpec([None, None], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(LOGITS_DIM_ERR)):
    loss(i64([[0], [1]]), f32([[1., 2., 3., 4.], [1., 2., 3., 4.]]))


def test_logits_wrong_rank_graph_dynamic():
  head = heads.RegressionHead()

  @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
  def predict(logits):
    return head.predictions(logits)['predictions']

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(LOGITS_DIM_ERR)):
    predict(f32([1., 2.]))


def test_logits_wrong_last_dim_graph_static():
  head = heads.MultiClassHead(3)

  @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
  def predict(logits):
    return head.predictions(logits)

  with pytest.raises(ValueError, match=esc(LOGITS_DIM_ERR)):
    predict(f32([[1., 2., 3., 4.]]))


# §2 weights ---------------------------------------------------------------------

@pytest.mark.parametrize('name', ['binary', 'multi_class', 'multi_label'])
def test_weights_shape_error_eager(name):
  head = ALL_SINGLE_HEADS[name](weight_column='w')
  dim = head.logits_dimension
  logits = np.zeros((2, dim), np.float32)
  labels = i64([[1, 0], [0, 1]]) if name == 'multi_label' else i64([[1], [0]])
  with pytest.raises(ValueError, match=esc(
      '{}, logits_shape: (2, {}). weights_shape: (2, 2).'.format(WEIGHTS_ERR, dim))):
    head.loss(labels, logits, {'w': f32([[1., 2.], [3., 4.]])})
  with pytest.raises(ValueError, match=esc(WEIGHTS_ERR)):
    head.loss(labels, logits, {'w': f32([1., 2., 3.])})


def test_weights_shape_error_regression_eager():
  head = heads.RegressionHead(label_dimension=3, weight_column='w')
  logits, labels = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)
  with pytest.raises(ValueError, match=esc(
      '{}, logits_shape: (2, 3). weights_shape: (2, 2).'.format(REG_WEIGHTS_ERR))):
    head.loss(labels, logits, {'w': f32([[1., 2.], [3., 4.]])})
  # per-logit weights are fine
  assert float(head.loss(labels, logits, {'w': np.ones((2, 3), np.float32)})) == 0.


def test_weights_shape_error_graph_rank_lower():
  head = heads.MultiClassHead(3, weight_column='w')

  @tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.int64),
                                tf.TensorSpec([None, None, 3], tf.float32),
                                tf.TensorSpec([None, None], tf.float32)])
  def loss(labels, logits, weights):
    return head.loss(labels, logits, {'w': weights})

  logits = np.zeros((2, 2, 3), np.float32)
  labels = np.zeros((2, 2, 1), np.int64)
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    loss(labels, logits, f32([[1.], [2.]]))
  assert WEIGHTS_ERR in str(info.value)
  assert '[logits_shape: ] [2 2 3] [weights_shape: ] [2 1]' in str(info.value)


def test_weights_shape_error_graph_same_rank():
  head = heads.BinaryClassHead(weight_column='w')

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32),
                                tf.TensorSpec([None, 1], tf.float32),
                                tf.TensorSpec([None, None], tf.float32)])
  def loss(labels, logits, weights):
    return head.loss(labels, logits, {'w': weights})

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(WEIGHTS_ERR)):
    loss(f32([[1.], [0.]]), f32([[1.], [2.]]), f32([[1., 2.], [3., 4.]]))
  assert float(loss(f32([[1.], [0.]]), f32([[0.], [0.]]), f32([[1.], [1.]]))) == \
      pytest.approx(np.log(2.), rel=1e-6)


def test_weights_shape_error_graph_regression():
  head = heads.RegressionHead(label_dimension=3, weight_column='w')

  @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32),
                                tf.TensorSpec([None, 3], tf.float32),
                                tf.TensorSpec([None, None], tf.float32)])
  def loss(labels, logits, weights):
    return head.loss(labels, logits, {'w': weights})

  zeros = np.zeros((2, 3), np.float32)
  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(REG_WEIGHTS_ERR)):
    loss(zeros, zeros, f32([[1., 2.], [3., 4.]]))
  assert float(loss(zeros, zeros + 1., np.ones((2, 3), np.float32))) == pytest.approx(1.)


# §2 custom loss_fn returning the wrong shape -------------------------------------------

def _bad_loss_fn(labels, logits):
  return tf.reduce_sum(tf.math.squared_difference(labels, logits), axis=-1, keepdims=True)


def test_loss_fn_wrong_shape_eager():
  head = heads.RegressionHead(label_dimension=2, loss_fn=_bad_loss_fn)
  with pytest.raises(ValueError, match='loss_shape'):
    head.loss(f32([[1., 2.], [3., 4.]]), f32([[1., 2.], [3., 4.]]))


def test_loss_fn_wrong_shape_graph():
  head = heads.RegressionHead(label_dimension=2, loss_fn=_bad_loss_fn)

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)] * 2)
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc(
      'loss_fn must return Tensor of shape [D0, D1, ... DN, 2]. ')):
    loss(f32([[1., 2.], [3., 4.]]), f32([[1., 2.], [3., 4.]]))


def test_loss_fn_wrong_shape_classification_eager():
  def loss_fn(labels, logits):
    del labels
    return logits[:, 0]

  head = heads.MultiClassHead(3, loss_fn=loss_fn)
  with pytest.raises(ValueError, match='loss_shape'):
    head.loss(i64([[1], [2]]), np.zeros((2, 3), np.float32))


# §3 unknown prediction key ---------------------------------------------------------

@pytest.mark.parametrize('name', ['binary', 'multi_class', 'multi_label'])
def test_unknown_prediction_key(name):
  head = ALL_SINGLE_HEADS[name]()
  logits = np.zeros((2, head.logits_dimension), np.float32)
  with pytest.raises(ValueError, match=esc(
      'Prediction key must be in PredictionKeys, given: not_a_key.'
      'Valid prediction keys include ')):
    head.predictions(logits, keys=['logits', 'not_a_key'])


# §7 unrecognised mode / base class -----------------------------------------------------

@pytest.mark.parametrize('name', list(ALL_SINGLE_HEADS))
def test_unrecognized_mode(name):
  head = ALL_SINGLE_HEADS[name]()
  logits = np.zeros((2, head.logits_dimension), np.float32)
  labels = np.zeros((2, 2), np.int64) if name == 'multi_label' else np.zeros((2, 1), np.int64)
  if name in ('regression', 'poisson', 'logistic'):
    labels = labels.astype(np.float32)
  with pytest.raises(ValueError, match=esc('mode=bogus unrecognized')):
    head.create_estimator_spec({}, 'bogus', logits, labels)


def test_base_head_create_estimator_spec_not_implemented():
  with pytest.raises(NotImplementedError, match=esc(
      'Subclasses of Head must implement `create_estimator_spec()` or '
      '_create_tpu_estimator_spec().')):
    heads.Head().create_estimator_spec({}, TRAIN, f32([[1.]]))
