"""MultiClassHead: softmax cross-entropy over n_classes > 2."""

import tensorflow as tf

from heads import base_head
from heads import checks
from heads import classification
from heads import metrics as metrics_lib
from heads.keys import MetricKeys
from heads.keys import PredictionKeys

_VALID_KEYS = [PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES, PredictionKeys.CLASS_IDS,
               PredictionKeys.CLASSES, PredictionKeys.ALL_CLASS_IDS, PredictionKeys.ALL_CLASSES]


def validate_n_classes(n_classes):
  """n_classes is an integer > 2 (a Python int or an integer scalar tensor)."""
  if isinstance(n_classes, bool):
    raise ValueError('n_classes must be an integer.')
  if isinstance(n_classes, int):
    if n_classes <= 2:
      raise ValueError('n_classes must be > 2: %s.' % n_classes)
    return n_classes
  tensor = tf.convert_to_tensor(n_classes)
  if not tensor.dtype.is_integer:
    raise ValueError('n_classes must be an integer.')
  value = int(tf.get_static_value(tensor))
  if value <= 2:
    raise ValueError('n_classes must be > 2: %s.' % value)
  return value


class MultiClassHead(base_head.SingleHead):
  """One of n_classes. Labels are integer ids in [0, n_classes) or vocabulary strings."""

  def __init__(self, n_classes, weight_column=None, label_vocabulary=None,
               loss_reduction=checks.SUM_OVER_BATCH_SIZE, loss_fn=None, name=None,
               *, missing_label_value=None):
    if n_classes is None:
      raise ValueError('n_classes cannot be None')
    if label_vocabulary is not None and not isinstance(label_vocabulary, (list, tuple)):
      raise ValueError('label_vocabulary should be a list or a tuple. Given type: {}'.format(
          type(label_vocabulary)))
    if label_vocabulary is not None and len(label_vocabulary) != n_classes:
      raise ValueError(
          '"label_vocabulary" does not have "n_classes" items. len(label_vocabulary)={}, '
          'n_classes={}, label_vocabulary={}'.format(len(label_vocabulary), n_classes,
                                                    label_vocabulary))
    super().__init__(weight_column, loss_reduction, name, missing_label_value)
    if loss_fn:
      checks.validate_loss_fn_args(loss_fn)
    self._n_classes = validate_n_classes(n_classes)
    self._label_vocabulary = checks.validate_label_vocabulary(
        label_vocabulary, 'label_vocabulary should be a list or a tuple. Given type: {}')
    self._loss_fn = loss_fn

  @property
  def logits_dimension(self):
    return self._n_classes

  def _processed_labels(self, logits, labels):
    labels = checks.check_dense_labels_match_logits_and_reshape(labels, logits, 1)
    if self._label_vocabulary is None:
      checks.check_label_dtype_is_integer(labels)
      ids = labels
    elif labels.dtype != tf.string:
      raise ValueError('Labels dtype should be string if there is a vocabulary. '
                       'Instead got {}'.format(labels.dtype))
    else:
      ids = classification.vocabulary_ids(labels, self._label_vocabulary)
    return checks.check_label_range(ids, self._n_classes)

  def _unweighted_loss(self, logits, labels, features):
    if self._loss_fn:
      return checks.call_loss_fn(self._loss_fn, labels, logits, features, expected_loss_dim=1)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.squeeze(labels, axis=-1), logits=logits)
    return tf.expand_dims(loss, axis=-1)

  def predictions(self, logits, keys=None):
    """logits, probabilities, class_ids, classes, all_class_ids, all_classes."""
    keys = base_head.requested_keys(keys, _VALID_KEYS)
    logits = checks.check_logits_final_dim(logits, self.logits_dimension)
    class_ids = tf.expand_dims(tf.argmax(logits, axis=-1), axis=-1)
    computed = {
        PredictionKeys.LOGITS: lambda: logits,
        PredictionKeys.PROBABILITIES: lambda: tf.nn.softmax(logits),
        PredictionKeys.CLASS_IDS: lambda: class_ids,
        PredictionKeys.CLASSES: lambda: base_head.class_names(class_ids, self._label_vocabulary),
        PredictionKeys.ALL_CLASS_IDS: lambda: base_head.all_class_ids(logits, self._n_classes),
        PredictionKeys.ALL_CLASSES: lambda: base_head.all_classes(
            logits, self._n_classes, self._label_vocabulary),
    }
    return {key: computed[key]() for key in _VALID_KEYS if key in keys}

  def metrics(self, regularization_losses=None, *, dtype=None):
    """average_loss and accuracy (+ regularization_loss)."""
    key = self._summary_key
    eval_metrics = self._base_metrics(regularization_losses, dtype)
    eval_metrics[key(MetricKeys.LOSS_MEAN)] = metrics_lib.Mean(name=key(MetricKeys.LOSS_MEAN),
                                                               dtype=dtype)
    eval_metrics[key(MetricKeys.ACCURACY)] = metrics_lib.Accuracy(name=key(MetricKeys.ACCURACY),
                                                                  dtype=dtype)
    return eval_metrics

  def _update_head_metrics(self, eval_metrics, logits, labels, unweighted_loss, weights):
    key = self._summary_key
    class_ids = self.predictions(logits, [PredictionKeys.CLASS_IDS])[PredictionKeys.CLASS_IDS]
    eval_metrics[key(MetricKeys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    eval_metrics[key(MetricKeys.ACCURACY)].update_state(
        y_true=labels, y_pred=class_ids, sample_weight=weights)

  def _export_outputs(self, predictions):
    return classification.export_outputs(predictions, self._n_classes, self._label_vocabulary)
