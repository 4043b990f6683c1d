"""Export outputs: what one serving signature of a head returns.

They keep the attribute names of `tf.estimator.export.*Output`, and add
`signature_outputs`, the dict of tensors a SavedModel signature returns (keyed
as the TF Serving Classify / Regress / Predict APIs expect).
"""

import tensorflow as tf

CLASSIFY_OUTPUT_CLASSES = 'classes'
CLASSIFY_OUTPUT_SCORES = 'scores'
REGRESS_OUTPUT = 'outputs'


class ExportOutput:
  """Base class of the three export outputs."""

  @property
  def signature_outputs(self):
    raise NotImplementedError


class ClassificationOutput(ExportOutput):
  """Scores (float) and class names (string) of a classification head."""

  def __init__(self, scores=None, classes=None):
    if scores is not None and not (isinstance(scores, tf.Tensor) and scores.dtype.is_floating):
      raise ValueError('Classification scores must be a float32 Tensor; got {}'.format(scores))
    if classes is not None and not (isinstance(classes, tf.Tensor) and classes.dtype == tf.string):
      raise ValueError('Classification classes must be a string Tensor; got {}'.format(classes))
    if scores is None and classes is None:
      raise ValueError('Cannot create a ClassificationOutput with empty arguments. '
                       'At least one of `scores` and `classes` must be defined.')
    self._scores = scores
    self._classes = classes

  @property
  def scores(self):
    return self._scores

  @property
  def classes(self):
    return self._classes

  @property
  def signature_outputs(self):
    outputs = {}
    if self._classes is not None:
      outputs[CLASSIFY_OUTPUT_CLASSES] = self._classes
    if self._scores is not None:
      outputs[CLASSIFY_OUTPUT_SCORES] = self._scores
    return outputs


class RegressionOutput(ExportOutput):
  """One float value per example."""

  def __init__(self, value):
    if not (isinstance(value, tf.Tensor) and value.dtype.is_floating):
      raise ValueError('Regression output value must be a float32 Tensor; got {}'.format(value))
    self._value = value

  @property
  def value(self):
    return self._value

  @property
  def signature_outputs(self):
    return {REGRESS_OUTPUT: self._value}


class PredictOutput(ExportOutput):
  """An arbitrary dict of named tensors."""

  def __init__(self, outputs):
    if not isinstance(outputs, dict):
      outputs = {'output': outputs}
    for key in outputs:
      if not isinstance(key, str):
        raise ValueError('Prediction output key must be a string; got {}.'.format(key))
    self._outputs = dict(outputs)

  @property
  def outputs(self):
    return self._outputs

  @property
  def signature_outputs(self):
    return dict(self._outputs)
