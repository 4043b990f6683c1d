"""Loss balancing: how a HeadModel weighs the losses of a MultiHead's heads in training.

`fixed` (the default) is the MultiHead's own loss, Σ head_weight·loss. The
other methods take the weights from the losses themselves, so heads whose
losses live on very different scales (a price in the thousands next to two
class heads) train together without hand-set weights:

- `uncertainty`: a learned log-variance per head (Kendall, Gal & Cipolla, CVPR 2018).
- `dwa`: Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019), weights
  from how fast each head's loss fell over the last two epochs.
- `normalize`: each head's loss divided by a running average of itself.

A balancer is a Keras layer whose state is Keras variables, so it trains,
checkpoints (tf.train.Checkpoint, save_weights, BackupAndRestore) and
distributes with the model. State is updated from global-batch losses
(all-reduced over replicas), so every replica holds the same weights. A batch
that labels no example of a head leaves that head's state alone. A
MultiHead's head_weights still apply, as a fixed preference multiplying each
head's balanced term. Balancing changes the training loss only; predictions,
metrics and exports are the heads' own.
"""

import keras
import numpy as np
import tensorflow as tf

from heads import base_head
from heads.keys import ModeKeys
from heads.multi_head import MultiHead
from heads.regression_head import RegressionHead

_MIN_LOSS = 1e-12


class ParameterError(ValueError):
  """A balancer parameter is invalid; `parameter` names it, `reason` says why."""

  def __init__(self, parameter, reason):
    super().__init__('{} {}'.format(parameter, reason))
    self.parameter = parameter
    self.reason = reason


def _number(parameter, value, valid, requirement):
  """`value` as a float when it is a real number for which `valid(value)` holds."""
  if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
      np.isfinite(value) and valid(value)):
    raise ParameterError(parameter, 'must be {}, got {!r}'.format(requirement, value))
  return float(value)


def _read(variable):
  return tf.convert_to_tensor(variable)


def _replicas():
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def _global_sum(value):
  """`value` summed over the replicas: this replica's share becomes the global-batch value."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return value
  return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


class LossBalancer(keras.layers.Layer):
  """Turns the per-head losses of a MultiHead into the training loss.

  `attach(head)` creates the state for the heads of `head`. HeadModel calls it
  in its constructor, so under a strategy scope the state is distributed like
  the model's variables. Subclasses create their state in `_create_state`,
  update it from a training batch in `_update`, weigh the losses in `_combine`
  and report each head's effective weight in `_weights`. `end_epoch` is the
  per-epoch hook; HeadModel.fit calls it when `per_epoch` is set.
  """

  method = None
  parameters = ()
  per_epoch = False

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.head_names = None
    self.head_weights = None

  def attach(self, head):
    """Creates the state for the heads of `head`, a MultiHead; once per balancer."""
    if self.head_names is not None:
      raise ValueError('This {} already belongs to a model; create one per model.'.format(
          type(self).__name__))
    if not isinstance(head, MultiHead):
      raise ValueError('loss_balancing={!r} weighs the heads of a MultiHead, but the head is '
                       'a {}.'.format(self.method, type(head).__name__))
    self.head_names = tuple(sub_head.name for sub_head in head.heads)
    weights = head.head_weights or [1.] * len(head.heads)
    self.head_weights = tuple(float(weight) for weight in weights)
    self._create_state(head.heads)
    self.built = True

  def _state(self, name, initial):
    """A non-trainable [heads] vector that every replica updates alike, from global values."""
    with keras.name_scope(self.name):
      return keras.Variable(np.asarray(initial, np.float32), trainable=False,
                            synchronization='on_read', aggregation='only_first_replica',
                            name=name)

  def _zeros(self):
    return np.zeros([len(self.head_names)], np.float32)

  def replica_loss(self, head, labels, logits, features=None, mode=None,
                   regularization_losses=None):
    """This replica's share of the balanced global-batch loss, plus regularization.

    Summed over replicas it is the balanced loss of the global batch. In TRAIN
    mode the state first takes in this batch; other modes leave it alone.
    """
    per_head = head.replica_head_losses(labels, logits, features, mode)
    zero = tf.constant(0.)
    losses = tf.stack([tf.cast(per_head[name][0], tf.float32) if name in per_head else zero
                       for name in self.head_names])
    counts = tf.stack([tf.cast(per_head[name][1], tf.float32) if name in per_head else zero
                       for name in self.head_names])
    loss = self.combine(losses, counts, training=mode == ModeKeys.TRAIN)
    return base_head.add_replica_regularization(loss, regularization_losses, _replicas())

  def combine(self, losses, counts, training=False):
    """The balanced loss from [heads] vectors of loss shares and global labelled counts.

    `losses[k]` is this replica's share of head k's global-batch loss and
    `counts[k]` the global batch's labelled element count of head k.
    """
    labelled = tf.cast(counts > 0, tf.float32)
    if training:
      self._update(losses, labelled)
    return self._combine(losses, labelled)

  def effective_weights(self):
    """[heads] tensor: what each head's loss is multiplied by in the training loss now."""
    return tf.constant(self.head_weights) * self._weights()

  def reported_weights(self):
    """{head name: fn() -> scalar} for the `head_weight/<head>` metrics."""
    return {name: (lambda i=i: self.effective_weights()[i])
            for i, name in enumerate(self.head_names)}

  def end_epoch(self):
    """Per-epoch update; nothing unless the method works per epoch."""

  def get_config(self):
    config = super().get_config()
    config.update({name: getattr(self, name) for name in self.parameters})
    return config

  def _create_state(self, sub_heads):
    raise NotImplementedError

  def _update(self, losses, labelled):
    raise NotImplementedError

  def _combine(self, losses, labelled):
    raise NotImplementedError

  def _weights(self):
    raise NotImplementedError


