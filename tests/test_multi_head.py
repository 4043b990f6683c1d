"""MultiHead: reference §3-§6 and test vectors 38-41."""
import numpy as np
import pytest
import tensorflow as tf

import heads
from conftest import EVAL, PREDICT, TRAIN, assert_close, assert_loss, assert_metrics, esc
from conftest import eval_metrics, f32, i64

LOGITS = {'head1': f32([[-10., 10.], [-15., 10.]]),
          'head2': f32([[20., -20., 20.], [-30., 20., -20.]])}
LABELS = {'head1': i64([[1, 0], [1, 1]]), 'head2': i64([[0, 1, 0], [1, 1, 0]])}
FEATURES = {'x': np.array(((42,),), dtype=np.int32)}
CONCAT_LOGITS = f32([[-10., 10., 20., -20., 20.], [-15., 10., -30., 20., -20.]])


def two_label_heads(**kwargs1):
  return (heads.MultiLabelHead(2, name='head1', **kwargs1),
          heads.MultiLabelHead(3, name='head2'))


def sigmoid(x):
  return 1. / (1. + np.exp(-np.asarray(x, np.float64)))


def test_properties():
  head1, head2 = two_label_heads()
  multi = heads.MultiHead([head1, head2], head_weights=[1., 2.])
  assert multi.name == 'head1_head2'
  assert multi.logits_dimension == 5
  assert multi.loss_reduction == 'sum_over_batch_size'
  assert tuple(multi.heads) == (head1, head2)


# Vector 38 ----------------------------------------------------------------------

V38_METRICS = {
    'loss/head1': 8.75, 'loss/head2': 15., 'average_loss/head1': 8.75,
    'average_loss/head2': 15., 'auc/head1': 0.1667, 'auc/head2': 0.3333,
    'auc_precision_recall/head1': 0.60228, 'auc_precision_recall/head2': 0.40152}


def test_v38_eval_two_heads_with_weights():
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  assert_loss(multi, LABELS, LOGITS, 38.75, features=FEATURES, rtol=1e-4)
  spec = multi.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS)
  assert spec.mode == EVAL
  assert_close(spec.loss, 38.75, rtol=1e-4)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, V38_METRICS, rtol=0, atol=1e-4)
  assert set(spec.predictions) == {
      ('head1', 'logits'), ('head1', 'probabilities'), ('head1', 'classes'),
      ('head2', 'logits'), ('head2', 'probabilities'), ('head2', 'classes')}
  assert_close(spec.predictions[('head2', 'probabilities')], sigmoid(LOGITS['head2']))
  assert spec.train_op is None


def test_v38_metrics_then_update_metrics():
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  results = eval_metrics(multi, FEATURES, LOGITS, LABELS)
  assert_metrics(results, V38_METRICS, rtol=0, atol=1e-4)


def test_v38_eval_with_regularization_metric_key():
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  spec = multi.create_estimator_spec(FEATURES, EVAL, LOGITS, LABELS,
                                     regularization_losses=[1.5, 0.5])
  assert_close(spec.loss, 40.75, rtol=1e-4)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, dict(V38_METRICS, **{'regularization_loss/head1_head2': 2.}),
                 rtol=0, atol=1e-4)


def test_v38_concatenated_logits_eval():
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  spec = multi.create_estimator_spec(FEATURES, EVAL, CONCAT_LOGITS, LABELS)
  assert_close(spec.loss, 38.75, rtol=1e-4)
  results = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
  assert_metrics(results, V38_METRICS, rtol=0, atol=1e-4)
  assert_close(spec.predictions[('head1', 'logits')], LOGITS['head1'])
  assert_close(spec.predictions[('head2', 'logits')], LOGITS['head2'])


# Vector 39 ----------------------------------------------------------------------

def weighted_multi_head():
  head1 = heads.MultiLabelHead(2, name='head1', weight_column='weights1')
  head2 = heads.MultiLabelHead(3, name='head2', weight_column='weights2')
  features = {'x': np.array(((42,),), dtype=np.int32), 'weights1': f32([[1.], [2.]]),
              'weights2': f32([[2.], [3.]])}
  return heads.MultiHead([head1, head2], head_weights=[1., 2.]), features


