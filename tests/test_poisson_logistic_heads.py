"""PoissonRegressionHead and LogisticRegressionHead: §1 and test vectors 12-13."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, esc, eval_metrics, f32

LOGITS = f32([[0.], [-1.], [1.]])


# Vector 12 ----------------------------------------------------------------------

def test_v12_poisson_train_loss():
  head = heads.PoissonRegressionHead()
  labels = np.array([[1], [2], [3]], dtype=np.int32)
  assert isinstance(head, heads.RegressionHead)
  assert head.logits_dimension == 1
  assert_loss(head, labels, LOGITS, 1.834, atol=1e-3, rtol=0)
  # Per-example losses [1.0, 3.020, 1.482] (average_loss is their mean).
  metrics = eval_metrics(head, {}, LOGITS, labels)
  assert metrics['average_loss'] == pytest.approx(np.mean([1.0, 3.020, 1.482]), abs=1e-3)
  spec = head.create_estimator_spec({'x': f32([[1.], [2.], [3.]])}, TRAIN, LOGITS, labels,
                                    train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 1.834, atol=1e-3, rtol=0)


def test_v12_poisson_unreduced_loss_matches_tf_nn():
  head = heads.PoissonRegressionHead(loss_reduction='sum')
  labels = f32([[1], [2], [3]])
  expected = tf.nn.log_poisson_loss(labels, LOGITS, compute_full_loss=True)
  assert_loss(head, labels, LOGITS, float(tf.reduce_sum(expected)))
  partial = heads.PoissonRegressionHead(loss_reduction='sum', compute_full_loss=False)
  expected_partial = tf.nn.log_poisson_loss(labels, LOGITS, compute_full_loss=False)
  assert_loss(partial, labels, LOGITS, float(tf.reduce_sum(expected_partial)))


def test_v12_poisson_predict_is_exp_of_logits():
  head = heads.PoissonRegressionHead()
  spec = head.create_estimator_spec({}, PREDICT, LOGITS)
  assert set(spec.predictions) == {'predictions', 'logits'}
  assert_close(spec.predictions['predictions'], np.exp(LOGITS))
  assert_close(spec.predictions['logits'], LOGITS)
  assert set(spec.export_outputs) == {'serving_default', 'regression', 'predict'}
  assert_close(spec.export_outputs['regression'].value, np.exp(LOGITS))
  metrics = eval_metrics(head, {}, LOGITS, f32([[1], [2], [3]]))
  assert metrics['prediction/mean'] == pytest.approx(np.mean(np.exp(LOGITS)), rel=1e-5)
  assert metrics['label/mean'] == pytest.approx(2.)


# Vector 13 ----------------------------------------------------------------------

def test_v13_logistic_regression_train_loss():
  head = heads.LogisticRegressionHead()
  labels = f32([[.4], [.6], [.8]])
  assert head.logits_dimension == 1
  assert_loss(head, labels, LOGITS, 0.7066, atol=1e-3, rtol=0)
  expected = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=LOGITS))
  assert_loss(head, labels, LOGITS, float(expected))


def test_v13_logistic_regression_predict_and_export():
  head = heads.LogisticRegressionHead()
  spec = head.create_estimator_spec({}, PREDICT, LOGITS)
  assert set(spec.predictions) == {'predictions', 'logits'}
  assert_close(spec.predictions['predictions'], 1. / (1. + np.exp(-LOGITS)))
  assert set(spec.export_outputs) == {'serving_default', 'regression', 'predict'}
  assert isinstance(spec.export_outputs['serving_default'], heads.RegressionOutput)


def test_v13_logistic_regression_metrics_have_no_auc():
  head = heads.LogisticRegressionHead()
  metrics = eval_metrics(head, {}, LOGITS, f32([[.4], [.6], [.8]]))
  assert sorted(metrics) == ['average_loss', 'label/mean', 'prediction/mean']


@pytest.mark.parametrize('bad', [1.2, -0.2])
def test_v13_logistic_labels_out_of_range_eager(bad):
  head = heads.LogisticRegressionHead()
  labels = f32([[.4], [bad], [.8]])
  with pytest.raises(ValueError, match=esc('Labels must be in range [0, 1]')):
    head.loss(labels, LOGITS)


@pytest.mark.parametrize('bad', [1.2, -0.2])
def test_v13_logistic_labels_out_of_range_graph(bad):
  head = heads.LogisticRegressionHead()

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)] * 2)
  def loss(labels, logits):
    return head.loss(labels, logits)

  with pytest.raises(tf.errors.InvalidArgumentError, match=esc('Labels must be in range [0, 1]')):
    loss(f32([[.4], [bad], [.8]]), LOGITS)


def test_subclass_constructor_arguments():
  head = heads.PoissonRegressionHead(label_dimension=2, weight_column='w',
                                     loss_reduction='sum', name='p')
  assert (head.logits_dimension, head.loss_reduction, head.name) == (2, 'sum', 'p')
  head = heads.LogisticRegressionHead(weight_column='w', loss_reduction='sum', name='l')
  assert (head.logits_dimension, head.loss_reduction, head.name) == (1, 'sum', 'l')
  # Eval with weights: (w * l) / N.
  features = {'w': f32([[1.], [0.], [2.]])}
  labels = f32([[.4], [.6], [.8]])
  per_example = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=LOGITS).numpy()
  spec = head.create_estimator_spec(features, EVAL, LOGITS, labels)
  assert_close(spec.loss, per_example[0, 0] + 2 * per_example[2, 0])