@keras.saving.register_keras_serializable(package='heads')
class FixedWeights(LossBalancer):
  """The head's own loss (a MultiHead's Σ head_weight·loss), exactly as without balancing.

  Works with any head. It reports the MultiHead's head_weights, when given.
  """

  method = 'fixed'

  def attach(self, head):
    if self.head_names is not None:
      raise ValueError('This FixedWeights already belongs to a model; create one per model.')
    sub_heads = head.heads if isinstance(head, MultiHead) else [head]
    given = head.head_weights if isinstance(head, MultiHead) else None
    self.head_names = tuple(sub_head.name for sub_head in sub_heads)
    self.head_weights = tuple(float(weight) for weight in given or [1.] * len(sub_heads))
    self._reported = bool(given)
    self.built = True

  def replica_loss(self, head, labels, logits, features=None, mode=None,
                   regularization_losses=None):
    return head.replica_loss(labels, logits, features, mode, regularization_losses)

  def reported_weights(self):
    if not self._reported:
      return {}
    return {name: (lambda weight=weight: tf.constant(weight))
            for name, weight in zip(self.head_names, self.head_weights)}

  def _update(self, losses, labelled):
    pass

  def _combine(self, losses, labelled):
    return tf.reduce_sum(tf.constant(self.head_weights) * losses)

  def _weights(self):
    return tf.ones([len(self.head_names)])


def _likelihood_factors(sub_heads):
  """([a_k], [b_k]) of the heads' uncertainty terms a·exp(-s)·L + b·s."""
  factors = []
  for head in sub_heads:
    head = getattr(head, 'static_head', head)
    gaussian = isinstance(head, RegressionHead) and head.squared_error
    factors.append((0.5, 0.5) if gaussian else (1.0, 0.5))
  loss_factors, log_variance_factors = np.asarray(factors, np.float32).T
  return loss_factors, log_variance_factors


