"""Stop training when the loss becomes non-finite, naming the heads whose loss is.

Keras' TerminateOnNaN stops quietly and cannot say which objective broke. A
HeadModel logs the loss of every head as `loss/<head>` next to the total
`loss`, so the error can point at the head (and so at its labels, weights or
learning rate).
"""

import math

import keras

from heads.keys import MetricKeys

_HEAD_LOSS_PREFIX = MetricKeys.LOSS + '/'


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or inf; the message names the heads whose loss is."""

  def __init__(self, message, step, heads):
    super().__init__(message)
    self.step = step
    self.heads = heads


def _is_finite(value):
  try:
    return math.isfinite(float(value))
  except (TypeError, ValueError):
    return True


def non_finite_heads(logs):
  """{head: loss} of the `loss/<head>` entries of Keras logs that are NaN or inf."""
  return {key[len(_HEAD_LOSS_PREFIX):]: float(value) for key, value in (logs or {}).items()
          if key.startswith(_HEAD_LOSS_PREFIX) and not _is_finite(value)}


class StopOnNonFiniteLoss(keras.callbacks.Callback):
  """Raises NonFiniteLossError at the first training step whose loss is NaN or inf.

  Checks the logs of each batch (the running means of the epoch, which stay
  non-finite once a step was), so it costs no extra reads from the device.
  """

  def on_train_batch_end(self, batch, logs=None):
    logs = logs or {}
    if _is_finite(logs.get(MetricKeys.LOSS, 0.)):
      return
    optimizer = getattr(self.model, 'optimizer', None)
    step = int(optimizer.iterations.numpy()) if optimizer is not None else batch + 1
    heads = non_finite_heads(logs)
    if heads:
      culprit = 'the loss of head(s) {} is non-finite ({})'.format(
          ', '.join(repr(name) for name in heads),
          ', '.join('loss/{} = {}'.format(name, value) for name, value in heads.items()))
      hint = ("check those heads' labels and example weights for NaN or inf, their "
              'label scale, or lower the learning rate')
    else:
      culprit = 'every head loss is finite, so the regularization loss is not'
      hint = 'lower the learning rate or the regularization'
    raise NonFiniteLossError(
        'Training stopped at step {}: the training loss is {}; {}: {}.'.format(
            step, logs.get(MetricKeys.LOSS), culprit, hint), step, sorted(heads))