def test_v39_train_loss_two_heads_with_weights():
  multi, features = weighted_multi_head()
  assert_loss(multi, LABELS, LOGITS, 82.5, features=features, rtol=1e-4)
  spec = multi.create_estimator_spec(features, TRAIN, LOGITS, LABELS,
                                     train_op_fn=lambda loss: tf.no_op())
  assert_close(spec.loss, 82.5, rtol=1e-4)


def test_v39_train_loss_logits_tensor():
  multi, features = weighted_multi_head()
  assert_loss(multi, LABELS, CONCAT_LOGITS, 82.5, features=features, rtol=1e-4)


def test_v39_logits_tensor_wrong_shape():
  multi, features = weighted_multi_head()
  logits = f32([[-10., 10., 20., -20., 20., 70.], [-15., 10., -30., 20., -20., 80.]])
  # tf.estimator printed the last two values swapped; heads states them right (issue 9).
  with pytest.raises(ValueError, match=esc(
      'Could not split logits of shape [2, 6] among the heads with individual logits '
      'dimensions: [2, 3]. The last dimension of the logits tensor should equal 5 but is 6.')):
    multi.loss(LABELS, logits, features, TRAIN)


# Vector 40 ----------------------------------------------------------------------

def test_v40_train_loss_logits_tensor_multi_dim():
  head1 = heads.RegressionHead(label_dimension=2, name='head1')
  head2 = heads.RegressionHead(label_dimension=3, name='head2')
  multi = heads.MultiHead([head1, head2])
  logits = f32([[[-1., 1., 2., -2., 2.], [-1., 1., 2., -2., 2.]],
                [[-1.5, 1.5, -2., 2., -2.], [-1.5, 1.5, -2., 2., -2.]]])
  labels = {'head1': f32([[[1., 0.], [1., 0.]], [[1.5, 1.5], [1.5, 1.5]]]),
            'head2': f32([[[0., 1., 0.], [0., 1., 0.]], [[2., 2., 0.], [2., 2., 0.]]])}
  assert_loss(multi, labels, logits, 3.5 + 74. / 12, features={}, rtol=1e-5)
  assert_loss(multi, labels, logits, 3.5 + 6.167, features={}, rtol=0, atol=1e-3)
  wrong = logits[..., :4]
  with pytest.raises(ValueError, match=esc('Could not split logits')):
    multi.loss(labels, wrong, {}, TRAIN)


# Vector 41 ----------------------------------------------------------------------

def test_v41_train_with_regularization_losses(summaries):
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  assert_loss(multi, LABELS, LOGITS, 40.75, features=FEATURES,
              regularization_losses=[1.5, 0.5], rtol=1e-4)
  spec, values = summaries(lambda: multi.create_estimator_spec(
      FEATURES, TRAIN, LOGITS, LABELS, train_op_fn=lambda loss: tf.no_op(),
      regularization_losses=[1.5, 0.5]))
  assert_close(spec.loss, 40.75, rtol=1e-4)
  assert spec.eval_metric_ops == {}
  assert spec.export_outputs is None
  assert_close(spec.predictions[('head1', 'logits')], LOGITS['head1'])
  assert_close(spec.predictions[('head2', 'probabilities')], sigmoid(LOGITS['head2']))
  assert values == pytest.approx({'regularization_loss': 2., 'loss': 40.75,
                                  'loss/head1': 8.75, 'loss/head2': 15.}, rel=1e-4)


def test_v41_train_one_head(summaries):
  multi = heads.MultiHead([heads.MultiLabelHead(2, name='head1')])
  logits, labels = {'head1': LOGITS['head1']}, {'head1': LABELS['head1']}
  assert_loss(multi, labels, logits, 8.75, features=FEATURES, rtol=1e-4)
  seen = []
  spec, values = summaries(lambda: multi.create_estimator_spec(
      FEATURES, TRAIN, logits, labels, train_op_fn=lambda loss: seen.append(loss) or 'op'))
  assert spec.train_op == 'op'
  assert [float(x) for x in seen] == pytest.approx([8.75], rel=1e-4)
  assert values == pytest.approx({'loss': 8.75, 'loss/head1': 8.75}, rel=1e-4)


def test_train_two_heads_summaries_without_regularization(summaries):
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  _, values = summaries(lambda: multi.create_estimator_spec(
      FEATURES, TRAIN, LOGITS, LABELS, train_op_fn=lambda loss: tf.no_op()))
  assert values == pytest.approx({'loss': 38.75, 'loss/head1': 8.75, 'loss/head2': 15.},
                                 rel=1e-4)


