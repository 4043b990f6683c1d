"""EstimatorSpec: what `create_estimator_spec` returns."""

import collections


class EstimatorSpec(collections.namedtuple(
    'EstimatorSpec',
    ['mode', 'predictions', 'loss', 'train_op', 'eval_metric_ops', 'export_outputs'])):
  """The fields of `tf.estimator.EstimatorSpec` that a head fills.

  `eval_metric_ops` maps metric keys to Keras metric objects (call `.result()`).
  `export_outputs` maps signature keys to `ExportOutput`s in PREDICT mode.
  """

  def __new__(cls, mode, predictions=None, loss=None, train_op=None,
              eval_metric_ops=None, export_outputs=None):
    return super().__new__(cls, mode, predictions if predictions is not None else {},
                           loss, train_op, eval_metric_ops if eval_metric_ops is not None else {},
                           export_outputs)
