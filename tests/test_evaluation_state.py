"""The batched Evaluator's building blocks, without Beam: metric sets, additive state, slicing.

- Every metric class the heads use keeps state that adds up: the state of
  A + B is the state of A plus the state of B (checked per class), and a
  metric class that is not known to be additive is refused loudly.
- The metric set of each head type has the names the TFMA path computes, and
  its per-class views equal Keras' own per-class metrics.
- Slices are found column-wise with TFMA's semantics (several values, no
  value, crossed columns, fixed values).
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow_model_analysis.proto import config_pb2

from components import config as config_lib
from components import eval_config
from components.evaluation import combine
from components.evaluation import metric_set as metric_set_lib
from components.evaluation import plots
from components.evaluation import slicing
from components.evaluation import state as state_lib
from heads import metrics as metrics_lib

RNG = np.random.default_rng(7)
N = 64


def _binary_batch(n):
  return dict(y_true=RNG.integers(0, 2, size=(n, 1)).astype(np.float32),
              y_pred=RNG.random((n, 1)).astype(np.float32),
              sample_weight=RNG.uniform(0, 2, size=(n, 1)).astype(np.float32))


def _multi_class_batch(n, classes=3):
  return dict(labels=RNG.integers(0, classes, size=(n, 1)),
              probabilities=RNG.dirichlet(np.ones(classes), size=n).astype(np.float32),
              sample_weight=RNG.uniform(0, 2, size=(n, 1)).astype(np.float32))


def _mean_batch(n):
  return dict(values=RNG.normal(size=(n, 1)).astype(np.float32),
              sample_weight=RNG.uniform(0, 2, size=(n, 1)).astype(np.float32))


def _accuracy_batch(n):
  return dict(y_true=RNG.integers(0, 3, size=(n, 1)), y_pred=RNG.integers(0, 3, size=(n, 1)),
              sample_weight=RNG.uniform(0, 2, size=(n, 1)).astype(np.float32))


def _calibration_batch(n):
  batch = _binary_batch(n)
  return dict(labels=batch['y_true'], predictions=batch['y_pred'],
              sample_weight=batch['sample_weight'])


METRICS = {
    'Mean': (lambda: metrics_lib.Mean(dtype=tf.float64), _mean_batch),
    'Sum': (lambda: tf_keras.metrics.Sum(dtype=tf.float64), _mean_batch),
    'Accuracy': (lambda: metrics_lib.Accuracy(dtype=tf.float64), _accuracy_batch),
    'BinaryAccuracy': (lambda: metrics_lib.BinaryAccuracy(threshold=0.3, dtype=tf.float64),
                       _binary_batch),
    'Precision': (lambda: metrics_lib.Precision(thresholds=0.7, dtype=tf.float64),
                  _binary_batch),
    'Recall': (lambda: metrics_lib.Recall(dtype=tf.float64), _binary_batch),
    'AUC': (lambda: metrics_lib.AUC(dtype=tf.float64), _binary_batch),
    'AUC-PR': (lambda: metrics_lib.AUC(curve='PR', dtype=tf.float64), _binary_batch),
    'AUC-multi-label': (lambda: metrics_lib.AUC(multi_label=True, num_labels=3,
                                                dtype=tf.float64),
                        lambda n: dict(y_true=np.eye(3)[RNG.integers(0, 3, n)],
                                       y_pred=RNG.dirichlet(np.ones(3), size=n),
                                       sample_weight=RNG.uniform(0, 2, size=(n, 1)))),
    'CalibrationHistogram': (lambda: plots.CalibrationHistogram(dtype=tf.float64),
                             _calibration_batch),
    'ConfusionCounts': (lambda: plots.ConfusionCounts(3, dtype=tf.float64), _multi_class_batch),
}


def _state(metric, *batches):
  for variable in metric.variables:
    variable.assign(tf.zeros_like(variable))
  for batch in batches:
    metric.update_state(**batch)
  return np.concatenate([np.reshape(v.numpy(), [-1]) for v in metric.variables])


@pytest.mark.parametrize('name', sorted(METRICS))
def test_the_state_of_two_batches_is_the_sum_of_their_states(name):
  make, batch = METRICS[name]
  metric = make()
  state_lib.check_additive(metric, name)
  first, second = batch(N), batch(N // 3)
  both = {key: np.concatenate([first[key], second[key]]) for key in first}
  np.testing.assert_allclose(_state(metric, first) + _state(metric, second),
                             _state(metric, both), rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(_state(metric, first, second), _state(metric, both), rtol=1e-12,
                             atol=1e-12)
  assert _state(metric, both).any()


def test_accuracy_baseline_is_read_from_label_mean():
  label_mean = metrics_lib.Mean(dtype=tf.float64)
  baseline = metrics_lib.AccuracyBaseline(label_mean, dtype=tf.float64)
  state_lib.check_additive(baseline, 'accuracy_baseline')
  label_mean.update_state([1., 1., 0., 1.])
  assert float(baseline.result()) == 0.75


class _RunningMax(tf_keras.metrics.Metric):
  """A metric whose state (a maximum) does not add up."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.top = self.add_weight('top', initializer='zeros')

  def update_state(self, values):
    self.top.assign(tf.maximum(self.top, tf.reduce_max(tf.cast(values, self.dtype))))

  def result(self):
    return self.top


