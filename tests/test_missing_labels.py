"""Opt-in missing labels: SingleHead(missing_label_value=...) and
MultiHead(allow_missing_labels=True).

Contract (base_head.SingleHead / multi_head.MultiHead docstrings): a missing
label gets weight 0 in the loss and in the metrics; SUM_OVER_BATCH_SIZE divides
by the number of labelled elements only; SUM just drops them. With the default
missing_label_value=None behaviour is identical to the original heads, except
that a non-finite float label is an error (the originals returned NaN).
"""
import math

import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, TRAIN, assert_metrics, esc, eval_metrics, f32, i64

NAN = float('nan')
VOCAB = ['aang', 'iroh', 'zuko']


def bce(labels, logits):
  labels, logits = np.asarray(labels, np.float64), np.asarray(logits, np.float64)
  return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def softmax_xent(label, logits):
  logits = np.asarray(logits, np.float64)
  return np.log(np.sum(np.exp(logits))) - logits[label]


def graph_loss(head, labels, logits, features=None):
  @tf.function
  def fn(labels, logits, features):
    return head.loss(labels, logits, features)
  return float(fn(labels, logits, features))


def assert_same_as_labelled_rows(make_head, missing_value, logits, labels, keep,
                                 features=None):
  """Masked head on all rows == plain head on the labelled rows (loss and all metrics)."""
  masked = make_head(missing_label_value=missing_value)
  plain = make_head()
  kept_features = None
  if features is not None:
    kept_features = {k: np.asarray(v)[keep] for k, v in features.items()}
  expected_loss = float(plain.loss(labels[keep], logits[keep], kept_features))
  assert float(masked.loss(labels, logits, features)) == pytest.approx(expected_loss, rel=1e-5)
  assert graph_loss(masked, labels, logits, features) == pytest.approx(expected_loss, rel=1e-5)
  expected = eval_metrics(plain, kept_features, logits[keep], labels[keep],
                          regularization_losses=[0.5])
  actual = eval_metrics(masked, features, logits, labels, regularization_losses=[0.5])
  assert_metrics(actual, expected, rtol=1e-5, atol=1e-6)
  return expected_loss


# RegressionHead with NaN ---------------------------------------------------------------

R_LOGITS = f32([[1.], [2.], [3.], [4.]])
R_LABELS = f32([[0.], [NAN], [5.], [NAN]])


def test_regression_nan_loss_by_hand():
  head = heads.RegressionHead(missing_label_value=NAN)
  assert head.missing_label_value is not None
  # labelled: (1-0)^2 = 1, (3-5)^2 = 4 -> SUM_OVER_BATCH_SIZE divides by 2
  assert float(head.loss(R_LABELS, R_LOGITS)) == pytest.approx(2.5)
  assert graph_loss(head, R_LABELS, R_LOGITS) == pytest.approx(2.5)
  summed = heads.RegressionHead(missing_label_value=NAN, loss_reduction='sum')
  assert float(summed.loss(R_LABELS, R_LOGITS)) == pytest.approx(5.)
  assert graph_loss(summed, R_LABELS, R_LOGITS) == pytest.approx(5.)


def test_regression_nan_with_weights_divides_by_labelled_count():
  head = heads.RegressionHead(weight_column='w', missing_label_value=NAN)
  features = {'w': f32([[1.], [2.], [3.], [4.]])}
  # (1*1 + 3*4) / 2 labelled elements
  assert float(head.loss(R_LABELS, R_LOGITS, features)) == pytest.approx(6.5)
  assert graph_loss(head, R_LABELS, R_LOGITS, features) == pytest.approx(6.5)


def test_regression_nan_metrics_equal_labelled_rows():
  features = {'w': f32([[1.], [2.], [3.], [4.]])}
  assert_same_as_labelled_rows(
      lambda **kw: heads.RegressionHead(weight_column='w', **kw), NAN, R_LOGITS, R_LABELS,
      [0, 2], features)
  assert_same_as_labelled_rows(
      lambda **kw: heads.RegressionHead(loss_reduction='sum', **kw), NAN, R_LOGITS, R_LABELS,
      [0, 2])


