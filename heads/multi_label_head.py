"""MultiLabelHead: independent sigmoid cross-entropy per class, averaged over classes."""

import tensorflow as tf

from heads import base_head
from heads import checks
from heads import classification
from heads import metrics as metrics_lib
from heads.keys import MetricKeys
from heads.keys import PredictionKeys

_VALID_KEYS = [PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES, PredictionKeys.CLASSES]


class MultiLabelHead(base_head.SingleHead):
  """Any subset of n_classes per example.

  Labels are a multi-hot indicator tensor [D0..DN, n_classes], or a
  SparseTensor of class ids (integers, or strings with a `label_vocabulary`).
  With `missing_label_value`, an example whose indicator row holds the
  sentinel is masked as a whole.
  """

  def __init__(self, n_classes, weight_column=None, thresholds=None, label_vocabulary=None,
               loss_reduction=checks.SUM_OVER_BATCH_SIZE, loss_fn=None,
               classes_for_class_based_metrics=None, name=None, *, missing_label_value=None):
    if n_classes is None or n_classes < 2:
      raise ValueError('n_classes must be > 1 for multi-label classification. '
                       'Given: {}'.format(n_classes))
    thresholds = tuple(thresholds) if thresholds else tuple()
    for threshold in thresholds:
      if threshold <= 0.0 or threshold >= 1.0:
        raise ValueError('thresholds must be in (0, 1) range. Given: {}'.format(threshold))
    if label_vocabulary is not None:
      if not isinstance(label_vocabulary, (list, tuple)):
        raise ValueError('label_vocabulary must be a list or tuple. Given type: {}'.format(
            type(label_vocabulary)))
      if len(label_vocabulary) != n_classes:
        raise ValueError('Length of label_vocabulary must be n_classes ({}). Given: {}'.format(
            n_classes, len(label_vocabulary)))
    if loss_fn:
      checks.validate_loss_fn_args(loss_fn)
    super().__init__(weight_column, loss_reduction, name, missing_label_value)
    self._n_classes = n_classes
    self._thresholds = thresholds
    self._label_vocabulary = checks.validate_label_vocabulary(
        label_vocabulary, 'label_vocabulary must be a list or tuple. Given type: {}')
    self._loss_fn = loss_fn
    self._classes_for_class_based_metrics = self._class_ids_for_metrics(
        classes_for_class_based_metrics)

  def _class_ids_for_metrics(self, classes):
    if not classes:
      return tuple()
    if isinstance(classes[0], str):
      if not self._label_vocabulary:
        raise ValueError('label_vocabulary must be provided when '
                         'classes_for_class_based_metrics are strings.')
      return tuple(list(self._label_vocabulary).index(name) for name in classes)
    for class_id in classes:
      if class_id < 0 or class_id >= self._n_classes:
        raise ValueError('All classes_for_class_based_metrics must be in range [0, {}]. '
                         'Given: {}'.format(self._n_classes - 1, class_id))
    return tuple(classes)

  @property
  def logits_dimension(self):
    return self._n_classes

  @property
  def _labels_dimension(self):
    return self._n_classes

  def _processed_labels(self, logits, labels):
    if labels is None:
      raise ValueError(checks.LABEL_NONE_ERR_MSG)
    if isinstance(labels, tf.SparseTensor):
      labels = tf.cast(self._sparse_to_indicator(labels), tf.int64)
    else:
      labels = checks.check_label_range(
          tf.convert_to_tensor(labels), 2,
          message='labels must be an integer indicator Tensor with values in [0, 1]')
    return checks.check_dense_labels_match_logits_and_reshape(labels, logits, self._n_classes)

  def _sparse_to_indicator(self, labels):
    """Multi-hot [D0, n_classes] from sparse class ids or vocabulary strings."""
    if labels.dtype == tf.string:
      if self._label_vocabulary is None:
        raise TypeError("String labels need a label_vocabulary, but it is None ('NoneType' "
                        "object is not iterable).")
      shape = ''
      if tf.executing_eagerly():
        shape = ','.join(str(d) for d in list(labels.dense_shape.numpy()[:-1]) + [self._n_classes])
      ids = checks.check_label_range(
          classification.vocabulary_ids(
              labels.values, self._label_vocabulary, tf.errors.InvalidArgumentError,
              'Indices are not valid (out of bounds).  Shape: [{}]'.format(shape)),
          self._n_classes)
    else:
      checks.check_label_dtype_is_integer(labels.values)
      ids = checks.check_label_range(
          labels.values, self._n_classes,
          message='labels must be an integer SparseTensor with values in [0, {})'.format(
              self._n_classes))
    return tf.sparse.to_indicator(
        tf.SparseTensor(labels.indices, ids, labels.dense_shape), self._n_classes)

  def _unweighted_loss(self, logits, labels, features):
    if self._loss_fn:
      return checks.call_loss_fn(self._loss_fn, labels, logits, features, expected_loss_dim=1)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, logits.dtype),
                                                   logits=logits)
    return tf.reduce_mean(loss, axis=-1, keepdims=True)

  def predictions(self, logits, keys=None):
    """logits, probabilities (sigmoid) and classes (all class names, not thresholded)."""
    keys = base_head.requested_keys(keys, _VALID_KEYS)
    logits = checks.check_logits_final_dim(logits, self.logits_dimension)
    computed = {
        PredictionKeys.LOGITS: lambda: logits,
        PredictionKeys.PROBABILITIES: lambda: tf.math.sigmoid(logits),
        PredictionKeys.CLASSES: lambda: base_head.all_classes(
            logits, self._n_classes, self._label_vocabulary),
    }
    return {key: computed[key]() for key in _VALID_KEYS if key in keys}

  def _class_metric_keys(self, class_id):
    if self._label_vocabulary is None:
      names = (MetricKeys.PROBABILITY_MEAN_AT_CLASS % class_id, MetricKeys.AUC_AT_CLASS % class_id,
               MetricKeys.AUC_PR_AT_CLASS % class_id)
    else:
      class_name = self._label_vocabulary[class_id]
      names = (MetricKeys.PROBABILITY_MEAN_AT_NAME % class_name,
               MetricKeys.AUC_AT_NAME % class_name, MetricKeys.AUC_PR_AT_NAME % class_name)
    return tuple(self._summary_key(name) for name in names)

  def metrics(self, regularization_losses=None, *, dtype=None):
    """average_loss, auc, auc_precision_recall, per-threshold and per-class metrics."""
    key = self._summary_key
    eval_metrics = self._base_metrics(regularization_losses, dtype)
    eval_metrics[key(MetricKeys.LOSS_MEAN)] = metrics_lib.Mean(name=key(MetricKeys.LOSS_MEAN),
                                                               dtype=dtype)
    eval_metrics[key(MetricKeys.AUC)] = metrics_lib.AUC(name=key(MetricKeys.AUC), dtype=dtype)
    eval_metrics[key(MetricKeys.AUC_PR)] = metrics_lib.AUC(curve='PR', name=key(MetricKeys.AUC_PR),
                                                           dtype=dtype)
    eval_metrics.update(metrics_lib.threshold_metrics(key, self._thresholds, dtype))
    for class_id in self._classes_for_class_based_metrics:
      prob_key, auc_key, auc_pr_key = self._class_metric_keys(class_id)
      eval_metrics[prob_key] = metrics_lib.Mean(name=prob_key, dtype=dtype)
      eval_metrics[auc_key] = metrics_lib.AUC(name=auc_key, dtype=dtype)
      eval_metrics[auc_pr_key] = metrics_lib.AUC(curve='PR', name=auc_pr_key, dtype=dtype)
    return eval_metrics

  def _update_head_metrics(self, eval_metrics, logits, labels, unweighted_loss, weights):
    key = self._summary_key
    probabilities = self.predictions(
        logits, [PredictionKeys.PROBABILITIES])[PredictionKeys.PROBABILITIES]
    eval_metrics[key(MetricKeys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    for name in (MetricKeys.AUC, MetricKeys.AUC_PR):
      eval_metrics[key(name)].update_state(y_true=labels, y_pred=probabilities,
                                           sample_weight=weights)
    metrics_lib.update_threshold_metrics(eval_metrics, key, self._thresholds, labels, probabilities,
                                         weights)
    for class_id in self._classes_for_class_based_metrics:
      prob_key, auc_key, auc_pr_key = self._class_metric_keys(class_id)
      class_probabilities = probabilities[..., class_id:class_id + 1]
      class_labels = labels[..., class_id:class_id + 1]
      metrics_lib.update_with_broadcast_weights(
          eval_metrics[prob_key], class_probabilities, weights)
      for metric_key in (auc_key, auc_pr_key):
        eval_metrics[metric_key].update_state(
            y_true=class_labels, y_pred=class_probabilities, sample_weight=weights)

  def _export_outputs(self, predictions):
    return classification.export_outputs(predictions, self._n_classes, self._label_vocabulary)
