"""MultiHead: several named heads trained together, with weighted losses."""

import numpy as np
import tensorflow as tf

from heads import base_head
from heads import checks
from heads import metrics as metrics_lib
from heads.export_output import PredictOutput
from heads.keys import DEFAULT_SERVING_KEY
from heads.keys import MetricKeys
from heads.keys import ModeKeys
from heads.keys import PREDICT_SERVING_KEY
from heads.spec import EstimatorSpec


def _no_op_train_fn(loss):
  del loss
  return tf.no_op()


def _default_export_output(export_outputs, head_name):
  if len(export_outputs) == 1:
    return next(iter(export_outputs.values()))
  try:
    return export_outputs[DEFAULT_SERVING_KEY]
  except KeyError:
    raise ValueError(
        '{} did not specify default export_outputs. Given: {} Suggested fix: Use one of the '
        'heads in tf.estimator, or include key {} in export_outputs.'.format(
            head_name, export_outputs, DEFAULT_SERVING_KEY)) from None


def _check_head_weights(names, head_weights):
  """Each head weight is finite and >= 0 (a negative one would maximise that head's loss)."""
  for i, (name, weight) in enumerate(zip(names, head_weights)):
    value = tf.get_static_value(weight)
    if value is None:
      continue
    if not np.all(np.isfinite(value)) or np.any(np.asarray(value) < 0):
      raise ValueError('head_weights[{}] of head {!r} must be finite and >= 0. Given: {}'.format(
          i, name, value))


