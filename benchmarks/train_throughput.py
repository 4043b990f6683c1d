"""Training throughput: a HeadModel against a hand-written Keras multi-output model.

Both train the same MLP body on the same synthetic data (3 tasks: binary,
5-class, regression) with the same optimizer, batch size and
steps_per_execution; the hand-written model computes the equivalent metrics
with Keras' own loss and metric dicts. Run:

  .venv/bin/python -m benchmarks.train_throughput [--rows N] [--epochs N] [--steps-per-execution N]

Epochs alternate between the two models so both see the same machine load.
The first epoch (tracing) is left out; examples/s uses the median epoch time,
and examples per CPU second (all threads) is shown too, as it varies less
on a busy machine.
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import heads  # noqa: E402
from heads.model import HeadModel  # noqa: E402
from heads.model import LOGITS_INPUT  # noqa: E402

N_CLASSES = 5


def make_data(rows, features, seed=0):
  """Features {'x': [rows, features]} and labels {'bin', 'mc', 'reg'} from a noisy linear map."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(rows, features)).astype(np.float32)
  w = rng.normal(size=(features, 3 + N_CLASSES)).astype(np.float32)
  z = x @ w + rng.normal(scale=0.5, size=(rows, 3 + N_CLASSES)).astype(np.float32)
  labels = {'bin': (z[:, :1] > 0).astype(np.float32),
            'mc': np.argmax(z[:, 3:], axis=1)[:, None].astype(np.int64),
            'reg': z[:, 1:2]}
  return {'x': x}, labels


def make_dataset(features, labels, batch_size):
  dataset = tf.data.Dataset.from_tensor_slices((features, labels))
  return dataset.batch(batch_size, drop_remainder=True).cache().prefetch(tf.data.AUTOTUNE)


def make_body(features, hidden):
  inputs = {'x': keras.Input((features,), name='x')}
  net = inputs['x']
  for units in hidden:
    net = keras.layers.Dense(units, activation='relu')(net)
  return keras.Model(inputs, net, name='body')


def head_driven(features, hidden):
  head = heads.MultiHead([heads.BinaryClassHead(name='bin'),
                          heads.MultiClassHead(N_CLASSES, name='mc'),
                          heads.RegressionHead(name='reg')])
  return HeadModel(head, make_body(features, hidden), body_output=LOGITS_INPUT)


def mean_of_predictions(y_true, y_pred):
  del y_true
  return y_pred


def hand_written(features, hidden):
  """The same body with 3 outputs, Keras losses and the equivalent Keras metrics."""
  body = make_body(features, hidden)
  net = body.output
  outputs = {'bin': keras.layers.Dense(1, activation='sigmoid', name='bin')(net),
             'mc': keras.layers.Dense(N_CLASSES, activation='softmax', name='mc')(net),
             'reg': keras.layers.Dense(1, name='reg')(net)}
  model = keras.Model(body.input, outputs)
  loss = {'bin': keras.losses.BinaryCrossentropy(),
          'mc': keras.losses.SparseCategoricalCrossentropy(),
          'reg': keras.losses.MeanSquaredError()}
  metrics = {
      'bin': [keras.metrics.BinaryAccuracy(name='accuracy'),
              keras.metrics.Precision(name='precision'),
              keras.metrics.Recall(name='recall'),
              keras.metrics.AUC(name='auc'),
              keras.metrics.AUC(curve='PR', name='auc_precision_recall'),
              keras.metrics.MeanMetricWrapper(mean_of_predictions, name='prediction_mean')],
      'mc': [keras.metrics.SparseCategoricalAccuracy(name='accuracy')],
      'reg': [keras.metrics.MeanSquaredError(name='mse'),
              keras.metrics.MeanMetricWrapper(mean_of_predictions, name='prediction_mean')],
  }
  return model, loss, metrics


class EpochTimer(keras.callbacks.Callback):
  """Wall-clock and process CPU seconds of each epoch."""

  def __init__(self):
    super().__init__()
    self.seconds = []
    self.cpu_seconds = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter(), time.process_time()

  def on_epoch_end(self, epoch, logs=None):
    self.seconds.append(time.perf_counter() - self._start[0])
    self.cpu_seconds.append(time.process_time() - self._start[1])


def train_interleaved(models, dataset, epochs, verbose):
  """One epoch of each model in turn, so both see the same machine load; returns timers, logs."""
  timers = {name: EpochTimer() for name in models}
  logs = {}
  for epoch in range(epochs):
    for name, model in models.items():
      history = model.fit(dataset, initial_epoch=epoch, epochs=epoch + 1,
                          callbacks=[timers[name]], verbose=verbose)
      logs[name] = {key: values[-1] for key, values in history.history.items()}
  return timers, logs


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rows', type=int, default=200_000)
  parser.add_argument('--epochs', type=int, default=8, help='the first one is not timed')
  parser.add_argument('--batch-size', type=int, default=512)
  parser.add_argument('--steps-per-execution', type=int, default=32)
  parser.add_argument('--features', type=int, default=32)
  parser.add_argument('--hidden', type=int, nargs='+', default=[128, 64])
  parser.add_argument('--verbose', type=int, default=0, help='Keras fit verbosity')
  args = parser.parse_args(argv)

  features, labels = make_data(args.rows, args.features)
  dataset = make_dataset(features, labels, args.batch_size)
  examples = (args.rows // args.batch_size) * args.batch_size
  print('{:,} rows, batch {}, steps_per_execution {}, body {} -> {}, {} epochs'.format(
      args.rows, args.batch_size, args.steps_per_execution, args.features, args.hidden,
      args.epochs), flush=True)

  keras.utils.set_random_seed(0)
  keras_model, loss, metrics = hand_written(args.features, args.hidden)
  keras_model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics,
                      steps_per_execution=args.steps_per_execution)
  keras.utils.set_random_seed(0)
  head_model = head_driven(args.features, args.hidden)
  head_model.compile(optimizer=keras.optimizers.Adam(1e-3),
                     steps_per_execution=args.steps_per_execution)

  timers, logs = train_interleaved({'hand-written': keras_model, 'head-driven': head_model},
                                   dataset, args.epochs, args.verbose)
  rates, cpu_rates = {}, {}
  for name, timer in timers.items():
    rates[name] = examples / np.median(timer.seconds[1:] or timer.seconds)
    cpu_rates[name] = examples / np.median(timer.cpu_seconds[1:] or timer.cpu_seconds)
    print('{:<13} epoch seconds: {}'.format(
        name, ', '.join('{:.2f}'.format(s) for s in timer.seconds)))
    print('{:<13} {:>9,.0f} examples/s  ({:,.0f} examples per CPU second)'.format(
        name, rates[name], cpu_rates[name]))
  print('head-driven / hand-written: {:.3f}  (per CPU second: {:.3f})'.format(
      rates['head-driven'] / rates['hand-written'],
      cpu_rates['head-driven'] / cpu_rates['hand-written']))
  head_logs = logs['head-driven']
  print('head-driven last epoch: loss {:.4f}, auc/bin {:.4f}, accuracy/mc {:.4f}'.format(
      head_logs['loss'], head_logs['auc/bin'], head_logs['accuracy/mc']))


if __name__ == '__main__':
  main()
