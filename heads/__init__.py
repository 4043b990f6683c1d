"""Heads for TensorFlow 2.16+: the tf.estimator Head API, with the same numerics.

A head turns a model's logits into the loss, predictions, metrics, a train
step and serving outputs. `MultiHead` merges named heads for multi-task models.
"""

from heads.base_head import Head
from heads.binary_class_head import BinaryClassHead
from heads.export_output import ClassificationOutput
from heads.export_output import ExportOutput
from heads.export_output import PredictOutput
from heads.export_output import RegressionOutput
from heads.keys import CLASSIFY_SERVING_KEY
from heads.keys import DEFAULT_SERVING_KEY
from heads.keys import MetricKeys
from heads.keys import ModeKeys
from heads.keys import PREDICT_SERVING_KEY
from heads.keys import PredictionKeys
from heads.keys import REGRESS_SERVING_KEY
from heads.logistic_regression_head import LogisticRegressionHead
from heads.multi_class_head import MultiClassHead
from heads.multi_head import MultiHead
from heads.multi_label_head import MultiLabelHead
from heads.poisson_regression_head import PoissonRegressionHead
from heads.regression_head import RegressionHead
from heads.sequential_head import SequentialHeadWrapper
from heads.spec import EstimatorSpec

__version__ = '0.1.0'

__all__ = [
    'BinaryClassHead', 'CLASSIFY_SERVING_KEY', 'ClassificationOutput', 'DEFAULT_SERVING_KEY',
    'EstimatorSpec', 'ExportOutput', 'Head', 'LogisticRegressionHead', 'MetricKeys',
    'ModeKeys', 'MultiClassHead', 'MultiHead', 'MultiLabelHead', 'PREDICT_SERVING_KEY',
    'PoissonRegressionHead', 'PredictOutput', 'PredictionKeys', 'REGRESS_SERVING_KEY',
    'RegressionHead', 'RegressionOutput', 'SequentialHeadWrapper',
]
