"""Model quality of each loss balancing method against hand-tuned head weights.

Trains the same config-built body (components/body.py, as the Trainer builds
it, regression labels standardised inside the model) with each method on two
problems whose heads' losses live on very different scales, and prints each
head's eval metric per method, mean ± sd over seeds (each seed: a new 2:1
train/eval split and a new initialisation, the same for every method; by
default 5 for the penguins, 3 for the synthetic set):

- penguins: pipelines/configs/penguins.yaml with every head weight 1.0; the
  hand-tuned reference is the weight the file had before loss balancing
  (body_mass_g 1.5e-6, about 1 / variance of body mass in g²).
- synthetic: 8 numeric features; `price` (regression, mean 4000, sd ~1900),
  `churn` (binary) and `segment` (4 classes), each from other features, on a
  small shared body. The hand-tuned reference applies the rule behind the
  penguin weight: price weight 1/variance of price (a standardised MSE), the
  others 1. A grid of price weights (0.3 ... 10 times 1/variance) is printed
  too, so the trade-off between the price and the class heads shows.

Run:

  .venv/bin/python -m benchmarks.loss_balancing [--seeds N] [--problems penguins synthetic]

57 trainings (30 penguin, 27 synthetic); each prints its figures as it
ends. The README's run took 1845 s, niced beside other test suites on a
shared 2-core machine (about 30 s per training; 10-14 s each when less
busy). This measures model quality, not speed: machine load changes how long
it takes, not the figures.
"""

import argparse
import csv
import dataclasses
import io
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components import body  # noqa: E402
from components import config as config_lib  # noqa: E402
from pipelines import data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS_CONFIG = os.path.join(ROOT, 'pipelines', 'configs', 'penguins.yaml')
HAND_TUNED = 'fixed, hand-tuned'
EQUAL = 'fixed, equal weights'
Balancing = config_lib.LossBalancingConfig
METHODS = {  # name: (training.loss_balancing, head weights: 'tuned' or 'equal')
    HAND_TUNED: (Balancing(method='fixed'), 'tuned'),
    EQUAL: (Balancing(method='fixed'), 'equal'),
    'uncertainty': (Balancing(method='uncertainty'), 'equal'),
    'uncertainty, s0 = 0': (Balancing(method='uncertainty', initial_log_variance=0.0), 'equal'),
    'dwa': (Balancing(method='dwa'), 'equal'),
    'normalize': (Balancing(method='normalize'), 'equal'),
}
GRID = (0.3, 1., 3., 10.)
DEFAULT_SEEDS = {'penguins': 5, 'synthetic': 3}  # the small penguin eval split is noisier
# The weight penguins.yaml set before loss balancing: ~1 / variance of body mass in g^2.
PENGUINS_HAND_TUNED = {'body_mass_g': 1.5e-6}


@dataclasses.dataclass
class Metric:
  head: str
  label: str
  key: str  # HeadModel.evaluate key
  higher_is_better: bool
  rmse: bool = False  # sqrt of the key (average_loss is the MSE)

  def value(self, results):
    value = float(results[self.key])
    return float(np.sqrt(value)) if self.rmse else value


@dataclasses.dataclass
class Problem:
  name: str
  config: config_lib.HeadsConfig  # every head weight 1.0
  features: dict
  labels: dict
  metrics: list
  tuned_weights: dict = None  # None: tuned on a grid


def _column(config_dtype, values, missing):
  if config_dtype == 'string':
    return np.asarray(values, object).reshape(-1, 1)
  if config_dtype == 'int64':
    return np.asarray([int(v) if v else missing for v in values], np.int64).reshape(-1, 1)
  return np.asarray([float(v) if v else np.nan for v in values], np.float32).reshape(-1, 1)