class MultiHead(base_head.Head):
  """Merges named heads: loss Σ head_weight·loss, metrics per head, one export per head.

  Logits are a dict keyed by head name, or one tensor split along the last
  axis in head order. Labels are a dict keyed by head name. With
  `allow_missing_labels=True`, a head absent from the labels dict adds nothing
  to the loss and its metrics are not updated (multi-task data where a batch
  labels only some heads); a labels key that names no head is then an error,
  as a misspelled key would silently drop its head. Head weights must be
  finite and >= 0.
  """

  def __init__(self, heads, head_weights=None, *, allow_missing_labels=False):
    if not heads:
      raise ValueError('Must specify heads. Given: {}'.format(heads))
    if head_weights:
      if len(head_weights) != len(heads):
        raise ValueError(
            'heads and head_weights must have the same size. Given len(heads): {}. '
            'Given len(head_weights): {}.'.format(len(heads), len(head_weights)))
    for head in heads:
      if head.name is None:
        raise ValueError('All given heads must have name specified. Given: {}'.format(head))
    names = [head.name for head in heads]
    if len(set(names)) != len(names):
      raise ValueError('Head names must be unique. Given: {}'.format(names))
    if head_weights:
      _check_head_weights(names, head_weights)
    self._heads = tuple(heads)
    self._head_weights = tuple(head_weights) if head_weights else None
    self._allow_missing_labels = allow_missing_labels

  @property
  def name(self):
    return '_'.join(head.name for head in self._heads)

  @property
  def heads(self):
    return self._heads

  @property
  def head_weights(self):
    return self._head_weights

  @property
  def logits_dimension(self):
    return sum(head.logits_dimension for head in self._heads)

  @property
  def loss_reduction(self):
    reductions = [head.loss_reduction for head in self._heads]
    if len(set(reductions)) > 1:
      raise ValueError('The loss_reduction must be the same for different heads. '
                       'Given: {}'.format(reductions))
    return reductions[0]

  def _split_logits(self, logits):
    logits = tf.convert_to_tensor(logits)
    dimensions = [head.logits_dimension for head in self._heads]
    total = sum(dimensions)
    shape = logits.shape.as_list()
    if shape[-1] is not None and shape[-1] != total:
      raise ValueError(
          'Could not split logits of shape %r among the heads with individual logits '
          'dimensions: %r. The last dimension of the logits tensor should equal %d but is %d.' %
          (shape, dimensions, total, shape[-1]))
    parts = tf.split(logits, dimensions, axis=-1)
    return {head.name: part for head, part in zip(self._heads, parts)}

  def _check_logits_and_labels(self, logits, labels=None):
    names = [head.name for head in self._heads]
    if isinstance(logits, dict):
      missing = [name for name in names if name not in logits]
      if missing:
        raise ValueError('logits has missing values for head(s): {}'.format(missing))
      logits_dict = logits
    else:
      logits_dict = self._split_logits(logits)
    if labels is not None:
      if not isinstance(labels, dict):
        raise ValueError('labels must be a dict. Given: {}'.format(labels))
      missing = [name for name in names if name not in labels]
      if missing and not self._allow_missing_labels:
        raise ValueError('labels has missing values for head(s): {}'.format(missing))
      unknown = sorted(str(key) for key in labels if key not in names)
      if unknown and self._allow_missing_labels:
        raise ValueError(
            'labels has key(s) {} that name no head; the heads are {}. With '
            'allow_missing_labels=True a misspelled key would silently leave its head '
            'untrained.'.format(unknown, names))
    return logits_dict

  def _labelled_heads(self, labels):
    """(index, head) of the heads that have labels in this batch."""
    return [(i, head) for i, head in enumerate(self._heads) if head.name in labels]

  def _head_losses(self, labels, logits_dict, features, mode):
    """Unweighted, unregularized loss of each labelled head, keyed by head name."""
    if labels is None:
      raise ValueError(checks.LABEL_NONE_ERR_MSG)
    return {head.name: head.loss(labels[head.name], logits_dict[head.name], features, mode)
            for _, head in self._labelled_heads(labels)}

  def replica_loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    """This replica's share of the global-batch loss, for gradients under tf.distribute."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
      return self.loss(labels, logits, features, mode, regularization_losses)
    logits_dict = self._check_logits_and_labels(logits, labels)
    if labels is None:
      raise ValueError(checks.LABEL_NONE_ERR_MSG)
    head_losses = {
        head.name: head.replica_loss(labels[head.name], logits_dict[head.name], features, mode)
        for _, head in self._labelled_heads(labels)}
    merged = self._merge_losses(head_losses, None)
    return base_head.add_replica_regularization(merged, regularization_losses,
                                                context.num_replicas_in_sync)

  def replica_head_losses(self, labels, logits, features=None, mode=None):
    """{head name: (loss, count)} of each head with labels in this batch, for loss balancing.

    loss: this replica's share of the head's global-batch loss, unweighted and
    unregularized (the head's loss itself with one replica). count: the
    labelled element count of the global batch, 0 when no example has a label.
    """
    logits_dict = self._check_logits_and_labels(logits, labels)
    if labels is None:
      raise ValueError(checks.LABEL_NONE_ERR_MSG)
    return {head.name: head.replica_loss_and_count(labels[head.name], logits_dict[head.name],
                                                   features, mode)
            for _, head in self._labelled_heads(labels)}

  def _merge_losses(self, head_losses, regularization_losses):
    losses = []
    for i, head in enumerate(self._heads):
      if head.name in head_losses:
        weight = self._head_weights[i] if self._head_weights else None
        losses.append(head_losses[head.name] if weight is None
                      else tf.multiply(head_losses[head.name], weight))
    merged = tf.math.add_n(losses) if losses else tf.constant(0.)
    return base_head.add_regularization(merged, regularization_losses)

  def loss(self, labels, logits, features=None, mode=None, regularization_losses=None):
    """Σ head_weight · head.loss, plus the sum of `regularization_losses`."""
    logits_dict = self._check_logits_and_labels(logits, labels)
    head_losses = self._head_losses(labels, logits_dict, features, mode)
    return self._merge_losses(head_losses, regularization_losses)

  def predictions(self, logits, keys=None):
    """Predictions of every head, keyed by (head name, prediction key).

    `keys` optionally keeps only some: plain keys ('probabilities') or tuples.
    """
    logits_dict = self._check_logits_and_labels(logits)
    predictions = {}
    for head in self._heads:
      for key, value in head.predictions(logits_dict[head.name]).items():
        if not keys or key in keys or (head.name, key) in keys:
          predictions[(head.name, key)] = value
    return predictions

  def metrics(self, regularization_losses=None, *, dtype=None):
    """loss/<head> for each head, every head's own metrics, and regularization_loss."""
    eval_metrics = {}
    if regularization_losses is not None:
      key = self._summary_key(MetricKeys.LOSS_REGULARIZATION)
      eval_metrics[key] = metrics_lib.Mean(name=key, dtype=dtype)
    for head in self._heads:
      key = '{}/{}'.format(MetricKeys.LOSS, head.name)
      eval_metrics[key] = metrics_lib.Mean(name=key, dtype=dtype)
      eval_metrics.update(head.metrics(dtype=dtype))
    return eval_metrics

  def update_metrics(self, eval_metrics, features, logits, labels, mode=None,
                     regularization_losses=None):
    """Updates loss/<head> and each labelled head's metrics with one batch."""
    mode, regularization_losses = base_head.mode_and_regularization(mode, regularization_losses)
    logits_dict = self._check_logits_and_labels(logits, labels)
    metrics_lib.update_regularization_loss(
        eval_metrics, self._summary_key(MetricKeys.LOSS_REGULARIZATION), regularization_losses)
    for _, head in self._labelled_heads(labels):
      head_logits, head_labels = logits_dict[head.name], labels[head.name]
      loss_key = '{}/{}'.format(MetricKeys.LOSS, head.name)
      eval_metrics[loss_key].update_state(values=self._global_batch_loss(
          head, head_labels, head_logits, features, mode))
      head.update_metrics(eval_metrics, features, head_logits, head_labels, mode=mode)
    return eval_metrics

  @staticmethod
  def _global_batch_loss(head, labels, logits, features, mode):
    """The head's loss on the global batch, as each replica adds it to a Mean.

    The Mean sums over replicas, so each adds replicas x its share; the mean of
    those is the sum of the shares, the loss of the whole global batch.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
      return head.loss(labels, logits, features, mode)
    return head.replica_loss(labels, logits, features, mode) * replicas

  def _merge_predict_export_outputs(self, all_export_outputs):
    export_outputs = {}
    merged_predict = {}
    for head, outputs in zip(self._heads, all_export_outputs):
      for key, output in outputs.items():
        name = head.name if key == DEFAULT_SERVING_KEY else '{}/{}'.format(head.name, key)
        export_outputs[name] = output
        if key == PREDICT_SERVING_KEY and isinstance(output, PredictOutput):
          for output_key, tensor in output.outputs.items():
            merged_predict['{}/{}'.format(head.name, output_key)] = tensor
    export_outputs[DEFAULT_SERVING_KEY] = _default_export_output(
        all_export_outputs[0], self._heads[0].name)
    export_outputs[PREDICT_SERVING_KEY] = PredictOutput(merged_predict)
    return export_outputs

  def create_estimator_spec(self, features, mode, logits, labels=None, optimizer=None,
                            trainable_variables=None, train_op_fn=None, update_ops=None,
                            regularization_losses=None, tape=None):
    """EstimatorSpec for `mode`; see `Head` for how TRAIN gets its gradients."""
    with base_head.recording(tape):
      logits_dict = self._check_logits_and_labels(logits, labels)
    predictions = self.predictions(logits_dict)
    if mode == ModeKeys.PREDICT:
      all_export_outputs = [
          head.create_estimator_spec(features, mode, logits_dict[head.name]).export_outputs
          for head in self._heads]
      return EstimatorSpec(mode=mode, predictions=predictions,
                           export_outputs=self._merge_predict_export_outputs(all_export_outputs))
    with base_head.recording(tape):
      head_losses = self._head_losses(labels, logits_dict, features, mode)
      loss = self._merge_losses(head_losses, regularization_losses)
    if mode == ModeKeys.EVAL:
      eval_metrics = self.update_metrics(
          self.metrics(regularization_losses), features, logits_dict, labels, mode=mode,
          regularization_losses=regularization_losses)
      return EstimatorSpec(mode=mode, predictions=predictions, loss=loss,
                           eval_metric_ops=eval_metrics)
    if mode == ModeKeys.TRAIN:
      for name, head_loss in head_losses.items():
        tf.summary.scalar('{}/{}'.format(MetricKeys.LOSS, name), head_loss)
      train_op = base_head.create_train_op(loss, self.loss_reduction, optimizer,
                                           trainable_variables, train_op_fn, update_ops, tape)
      base_head.write_train_summaries(lambda key: key, loss, regularization_losses)
      return EstimatorSpec(mode=mode, predictions=predictions, loss=loss, train_op=train_op)
    raise ValueError('mode={} unrecognized'.format(mode))