# §3 / §5: predictions and export outputs ---------------------------------------------

def test_predict_two_multi_label_heads():
  multi = heads.MultiHead(list(two_label_heads()))
  spec = multi.create_estimator_spec(FEATURES, PREDICT, LOGITS)
  assert spec.loss is None and spec.train_op is None
  assert set(spec.export_outputs) == {
      'serving_default', 'predict', 'head1', 'head1/classification', 'head1/predict',
      'head2', 'head2/classification', 'head2/predict'}
  default = spec.export_outputs['serving_default']
  assert isinstance(default, heads.ClassificationOutput)
  assert_close(default.scores, sigmoid(LOGITS['head1']))
  np.testing.assert_array_equal(default.classes, [[b'0', b'1']] * 2)
  assert isinstance(spec.export_outputs['head2'], heads.ClassificationOutput)
  assert_close(spec.export_outputs['head2'].scores, sigmoid(LOGITS['head2']))
  assert isinstance(spec.export_outputs['head1/predict'], heads.PredictOutput)
  merged = spec.export_outputs['predict']
  assert isinstance(merged, heads.PredictOutput)
  assert set(merged.outputs) == {'head1/logits', 'head1/probabilities', 'head1/classes',
                                 'head2/logits', 'head2/probabilities', 'head2/classes'}
  assert_close(merged.outputs['head2/logits'], LOGITS['head2'])
  assert set(spec.predictions) == {(h, k) for h in ('head1', 'head2')
                                   for k in ('logits', 'probabilities', 'classes')}


def test_predict_regression_heads():
  multi = heads.MultiHead([heads.RegressionHead(name='head1'),
                           heads.RegressionHead(label_dimension=2, name='head2')])
  logits = f32([[1., 2., 3.], [4., 5., 6.]])
  spec = multi.create_estimator_spec({}, PREDICT, logits)
  assert set(spec.export_outputs) == {
      'serving_default', 'predict', 'head1', 'head1/regression', 'head1/predict',
      'head2', 'head2/regression', 'head2/predict'}
  assert isinstance(spec.export_outputs['serving_default'], heads.RegressionOutput)
  assert_close(spec.export_outputs['serving_default'].value, [[1.], [4.]])
  assert_close(spec.export_outputs['head2/regression'].value, [[2., 3.], [5., 6.]])
  assert set(spec.export_outputs['predict'].outputs) == {'head1/predictions',
                                                         'head2/predictions'}
  assert_close(spec.predictions[('head2', 'predictions')], [[2., 3.], [5., 6.]])


def test_predict_mixed_heads_first_head_is_default():
  multi = heads.MultiHead([heads.MultiClassHead(3, name='mc'), heads.BinaryClassHead(name='b')])
  logits = f32([[1., 0., 0., 0.3], [0., 0., 1., -0.4]])
  spec = multi.create_estimator_spec({}, PREDICT, logits)
  assert set(spec.export_outputs) == {
      'serving_default', 'predict', 'mc', 'mc/classification', 'mc/predict',
      'b', 'b/classification', 'b/regression', 'b/predict'}
  assert tuple(spec.export_outputs['serving_default'].scores.shape) == (2, 3)
  assert_close(spec.predictions[('b', 'logistic')], [[0.574443], [0.401312]])
  np.testing.assert_array_equal(spec.predictions[('mc', 'class_ids')], [[0], [2]])


class _NoDefaultExportHead(heads.RegressionHead):
  """A head whose PREDICT spec has two export outputs and no 'serving_default'."""

  def create_estimator_spec(self, features, mode, logits, labels=None, **kwargs):
    spec = super().create_estimator_spec(features, mode, logits, labels, **kwargs)
    if mode == PREDICT:
      value = spec.predictions['predictions']
      spec = spec._replace(export_outputs={'a': heads.RegressionOutput(value),
                                           'b': heads.PredictOutput({'v': value})})
    return spec


class _SingleExportHead(heads.RegressionHead):

  def create_estimator_spec(self, features, mode, logits, labels=None, **kwargs):
    spec = super().create_estimator_spec(features, mode, logits, labels, **kwargs)
    if mode == PREDICT:
      spec = spec._replace(
          export_outputs={'only': heads.RegressionOutput(spec.predictions['predictions'])})
    return spec