def penguins():
  """The penguin CSV as the Trainer reads it, with penguins.yaml's heads, body and training."""
  rows = list(csv.DictReader(io.StringIO(data.penguins_csv_text())))
  config = config_lib.load_config(PENGUINS_CONFIG)
  config = config.model_copy(update={'heads': [h.model_copy(update={'weight': 1.0})
                                                for h in config.heads]})
  features = {f.name: _column(f.dtype, [row[f.name] for row in rows], -1)
              for f in config.model.features}
  labels = {}
  for head in config.heads:
    kind = 'float32' if head.label_is_float else 'string' if head.label_is_string else 'int64'
    labels[head.name] = _column(kind, [row[head.label] for row in rows], -1)
  metrics = [Metric('species', 'species accuracy', 'accuracy/species', True),
             Metric('sex', 'sex AUC', 'auc/sex', True),
             Metric('body_mass_g', 'body mass RMSE (g)', 'average_loss/body_mass_g', False,
                    rmse=True)]
  return Problem('penguins', config, features, labels, metrics,
                 tuned_weights=dict({h.name: 1.0 for h in config.heads}, **PENGUINS_HAND_TUNED))


SYNTHETIC_CONFIG = {
    'heads': [{'name': 'price', 'type': 'regression'},
              {'name': 'churn', 'type': 'binary'},
              {'name': 'segment', 'type': 'multi_class', 'n_classes': 4}],
    'model': {'features': ['x{}'.format(i) for i in range(8)], 'hidden_units': [16, 8]},
    'training': {'train_steps': 600, 'batch_size': 64, 'learning_rate': 0.01},
}


