"""Shared helpers for the heads test-suite, and the test selection of the newest-stack leg.

Only plain helper functions and fixtures live here; nothing in this file
changes global TF state, so it is safe for every test module (including the
golden tests owned by another file).

`--without-tfx` (scripts/test.sh --stack newest) reports the modules in
NEEDS_TFX as skipped, without importing them, and the single tests marked
`@pytest.mark.needs_tfx` as skipped: no TFX installs on the newest stack.
Everything else runs in both legs; the main leg runs everything.
"""
import os
import re
import socket

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Test modules that need TFX itself (the Trainer's FnArgs and schema reading, pipelines,
# the CLI, Kubeflow). TFMA, tfx-bsl and Beam are on both stacks, so their tests are not here.
NEEDS_TFX = ('test_cli.py', 'test_cli_interrupts.py', 'test_integer_columns.py',
             'test_kubeflow.py', 'test_own_data_pipeline.py', 'test_pipeline.py',
             'test_pipeline_blessing.py', 'test_pipeline_builder.py', 'test_trainer.py',
             'test_trainer_multi_worker.py')
# The modules that take longest (a minute or more: pipelines, worker processes, fixtures that
# train and export), run first: with several pytest-xdist processes (scripts/test.sh), each
# takes a module at a time, and a long module started last would run alone at the end.
SLOWEST_FIRST = ('test_pipeline.py', 'test_pipeline_blessing.py', 'test_distribute.py',
                 'test_trainer_multi_worker.py', 'test_batched_evaluator.py',
                 'test_own_data_pipeline.py', 'test_evaluation_gates.py', 'test_evaluator.py',
                 'test_resume.py', 'test_kubeflow.py', 'test_integer_columns.py',
                 'test_export.py', 'test_trainer.py', 'test_eval_config.py',
                 'test_non_finite_data.py', 'test_loss_balancing.py', 'test_model.py')
_NEEDS_TFX_REASON = ('{}: needs TFX, which does not install on this stack; it runs in the main '
                     'leg (scripts/test.sh)')

TRAIN = 'train'
EVAL = 'eval'
PREDICT = 'infer'


def esc(text):
  """re.escape for pytest.raises(match=...)."""
  return re.escape(text)


def f32(x):
  return np.asarray(x, dtype=np.float32)


def i64(x):
  return np.asarray(x, dtype=np.int64)


def to_np(value):
  if isinstance(value, (tf.Tensor, tf.Variable)):
    return value.numpy()
  return np.asarray(value)


def metric_results(eval_metrics):
  """{key: float} of a dict of Keras metric objects."""
  return {k: float(np.asarray(m.result())) for k, m in eval_metrics.items()}


def eval_metrics(head, features, logits, labels, regularization_losses=None):
  """Metrics from head.metrics() + one head.update_metrics() call, as floats."""
  metrics = head.metrics(regularization_losses)
  metrics = head.update_metrics(metrics, features, logits, labels,
                                regularization_losses=regularization_losses)
  return metric_results(metrics)


def assert_metrics(actual, expected, rtol=1e-5, atol=1e-6, exact_keys=True):
  """Compares a {key: value} result dict with the expected one."""
  if exact_keys:
    assert sorted(actual) == sorted(expected), (
        'metric keys differ: extra {}, missing {}'.format(
            sorted(set(actual) - set(expected)), sorted(set(expected) - set(actual))))
  for key, value in expected.items():
    assert key in actual, 'missing metric {!r}; have {}'.format(key, sorted(actual))
    np.testing.assert_allclose(actual[key], value, rtol=rtol, atol=atol,
                               err_msg='metric {!r}'.format(key))


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
  np.testing.assert_allclose(to_np(actual), np.asarray(expected), rtol=rtol, atol=atol)


def loss_eager_and_graph(head, labels, logits, features=None, regularization_losses=None):
  """head.loss() run eagerly and inside a tf.function; returns both values."""
  eager = head.loss(labels, logits, features, TRAIN, regularization_losses)

  @tf.function
  def graph_loss(labels, logits, features):
    return head.loss(labels, logits, features, TRAIN, regularization_losses)

  graph = graph_loss(labels, logits, features)
  return float(to_np(eager)), float(to_np(graph))


def assert_loss(head, labels, logits, expected, features=None, regularization_losses=None,
                rtol=1e-5, atol=1e-6):
  eager, graph = loss_eager_and_graph(head, labels, logits, features, regularization_losses)
  np.testing.assert_allclose(eager, expected, rtol=rtol, atol=atol, err_msg='eager loss')
  np.testing.assert_allclose(graph, expected, rtol=rtol, atol=atol, err_msg='graph loss')


def spec_summaries(tmp_path, make_spec):
  """Runs make_spec() with a default summary writer and returns {tag: value}."""
  logdir = str(tmp_path / 'summaries')
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default(step=0):
    spec = make_spec()
  writer.flush()
  writer.close()
  values = {}
  for name in sorted(os.listdir(logdir)):
    for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
      for value in event.summary.value:
        values[value.tag] = float(tf.make_ndarray(value.tensor))
  return spec, values


@pytest.fixture
def summaries(tmp_path):
  return lambda make_spec: spec_summaries(tmp_path, make_spec)


def free_ports(count):
  """`count` localhost ports that were free a moment ago (for worker processes)."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def pytest_addoption(parser):
  parser.addoption('--without-tfx', action='store_true',
                   help='skip the test modules that need TFX (conftest.NEEDS_TFX) without '
                        'importing them: the newest-stack leg')


def pytest_configure(config):
  config.addinivalue_line('markers', 'needs_tfx: the test imports TFX; skipped by --without-tfx')
  here = os.path.dirname(os.path.abspath(__file__))
  for listed, names in (('NEEDS_TFX', NEEDS_TFX), ('SLOWEST_FIRST', SLOWEST_FIRST)):
    missing = [name for name in names if not os.path.isfile(os.path.join(here, name))]
    if missing:
      raise pytest.UsageError('conftest.{} lists missing test modules: {}'.format(
          listed, missing))


class _NeedsTfx(pytest.Module):
  """A test module left out of a run without TFX: reported as skipped, never imported."""

  def collect(self):
    pytest.skip(_NEEDS_TFX_REASON.format(self.path.name), allow_module_level=True)


def _slowness_rank(item):
  name = item.path.name
  return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)


def pytest_collection_modifyitems(config, items):
  items.sort(key=_slowness_rank)  # stable: the order within a module stays
  if not config.getoption('--without-tfx'):
    return
  skip = pytest.mark.skip(reason='needs TFX, which does not install on this stack; it runs in '
                                 'the main leg (scripts/test.sh)')
  for item in items:
    if item.get_closest_marker('needs_tfx'):
      item.add_marker(skip)


def pytest_pycollect_makemodule(module_path, parent):
  if parent.config.getoption('--without-tfx') and module_path.name in NEEDS_TFX:
    return _NeedsTfx.from_parent(parent, path=module_path)
  return None
