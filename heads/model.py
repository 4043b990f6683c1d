"""HeadModel: a Keras 3 model whose loss, metrics and predictions come from a head."""

import keras
import tensorflow as tf
import tf_keras

from heads import loss_balancing as loss_balancing_lib
from heads.keys import ModeKeys
from heads.multi_head import MultiHead

LOGITS = 'logits'
LOGITS_INPUT = 'logits_input'
HEAD_WEIGHT_PREFIX = 'head_weight/'


class _Untracked:
  """Holds objects out of sight of Keras and checkpoint tracking."""

  def __init__(self, **items):
    self.__dict__.update(items)


class HeadWeight:
  """A 'metric' that logs a head's effective weight (e.g. to TensorBoard) with the others.

  `read()` returns the weight the training loss gives the head now.
  """

  def __init__(self, name, read):
    self.name = name
    self._read = read

  def result(self):
    return self._read()

  def reset_state(self):
    pass


def flat_prediction_key(key):
  """MultiHead keys (head, key) become 'head/key', as in the merged predict signature."""
  return '{}/{}'.format(*key) if isinstance(key, tuple) else key


class HeadModel(keras.Model):
  """Trains `body` with `head`: no loss or metrics to give to `compile`.

  `body` is any Keras model or layer taking the features dict. With
  `body_output='logits'` it returns the logits (a tensor, or a dict keyed by
  head name for a MultiHead). With `body_output='logits_input'` it returns the
  last hidden layer and each head gets its own Dense logits layer.

  Data is `(features, labels)`: labels a tensor, or a dict keyed by head name.
  Weights come from the head's `weight_column` in the features. `fit` and
  `evaluate` report the head's metric keys plus `loss`, `regularization_loss`
  (of `model.losses`, which the loss includes) and `head_weight/<head>` (each
  head's effective weight in the loss), so a TensorBoard callback gets them
  all; `predict` returns the head's predictions ('head/key' keys for a
  MultiHead). Under tf.distribute, create and compile the model in
  `strategy.scope()`: each replica's loss is its share of the global-batch
  loss (`head.replica_loss`).

  `loss_balancing` sets how a MultiHead's head losses are weighed in training
  (see heads/loss_balancing.py): 'fixed' (default, the head's own loss),
  'uncertainty', 'dwa', 'normalize', a {'method': ..., **parameters} mapping
  or a LossBalancer. Its state is part of the model (`model.loss_balancer`);
  `fit` adds the per-epoch update that 'dwa' needs (a custom loop calls
  `model.loss_balancer.end_epoch()`). Metrics, predictions and exports do not
  depend on it.
  """

  def __init__(self, head, body, body_output=LOGITS, loss_balancing=None, **kwargs):
    super().__init__(**kwargs)
    if body_output not in (LOGITS, LOGITS_INPUT):
      raise ValueError("body_output must be '{}' or '{}'. Given: {!r}".format(
          LOGITS, LOGITS_INPUT, body_output))
    self.head = head
    self.body = body
    self.body_output = body_output
    self.logits_layers = {}
    if body_output == LOGITS_INPUT:
      for sub_head in self._sub_heads():
        name = sub_head.name or 'head'
        self.logits_layers[name] = keras.layers.Dense(
            sub_head.logits_dimension, name='logits_{}'.format(name))
    self.loss_balancer = loss_balancing_lib.get(loss_balancing)
    self.loss_balancer.attach(head)
    self._state = _Untracked(metrics=None)

  def _sub_heads(self):
    return list(self.head.heads) if isinstance(self.head, MultiHead) else [self.head]

  # Forward pass -----------------------------------------------------------

  def _body_features(self, features):
    """Only the features a functional body takes as dict inputs; else all of them."""
    try:
      structure = self.body.input
    except (AttributeError, ValueError):
      return features
    if isinstance(structure, dict) and isinstance(features, dict):
      missing = [name for name in structure if name not in features]
      if missing:
        raise ValueError('Features {} that the body takes are missing. Given features: '
                         '{}'.format(missing, sorted(features)))
      return {name: features[name] for name in structure}
    return features

  def call(self, features, training=False):
    outputs = self.body(self._body_features(features), training=training)
    if self.body_output == LOGITS:
      return outputs
    if isinstance(self.head, MultiHead):
      return {name: layer(outputs) for name, layer in self.logits_layers.items()}
    return next(iter(self.logits_layers.values()))(outputs)

  def fit(self, *args, callbacks=None, **kwargs):
    """Keras' fit, with the loss balancer's per-epoch update ahead of the callbacks."""
    if self.loss_balancer.per_epoch:
      callbacks = [loss_balancing_lib.EpochEnd(self.loss_balancer)] + list(callbacks or [])
    return super().fit(*args, callbacks=callbacks, **kwargs)

  def compile(self, optimizer='rmsprop', **kwargs):
    """Keras' compile; the head gives the loss and metrics, so pass neither."""
    given = [name for name in ('loss', 'loss_weights', 'metrics', 'weighted_metrics')
             if kwargs.get(name) is not None]
    if given:
      raise ValueError('HeadModel takes its loss and metrics from the head; do not pass '
                       '{} to compile().'.format(given))
    super().compile(optimizer=optimizer, **kwargs)
    self._head_metrics()

  # Metrics ----------------------------------------------------------------

  def _head_metrics(self):
    """Loss trackers, the head's own metrics and the effective head weights, created once."""
    if self._state.metrics is None:
      with self.distribute_strategy.scope():
        tracked = {'loss': tf_keras.metrics.Mean(name='loss'),
                   'regularization_loss': tf_keras.metrics.Mean(name='regularization_loss')}
        tracked.update(self.head.metrics())
      for name, read in self.loss_balancer.reported_weights().items():
        key = HEAD_WEIGHT_PREFIX + name
        tracked[key] = HeadWeight(key, read)
      self._state.metrics = tracked
    return self._state.metrics

  @property
  def metrics(self):
    tracked = dict(self._head_metrics())
    if not self.losses:
      tracked.pop('regularization_loss')
    return list(tracked.values())

  def reset_metrics(self):
    for metric in self._head_metrics().values():
      metric.reset_state()

  def _results(self):
    return {metric.name: metric.result() for metric in self.metrics}

  def _results_every_step(self):
    return self.steps_per_execution == 1 and self.distribute_strategy.num_replicas_in_sync == 1

  def _looped(self, function):
    """Keras' loop of steps, then the metric results read once, in cross-replica context.

    Used with steps_per_execution > 1 or several replicas: Keras keeps only the
    last step's logs, and per-replica results would need reducing one by one.
    """
    results = self._results if self.run_eagerly else tf.function(self._results)

    def run(iterator):
      function(iterator)
      return results()
    return run

  def make_train_function(self, force=False):
    if self.train_function is None or force:
      super().make_train_function(force=True)
      if not self._results_every_step():
        self.train_function = self._looped(self.train_function)
    return self.train_function

  def make_test_function(self, force=False):
    if self.test_function is None or force:
      super().make_test_function(force=True)
      if not self._results_every_step():
        self.test_function = self._looped(self.test_function)
    return self.test_function

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    """Keras' build from a first batch, on one replica's part of a distributed batch.

    Keras reduces the distributed batch instead, which fails under
    MultiWorkerMirroredStrategy (keras-team/keras#20585).
    """
    if self._distribute_strategy is not None and iterator is not None and data_batch is None:
      for _, _, batches in iterator:
        data_batch = tf.nest.map_structure(
            lambda value: self._distribute_strategy.experimental_local_results(value)[0],
            next(batches))
        break
      iterator = None
    super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

  # Steps ------------------------------------------------------------------

  @staticmethod
  def _unpack(data):
    """(features, labels); Keras' train_on_batch adds a None sample_weight."""
    if isinstance(data, (tuple, list)) and len(data) == 3 and data[2] is None:
      data = data[:2]
    if not isinstance(data, (tuple, list)) or len(data) != 2:
      raise ValueError(
          'HeadModel expects data as (features, labels). Got {} element(s). Example weights '
          "come from the head's weight_column feature, not from sample_weight.".format(
              len(data) if isinstance(data, (tuple, list)) else 1))
    return data[0], data[1]

  def _step_loss(self, features, labels, logits, mode):
    regularization_losses = list(self.losses) or None
    loss = self.loss_balancer.replica_loss(self.head, labels, logits, features, mode,
                                           regularization_losses)
    return loss, regularization_losses

  def _update_metrics(self, features, labels, logits, loss, regularization_losses, mode):
    tracked = self._head_metrics()
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    tracked['loss'].update_state(loss * replicas)
    if regularization_losses:
      tracked['regularization_loss'].update_state(tf.math.add_n(regularization_losses))
    self.head.update_metrics(tracked, features, logits, labels, mode=mode)
    if self._results_every_step():
      return self._results()
    # Rank 1: under MultiWorkerMirroredStrategy Keras reduces step outputs along axis 0.
    return {'loss': tf.reshape(loss, [1])}

  def train_step(self, data):
    features, labels = self._unpack(data)
    with tf.GradientTape() as tape:
      logits = self(features, training=True)
      loss, regularization_losses = self._step_loss(features, labels, logits, ModeKeys.TRAIN)
    variables = self.trainable_variables
    gradients = tape.gradient(loss, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._update_metrics(features, labels, logits, loss, regularization_losses,
                                ModeKeys.TRAIN)

  def test_step(self, data):
    features, labels = self._unpack(data)
    logits = self(features, training=False)
    loss, regularization_losses = self._step_loss(features, labels, logits, ModeKeys.EVAL)
    return self._update_metrics(features, labels, logits, loss, regularization_losses,
                                ModeKeys.EVAL)

  def predict_step(self, data):
    features = data[0] if isinstance(data, (tuple, list)) else data
    predictions = self.head.predictions(self(features, training=False))
    return {flat_prediction_key(key): value for key, value in predictions.items()}