def test_predict_first_head_without_default_export_output():
  multi = heads.MultiHead([_NoDefaultExportHead(name='head1'), heads.RegressionHead(name='h2')])
  with pytest.raises(ValueError, match=esc('head1 did not specify default export_outputs.')) as e:
    multi.create_estimator_spec({}, PREDICT, f32([[1., 2.]]))
  assert 'Suggested fix: Use one of the heads in tf.estimator, or include key serving_default ' \
         'in export_outputs.' in str(e.value)


def test_predict_first_head_single_export_output_is_default():
  multi = heads.MultiHead([_SingleExportHead(name='head1'), heads.RegressionHead(name='h2')])
  spec = multi.create_estimator_spec({}, PREDICT, f32([[1., 2.]]))
  assert spec.export_outputs['serving_default'] is spec.export_outputs['head1/only']


# Multi-dim logits dict through EVAL, and graph mode ---------------------------------

def test_eval_in_graph_mode():
  multi = heads.MultiHead(list(two_label_heads()), head_weights=[1., 2.])
  metrics = multi.metrics()

  @tf.function
  def evaluate(logits, labels):
    multi.update_metrics(metrics, FEATURES, logits, labels)
    return multi.loss(labels, logits, FEATURES, EVAL)

  assert float(evaluate(CONCAT_LOGITS, LABELS)) == pytest.approx(38.75, rel=1e-4)
  results = {k: float(m.result()) for k, m in metrics.items()}
  assert_metrics(results, V38_METRICS, rtol=0, atol=1e-4)


# §6 errors ----------------------------------------------------------------------

def test_constructor_errors():
  with pytest.raises(ValueError, match=esc('Must specify heads. Given: []')):
    heads.MultiHead([])
  with pytest.raises(ValueError, match=esc('Must specify heads. Given: None')):
    heads.MultiHead(None)
  head1, head2 = two_label_heads()
  with pytest.raises(ValueError, match=esc(
      'heads and head_weights must have the same size. Given len(heads): 2. '
      'Given len(head_weights): 1.')):
    heads.MultiHead([head1, head2], head_weights=[1.])
  with pytest.raises(ValueError, match=esc('All given heads must have name specified. Given: ')):
    heads.MultiHead([head1, heads.MultiLabelHead(3)])


def test_loss_reduction_must_be_same_in_train():
  head1 = heads.MultiLabelHead(2, name='head1', loss_reduction='sum_over_batch_size')
  head2 = heads.MultiLabelHead(3, name='head2', loss_reduction='auto')
  multi = heads.MultiHead([head1, head2])
  with pytest.raises(ValueError, match=esc(
      'The loss_reduction must be the same for different heads. Given: ')):
    multi.create_estimator_spec(FEATURES, TRAIN, LOGITS, LABELS,
                                train_op_fn=lambda loss: tf.no_op())


def test_missing_logits_for_head():
  multi = heads.MultiHead(list(two_label_heads()))
  with pytest.raises(ValueError, match=esc("logits has missing values for head(s): ['head2']")):
    multi.loss(LABELS, {'head1': LOGITS['head1']}, FEATURES)
  with pytest.raises(ValueError, match=esc("logits has missing values for head(s): ['head2']")):
    multi.predictions({'head1': LOGITS['head1']})


def test_labels_must_be_dict():
  multi = heads.MultiHead(list(two_label_heads()))
  with pytest.raises(ValueError, match=esc('labels must be a dict. Given: ')):
    multi.loss(LABELS['head1'], LOGITS, FEATURES)


def test_labels_missing_for_head():
  multi = heads.MultiHead(list(two_label_heads()))
  with pytest.raises(ValueError, match=esc("labels has missing values for head(s): ['head2']")):
    multi.loss({'head1': LABELS['head1']}, LOGITS, FEATURES)
  with pytest.raises(ValueError, match=esc("labels has missing values for head(s): ['head2']")):
    multi.create_estimator_spec(FEATURES, EVAL, LOGITS, {'head1': LABELS['head1']})


def test_unrecognized_mode():
  multi = heads.MultiHead(list(two_label_heads()))
  with pytest.raises(ValueError, match=esc('mode=bogus unrecognized')):
    multi.create_estimator_spec(FEATURES, 'bogus', LOGITS, LABELS)


def test_heads_without_weights_sum_losses():
  multi = heads.MultiHead(list(two_label_heads()))
  assert_loss(multi, LABELS, LOGITS, 23.75, features=FEATURES, rtol=1e-4)