@keras.saving.register_keras_serializable(package='heads')
class UncertaintyWeighting(LossBalancer):
  """Kendall, Gal & Cipolla (CVPR 2018): a learned log-variance s = log σ² per head.

  Head k adds to the loss (eq. 5 and 10 of the paper, with s = log σ²):
  - a regression head with squared error (a Gaussian likelihood): ½·exp(-s)·L + ½·s;
  - every other head (cross-entropy or Poisson: a likelihood scaled by the
    temperature σ²):                                            exp(-s)·L + ½·s.
  The ½·s is the paper's log σ in both. At the optimum s of a given L both
  weigh the head 1/(2L), so regression and class heads are on the same footing.
  (The common shortcut exp(-s)·L + s for class heads would weigh them 1/L,
  twice a regression head.) s trains with the model's optimizer; a batch that
  labels no example of a head drops its term, so s gets no gradient from it.

  `initial_log_variance=None` starts each s at the optimum for the head's
  first labelled training batch (weight 1/(2L) from the first step), so heads
  whose losses differ by orders of magnitude need not wait for s to travel
  there at the optimizer's pace; a number starts every s there, as the paper
  does with 0 (σ² = 1). The effective weight is the factor on L: ½·exp(-s) or
  exp(-s), times the head weight.
  """

  method = 'uncertainty'
  parameters = ('initial_log_variance',)

  def __init__(self, initial_log_variance=None, **kwargs):
    super().__init__(**kwargs)
    if initial_log_variance is not None:
      initial_log_variance = _number('initial_log_variance', initial_log_variance,
                                     lambda value: True, 'a finite number or None')
    self.initial_log_variance = initial_log_variance

  def _create_state(self, sub_heads):
    self._loss_factor, self._log_variance_factor = _likelihood_factors(sub_heads)
    from_data = self.initial_log_variance is None
    start = 0. if from_data else self.initial_log_variance
    self.log_variance_change = self.add_weight(
        shape=(len(sub_heads),), initializer='zeros', trainable=True,
        name='log_variance_change')
    self.log_variance_start = self._state('log_variance_start', self._zeros() + start)
    self.started = self._state('started', self._zeros() + (0. if from_data else 1.))

  def log_variance(self):
    """[heads] tensor of s: where it started plus what training changed."""
    return _read(self.log_variance_start) + _read(self.log_variance_change)

  def _update(self, losses, labelled):
    if self.initial_log_variance is not None:
      return
    global_losses = _global_sum(losses)
    begin = (labelled > 0) & (_read(self.started) < 0.5) & (global_losses > 0)
    optimum = tf.math.log(self._loss_factor * tf.maximum(global_losses, _MIN_LOSS) /
                          self._log_variance_factor)
    self.log_variance_start.assign(tf.where(begin, optimum, _read(self.log_variance_start)))
    self.started.assign(tf.where(begin, 1., _read(self.started)))

  def _combine(self, losses, labelled):
    log_variance = self.log_variance()
    terms = (self._loss_factor * tf.exp(-log_variance) * losses +
             self._log_variance_factor * log_variance / _replicas())
    return tf.reduce_sum(tf.constant(self.head_weights) * labelled * terms)

  def _weights(self):
    return self._loss_factor * tf.exp(-self.log_variance())


@keras.saving.register_keras_serializable(package='heads')
class DynamicWeightAverage(LossBalancer):
  """Liu, Johns & Davison (CVPR 2019): weights from how fast each head's loss falls.

  In epoch t head k weighs w_k = K·exp(r_k / T) / Σ_j exp(r_j / T), with
  r_k = L_k(t-1) / L_k(t-2), L_k(t) the mean of the head's global-batch
  training losses over the batches of epoch t that label it, K the number of
  heads and T the temperature (the paper's 2). Every weight is 1 in the first
  two epochs. The head whose loss fell least gets the most weight; the
  weights sum to K. An epoch without a label for a head is skipped for that
  head (its r keeps using its last two epochs with labels). The weights change
  at epoch ends only (`end_epoch`, which HeadModel.fit calls). DWA balances
  the pace of learning, not loss scales: heads whose losses differ by orders
  of magnitude still need head weights (or `normalize`).
  """

  method = 'dwa'
  parameters = ('temperature',)
  per_epoch = True

  def __init__(self, temperature=2.0, **kwargs):
    super().__init__(**kwargs)
    self.temperature = _number('temperature', temperature, lambda value: value > 0,
                               'a number > 0')

  def _create_state(self, sub_heads):
    self.epoch_loss_sum = self._state('epoch_loss_sum', self._zeros())
    self.epoch_batches = self._state('epoch_batches', self._zeros())
    self.last_epoch_loss = self._state('last_epoch_loss', self._zeros())
    self.earlier_epoch_loss = self._state('earlier_epoch_loss', self._zeros())
    self.epochs = self._state('epochs', self._zeros())
    self.dwa_weights = self._state('dwa_weights', self._zeros() + 1.)

  def _update(self, losses, labelled):
    self.epoch_loss_sum.assign_add(labelled * _global_sum(losses))
    self.epoch_batches.assign_add(labelled)

  def end_epoch(self):
    """Moves the epoch's mean losses into the history and sets the next epoch's weights."""
    batches = _read(self.epoch_batches)
    seen = batches > 0
    mean = _read(self.epoch_loss_sum) / tf.maximum(batches, 1.)
    last = _read(self.last_epoch_loss)
    earlier = tf.where(seen, last, _read(self.earlier_epoch_loss))
    last = tf.where(seen, mean, last)
    epochs = _read(self.epochs) + tf.cast(seen, tf.float32)
    self.earlier_epoch_loss.assign(earlier)
    self.last_epoch_loss.assign(last)
    self.epochs.assign(epochs)
    ready = (epochs >= 2.) & (earlier > 0)
    ratio = tf.where(ready, last / tf.where(ready, earlier, 1.), 1.)
    weights = len(self.head_names) * tf.nn.softmax(ratio / self.temperature)
    self.dwa_weights.assign(tf.where(tf.reduce_any(ready), weights, tf.ones_like(weights)))
    self.epoch_loss_sum.assign(self._zeros())
    self.epoch_batches.assign(self._zeros())

  def _combine(self, losses, labelled):
    del labelled  # An unlabelled head's loss is 0.
    return tf.reduce_sum(self.effective_weights() * losses)

  def _weights(self):
    return _read(self.dwa_weights)


