"""LogisticRegressionHead: regression of a probability in [0, 1] through a sigmoid."""

import tensorflow as tf

from heads import checks
from heads.regression_head import RegressionHead


def _logistic_loss(labels, logits):
  labels = checks.check_label_range(labels, n_classes=2, message='Labels must be in range [0, 1]')
  return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


class LogisticRegressionHead(RegressionHead):
  """Labels in [0, 1]; sigmoid cross-entropy loss; predictions sigmoid(logits)."""

  def __init__(self, weight_column=None, loss_reduction=checks.SUM_OVER_BATCH_SIZE, name=None,
               *, missing_label_value=None):
    super().__init__(label_dimension=1, weight_column=weight_column,
                     loss_reduction=loss_reduction, loss_fn=_logistic_loss,
                     inverse_link_fn=tf.math.sigmoid, name=name,
                     missing_label_value=missing_label_value)
