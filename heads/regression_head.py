"""RegressionHead: squared error on real-valued labels."""

import tensorflow as tf

from heads import base_head
from heads import checks
from heads import metrics as metrics_lib
from heads.export_output import PredictOutput
from heads.export_output import RegressionOutput
from heads.keys import DEFAULT_SERVING_KEY
from heads.keys import MetricKeys
from heads.keys import PREDICT_SERVING_KEY
from heads.keys import PredictionKeys
from heads.keys import REGRESS_SERVING_KEY


class RegressionHead(base_head.SingleHead):
  """Regression with `label_dimension` outputs; loss (label - logit)^2 per output.

  `inverse_link_fn` maps logits to predictions (e.g. exp for Poisson); it is
  used in `predictions()` only. Weights may be [D0..DN], [D0..DN, 1] or
  [D0..DN, label_dimension].
  """

  _allow_per_logit_weights = True

  def __init__(self, label_dimension=1, weight_column=None,
               loss_reduction=checks.SUM_OVER_BATCH_SIZE, loss_fn=None, inverse_link_fn=None,
               name=None, *, missing_label_value=None):
    if label_dimension < 1:
      raise ValueError('Invalid label_dimension {}.'.format(label_dimension))
    super().__init__(weight_column, loss_reduction, name, missing_label_value)
    if loss_fn:
      checks.validate_loss_fn_args(loss_fn)
    self._logits_dimension = label_dimension
    self._loss_fn = loss_fn
    self._inverse_link_fn = inverse_link_fn

  @property
  def logits_dimension(self):
    return self._logits_dimension

  @property
  def squared_error(self):
    """True when the loss is the default squared error (a Gaussian likelihood), not a loss_fn."""
    return self._loss_fn is None

  @property
  def _labels_dimension(self):
    return self._logits_dimension

  def _processed_labels(self, logits, labels):
    labels = checks.check_dense_labels_match_logits_and_reshape(
        labels, logits, self._logits_dimension)
    return tf.cast(labels, tf.float32)

  def _unweighted_loss(self, logits, labels, features):
    if self._loss_fn:
      return checks.call_loss_fn(self._loss_fn, labels, logits, features,
                                 expected_loss_dim=self._logits_dimension)
    return tf.math.squared_difference(logits, labels)

  def predictions(self, logits, keys=None):
    """{'predictions'}, plus 'logits' when there is an inverse link function."""
    logits = checks.check_logits_final_dim(logits, self._logits_dimension)
    if self._inverse_link_fn:
      predictions = {PredictionKeys.PREDICTIONS: self._inverse_link_fn(logits),
                     PredictionKeys.LOGITS: logits}
    else:
      predictions = {PredictionKeys.PREDICTIONS: logits}
    if keys:
      base_head.check_prediction_keys(keys, list(predictions))
      predictions = {k: v for k, v in predictions.items() if k in keys}
    return predictions

  def metrics(self, regularization_losses=None, *, dtype=None):
    """average_loss, prediction/mean, label/mean (+ regularization_loss)."""
    eval_metrics = self._base_metrics(regularization_losses, dtype)
    for key in (MetricKeys.LOSS_MEAN, MetricKeys.PREDICTION_MEAN, MetricKeys.LABEL_MEAN):
      eval_metrics[self._summary_key(key)] = metrics_lib.Mean(name=self._summary_key(key),
                                                              dtype=dtype)
    return eval_metrics

  def _update_head_metrics(self, eval_metrics, logits, labels, unweighted_loss, weights):
    key = self._summary_key
    eval_metrics[key(MetricKeys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    eval_metrics[key(MetricKeys.LABEL_MEAN)].update_state(values=labels, sample_weight=weights)
    predicted = self.predictions(logits)[PredictionKeys.PREDICTIONS]
    metrics_lib.update_with_broadcast_weights(
        eval_metrics[key(MetricKeys.PREDICTION_MEAN)], predicted, weights)

  def _export_outputs(self, predictions):
    regression_output = RegressionOutput(value=predictions[PredictionKeys.PREDICTIONS])
    return {DEFAULT_SERVING_KEY: regression_output,
            REGRESS_SERVING_KEY: regression_output,
            PREDICT_SERVING_KEY: PredictOutput(predictions)}
