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


def label_ids(labels, label_vocabulary):
  """Class ids of dense labels: vocabulary lookup for strings, else integers as given.

  Values outside the vocabulary fail with an error that names them (eagerly)
  or with the range check 'Labels must be >= 0' (in graph mode).
  """
  if label_vocabulary is None:
    if labels.dtype == tf.string:
      raise ValueError('Labels dtype should be integer. Instead got {}. String labels need '
                       'a label_vocabulary.'.format(labels.dtype))
    return labels
  if labels.dtype != tf.string:
    raise ValueError('Labels dtype should be string if there is a vocabulary. '
                     'Instead got {}'.format(labels.dtype))
  ids = checks.lookup_label_ids(labels, label_vocabulary)
  if tf.executing_eagerly():
    unknown = tf.boolean_mask(labels, ids < 0)
    if tf.size(unknown) > 0:
      raise ValueError('Labels must be >= 0: values {} are not in label_vocabulary {}.'.format(
          sorted(set(unknown.numpy().tolist())), list(label_vocabulary)))
  return ids


def export_outputs(predictions, n_classes, label_vocabulary=None):
  """serving_default and classification (probabilities + class names), and predict."""
  scores = predictions[PredictionKeys.PROBABILITIES]
  classifier_output = ClassificationOutput(
      scores=scores, classes=base_head.all_classes(scores, n_classes, label_vocabulary))
  return {DEFAULT_SERVING_KEY: classifier_output,
          CLASSIFY_SERVING_KEY: classifier_output,
          PREDICT_SERVING_KEY: PredictOutput(predictions)}
