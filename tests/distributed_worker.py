"""Subprocess helper of test_distribute.py: trains a 3-head HeadModel under a strategy.

  python tests/distributed_worker.py mirrored OUT.npz
      2 logical CPUs: one fit step under MirroredStrategy and on one device,
      from the same initial weights and global batch.
  python tests/distributed_worker.py multi_worker OUT.npz   (TF_CONFIG set)
      this worker's part of a MultiWorkerMirroredStrategy fit.
Results (losses, metrics, weights) go to OUT.npz.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GLOBAL_BATCH = 16


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


def make_model():
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
  model = HeadModel(head, keras.Model(inputs, hidden), body_output='logits_input')
  model.compile(keras.optimizers.SGD(0.5))
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


def mirrored(out):
  from heads.distribute import strategy_from_setting  # pylint: disable=g-import-not-at-top
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
  features, labels = make_data()
  strategy = strategy_from_setting('mirrored')
  assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
  results, start = one_step('mirrored', strategy, features, labels)
  single, _ = one_step('single', tf.distribute.get_strategy(), features, labels, start)
  np.savez(out, **results, **single)


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
  np.savez(out, **results)


if __name__ == '__main__':
  {'mirrored': mirrored, 'multi_worker': multi_worker}[sys.argv[1]](sys.argv[2])
