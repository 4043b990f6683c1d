"""PoissonRegressionHead: log-Poisson loss on counts, predictions exp(logits)."""

import tensorflow as tf

from heads import checks
from heads.regression_head import RegressionHead


class PoissonRegressionHead(RegressionHead):
  """Regression of counts: loss `tf.nn.log_poisson_loss`, predictions exp(logits)."""

  def __init__(self, label_dimension=1, weight_column=None,
               loss_reduction=checks.SUM_OVER_BATCH_SIZE, compute_full_loss=True, name=None,
               *, missing_label_value=None):
    self._compute_full_loss = compute_full_loss
    super().__init__(label_dimension=label_dimension, weight_column=weight_column,
                     loss_reduction=loss_reduction, loss_fn=self._poisson_loss,
                     inverse_link_fn=tf.math.exp, name=name,
                     missing_label_value=missing_label_value)

  def _poisson_loss(self, labels, logits):
    return tf.nn.log_poisson_loss(targets=labels, log_input=logits,
                                  compute_full_loss=self._compute_full_loss)
