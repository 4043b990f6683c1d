"""BinaryClassHead: sigmoid cross-entropy on one logit per example."""

import tensorflow as tf

from heads import base_head
from heads import checks
from heads import classification
from heads import metrics as metrics_lib
from heads.export_output import RegressionOutput
from heads.keys import MetricKeys
from heads.keys import PredictionKeys
from heads.keys import REGRESS_SERVING_KEY

_VALID_KEYS = [PredictionKeys.LOGITS, PredictionKeys.LOGISTIC, PredictionKeys.PROBABILITIES,
               PredictionKeys.CLASS_IDS, PredictionKeys.CLASSES, PredictionKeys.ALL_CLASS_IDS,
               PredictionKeys.ALL_CLASSES]


class BinaryClassHead(base_head.SingleHead):
  """Two classes from one logit. Labels are 0/1, floats in [0, 1], or vocabulary strings."""

  def __init__(self, weight_column=None, thresholds=None, label_vocabulary=None,
               loss_reduction=checks.SUM_OVER_BATCH_SIZE, loss_fn=None, name=None,
               *, missing_label_value=None):
    if label_vocabulary is not None and not isinstance(label_vocabulary, (list, tuple)):
      raise ValueError('label_vocabulary should be a list or a tuple. Given type: {}'.format(
          type(label_vocabulary)))
    thresholds = tuple(thresholds) if thresholds else tuple()
    for threshold in thresholds:
      if threshold <= 0.0 or threshold >= 1.0:
        raise ValueError('thresholds not in (0, 1): {}.'.format((thresholds,)))
    super().__init__(weight_column, loss_reduction, name, missing_label_value)
    if loss_fn:
      checks.validate_loss_fn_args(loss_fn)
    label_vocabulary = checks.validate_label_vocabulary(
        label_vocabulary, 'label_vocabulary should be a list or a tuple. Given type: {}')
    if label_vocabulary is not None and len(label_vocabulary) != 2:
      raise ValueError('label_vocabulary of a BinaryClassHead must have 2 values. '
                       'Given: {}'.format(list(label_vocabulary)))
    self._thresholds = thresholds
    self._label_vocabulary = label_vocabulary
    self._loss_fn = loss_fn

  @property
  def logits_dimension(self):
    return 1

  def _processed_labels(self, logits, labels):
    labels = checks.check_dense_labels_match_logits_and_reshape(labels, logits, 1)
    if self._label_vocabulary is None and labels.dtype == tf.string:
      raise tf.errors.UnimplementedError(
          None, None, 'Cast string to float is not supported: the labels are strings, so the '
          'head needs a label_vocabulary.')
    if self._label_vocabulary is not None:
      if labels.dtype != tf.string:
        raise TypeError('Dtype of argument `keys` must be {}, received: {}. With a '
                        'label_vocabulary the labels must be strings.'.format(
                            tf.string, labels.dtype))
      labels = classification.vocabulary_ids(labels, self._label_vocabulary)
    return checks.check_label_range(tf.cast(labels, tf.float32), n_classes=2)

  def _unweighted_loss(self, logits, labels, features):
    if self._loss_fn:
      return checks.call_loss_fn(self._loss_fn, labels, logits, features, expected_loss_dim=1)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)

  def predictions(self, logits, keys=None):
    """logits, logistic, probabilities, class_ids, classes, all_class_ids, all_classes."""
    keys = base_head.requested_keys(keys, _VALID_KEYS)
    logits = checks.check_logits_final_dim(logits, 1)
    two_class_logits = tf.concat((tf.zeros_like(logits), logits), axis=-1)
    class_ids = tf.expand_dims(tf.argmax(two_class_logits, axis=-1), axis=-1)
    computed = {
        PredictionKeys.LOGITS: lambda: logits,
        PredictionKeys.LOGISTIC: lambda: tf.math.sigmoid(logits),
        PredictionKeys.PROBABILITIES: lambda: tf.nn.softmax(two_class_logits),
        PredictionKeys.CLASS_IDS: lambda: class_ids,
        PredictionKeys.CLASSES: lambda: base_head.class_names(class_ids, self._label_vocabulary),
        PredictionKeys.ALL_CLASS_IDS: lambda: base_head.all_class_ids(logits, 2),
        PredictionKeys.ALL_CLASSES: lambda: base_head.all_classes(
            logits, 2, self._label_vocabulary),
    }
    return {key: computed[key]() for key in _VALID_KEYS if key in keys}

  def metrics(self, regularization_losses=None, *, dtype=None):
    """The binary metric set, plus one accuracy/precision/recall per threshold."""
    key = self._summary_key
    eval_metrics = self._base_metrics(regularization_losses, dtype)
    for name in (MetricKeys.LOSS_MEAN, MetricKeys.PREDICTION_MEAN, MetricKeys.LABEL_MEAN):
      eval_metrics[key(name)] = metrics_lib.Mean(name=key(name), dtype=dtype)
    eval_metrics[key(MetricKeys.ACCURACY)] = metrics_lib.Accuracy(name=key(MetricKeys.ACCURACY),
                                                                  dtype=dtype)
    eval_metrics[key(MetricKeys.PRECISION)] = metrics_lib.Precision(
        name=key(MetricKeys.PRECISION), dtype=dtype)
    eval_metrics[key(MetricKeys.RECALL)] = metrics_lib.Recall(name=key(MetricKeys.RECALL),
                                                              dtype=dtype)
    eval_metrics[key(MetricKeys.ACCURACY_BASELINE)] = metrics_lib.AccuracyBaseline(
        eval_metrics[key(MetricKeys.LABEL_MEAN)], name=key(MetricKeys.ACCURACY_BASELINE),
        dtype=dtype)
    eval_metrics[key(MetricKeys.AUC)] = metrics_lib.AUC(name=key(MetricKeys.AUC), dtype=dtype)
    eval_metrics[key(MetricKeys.AUC_PR)] = metrics_lib.AUC(curve='PR', name=key(MetricKeys.AUC_PR),
                                                           dtype=dtype)
    eval_metrics.update(metrics_lib.threshold_metrics(key, self._thresholds, dtype))
    return eval_metrics

  def _update_head_metrics(self, eval_metrics, logits, labels, unweighted_loss, weights):
    key = self._summary_key
    predictions = self.predictions(logits, [PredictionKeys.CLASS_IDS, PredictionKeys.LOGISTIC])
    class_ids = predictions[PredictionKeys.CLASS_IDS]
    logistic = predictions[PredictionKeys.LOGISTIC]
    eval_metrics[key(MetricKeys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    for name in (MetricKeys.ACCURACY, MetricKeys.PRECISION, MetricKeys.RECALL):
      eval_metrics[key(name)].update_state(y_true=labels, y_pred=class_ids, sample_weight=weights)
    metrics_lib.update_with_broadcast_weights(
        eval_metrics[key(MetricKeys.PREDICTION_MEAN)], logistic, weights)
    metrics_lib.update_with_broadcast_weights(
        eval_metrics[key(MetricKeys.LABEL_MEAN)], labels, weights)
    auc_weights = None if weights is None else metrics_lib.broadcast_weights(weights, logistic)
    for name in (MetricKeys.AUC, MetricKeys.AUC_PR):
      eval_metrics[key(name)].update_state(y_true=labels, y_pred=logistic,
                                           sample_weight=auc_weights)
    metrics_lib.update_threshold_metrics(eval_metrics, key, self._thresholds, labels, logistic,
                                         weights)

  def _export_outputs(self, predictions):
    outputs = classification.export_outputs(predictions, 2, self._label_vocabulary)
    outputs[REGRESS_SERVING_KEY] = RegressionOutput(value=predictions[PredictionKeys.LOGISTIC])
    return outputs