def test_a_metric_not_known_to_be_additive_is_refused_naming_it():
  with pytest.raises(state_lib.NotAdditiveError, match=r"head 'h', metric 'top_value'.*"
                                                       r'_RunningMax'):
    state_lib.check_additive(_RunningMax(name='top_value', dtype=tf.float64),
                             "head 'h', metric 'top_value'")
  with pytest.raises(state_lib.NotAdditiveError, match='float32, not float64'):
    state_lib.check_additive(metrics_lib.Mean(), 'mean')
  with pytest.raises(state_lib.NotAdditiveError, match='Hinge'):
    state_lib.check_additive(tf_keras.metrics.Hinge(dtype=tf.float64), 'hinge')


CONFIG = """
heads:
  - {name: kind, type: multi_class, label: kind, label_vocabulary: [a, b, c]}
  - {name: codes, type: multi_class, label: codes, n_classes: 4}
  - {name: click, type: binary, label: click, weight_column: w, thresholds: [0.25]}
  - {name: price, type: regression, label: price, label_dimension: 2, missing_label: mask}
  - {name: visits, type: poisson_regression, label: visits}
  - {name: share, type: logistic_regression, label: share}
  - {name: topics, type: multi_label, label: topics, n_classes: 3, label_vocabulary: [x, y, z],
     classes_for_class_based_metrics: [y], thresholds: [0.7]}
model: {features: [f]}
"""


@pytest.mark.parametrize('head_name', ['kind', 'codes', 'click', 'price', 'visits', 'share',
                                       'topics'])
def test_metric_set_names_are_the_heads_own_then_the_evaluators_and_tfmas(head_name):
  head = config_lib.load_config(CONFIG).head(head_name)
  metric_set = metric_set_lib.HeadMetricSet(head)
  suffix = '/' + head_name
  own = [key[:-len(suffix)] for key in head.build().metrics()]
  assert metric_set.names[:len(own)] == own
  assert metric_set.names == [entry[2]['name'] for entry in eval_config.head_metric_entries(head)]
  assert metric_set.names[-2:] == [metric_set_lib.EXAMPLE_COUNT,
                                   metric_set_lib.MISSING_LABEL_COUNT]
  state_lib.StateLayout([metric_set])  # every stateful metric is additive and float64