def synthetic(rows=6000, seed=0):
  """Three tasks from different features of one input; price in the thousands."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(rows, 8)).astype(np.float32)
  noise = rng.normal(size=(rows, 6)).astype(np.float32)
  price = 4000. + 1500. * (x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.5 + 0.3 * x[:, 0] * x[:, 2]) + (
      300. * noise[:, 0])
  churn = (x[:, 3] - x[:, 4] + 0.5 * x[:, 5] * x[:, 3] + 0.3 * noise[:, 1]) > 0
  segment = np.argmax(np.stack([x[:, 5] + x[:, 6], x[:, 7] - x[:, 5], x[:, 6] - x[:, 7],
                                0.5 * x[:, 2]], axis=1) + 0.3 * noise[:, 2:6], axis=1)
  config = config_lib.parse_config(SYNTHETIC_CONFIG)
  features = {'x{}'.format(i): x[:, i:i + 1] for i in range(8)}
  labels = {'price': price.reshape(-1, 1).astype(np.float32),
            'churn': churn.reshape(-1, 1).astype(np.int64),
            'segment': segment.reshape(-1, 1).astype(np.int64)}
  metrics = [Metric('price', 'price RMSE', 'average_loss/price', False, rmse=True),
             Metric('churn', 'churn accuracy', 'accuracy/churn', True),
             Metric('segment', 'segment accuracy', 'accuracy/segment', True)]
  return Problem('synthetic', config, features, labels, metrics)


def _take(columns, index):
  return {name: value[index] for name, value in columns.items()}


def _stats(problem, features, labels):
  """(mean, variance) of numeric features and regression labels, as the Trainer computes them."""
  stats = {}
  columns = dict(features)
  columns.update({h.label: labels[h.name] for h in problem.config.heads if h.type == 'regression'})
  names = [f.name for f in problem.config.model.features if f.kind == 'numeric'] + [
      h.label for h in problem.config.heads if h.type == 'regression']
  for name in names:
    values = np.asarray(columns[name], np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    stats[name] = (float(values.mean()), float(values.var()))
  return stats


def train_and_evaluate(problem, loss_balancing, weights, seed):
  """{metric label: value} on the eval split of `seed` after training as the config says."""
  rows = len(next(iter(problem.labels.values())))
  order = np.random.default_rng(seed).permutation(rows)
  train, evaluation = order[:rows * 2 // 3], order[rows * 2 // 3:]
  train_features, train_labels = _take(problem.features, train), _take(problem.labels, train)
  training = problem.config.training.model_copy(update={'loss_balancing': loss_balancing})
  config = problem.config.model_copy(update={
      'training': training,
      'heads': [h.model_copy(update={'weight': weights[h.name]}) for h in problem.config.heads]})
  keras.utils.set_random_seed(seed)
  model = body.build_model(config, _stats(problem, train_features, train_labels))
  model.compile(keras.optimizers.Adam(training.learning_rate), steps_per_execution=10)
  epochs = 10
  train_data = tf.data.Dataset.from_tensor_slices((train_features, train_labels)).shuffle(
      len(train), seed=seed).repeat().batch(training.batch_size)
  model.fit(train_data, epochs=epochs, steps_per_epoch=training.train_steps // epochs, verbose=0)
  eval_data = tf.data.Dataset.from_tensor_slices(
      (_take(problem.features, evaluation), _take(problem.labels, evaluation))).batch(256)
  results = model.evaluate(eval_data, verbose=0, return_dict=True)
  return {metric.label: metric.value(results) for metric in problem.metrics}


def run_seeds(problem, loss_balancing, weights, seeds, name):
  runs = []
  for seed in range(seeds):
    runs.append(train_and_evaluate(problem, loss_balancing, weights, seed))
    print('    {} seed {}: {}'.format(name, seed, ', '.join(
        '{} {:.4g}'.format(k, v) for k, v in runs[-1].items())), flush=True)
  return {label: np.asarray([run[label] for run in runs]) for label in runs[0]}


def relative(metric, value, reference):
  """How much worse than the reference, in % (negative: better)."""
  change = (value - reference) / abs(reference) * 100.
  return -change if metric.higher_is_better else change


def fixed_weight_grid(problem, seeds):
  """(hand-tuned weights, {row name: runs}) of a grid of regression head weights.

  The weight is 1/variance of the label times each GRID factor, the others 1;
  factor 1 is the hand-tuned rule.
  """
  regression = [h for h in problem.config.heads if h.type == 'regression'][0]
  variance = float(np.nanvar(problem.labels[regression.name]))
  rows, tuned = {}, None
  for factor in GRID:
    weights = {h.name: 1.0 for h in problem.config.heads}
    weights[regression.name] = factor / variance
    name = 'fixed, {} weight {:g}/variance'.format(regression.name, factor)
    runs = run_seeds(problem, Balancing(method='fixed'), weights, seeds, name)
    if factor == 1.:
      name, tuned = HAND_TUNED, weights
    rows[name] = runs
  return tuned, rows


def benchmark(problem, seeds, methods):
  print('{}: {} rows, heads {}, {} seeds'.format(
      problem.name, len(next(iter(problem.labels.values()))),
      [h.name for h in problem.config.heads], seeds), flush=True)
  equal = {h.name: 1.0 for h in problem.config.heads}
  table = {}
  if problem.tuned_weights is None:
    tuned, table = fixed_weight_grid(problem, seeds)
  else:
    tuned = problem.tuned_weights
  for name in methods:
    if name in table:
      continue
    loss_balancing, weights = METHODS[name]
    table[name] = run_seeds(problem, loss_balancing, tuned if weights == 'tuned' else equal,
                            seeds, name)
  print_table(problem, table, tuned, seeds)
  return table


def print_table(problem, table, tuned, seeds):
  print()
  print('{} ({} seeds, mean ± sd; in brackets: % worse than hand-tuned, * within 2%)'.format(
      problem.name, seeds))
  print('hand-tuned weights: {}'.format(', '.join(
      '{} {:.3g}'.format(name, weight) for name, weight in tuned.items())))
  header = '| method | ' + ' | '.join(metric.label for metric in problem.metrics) + ' |'
  print(header)
  print('|' + '---|' * (len(problem.metrics) + 1))
  reference = {m.label: table[HAND_TUNED][m.label].mean() for m in problem.metrics}
  for name, runs in table.items():
    cells = []
    for metric in problem.metrics:
      values = runs[metric.label]
      cell = '{:.4g} ± {:.2g}'.format(values.mean(), values.std())
      if name != HAND_TUNED:
        worse = relative(metric, values.mean(), reference[metric.label])
        cell += ' ({:+.1f}%{})'.format(worse, '*' if worse <= 2. else '')
      cells.append(cell)
    print('| {} | {} |'.format(name, ' | '.join(cells)))
  print(flush=True)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int,
                      help='seeds per method (default: {})'.format(DEFAULT_SEEDS))
  parser.add_argument('--problems', nargs='+', default=['penguins', 'synthetic'],
                      choices=['penguins', 'synthetic'])
  parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
  args = parser.parse_args(argv)
  start = time.time()
  methods = [HAND_TUNED] + [m for m in args.methods if m != HAND_TUNED]
  for name in args.problems:
    benchmark({'penguins': penguins, 'synthetic': synthetic}[name](),
              args.seeds or DEFAULT_SEEDS[name], methods)
  print('{:.0f} s in all'.format(time.time() - start))


if __name__ == '__main__':
  main()
