"""Label processing and export shared by the class-label heads."""

import tensorflow as tf

from heads import base_head
from heads import checks
from heads.export_output import ClassificationOutput
from heads.export_output import PredictOutput
from heads.keys import CLASSIFY_SERVING_KEY
from heads.keys import DEFAULT_SERVING_KEY
from heads.keys import PREDICT_SERVING_KEY
from heads.keys import PredictionKeys


def make_error(error_class, message):
  """An exception of `error_class`, including TF's OpError classes."""
  if issubclass(error_class, tf.errors.OpError):
    return error_class(None, None, message)
  return error_class(message)


def vocabulary_ids(labels, label_vocabulary, error_class=ValueError,
                   prefix='Labels must be >= 0'):
  """Ids of string labels in the vocabulary.

  Eagerly, values not in the vocabulary raise `error_class` naming them (the
  class and prefix are what tf.estimator raised there); in graph mode they
  become -1 and fail the range check.
  """
  ids = checks.lookup_label_ids(labels, label_vocabulary)
  if tf.executing_eagerly():
    unknown = tf.boolean_mask(labels, ids < 0)
    if tf.size(unknown) > 0:
      raise make_error(error_class, '{}: values {} are not in label_vocabulary {}.'.format(
          prefix, sorted(set(unknown.numpy().tolist())), list(label_vocabulary)))
  return ids


def export_outputs(predictions, n_classes, label_vocabulary=None):
  """serving_default and classification (probabilities + class names), and predict."""
  scores = predictions[PredictionKeys.PROBABILITIES]
  classifier_output = ClassificationOutput(
      scores=scores, classes=base_head.all_classes(scores, n_classes, label_vocabulary))
  return {DEFAULT_SERVING_KEY: classifier_output,
          CLASSIFY_SERVING_KEY: classifier_output,
          PREDICT_SERVING_KEY: PredictOutput(predictions)}
