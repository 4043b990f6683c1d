"""strategy_from_setting, and HeadModel training under MirroredStrategy and MultiWorkerMirroredStrategy.

The distributed runs are subprocesses (tests/distributed_worker.py): logical
devices and TF_CONFIG must be set before TensorFlow starts.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from heads import distribute
from heads.distribute import strategy_from_setting
from conftest import free_ports

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'distributed_worker.py')
TIMEOUT = 300
BALANCING = ('uncertainty', 'dwa', 'normalize')


@pytest.fixture
def no_cluster(monkeypatch):
  for name in ('TF_CONFIG', 'TPU_NAME', 'KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS', 'TPU_CONFIG'):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setattr(distribute.os.path, 'exists',
                      lambda path: False if path == '/dev/accel0' else os.path.lexists(path))


def test_default_and_auto_without_cluster_or_accelerators(no_cluster):
  assert strategy_from_setting('default') is tf.distribute.get_strategy()
  assert strategy_from_setting('auto') is tf.distribute.get_strategy()
  assert strategy_from_setting() is tf.distribute.get_strategy()


def test_mirrored_on_one_cpu(no_cluster):
  strategy = strategy_from_setting('mirrored')
  assert isinstance(strategy, tf.distribute.MirroredStrategy)
  assert strategy.num_replicas_in_sync == 1


def test_unknown_setting_is_refused():
  with pytest.raises(ValueError, match=r"Unknown distribution strategy 'gpu'. Choose one of "
                                       r"\['auto', 'default', 'mirrored', 'multi_worker', 'tpu'\]"):
    strategy_from_setting('gpu')


def test_tpu_without_a_tpu_is_refused(no_cluster):
  with pytest.raises(ValueError, match="'tpu' was asked for, but no TPU was found"):
    strategy_from_setting('tpu')


def test_auto_picks_multi_worker_from_tf_config(monkeypatch, no_cluster):
  created = []
  monkeypatch.setattr(tf.distribute, 'MultiWorkerMirroredStrategy', lambda: created.append(1))
  monkeypatch.setenv('TF_CONFIG', json.dumps(
      {'cluster': {'worker': ['localhost:1', 'localhost:2']}, 'task': {'type': 'worker',
                                                                       'index': 1}}))
  strategy_from_setting('auto')
  assert created == [1]
  assert not distribute.is_chief()
  monkeypatch.setenv('TF_CONFIG', '{not json')
  with pytest.raises(ValueError, match='TF_CONFIG is not valid JSON'):
    strategy_from_setting('auto')


def test_auto_picks_a_tpu_when_a_resolver_finds_one(monkeypatch, no_cluster):
  monkeypatch.setenv('TPU_NAME', 'my-tpu')
  monkeypatch.setattr(distribute, '_tpu_resolver', lambda tpu: 'resolver')
  monkeypatch.setattr(distribute, '_tpu_strategy', lambda resolver: ('tpu', resolver))
  assert strategy_from_setting('auto') == ('tpu', 'resolver')
  assert strategy_from_setting('tpu') == ('tpu', 'resolver')


def clean_env(**extra):
  env = {k: v for k, v in os.environ.items() if k not in ('TF_CONFIG', 'PYTHONPATH')}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  env.update(extra)
  return env


@pytest.fixture(scope='module')
def mirrored_results(tmp_path_factory):
  """{'mirrored|single/<start|end|fit>/<key>': value} from distributed_worker.py."""
  out = tmp_path_factory.mktemp('mirrored') / 'results.npz'
  run = subprocess.run([sys.executable, WORKER, 'mirrored', str(out)], env=clean_env(),
                       capture_output=True, text=True, timeout=TIMEOUT)
  assert run.returncode == 0, run.stderr[-3000:]
  results = dict(np.load(out))
  keys = sorted(k[len('single/'):] for k in results if k.startswith('single/'))
  assert keys == sorted(k[len('mirrored/'):] for k in results if k.startswith('mirrored/'))
  return results, keys


# Mean of the per-replica losses of the 'reg' head, whose missing labels sit on
# one replica: MultiHead.update_metrics updates loss/<head> with head.loss, not
# with the replica's share of the global-batch loss (head.replica_loss).
PER_REPLICA_HEAD_LOSSES = ['fit/loss/reg']


def test_mirrored_step_equals_one_device(mirrored_results):
  """2 logical CPUs, global batch 16, missing 'reg' labels on one replica only."""
  results, keys = mirrored_results
  assert 'fit/loss' in keys and 'fit/auc/bin' in keys and 'end/weight_0' in keys
  for key in keys:
    if key not in PER_REPLICA_HEAD_LOSSES:
      np.testing.assert_allclose(results['mirrored/' + key], results['single/' + key],
                                 rtol=2e-5, atol=1e-6, err_msg=key)
  changed = [k for k in keys if k.startswith('end/') and not np.allclose(
      results['single/' + k], results['single/start/' + k[len('end/'):]])]
  assert changed, 'the step changed no weight'


def test_mirrored_per_head_losses_equal_one_device(mirrored_results):
  results, _ = mirrored_results
  for key in PER_REPLICA_HEAD_LOSSES:
    np.testing.assert_allclose(results['mirrored/' + key], results['single/' + key],
                               rtol=2e-5, atol=1e-6, err_msg=key)


def test_mirrored_loss_balancing_equals_one_device(mirrored_results):
  """3 epochs per method on 2 logical CPUs, one global batch with no 'reg' label.

  The model, the balancer state and the effective weights of every epoch match
  one device, and both replicas hold the same balancer state.
  """
  results, _ = mirrored_results
  for method in BALANCING:
    prefix = 'balanced_mirrored/{}/'.format(method)
    keys = sorted(k[len(prefix):] for k in results if k.startswith(prefix))
    assert 'fit/head_weight/reg' in keys and 'replicas/' + {
        'uncertainty': 'log_variance_change', 'dwa': 'dwa_weights',
        'normalize': 'loss_average'}[method] in keys, keys
    for key in keys:
      value = results[prefix + key]
      if key.startswith('replicas/'):
        assert value == 0, (method, key)
      else:
        np.testing.assert_allclose(value, results['balanced_single/{}/{}'.format(method, key)],
                                   rtol=2e-5, atol=1e-6, err_msg='{} {}'.format(method, key))
    weights = results[prefix + 'fit/head_weight/reg']
    assert len(weights) == 3 and np.all(np.isfinite(weights))
    assert weights[-1] != weights[0], (method, weights)


def test_multi_worker_workers_end_with_identical_weights(tmp_path):
  workers = ['localhost:{}'.format(port) for port in free_ports(2)]
  processes = []
  for index in range(2):
    tf_config = json.dumps({'cluster': {'worker': workers},
                            'task': {'type': 'worker', 'index': index}})
    out = tmp_path / 'worker{}.npz'.format(index)
    log = open(tmp_path / 'worker{}.log'.format(index), 'w')
    processes.append((subprocess.Popen([sys.executable, WORKER, 'multi_worker', str(out)],
                                       env=clean_env(TF_CONFIG=tf_config), stdout=log,
                                       stderr=subprocess.STDOUT), out, log))
  try:
    for process, _, _ in processes:
      process.wait(timeout=TIMEOUT)
  finally:
    for process, _, log in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
      log.close()
  for index, (process, _, _) in enumerate(processes):
    assert process.returncode == 0, (tmp_path / 'worker{}.log'.format(index)).read_text()[-3000:]
  first, second = (dict(np.load(out)) for _, out, _ in processes)
  assert sorted(first) == sorted(second)
  assert len(first['fit/loss']) == 2
  dwa_weights = first['worker/dwa/fit/head_weight/reg']
  assert len(dwa_weights) == 3 and dwa_weights[2] != dwa_weights[0]
  for key in first:
    np.testing.assert_array_equal(first[key], second[key], err_msg=key)
