"""Property tests (hypothesis): MultiHead loss composition, dict vs concatenated
logits, and streaming metrics (two batches == one concatenated batch)."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heads
from conftest import assert_metrics, metric_results

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

HEAD_KINDS = ('regression', 'poisson', 'logistic', 'binary', 'binary_vocab', 'multi_class',
              'multi_class_vocab', 'multi_label')


def make_head(kind, name=None, weighted=False, reduction='sum_over_batch_size'):
  kwargs = dict(name=name, loss_reduction=reduction)
  if weighted:
    kwargs['weight_column'] = 'w_{}'.format(name or kind)
  if kind == 'regression':
    return heads.RegressionHead(label_dimension=2, **kwargs)
  if kind == 'poisson':
    return heads.PoissonRegressionHead(**kwargs)
  if kind == 'logistic':
    return heads.LogisticRegressionHead(**kwargs)
  if kind == 'binary':
    return heads.BinaryClassHead(thresholds=[0.3, 0.6], **kwargs)
  if kind == 'binary_vocab':
    return heads.BinaryClassHead(label_vocabulary=['neg', 'pos'], **kwargs)
  if kind == 'multi_class':
    return heads.MultiClassHead(3, **kwargs)
  if kind == 'multi_class_vocab':
    return heads.MultiClassHead(3, label_vocabulary=['a', 'b', 'c'], **kwargs)
  if kind == 'multi_label':
    return heads.MultiLabelHead(3, thresholds=[0.5], classes_for_class_based_metrics=[0, 2],
                                **kwargs)
  raise ValueError(kind)


def make_data(kind, rng, batch, logits_dimension):
  logits = (rng.normal(size=(batch, logits_dimension)) * 2.).astype(np.float32)
  if kind == 'regression':
    labels = rng.normal(size=(batch, logits_dimension)).astype(np.float32)
  elif kind == 'poisson':
    labels = rng.poisson(2., size=(batch, 1)).astype(np.float32)
  elif kind == 'logistic':
    labels = rng.uniform(size=(batch, 1)).astype(np.float32)
  elif kind == 'binary':
    labels = rng.integers(0, 2, size=(batch, 1)).astype(np.int64)
  elif kind == 'binary_vocab':
    labels = np.array([[b'neg', b'pos'][i] for i in rng.integers(0, 2, size=batch)])[:, None]
  elif kind == 'multi_class':
    labels = rng.integers(0, 3, size=(batch, 1)).astype(np.int64)
  elif kind == 'multi_class_vocab':
    labels = np.array([[b'a', b'b', b'c'][i] for i in rng.integers(0, 3, size=batch)])[:, None]
  elif kind == 'multi_label':
    labels = rng.integers(0, 2, size=(batch, 3)).astype(np.int64)
  else:
    raise ValueError(kind)
  return logits, labels


def weights(rng, batch):
  return rng.uniform(0.1, 2., size=(batch, 1)).astype(np.float32)


def results(metrics):
  return metric_results(metrics)


# MultiHead loss == Σ head_weight · head.loss + regularization ------------------------

multi_cases = st.fixed_dictionaries({
    'kinds': st.lists(st.sampled_from(HEAD_KINDS), min_size=1, max_size=4),
    'head_weights': st.one_of(st.none(), st.lists(st.floats(0.1, 3.), min_size=4, max_size=4)),
    'batch': st.integers(1, 5),
    'seed': st.integers(0, 2 ** 16),
    'weighted': st.booleans(),
    'reduction': st.sampled_from(['sum_over_batch_size', 'sum']),
    'regularization': st.one_of(st.none(), st.lists(st.floats(0., 5.), min_size=1, max_size=3)),
})


def build_multi(case):
  rng = np.random.default_rng(case['seed'])
  head_list = [make_head(kind, name='h{}'.format(i), weighted=case['weighted'],
                         reduction=case['reduction'])
               for i, kind in enumerate(case['kinds'])]
  head_weights = (case['head_weights'][:len(head_list)]
                  if case['head_weights'] is not None else None)
  logits, labels, features = {}, {}, {}
  for kind, head in zip(case['kinds'], head_list):
    logits[head.name], labels[head.name] = make_data(kind, rng, case['batch'],
                                                     head.logits_dimension)
    if case['weighted']:
      features['w_' + head.name] = weights(rng, case['batch'])
  return head_list, head_weights, logits, labels, features


@SETTINGS
@given(multi_cases)
def test_multi_head_loss_is_weighted_sum_of_head_losses(case):
  head_list, head_weights, logits, labels, features = build_multi(case)
  multi = heads.MultiHead(head_list, head_weights=head_weights)
  regs = case['regularization']
  expected = 0.
  for i, head in enumerate(head_list):
    head_loss = float(head.loss(labels[head.name], logits[head.name], features))
    expected += (head_weights[i] if head_weights else 1.) * head_loss
  if regs:
    expected += sum(np.float32(r) for r in regs)
  actual = float(multi.loss(labels, logits, features, regularization_losses=regs))
  np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(multi_cases)
def test_multi_head_dict_and_concatenated_logits_agree(case):
  head_list, head_weights, logits, labels, features = build_multi(case)
  multi = heads.MultiHead(head_list, head_weights=head_weights)
  concatenated = np.concatenate([logits[h.name] for h in head_list], axis=-1)
  assert concatenated.shape[-1] == multi.logits_dimension
  regs = case['regularization']

  loss_dict = float(multi.loss(labels, logits, features, regularization_losses=regs))
  loss_concat = float(multi.loss(labels, concatenated, features, regularization_losses=regs))
  np.testing.assert_allclose(loss_concat, loss_dict, rtol=1e-6, atol=1e-6)

  predictions_dict = multi.predictions(logits)
  predictions_concat = multi.predictions(concatenated)
  assert set(predictions_dict) == set(predictions_concat)
  for key, value in predictions_dict.items():
    expected, actual = value.numpy(), predictions_concat[key].numpy()
    if expected.dtype.kind in 'SOU':
      np.testing.assert_array_equal(actual, expected, err_msg=str(key))
    else:
      np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7, err_msg=str(key))

  metrics_dict = multi.update_metrics(multi.metrics(regs), features, logits, labels,
                                      regularization_losses=regs)
  metrics_concat = multi.update_metrics(multi.metrics(regs), features, concatenated, labels,
                                        regularization_losses=regs)
  assert_metrics(results(metrics_concat), results(metrics_dict), rtol=1e-6, atol=1e-6)


# Streaming metrics: two batches == one batch on the concatenation --------------------------

stream_cases = st.fixed_dictionaries({
    'kind': st.sampled_from(HEAD_KINDS),
    'batch': st.integers(2, 8),
    'split': st.floats(0.01, 0.99),
    'seed': st.integers(0, 2 ** 16),
    'weighted': st.booleans(),
    'regularization': st.one_of(st.none(), st.lists(st.floats(0., 5.), min_size=1, max_size=2)),
})


def _split(case):
  split = min(max(1, int(round(case['batch'] * case['split']))), case['batch'] - 1)
  return split


@SETTINGS
@given(stream_cases)
def test_update_metrics_two_batches_equals_concatenation(case):
  head = make_head(case['kind'], name='s', weighted=case['weighted'])
  rng = np.random.default_rng(case['seed'])
  logits, labels = make_data(case['kind'], rng, case['batch'], head.logits_dimension)
  features = {'w_s': weights(rng, case['batch'])} if case['weighted'] else {}
  regs = case['regularization']
  k = _split(case)

  streamed = head.metrics(regs)
  for part in (slice(0, k), slice(k, None)):
    part_features = {key: v[part] for key, v in features.items()}
    head.update_metrics(streamed, part_features, logits[part], labels[part],
                        regularization_losses=regs)
  whole = head.update_metrics(head.metrics(regs), features, logits, labels,
                              regularization_losses=regs)
  # Regularization is a per-batch Mean: the same value each batch, so the result matches.
  assert_metrics(results(streamed), results(whole), rtol=1e-5, atol=1e-6)


multi_stream_cases = st.fixed_dictionaries({
    'kinds': st.lists(st.sampled_from(HEAD_KINDS), min_size=1, max_size=3),
    'batch': st.integers(2, 6),
    'split': st.floats(0.01, 0.99),
    'seed': st.integers(0, 2 ** 16),
    'weighted': st.booleans(),
})


@SETTINGS
@given(multi_stream_cases)
def test_multi_head_average_metrics_two_batches_equals_concatenation(case):
  case = dict(case, head_weights=None, reduction='sum_over_batch_size', regularization=None)
  head_list, _, logits, labels, features = build_multi(case)
  multi = heads.MultiHead(head_list)
  k = _split(case)
  streamed = multi.metrics()
  for part in (slice(0, k), slice(k, None)):
    multi.update_metrics(streamed, {n: v[part] for n, v in features.items()},
                         {n: v[part] for n, v in logits.items()},
                         {n: v[part] for n, v in labels.items()})
  whole = multi.update_metrics(multi.metrics(), features, logits, labels)
  streamed, whole = results(streamed), results(whole)
  # 'loss/<head>' is a Mean of per-batch reduced losses, so it is not additive over
  # batches of different sizes; every head's own metric is.
  for key in [k for k in whole if k.startswith('loss/')]:
    del streamed[key], whole[key]
  assert_metrics(streamed, whole, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(stream_cases)
def test_sum_over_batch_size_is_sum_divided_by_elements(case):
  sobs = make_head(case['kind'], weighted=case['weighted'])
  summed = make_head(case['kind'], weighted=case['weighted'], reduction='sum')
  rng = np.random.default_rng(case['seed'])
  logits, labels = make_data(case['kind'], rng, case['batch'], sobs.logits_dimension)
  features = {'w_' + case['kind']: weights(rng, case['batch'])} if case['weighted'] else {}
  elements = case['batch'] * (2 if case['kind'] == 'regression' else 1)
  np.testing.assert_allclose(float(sobs.loss(labels, logits, features)),
                             float(summed.loss(labels, logits, features)) / elements,
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kind', HEAD_KINDS)
def test_eager_and_graph_loss_agree(kind):
  head = make_head(kind, weighted=True)
  rng = np.random.default_rng(7)
  logits, labels = make_data(kind, rng, 5, head.logits_dimension)
  features = {'w_' + kind: weights(rng, 5)}
  label_spec = tf.TensorSpec([None] + list(labels.shape[1:]), tf.as_dtype(labels.dtype))

  @tf.function(input_signature=[label_spec,
                                tf.TensorSpec([None, head.logits_dimension], tf.float32),
                                tf.TensorSpec([None, 1], tf.float32)])
  def graph_loss(labels, logits, w):
    return head.loss(labels, logits, {'w_' + kind: w})

  eager = float(head.loss(labels, logits, features))
  graph = float(graph_loss(labels, logits, features['w_' + kind]))
  np.testing.assert_allclose(graph, eager, rtol=1e-6)


@pytest.mark.parametrize('kind', HEAD_KINDS)
def test_update_metrics_in_graph_equals_eager(kind):
  head = make_head(kind, weighted=True)
  rng = np.random.default_rng(11)
  logits, labels = make_data(kind, rng, 6, head.logits_dimension)
  w = weights(rng, 6)
  label_spec = tf.TensorSpec([None] + list(labels.shape[1:]), tf.as_dtype(labels.dtype))
  graph_metrics = head.metrics([0.25])

  @tf.function(input_signature=[label_spec,
                                tf.TensorSpec([None, head.logits_dimension], tf.float32),
                                tf.TensorSpec([None, 1], tf.float32)])
  def update(labels, logits, w):
    head.update_metrics(graph_metrics, {'w_' + kind: w}, logits, labels,
                        regularization_losses=[tf.constant(0.25)])
    return tf.constant(0)

  update(labels[:4], logits[:4], w[:4])
  update(labels[4:], logits[4:], w[4:])
  eager = head.update_metrics(head.metrics([0.25]), {'w_' + kind: w}, logits, labels,
                              regularization_losses=[0.25])
  assert_metrics(results(graph_metrics), results(eager), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kind', HEAD_KINDS)
def test_update_metrics_from_parts_equals_update_metrics(kind):
  head = make_head(kind, weighted=True)
  rng = np.random.default_rng(5)
  logits, labels = make_data(kind, rng, 7, head.logits_dimension)
  features = {'w_' + kind: weights(rng, 7)}
  expected = results(head.update_metrics(head.metrics([0.5]), features, logits, labels,
                                         regularization_losses=[0.5]))
  parts = head.loss_parts(logits, labels, features)
  actual = results(head.update_metrics_from_parts(head.metrics([0.5]), parts,
                                                  regularization_losses=[0.5]))
  assert_metrics(actual, expected, rtol=0, atol=0)