def test_multi_class_views_equal_keras_per_class_metrics():
  head = config_lib.load_config(CONFIG).head('kind')
  metric_set = metric_set_lib.HeadMetricSet(head)
  logits = RNG.normal(size=(200, 3)).astype(np.float32)
  labels = RNG.integers(0, 3, size=(200, 1))
  metric_set.update({}, logits, tf.constant(np.array(['a', 'b', 'c'])[labels]))
  results = metric_set.results()
  probabilities = tf.nn.softmax(logits).numpy()
  predicted = np.eye(3)[probabilities.argmax(axis=1)]
  one_hot = np.eye(3)[labels[:, 0]]
  for class_id, name in enumerate('abc'):
    precision = tf_keras.metrics.Precision(class_id=class_id)
    precision.update_state(one_hot, predicted)
    recall = tf_keras.metrics.Recall(class_id=class_id)
    recall.update_state(one_hot, predicted)
    auc = tf_keras.metrics.AUC()
    auc.update_state(one_hot[:, class_id], probabilities[:, class_id])
    np.testing.assert_allclose(results['precision/' + name], float(precision.result()), 1e-6)
    np.testing.assert_allclose(results['recall/' + name], float(recall.result()), 1e-6)
    np.testing.assert_allclose(results['auc/' + name], float(auc.result()), 1e-6)
  confusion = metric_set.plots()[plots.MULTI_CLASS_CONFUSION_MATRIX_PLOT]
  total = sum(e.num_weighted_examples for e in confusion.matrices[0].entries)
  assert total == 200
  curve = metric_set.plots()[plots.CONFUSION_MATRIX_PLOT + '/b'].matrices
  assert len(curve) == 200 and curve[0].true_positives == float((labels == 1).sum())


def _results_graph_ops(n_classes):
  config = config_lib.load_config(
      'heads: [{name: many, type: multi_class, label: many, n_classes: %d}]\n'
      'model: {features: [f]}' % n_classes)
  model_results = combine._ModelResults(config)
  return model_results, len(model_results._results.get_concrete_function().graph.get_operations())


def test_traced_per_class_results_equal_keras_and_their_graph_does_not_grow_per_class():
  model_results, ops_of_12 = _results_graph_ops(12)
  metric_set = model_results.metric_sets[0]
  logits = RNG.normal(size=(300, 12)).astype(np.float32)
  labels = RNG.integers(0, 12, size=(300, 1))
  metric_set.update({}, logits, tf.constant(labels))
  eager = metric_set.results()
  metrics, plots_by_key = model_results.results(model_results.layout.read().numpy(), 'm')
  traced = {key.name: value for key, value in metrics.items()}
  assert traced == eager
  probabilities = tf.nn.softmax(logits).numpy()
  one_hot = np.eye(12)[labels[:, 0]]
  for class_id in range(12):
    precision = tf_keras.metrics.Precision(class_id=class_id)
    precision.update_state(one_hot, np.eye(12)[probabilities.argmax(axis=1)])
    auc = tf_keras.metrics.AUC()
    auc.update_state(one_hot[:, class_id], probabilities[:, class_id])
    np.testing.assert_allclose(traced['precision/class{}'.format(class_id)],
                               float(precision.result()), 1e-6)
    np.testing.assert_allclose(traced['auc/class{}'.format(class_id)], float(auc.result()), 1e-6)
  curves = {key.name: plot for key, plot in plots_by_key.items()}
  assert curves[plots.CONFUSION_MATRIX_PLOT + '/class11'].matrices[0].true_positives == float(
      (labels == 11).sum())
  _, ops_of_3 = _results_graph_ops(3)
  # One loop per per-class metric: 9 more classes add their outputs (3 ops a class), not 9
  # more copies of Precision, Recall and AUC (144 ops a class when each class had its own).
  assert ops_of_12 - ops_of_3 < 9 * 6


def test_state_layout_reads_and_assigns_the_whole_state():
  config = config_lib.load_config(CONFIG)
  sets = [metric_set_lib.HeadMetricSet(head) for head in config.heads]
  layout = state_lib.StateLayout(sets)
  click = sets[2]
  click.update({'w': tf.constant([[1.], [2.], [0.5]])}, tf.constant([[2.], [-1.], [0.]]),
               tf.constant([[1], [0], [1]]))
  state = layout.read().numpy()
  expected = click.results()
  [op.numpy() for op in layout.reset()]
  assert click.results()['example_count'] == 0
  for op in layout.assign_ops(tf.constant(state)):
    op.numpy()
  assert click.results() == expected
  assert expected['example_count'] == 3 and expected['label/mean'] == pytest.approx(1.5 / 3.5)
  with pytest.raises(ValueError, match='expected'):
    layout.assign_ops(tf.zeros([3], tf.float64))


def _example(**columns):
  feature = {}
  for name, values in columns.items():
    if not values or isinstance(values[0], str):  # [] as CsvExampleGen writes an empty field
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[v.encode() for v in values]))
    elif isinstance(values[0], int):
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    else:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _slices(specs, records):
  protos = [config_pb2.SlicingSpec(**spec) for spec in specs]
  return {key: rows.tolist() for key, rows in slicing.Slicer(protos).slices(records)}