@keras.saving.register_keras_serializable(package='heads')
class LossScaleNormalization(LossBalancer):
  """Each head's loss divided by a running estimate of its own scale.

  The scale of head k is the bias-corrected exponential moving average of its
  global-batch training loss: on each training batch that labels the head,
  a ← decay·a + (1 - decay)·L and n ← n + 1, and scale = a / (1 - decayⁿ), so
  the first labelled batch's scale is its own loss. The scale takes in the
  batch before the batch is weighed; the weight is 1 / scale (gradients do not
  flow through it), 1 before the head's first labelled batch. Every head's
  term is then about 1, whatever the units of its loss.
  """

  method = 'normalize'
  parameters = ('decay',)

  def __init__(self, decay=0.99, **kwargs):
    super().__init__(**kwargs)
    self.decay = _number('decay', decay, lambda value: 0 <= value < 1, 'a number in [0, 1)')

  def _create_state(self, sub_heads):
    self.loss_average = self._state('loss_average', self._zeros())
    self.batches = self._state('batches', self._zeros())

  def _update(self, losses, labelled):
    previous = _read(self.loss_average)
    average = self.decay * previous + (1. - self.decay) * _global_sum(losses)
    self.loss_average.assign(tf.where(labelled > 0, average, previous))
    self.batches.assign_add(labelled)

  def scale(self):
    """[heads] tensor: each head's running loss estimate (0 before its first labelled batch)."""
    batches = _read(self.batches)
    correction = tf.where(batches > 0, 1. - tf.pow(tf.constant(self.decay), batches), 1.)
    return _read(self.loss_average) / correction

  def _combine(self, losses, labelled):
    del labelled  # An unlabelled head's loss is 0.
    return tf.reduce_sum(self.effective_weights() * losses)

  def _weights(self):
    return tf.where(_read(self.batches) > 0, 1. / tf.maximum(self.scale(), _MIN_LOSS), 1.)


METHODS = {balancer.method: balancer for balancer in (
    FixedWeights, UncertaintyWeighting, DynamicWeightAverage, LossScaleNormalization)}


def parameters(method):
  """The parameter names of `method` (e.g. ('temperature',) for 'dwa')."""
  return METHODS[method].parameters


def get(identifier):
  """A balancer from a method name, a {'method': name, **parameters} mapping, or a balancer.

  None means 'fixed'.
  """
  if identifier is None:
    return FixedWeights()
  if isinstance(identifier, LossBalancer):
    return identifier
  if isinstance(identifier, str):
    identifier = {'method': identifier}
  if not isinstance(identifier, dict):
    raise ValueError('loss_balancing must be a method name, a mapping with a method, or a '
                     'LossBalancer; got {!r}'.format(identifier))
  settings = dict(identifier)
  method = settings.pop('method', None)
  if method not in METHODS:
    raise ValueError('loss_balancing method must be one of {}, got {!r}'.format(
        list(METHODS), method))
  unknown = sorted(set(settings) - set(parameters(method)))
  if unknown:
    raise ParameterError(unknown[0], 'is not a parameter of {!r} (parameters: {})'.format(
        method, list(parameters(method))))
  return METHODS[method](**settings)


class EpochEnd(keras.callbacks.Callback):
  """Calls the balancer's per-epoch update at each epoch end (HeadModel.fit adds it first)."""

  def __init__(self, balancer):
    super().__init__()
    self.balancer = balancer

  def on_epoch_end(self, epoch, logs=None):
    self.balancer.end_epoch()
