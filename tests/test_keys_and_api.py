"""Reference §0 (key strings, verbatim) and the public API surface of `heads`."""
import inspect

import heads


def test_serving_keys():
  assert heads.DEFAULT_SERVING_KEY == 'serving_default'
  assert heads.CLASSIFY_SERVING_KEY == 'classification'
  assert heads.REGRESS_SERVING_KEY == 'regression'
  assert heads.PREDICT_SERVING_KEY == 'predict'


def test_mode_keys():
  assert heads.ModeKeys.TRAIN == 'train'
  assert heads.ModeKeys.EVAL == 'eval'
  assert heads.ModeKeys.PREDICT == 'infer'


def test_prediction_keys():
  keys = heads.PredictionKeys
  assert (keys.CLASSES, keys.CLASS_IDS, keys.ALL_CLASSES, keys.ALL_CLASS_IDS, keys.LOGISTIC,
          keys.LOGITS, keys.PREDICTIONS, keys.PROBABILITIES, keys.TOP_K) == (
              'classes', 'class_ids', 'all_classes', 'all_class_ids', 'logistic', 'logits',
              'predictions', 'probabilities', 'top_k')


def test_metric_keys():
  keys = heads.MetricKeys
  expected = {
      'LOSS': 'loss', 'LOSS_MEAN': 'average_loss', 'LOSS_REGULARIZATION': 'regularization_loss',
      'ACCURACY': 'accuracy', 'PRECISION': 'precision', 'RECALL': 'recall',
      'ACCURACY_BASELINE': 'accuracy_baseline', 'AUC': 'auc',
      'AUC_PR': 'auc_precision_recall', 'LABEL_MEAN': 'label/mean',
      'PREDICTION_MEAN': 'prediction/mean',
      'ACCURACY_AT_THRESHOLD': 'accuracy/positive_threshold_%g',
      'PRECISION_AT_THRESHOLD': 'precision/positive_threshold_%g',
      'RECALL_AT_THRESHOLD': 'recall/positive_threshold_%g',
      'PROBABILITY_MEAN_AT_CLASS': 'probability_mean/class%d',
      'AUC_AT_CLASS': 'auc/class%d', 'AUC_PR_AT_CLASS': 'auc_precision_recall/class%d',
      'PROBABILITY_MEAN_AT_NAME': 'probability_mean/%s', 'AUC_AT_NAME': 'auc/%s',
      'AUC_PR_AT_NAME': 'auc_precision_recall/%s'}
  for attribute, value in expected.items():
    assert getattr(keys, attribute) == value, attribute
  assert keys.ACCURACY_AT_THRESHOLD % 0.5 == 'accuracy/positive_threshold_0.5'
  assert keys.ACCURACY_AT_THRESHOLD % 0.25 == 'accuracy/positive_threshold_0.25'


def test_public_exports():
  for name in ('Head', 'RegressionHead', 'PoissonRegressionHead', 'LogisticRegressionHead',
               'BinaryClassHead', 'MultiClassHead', 'MultiLabelHead', 'MultiHead',
               'SequentialHeadWrapper', 'EstimatorSpec', 'ClassificationOutput',
               'RegressionOutput', 'PredictOutput'):
    assert hasattr(heads, name), name
  for name in ('RegressionHead', 'BinaryClassHead', 'MultiClassHead', 'MultiLabelHead',
               'MultiHead', 'SequentialHeadWrapper'):
    assert issubclass(getattr(heads, name), heads.Head), name


def _params(fn):
  return [p for p in inspect.signature(fn).parameters if p != 'self']


def test_constructor_signatures_keep_original_positional_order():
  """The original positional order must still work (new options are keyword-only)."""
  assert _params(heads.RegressionHead.__init__)[:6] == [
      'label_dimension', 'weight_column', 'loss_reduction', 'loss_fn', 'inverse_link_fn',
      'name']
  assert _params(heads.PoissonRegressionHead.__init__)[:5] == [
      'label_dimension', 'weight_column', 'loss_reduction', 'compute_full_loss', 'name']
  assert _params(heads.LogisticRegressionHead.__init__)[:3] == [
      'weight_column', 'loss_reduction', 'name']
  assert _params(heads.BinaryClassHead.__init__)[:6] == [
      'weight_column', 'thresholds', 'label_vocabulary', 'loss_reduction', 'loss_fn', 'name']
  assert _params(heads.MultiClassHead.__init__)[:6] == [
      'n_classes', 'weight_column', 'label_vocabulary', 'loss_reduction', 'loss_fn', 'name']
  assert _params(heads.MultiLabelHead.__init__)[:8] == [
      'n_classes', 'weight_column', 'thresholds', 'label_vocabulary', 'loss_reduction',
      'loss_fn', 'classes_for_class_based_metrics', 'name']
  assert _params(heads.MultiHead.__init__)[:2] == ['heads', 'head_weights']
  assert _params(heads.SequentialHeadWrapper.__init__)[:3] == [
      'static_head', 'sequence_length_mask', 'feature_columns']


def test_method_signatures():
  for cls in (heads.RegressionHead, heads.BinaryClassHead, heads.MultiClassHead,
              heads.MultiLabelHead, heads.MultiHead):
    assert _params(cls.loss)[:5] == ['labels', 'logits', 'features', 'mode',
                                     'regularization_losses'], cls
    assert _params(cls.update_metrics)[:6] == [
        'eval_metrics', 'features', 'logits', 'labels', 'mode', 'regularization_losses'], cls
    assert _params(cls.create_estimator_spec)[:9] == [
        'features', 'mode', 'logits', 'labels', 'optimizer', 'trainable_variables',
        'train_op_fn', 'update_ops', 'regularization_losses'], cls
  # SequentialHeadWrapper.loss takes (logits, labels, ...).
  assert _params(heads.SequentialHeadWrapper.loss)[:2] == ['logits', 'labels']


def test_positional_construction_like_the_original():
  head = heads.BinaryClassHead('w', [0.5], ['a', 'b'], 'sum', None, 'bin')
  assert (head.name, head.loss_reduction) == ('bin', 'sum')
  head = heads.MultiLabelHead(3, None, None, None, 'sum', None, [1], 'ml')
  assert head.name == 'ml'
  assert 'auc/class1/ml' in head.metrics()
