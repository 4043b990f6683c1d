"""Signatures the Trainer adds beside the head's own, for TFMA.

`head_outputs` returns one prediction per head. `transform_features` returns,
per head, what the head itself uses to score that prediction: the processed
label, the unreduced loss, the example weight (weight column x label
presence) and whether the example is labelled. TFMA reads labels and weights
from it (`preprocessing_function_names`), so masked labels reach every metric
with weight 0, and `average_loss` is the head's own loss function.
"""

import tensorflow as tf

from components import schema
from heads import export as export_lib
from heads.keys import PredictionKeys

HEAD_OUTPUTS_SIGNATURE = 'head_outputs'
TRANSFORM_FEATURES_SIGNATURE = 'transform_features'

LABEL = 'label'
LOSS = 'loss'
WEIGHT = 'weight'
LABELLED = 'labelled'
EVAL_PARTS = (LABEL, LOSS, WEIGHT, LABELLED)


def head_output_key(head_config):
  """The prediction of a head that TFMA evaluates."""
  if head_config.type in ('regression', 'poisson_regression', 'logistic_regression'):
    return PredictionKeys.PREDICTIONS
  if head_config.type == 'binary':
    return PredictionKeys.LOGISTIC
  return PredictionKeys.PROBABILITIES


def eval_feature_key(head_name, part):
  """Name of one `transform_features` output, e.g. 'species__label'."""
  if part not in EVAL_PARTS:
    raise ValueError('part must be one of {}, got {!r}'.format(EVAL_PARTS, part))
  return '{}__{}'.format(head_name, part)


def head_outputs(config):
  """fn(model, features) -> {head_name: tensor}, for `export_saved_model(extra_signatures=)`."""

  def build(model, features):
    predictions = model.head.predictions(model(features, training=False))
    return {head.name: predictions[(head.name, head_output_key(head))] for head in config.heads}

  return build


def _sub_heads(head):
  return list(head.heads) if hasattr(head, 'heads') else [head]


def _logits_by_head(model, features):
  """The model's logits as {head_name: tensor} (split in head order if one tensor)."""
  logits = model(features, training=False)
  sub_heads = _sub_heads(model.head)
  if isinstance(logits, dict):
    return {head.name: logits[head.name] for head in sub_heads}
  sizes = [head.logits_dimension for head in sub_heads]
  return dict(zip([head.name for head in sub_heads], tf.split(logits, sizes, axis=-1)))


def eval_parts(head, logits, labels, features):
  """{part: tensor} of one head: processed label, loss, weight, labelled flag.

  label and loss are [B, d]; weight is weight column x label presence,
  broadcast to the loss shape [B, d]; labelled is 1. where any label element
  is present, else 0. ([B]).
  """
  # The head's own label processing, loss and weights (the same as its metrics use).
  _, processed, loss, weights, present = head._loss_parts(  # pylint: disable=protected-access
      logits, labels, features)
  weights = tf.broadcast_to(tf.cast(weights, tf.float32), tf.shape(loss))
  if present is None:
    labelled = tf.ones(tf.shape(loss)[:1], tf.float32)
  else:
    labelled = tf.reduce_max(tf.cast(present, tf.float32), axis=-1)
  return {LABEL: processed, LOSS: loss, WEIGHT: weights, LABELLED: labelled}


def transform_features(config):
  """fn(model, features) -> {'<head>__<part>': tensor} (see `eval_parts`)."""

  def build(model, features):
    logits = _logits_by_head(model, features)
    heads_by_name = {head.name: head for head in _sub_heads(model.head)}
    outputs = {}
    for head_config in config.heads:
      if head_config.label not in features:
        raise ValueError('heads[{!r}].label: column {!r} is not parsed by the exported '
                         'signature; export with components.schema.export_spec(config)'.format(
                             head_config.name, head_config.label))
      parts = eval_parts(heads_by_name[head_config.name], logits[head_config.name],
                         features[head_config.label], features)
      for part, tensor in parts.items():
        outputs[eval_feature_key(head_config.name, part)] = tensor
    return outputs

  return build


def extra_signatures(config):
  """Both TFMA signatures, for `heads.export.export_saved_model(extra_signatures=)`."""
  return {HEAD_OUTPUTS_SIGNATURE: head_outputs(config),
          TRANSFORM_FEATURES_SIGNATURE: transform_features(config)}


class _DenseInputs:
  """The model as the signatures call it: parsed columns become the model's columns first.

  `heads.export` needs only `variables`, `head` and calling the model.
  """

  def __init__(self, model, to_model_columns):
    self._model = model
    self._to_model_columns = to_model_columns
    self.head = model.head

  @property
  def variables(self):
    return self._model.variables

  def __call__(self, features, training=False):
    return self._model(self._to_model_columns(features), training=training)


def _on_model_columns(build, to_model_columns):
  return lambda model, features: build(model, to_model_columns(features))


def export(model, config, export_dir, column_types=None):
  """Exports a trained HeadModel for serving and for the Evaluator.

  Signatures parse serialized tf.Examples with `schema.export_spec` (labels
  optional), and include `head_outputs` and `transform_features`. They parse
  tolerantly (`schema.tolerant_spec`): an empty value list, as CsvExampleGen
  writes for an empty CSV field, is a missing value like an absent feature.
  `column_types` (the data schema's INT / FLOAT / BYTES per column) makes each
  column parse as the data stores it; it is recorded with the model
  (`schema.read_column_types`), so other readers parse the same way.
  """
  spec = schema.export_spec(config)

  def to_model_columns(parsed):
    return schema.model_columns(parsed, config, spec)

  extras = {key: _on_model_columns(build, to_model_columns)
            for key, build in extra_signatures(config).items()}
  export_lib.export_saved_model(
      _DenseInputs(model, to_model_columns), export_dir,
      feature_spec=schema.tolerant_spec(spec, column_types),
      default_head=config.serving_default_head, extra_signatures=extras)
  if column_types:
    schema.write_column_types(export_dir, column_types)
  return export_dir