def test_regression_nan_in_spec_and_graph_signature():
  head = heads.RegressionHead(missing_label_value=NAN)
  spec = head.create_estimator_spec({}, EVAL, R_LOGITS, R_LABELS)
  assert float(spec.loss) == pytest.approx(2.5)
  assert float(spec.eval_metric_ops['average_loss'].result()) == pytest.approx(2.5)
  assert float(spec.eval_metric_ops['label/mean'].result()) == pytest.approx(2.5)
  assert float(spec.eval_metric_ops['prediction/mean'].result()) == pytest.approx(2.)

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)] * 2)
  def loss(labels, logits):
    return head.loss(labels, logits)

  assert float(loss(R_LABELS, R_LOGITS)) == pytest.approx(2.5)


def test_regression_multi_dim_per_element_masking():
  head = heads.RegressionHead(label_dimension=3, missing_label_value=NAN)
  logits = f32([[1., 2., 3.], [4., 5., 6.]])
  labels = f32([[0., NAN, 3.], [NAN, NAN, 8.]])
  # labelled elements: 1, 0, 4 -> 5 / 3
  assert float(head.loss(labels, logits)) == pytest.approx(5. / 3)
  assert graph_loss(head, labels, logits) == pytest.approx(5. / 3)
  summed = heads.RegressionHead(label_dimension=3, loss_reduction='sum',
                                missing_label_value=NAN)
  assert float(summed.loss(labels, logits)) == pytest.approx(5.)
  metrics = eval_metrics(head, {}, logits, labels)
  assert_metrics(metrics, {'average_loss': 5. / 3, 'label/mean': (0. + 3. + 8.) / 3,
                           'prediction/mean': (1. + 3. + 6.) / 3})


def test_regression_multi_dim_masking_with_example_weights():
  head = heads.RegressionHead(label_dimension=3, weight_column='w', missing_label_value=NAN)
  logits = f32([[1., 2., 3.], [4., 5., 6.]])
  labels = f32([[0., NAN, 3.], [NAN, NAN, 8.]])
  features = {'w': f32([[1.], [2.]])}
  # (1*1 + 1*0 + 2*4) / 3 labelled elements
  assert float(head.loss(labels, logits, features)) == pytest.approx(3.)
  metrics = eval_metrics(head, features, logits, labels)
  assert metrics['average_loss'] == pytest.approx(9. / 4)