def test_slices_follow_tfma_semantics():
  records = [_example(site=['north'], cohort=[2020]),
             _example(site=['south', 'north'], cohort=[2021]),
             _example(cohort=[2020]),
             _example(site=[], cohort=[2021]),
             _example(site=['south'])]
  got = _slices([{}, {'feature_keys': ['site']}, {'feature_keys': ['cohort', 'site']},
                 {'feature_values': {'cohort': '2021'}}], records)
  assert got == {
      (): [0, 1, 2, 3, 4],
      (('site', 'north'),): [0, 1],
      (('site', 'south'),): [1, 4],
      (('cohort', 2020), ('site', 'north')): [0],
      (('cohort', 2021), ('site', 'north')): [1],
      (('cohort', 2021), ('site', 'south')): [1],
      (('cohort', 2021),): [1, 3]}


def test_slice_column_absent_from_a_batch_gives_no_slice():
  records = [_example(cohort=[1]), _example(cohort=[2])]
  assert _slices([{}, {'feature_keys': ['site']}], records) == {(): [0, 1]}


def test_float_slices_and_non_text_bytes():
  assert _slices([{'feature_keys': ['score']}], [_example(score=[0.5]), _example(score=[0.5])]) \
      == {(('score', 0.5),): [0, 1]}
  bad = tf.train.Example(features=tf.train.Features(feature={'site': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[b'\xff\xfe']))})).SerializeToString()
  with pytest.raises(ValueError, match="slice column 'site': a value is not UTF-8"):
    _slices([{'feature_keys': ['site']}], [bad])


def _reference_slices(specs, columns_per_row):
  """TFMA's slicing per example, in plain Python: the expected rows of every slice key."""
  expected = {}
  for spec in specs:
    keys = spec.get('feature_keys', [])
    fixed = spec.get('feature_values', {})
    for row, columns in enumerate(columns_per_row):
      if any(str(fixed_value) not in [str(v) for v in columns.get(column, [])]
             for column, fixed_value in fixed.items()):
        continue
      combos = [[]]
      for column in sorted(keys):
        combos = [combo + [(column, value)] for combo in combos
                  for value in columns.get(column, [])]
      for combo in combos:
        entries = combo + [(column, slicing._typed(value)) for column, value in fixed.items()]
        rows = expected.setdefault(tuple(sorted(entries)), [])
        if row not in rows:
          rows.append(row)
  return expected


def test_slices_equal_a_per_example_reference_on_multi_valued_columns():
  rng = np.random.default_rng(11)
  sites = ['north', 'south', 'east', 'Zürich', 'b', 'a']
  columns_per_row = []
  for _ in range(300):
    columns = {}
    if rng.random() > 0.1:  # an example without the column is in none of its slices
      columns['site'] = [str(v) for v in rng.choice(sites, size=rng.integers(0, 4))]
    if rng.random() > 0.1:
      columns['cohort'] = [int(v) for v in rng.integers(0, 5, size=rng.integers(1, 3))]
    columns_per_row.append(columns)
  specs = [{}, {'feature_keys': ['site']}, {'feature_keys': ['cohort', 'site']},
           {'feature_keys': ['site'], 'feature_values': {'cohort': '3'}}]
  records = [_example(**columns) for columns in columns_per_row]
  assert any(len(set(c.get('site', []))) < len(c.get('site', [])) for c in columns_per_row)
  assert _slices(specs, records) == _reference_slices(specs, columns_per_row)


def test_slice_combination_ids_group_alike_beyond_int64():
  codes = np.array([[3, 1, 2], [0, 0, 0], [3, 1, 2], [2, 9, 1], [0, 0, 0]], np.int64)
  small = slicing._combination_ids(codes, [4, 10, 3], n_rows=5)
  huge = slicing._combination_ids(codes, [2**40, 2**40, 3], n_rows=5)
  for ids in (small, huge):
    assert ids[0] == ids[2] and ids[1] == ids[4]
    assert len(set(ids.tolist())) == 3
    assert np.argsort(ids, kind='stable').tolist() == [1, 4, 3, 0, 2]
