"""Signatures the Trainer adds beside the head's own, for the Evaluators.

`eval_logits` returns each head's logits: the batched Evaluator
(components/evaluation) scores them with the heads the exported model carries
in `assets.extra/heads_config.json`, parsing labels and weights itself.

For TFMA, `head_outputs` returns one prediction per head, and
`transform_features` returns, per head, what the head itself uses to score
that prediction: the processed label, the unreduced loss, the example weight
(weight column x label presence) and whether the example is labelled. TFMA
reads labels and weights from it (`preprocessing_function_names`), so masked
labels reach every metric with weight 0, and `average_loss` is the head's own
loss function.
"""

import json
import os

import tensorflow as tf

from components import config as config_lib
from components import schema
from heads import export as export_lib
from heads.keys import PredictionKeys

EVAL_LOGITS_SIGNATURE = 'eval_logits'
HEAD_OUTPUTS_SIGNATURE = 'head_outputs'
TRANSFORM_FEATURES_SIGNATURE = 'transform_features'
HEADS_CONFIG_ASSET = os.path.join('assets.extra', 'heads_config.json')

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


def eval_logits(config):
  """fn(model, features) -> {head_name: logits}, for `export_saved_model(extra_signatures=)`."""

  def build(model, features):
    logits = _logits_by_head(model, features)
    return {head.name: logits[head.name] for head in config.heads}

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
  _, processed, loss, weights, present = head.loss_parts(logits, labels, features)
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
  """The Evaluators' signatures, for `heads.export.export_saved_model(extra_signatures=)`."""
  return {EVAL_LOGITS_SIGNATURE: eval_logits(config),
          HEAD_OUTPUTS_SIGNATURE: head_outputs(config),
          TRANSFORM_FEATURES_SIGNATURE: transform_features(config)}


def config_data_of_model(config):
  """The mapping an exported model keeps of its config: all but the evaluation gates.

  `config_lib.parse_config` reads it back. The gates belong to the pipeline
  that evaluates the model, not to the model.
  """
  data = config.to_dict()
  data.pop('evaluation', None)
  return data


def write_heads_config(config, export_dir):
  """Writes <export_dir>/assets.extra/heads_config.json, the heads the model was trained with."""
  path = os.path.join(export_dir, HEADS_CONFIG_ASSET)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(config_data_of_model(config), indent=1, sort_keys=True))
  return path


def read_heads_config(model_dir):
  """The HeadsConfig an exported model carries; a clear error naming the path if it has none."""
  path = os.path.join(model_dir, HEADS_CONFIG_ASSET)
  if not tf.io.gfile.exists(path):
    raise ValueError('{}: the model carries no heads config ({} is missing). Export it with '
                     'components.signatures.export, which writes it.'.format(model_dir, path))
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  try:
    return config_lib.parse_config(json.loads(text))
  except (ValueError, config_lib.ConfigError) as error:
    raise ValueError('{}: invalid heads config: {}'.format(path, error)) from None


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
  """Exports a trained HeadModel for serving and for the Evaluators.

  Signatures parse serialized tf.Examples with `schema.export_spec` (labels
  optional), and include `eval_logits`, `head_outputs` and
  `transform_features`. They parse tolerantly (`schema.tolerant_spec`): an
  empty value list, as CsvExampleGen writes for an empty CSV field, is a
  missing value like an absent feature. `column_types` (the data schema's
  INT / FLOAT / BYTES per column) makes each column parse as the data stores
  it; it is recorded with the model (`schema.read_column_types`), so other
  readers parse the same way. The heads config goes into
  `assets.extra/heads_config.json`.
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
  write_heads_config(config, export_dir)
  return export_dir
