"""Signatures the Trainer adds beside the head's own: one output per head, for TFMA."""

from heads.keys import PredictionKeys

HEAD_OUTPUTS_SIGNATURE = 'head_outputs'
TRANSFORM_FEATURES_SIGNATURE = 'transform_features'


def head_output_key(head_config):
  """The prediction of a head that TFMA evaluates."""
  if head_config.type in ('regression', 'poisson_regression', 'logistic_regression'):
    return PredictionKeys.PREDICTIONS
  if head_config.type == 'binary':
    return PredictionKeys.LOGISTIC
  return PredictionKeys.PROBABILITIES


def head_outputs(config):
  """fn(model, features) -> {head_name: tensor}, for `export_saved_model(extra_signatures=)`."""

  def build(model, features):
    predictions = model.head.predictions(model(features, training=False))
    return {head.name: predictions[(head.name, head_output_key(head))] for head in config.heads}

  return build