def test_poisson_and_logistic_with_nan():
  poisson = heads.PoissonRegressionHead(missing_label_value=NAN)
  logits, labels = f32([[0.], [-1.], [1.]]), f32([[1.], [NAN], [3.]])
  per = tf.nn.log_poisson_loss(f32([[1.], [3.]]), f32([[0.], [1.]]), compute_full_loss=True)
  assert float(poisson.loss(labels, logits)) == pytest.approx(float(tf.reduce_mean(per)),
                                                              rel=1e-5)
  logistic = heads.LogisticRegressionHead(missing_label_value=NAN)
  labels = f32([[.4], [NAN], [.8]])
  expected = np.mean(bce([[.4], [.8]], [[0.], [1.]]))
  assert float(logistic.loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
  assert graph_loss(logistic, labels, logits) == pytest.approx(expected, rel=1e-5)


def test_regression_default_nan_is_an_error_naming_the_head():
  # tf.estimator returned a NaN loss here; see test_bad_values.py for inf and graph mode.
  head = heads.RegressionHead(name='mass')
  assert head.missing_label_value is None
  with pytest.raises(ValueError, match=esc('Labels (head: mass) must be finite')):
    head.loss(R_LABELS, R_LOGITS)
  with pytest.raises(ValueError, match='Found 2 non-finite of 4 label values'):
    eval_metrics(head, {}, R_LOGITS, R_LABELS)


# BinaryClassHead with NaN float labels ---------------------------------------------------

B_LOGITS = f32([[1.], [-1.], [2.], [-3.], [0.5]])
B_LABELS = f32([[1.], [NAN], [0.], [NAN], [1.]])


def test_binary_nan_loss_by_hand():
  head = heads.BinaryClassHead(missing_label_value=NAN)
  kept = [0, 2, 4]
  expected = float(np.mean(bce(B_LABELS[kept], B_LOGITS[kept])))
  assert float(head.loss(B_LABELS, B_LOGITS)) == pytest.approx(expected, rel=1e-5)
  assert graph_loss(head, B_LABELS, B_LOGITS) == pytest.approx(expected, rel=1e-5)
  summed = heads.BinaryClassHead(missing_label_value=NAN, loss_reduction='sum')
  assert float(summed.loss(B_LABELS, B_LOGITS)) == pytest.approx(3 * expected, rel=1e-5)


def test_binary_nan_metrics_equal_labelled_rows():
  features = {'w': f32([[1.], [2.], [0.5], [4.], [3.]])}
  assert_same_as_labelled_rows(
      lambda **kw: heads.BinaryClassHead(weight_column='w', thresholds=[0.3, 0.7], **kw),
      NAN, B_LOGITS, B_LABELS, [0, 2, 4], features)


def test_binary_default_nan_raises_like_original():
  head = heads.BinaryClassHead()
  with pytest.raises(ValueError, match=esc('Labels must be <= 2 - 1')):
    head.loss(B_LABELS, B_LOGITS)


def test_binary_vocabulary_empty_string_sentinel():
  assert_same_as_labelled_rows(
      lambda **kw: heads.BinaryClassHead(label_vocabulary=['no', 'yes'], **kw), '',
      f32([[1.], [-1.], [2.]]), np.array([[b'yes'], [b''], [b'no']]), [0, 2])


# MultiClassHead with -1 and '' ------------------------------------------------------------

MC_LOGITS = f32([[2., 0., 1.], [0., 3., 0.], [1., 1., 4.], [0., 2., 1.]])
MC_LABELS = i64([[0], [-1], [2], [0]])


def test_multi_class_sentinel_loss_by_hand():
  head = heads.MultiClassHead(3, missing_label_value=-1)
  expected = np.mean([softmax_xent(0, MC_LOGITS[0]), softmax_xent(2, MC_LOGITS[2]),
                      softmax_xent(0, MC_LOGITS[3])])
  assert float(head.loss(MC_LABELS, MC_LOGITS)) == pytest.approx(expected, rel=1e-5)
  assert graph_loss(head, MC_LABELS, MC_LOGITS) == pytest.approx(expected, rel=1e-5)


def test_multi_class_sentinel_metrics_equal_labelled_rows():
  features = {'w': f32([[1.], [2.], [3.], [0.5]])}
  assert_same_as_labelled_rows(
      lambda **kw: heads.MultiClassHead(3, weight_column='w', **kw), -1, MC_LOGITS, MC_LABELS,
      [0, 2, 3], features)


def test_multi_class_int32_labels_sentinel():
  head = heads.MultiClassHead(3, missing_label_value=-1)
  labels = MC_LABELS.astype(np.int32)
  plain = heads.MultiClassHead(3)
  expected = float(plain.loss(labels[[0, 2, 3]], MC_LOGITS[[0, 2, 3]]))
  assert float(head.loss(labels, MC_LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_multi_class_vocabulary_empty_string_sentinel():
  labels = np.array([[b'aang'], [b''], [b'zuko'], [b'']])
  loss = assert_same_as_labelled_rows(
      lambda **kw: heads.MultiClassHead(3, label_vocabulary=VOCAB, **kw), '', MC_LOGITS,
      labels, [0, 2])
  expected = np.mean([softmax_xent(0, MC_LOGITS[0]), softmax_xent(2, MC_LOGITS[2])])
  assert loss == pytest.approx(expected, rel=1e-5)


def test_multi_class_vocabulary_sentinel_in_graph():
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB, missing_label_value='')

  @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.string),
                                tf.TensorSpec([None, 3], tf.float32)])
  def loss(labels, logits):
    return head.loss(labels, logits)

  labels = np.array([[b'aang'], [b''], [b'zuko'], [b'']])
  expected = np.mean([softmax_xent(0, MC_LOGITS[0]), softmax_xent(2, MC_LOGITS[2])])
  assert float(loss(labels, MC_LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_multi_class_default_sentinel_value_still_invalid():
  head = heads.MultiClassHead(3)
  with pytest.raises(ValueError, match=esc('Labels must be >= 0')):
    head.loss(MC_LABELS, MC_LOGITS)


# MultiLabelHead: a row holding the sentinel is masked -----------------------------------

ML_LOGITS = f32([[-1., 1.], [-1.5, 1.5], [2., -0.5], [0.3, 0.7]])
ML_LABELS = i64([[1, 0], [-1, -1], [0, 1], [1, -1]])


def test_multi_label_sentinel_row_masked_loss_by_hand():
  head = heads.MultiLabelHead(2, missing_label_value=-1)
  kept = [0, 2]
  expected = np.mean(np.mean(bce(ML_LABELS[kept], ML_LOGITS[kept]), axis=-1))
  assert float(head.loss(ML_LABELS, ML_LOGITS)) == pytest.approx(expected, rel=1e-5)
  assert graph_loss(head, ML_LABELS, ML_LOGITS) == pytest.approx(expected, rel=1e-5)
  summed = heads.MultiLabelHead(2, missing_label_value=-1, loss_reduction='sum')
  assert float(summed.loss(ML_LABELS, ML_LOGITS)) == pytest.approx(2 * expected, rel=1e-5)


def test_multi_label_sentinel_metrics_equal_labelled_rows():
  features = {'w': f32([[1.], [2.], [3.], [4.]])}
  assert_same_as_labelled_rows(
      lambda **kw: heads.MultiLabelHead(2, weight_column='w', thresholds=[0.5],
                                        classes_for_class_based_metrics=[0, 1], **kw),
      -1, ML_LOGITS, ML_LABELS, [0, 2], features)


# All-missing batches ---------------------------------------------------------------------

ALL_MISSING_CASES = {
    'regression': (lambda: heads.RegressionHead(missing_label_value=NAN),
                   f32([[1.], [2.]]), f32([[NAN], [NAN]])),
    'regression_dim2': (lambda: heads.RegressionHead(label_dimension=2, missing_label_value=NAN),
                        f32([[1., 2.], [3., 4.]]), f32([[NAN, NAN], [NAN, NAN]])),
    'binary': (lambda: heads.BinaryClassHead(thresholds=[0.5], missing_label_value=NAN),
               f32([[1.], [-2.]]), f32([[NAN], [NAN]])),
    'multi_class': (lambda: heads.MultiClassHead(3, missing_label_value=-1),
                    f32([[1., 0., 0.], [0., 1., 0.]]), i64([[-1], [-1]])),
    'multi_class_vocab': (lambda: heads.MultiClassHead(3, label_vocabulary=VOCAB,
                                                       missing_label_value=''),
                          f32([[1., 0., 0.], [0., 1., 0.]]), np.array([[b''], [b'']])),
    'multi_label': (lambda: heads.MultiLabelHead(2, missing_label_value=-1,
                                                 classes_for_class_based_metrics=[1]),
                    f32([[1., 0.], [0., 1.]]), i64([[-1, -1], [0, -1]])),
}


@pytest.mark.parametrize('case', list(ALL_MISSING_CASES))
def test_all_missing_batch_gives_zero_loss_and_no_nan(case):
  make, logits, labels = ALL_MISSING_CASES[case]
  head = make()
  assert float(head.loss(labels, logits)) == 0.
  assert graph_loss(head, labels, logits) == 0.
  spec = head.create_estimator_spec({}, TRAIN, logits, labels,
                                    train_op_fn=lambda loss: tf.no_op())
  assert float(spec.loss) == 0.
  metrics = eval_metrics(head, {}, logits, labels)
  for key, value in metrics.items():
    assert not math.isnan(value), key
  assert metrics['average_loss'] == 0.


def test_all_missing_then_labelled_batch_metrics():
  head = heads.BinaryClassHead(missing_label_value=NAN)
  metrics = head.metrics()
  head.update_metrics(metrics, {}, f32([[1.], [-2.]]), f32([[NAN], [NAN]]))
  head.update_metrics(metrics, {}, f32([[1.], [-2.]]), f32([[1.], [1.]]))
  expected = eval_metrics(heads.BinaryClassHead(), {}, f32([[1.], [-2.]]), f32([[1.], [1.]]))
  assert_metrics({k: float(m.result()) for k, m in metrics.items()}, expected)


# Invalid sentinel types ---------------------------------------------------------------

def test_string_sentinel_with_int_labels_rejected():
  head = heads.MultiClassHead(3, missing_label_value='')
  with pytest.raises(ValueError, match='missing_label_value'):
    head.loss(MC_LABELS, MC_LOGITS)


def test_int_sentinel_with_string_labels_rejected():
  head = heads.MultiClassHead(3, label_vocabulary=VOCAB, missing_label_value=-1)
  with pytest.raises(ValueError, match='missing_label_value'):
    head.loss(np.array([[b'aang']]), f32([[1., 0., 0.]]))


# MultiHead(allow_missing_labels=True) ------------------------------------------------------

def _multi(allow=True, **kwargs):
  return heads.MultiHead([heads.RegressionHead(name='a'),
                          heads.BinaryClassHead(name='b', thresholds=[0.5])],
                         head_weights=[2., 3.], allow_missing_labels=allow, **kwargs)


M_LOGITS = {'a': f32([[1.], [2.]]), 'b': f32([[0.5], [-1.]])}
A_LABELS = f32([[0.], [4.]])
B_LABELS_M = f32([[1.], [0.]])


def test_multi_head_absent_head_loss_is_weighted_sum_of_present():
  multi = _multi()
  loss_a = float(heads.RegressionHead().loss(A_LABELS, M_LOGITS['a']))
  assert loss_a == pytest.approx(2.5)
  assert float(multi.loss({'a': A_LABELS}, M_LOGITS)) == pytest.approx(2. * loss_a)
  loss_b = float(heads.BinaryClassHead().loss(B_LABELS_M, M_LOGITS['b']))
  assert float(multi.loss({'b': B_LABELS_M}, M_LOGITS)) == pytest.approx(3. * loss_b, rel=1e-6)
  assert float(multi.loss({'a': A_LABELS}, M_LOGITS, regularization_losses=[1.])) == \
      pytest.approx(2. * loss_a + 1.)
  both = float(multi.loss({'a': A_LABELS, 'b': B_LABELS_M}, M_LOGITS))
  assert both == pytest.approx(2. * loss_a + 3. * loss_b, rel=1e-6)


def test_multi_head_absent_head_with_concatenated_logits():
  multi = _multi()
  logits = np.concatenate([M_LOGITS['a'], M_LOGITS['b']], axis=-1)
  assert float(multi.loss({'a': A_LABELS}, logits)) == pytest.approx(5.)


def test_multi_head_absent_head_metrics_untouched():
  multi = _multi()
  metrics = multi.metrics()
  multi.update_metrics(metrics, {}, M_LOGITS, {'a': A_LABELS})
  assert float(metrics['loss/a'].count) == 1.
  assert float(metrics['loss/a'].result()) == pytest.approx(2.5)
  assert float(metrics['average_loss/a'].result()) == pytest.approx(2.5)
  assert float(metrics['loss/b'].count) == 0.
  assert float(metrics['average_loss/b'].count) == 0.
  assert float(metrics['label/mean/b'].count) == 0.
  assert float(metrics['prediction/mean/b'].count) == 0.
  for key in ('accuracy/b', 'accuracy/positive_threshold_0.5/b'):
    assert float(metrics[key].count) == 0., key
  for key in ('auc/b', 'auc_precision_recall/b', 'precision/b', 'recall/b'):
    for variable in metrics[key].variables:
      assert float(tf.reduce_sum(tf.abs(variable))) == 0., key
  # A later batch with both heads gives the metrics of that batch alone for head b.
  multi.update_metrics(metrics, {}, M_LOGITS, {'a': A_LABELS, 'b': B_LABELS_M})
  expected_b = eval_metrics(heads.BinaryClassHead(name='b', thresholds=[0.5]), {},
                            M_LOGITS['b'], B_LABELS_M)
  assert_metrics({k: float(metrics[k].result()) for k in expected_b}, expected_b)


def test_multi_head_absent_head_eval_and_train_specs():
  multi = _multi()
  spec = multi.create_estimator_spec({}, EVAL, M_LOGITS, {'a': A_LABELS},
                                     regularization_losses=[1.])
  assert float(spec.loss) == pytest.approx(6.)
  assert float(spec.eval_metric_ops['loss/b'].count) == 0.
  assert float(spec.eval_metric_ops['loss/a'].result()) == pytest.approx(2.5)
  seen = []
  spec = multi.create_estimator_spec({}, TRAIN, M_LOGITS, {'b': B_LABELS_M},
                                     train_op_fn=lambda loss: seen.append(float(loss)))
  expected = 3. * float(heads.BinaryClassHead().loss(B_LABELS_M, M_LOGITS['b']))
  assert float(spec.loss) == pytest.approx(expected, rel=1e-6)
  assert seen == pytest.approx([expected], rel=1e-6)


def test_multi_head_no_labelled_head_gives_zero_loss():
  multi = _multi()
  assert float(multi.loss({}, M_LOGITS)) == 0.


def test_multi_head_absent_head_in_graph_mode():
  multi = _multi()

  @tf.function
  def loss(labels, logits):
    return multi.loss(labels, logits)

  assert float(loss({'a': A_LABELS}, M_LOGITS)) == pytest.approx(5.)


def test_multi_head_missing_labels_without_flag_raises():
  multi = _multi(allow=False)
  with pytest.raises(ValueError, match=esc("labels has missing values for head(s): ['b']")):
    multi.loss({'a': A_LABELS}, M_LOGITS)
  with pytest.raises(ValueError, match=esc('labels has missing values for head(s)')):
    multi.update_metrics(multi.metrics(), {}, M_LOGITS, {'a': A_LABELS})
  with pytest.raises(ValueError, match=esc('labels has missing values for head(s)')):
    multi.create_estimator_spec({}, EVAL, M_LOGITS, {'a': A_LABELS})


def test_multi_head_with_missing_label_values_inside_heads():
  multi = heads.MultiHead([heads.RegressionHead(name='a', missing_label_value=NAN),
                           heads.MultiClassHead(3, name='c', missing_label_value=-1)],
                          allow_missing_labels=True)
  logits = {'a': f32([[1.], [2.]]), 'c': f32([[2., 0., 1.], [0., 3., 0.]])}
  labels = {'a': f32([[NAN], [4.]]), 'c': i64([[2], [-1]])}
  expected = 4. + softmax_xent(2, logits['c'][0])
  assert float(multi.loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
