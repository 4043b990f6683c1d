"""Subprocess helper of test_distribute.py: trains a 3-head HeadModel under a strategy.

  python tests/distributed_worker.py mirrored OUT.npz
      2 logical CPUs: one fit step under MirroredStrategy and on one device,
      from the same initial weights and global batch; then 3 epochs with each
      loss balancing method, the same way.
  python tests/distributed_worker.py multi_worker OUT.npz   (TF_CONFIG set)
      this worker's part of a MultiWorkerMirroredStrategy fit, with fixed
      weights and with 'dwa' loss balancing (state updated per step from
      all-reduced losses, and per epoch by a callback).
Results (losses, metrics, weights) go to OUT.npz.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GLOBAL_BATCH = 16
BALANCING = ('uncertainty', 'dwa', 'normalize')


def make_data(rows=GLOBAL_BATCH):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(rows, 4)).astype(np.float32)
  w = rng.uniform(0.5, 2., size=(rows, 1)).astype(np.float32)
  reg = x[:, 1:2].copy()
  reg[:5] = np.nan  # missing labels, all in the first replica's half of the batch
  labels = {'bin': (x[:, :1] > 0).astype(np.float32),
            'mc': rng.integers(0, 5, size=(rows, 1)),
            'reg': reg}
  return {'x': x, 'w': w}, labels


def make_model(loss_balancing=None):
  import keras  # pylint: disable=g-import-not-at-top
  import heads  # pylint: disable=g-import-not-at-top
  from heads.model import HeadModel  # pylint: disable=g-import-not-at-top
  head = heads.MultiHead([
      heads.BinaryClassHead(name='bin', weight_column='w'),
      heads.MultiClassHead(5, name='mc'),
      heads.RegressionHead(name='reg', missing_label_value=float('nan'))],
      head_weights=[1., 2., .5])
  inputs = {'x': keras.Input((4,), name='x')}
  hidden = keras.layers.Dense(8, activation='tanh',
                              kernel_regularizer=keras.regularizers.l2(0.01))(inputs['x'])
  model = HeadModel(head, keras.Model(inputs, hidden), body_output='logits_input',
                    loss_balancing=loss_balancing)
  model.compile(keras.optimizers.SGD(0.5 if loss_balancing is None else 0.1))
  return model


def dataset(features, labels):
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return tf.data.Dataset.from_tensor_slices((features, labels)).batch(GLOBAL_BATCH).with_options(
      options)


def named(weights):
  return {'weight_{}'.format(i): w for i, w in enumerate(weights)}


def one_step(name, strategy, features, labels, initial_weights=None):
  """One fit step on a global batch: {'<name>/start|end|fit/<key>': value}, start weights."""
  with strategy.scope():
    model = make_model()
    model(features)
    if initial_weights is not None:
      model.set_weights(initial_weights)
  start = model.get_weights()
  history = model.fit(dataset(features, labels), epochs=1, verbose=0)
  results = {}
  for part, values in (('start', named(start)), ('end', named(model.get_weights())),
                       ('fit', {k: v[-1] for k, v in history.history.items()})):
    results.update({'{}/{}/{}'.format(name, part, k): v for k, v in values.items()})
  return results, start


def two_cpus():
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


def mirrored(out):
  from heads.distribute import strategy_from_setting  # pylint: disable=g-import-not-at-top
  two_cpus()
  features, labels = make_data()
  strategy = strategy_from_setting('mirrored')
  assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
  results, start = one_step('mirrored', strategy, features, labels)
  single, _ = one_step('single', tf.distribute.get_strategy(), features, labels, start)
  np.savez(out, **results, **single, **balanced_mirrored_and_single(strategy))


def balancing_data(rows=3 * GLOBAL_BATCH):
  """3 global batches; the second labels no 'reg' example, the first only on one replica."""
  features, labels = make_data(rows)
  labels['reg'][GLOBAL_BATCH:2 * GLOBAL_BATCH] = np.nan
  return features, labels


def balanced_fit(name, method, strategy, features, labels, initial_weights=None, epochs=3):
  """`epochs` epochs with loss_balancing=method: {'<name>/<method>/...': value}, start weights.

  Keys: end/weight_<i> (model and balancer), fit/<metric> (every epoch), and
  replicas/<variable> (the largest difference between replica copies).
  """
  with strategy.scope():
    model = make_model(method)
    model(features)
    if initial_weights is not None:
      model.set_weights(initial_weights)
  start = model.get_weights()
  history = model.fit(dataset(features, labels), epochs=epochs, verbose=0)
  prefix = '{}/{}/'.format(name, method)
  results = {prefix + 'end/' + k: v for k, v in named(model.get_weights()).items()}
  results.update({prefix + 'fit/' + k: np.asarray(v) for k, v in history.history.items()})
  for variable in model.loss_balancer.weights:
    copies = [np.asarray(copy) for copy in strategy.experimental_local_results(variable.value)]
    results[prefix + 'replicas/' + variable.name] = max(
        float(np.max(np.abs(copy - copies[0]))) for copy in copies)
  return results, start


def balanced_mirrored_and_single(strategy):
  """{'balanced_mirrored|balanced_single/<method>/...': value} for each balancing method."""
  features, labels = balancing_data()
  results = {}
  for method in BALANCING:
    mirrored_results, start = balanced_fit('balanced_mirrored', method, strategy, features,
                                           labels)
    single, _ = balanced_fit('balanced_single', method, tf.distribute.get_strategy(), features,
                             labels, start)
    results.update(mirrored_results)
    results.update(single)
  return results


def multi_worker(out):
  from heads.distribute import strategy_from_setting  # pylint: disable=g-import-not-at-top
  strategy = strategy_from_setting('auto')
  assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
  assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
  features, labels = make_data(64)
  with strategy.scope():
    model = make_model()
  history = model.fit(dataset(features, labels).repeat(), steps_per_epoch=2, epochs=2,
                      verbose=0)
  results = named(model.get_weights())
  results.update({'fit/' + k: np.asarray(v) for k, v in history.history.items()})
  features, labels = balancing_data()
  results.update(balanced_fit('worker', 'dwa', strategy, features, labels)[0])
  np.savez(out, **results)


if __name__ == '__main__':
  {'mirrored': mirrored, 'multi_worker': multi_worker}[sys.argv[1]](sys.argv[2])
