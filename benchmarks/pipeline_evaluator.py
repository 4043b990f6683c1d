"""The Evaluator step of a whole `heads-pipeline run`: the batched engine against the TFMA path.

Writes a synthetic CSV (default 54k rows) with three heads, a regression, a
5-class and a 7-class one, and one slice feature, then runs the CLI twice
on it, each time in a fresh output directory (so neither run has a
baseline): once with `evaluation.engine: tfma`, once with the default
batched engine. It prints each component's time as ML Metadata recorded it
(execution registered to finished: start-up included) and the ratio of the
two Evaluator steps. Run:

  .venv/bin/python -m benchmarks.pipeline_evaluator [--rows 54000] [--train-steps 2000]
      [--workdir DIR]
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from pipelines import results

GRADES = ['A', 'B', 'C', 'D', 'E']
KINDS = ['k{}'.format(i) for i in range(7)]
REGIONS = ['north', 'south', 'east', 'west']
PIPELINE = 'evaluator-benchmark'

CONFIG = """
heads:
  - {{name: price, type: regression, label: price}}
  - {{name: grade, type: multi_class, label: grade, label_vocabulary: {grades}}}
  - {{name: kind, type: multi_class, label: kind, label_vocabulary: {kinds}}}
model:
  features: [x1, x2, x3, x4, {{name: region, kind: categorical_vocabulary, vocabulary: {regions}}}]
  hidden_units: [32, 16]
training:
  train_steps: {steps}
  batch_size: 128
  loss_balancing: normalize
evaluation:
  engine: {engine}
  slicing: [[region]]
  thresholds:
    grade:
      - {{metric: accuracy, lower_bound: 0.3}}
"""


def write_csv(path, rows, seed=0):
  """Rows of four numeric features, a region, and three labels that depend on them."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(rows, 4))
  region = rng.integers(0, len(REGIONS), rows)
  price = 100 + 20 * x[:, 0] - 10 * x[:, 1] + 5 * region + rng.normal(scale=5, size=rows)
  grade = np.digitize(x[:, 2] + 0.5 * x[:, 0] + rng.normal(scale=0.3, size=rows),
                      [-1.0, -0.3, 0.3, 1.0])
  kind = (np.floor((x[:, 3] + 3) * 7 / 6).clip(0, 6).astype(int) + region) % 7
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['x1', 'x2', 'x3', 'x4', 'region', 'price', 'grade', 'kind'])
    for i in range(rows):
      writer.writerow(['{:.5f}'.format(v) for v in x[i]] + [
          REGIONS[region[i]], '{:.2f}'.format(price[i]), GRADES[grade[i]], KINDS[kind[i]]])


def run_pipeline(workdir, data_dir, engine, steps):
  """Runs the CLI with the given engine in a fresh output dir; {component: seconds}."""
  config_path = os.path.join(workdir, 'config-{}.yaml'.format(engine))
  with open(config_path, 'w') as f:
    f.write(CONFIG.format(grades=GRADES, kinds=KINDS, regions=REGIONS, steps=steps,
                          engine=engine))
  output_dir = os.path.join(workdir, 'out-{}'.format(engine))
  started = time.perf_counter()
  subprocess.run([sys.executable, '-m', 'pipelines', 'run', '--config', config_path,
                  '--data-dir', data_dir, '--output-dir', output_dir, '--all',
                  '--pipeline-name', PIPELINE], check=True)
  wall = time.perf_counter() - started
  run = results.latest_run(os.path.join(output_dir, 'metadata.sqlite'), PIPELINE)
  seconds = {node_id: node.seconds for node_id, node in run.nodes.items()}
  print('engine {}: pipeline {:.0f} s; {}'.format(engine, wall, ', '.join(
      '{} {:.1f} s'.format(node, s) for node, s in sorted(seconds.items()))), flush=True)
  return seconds


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--rows', type=int, default=54000)
  parser.add_argument('--train-steps', type=int, default=2000)
  parser.add_argument('--workdir', default=None, help='kept if given (default: a temp dir)')
  args = parser.parse_args(argv)
  workdir = args.workdir or tempfile.mkdtemp(prefix='pipeline-evaluator-')
  data_dir = os.path.join(workdir, 'data')
  os.makedirs(data_dir, exist_ok=True)
  write_csv(os.path.join(data_dir, 'data.csv'), args.rows)
  print('{} rows in {}; load average {:.1f}'.format(args.rows, data_dir, os.getloadavg()[0]))
  tfma = run_pipeline(workdir, data_dir, 'tfma', args.train_steps)
  batched = run_pipeline(workdir, data_dir, 'batched', args.train_steps)
  print('Evaluator step: TFMA path {:.1f} s, batched {:.1f} s: {:.1f}x shorter'.format(
      tfma['Evaluator'], batched['Evaluator'], tfma['Evaluator'] / batched['Evaluator']))
  print('batched run: Evaluator {:.1f} s, Trainer {:.1f} s; load average {:.1f}'.format(
      batched['Evaluator'], batched['Trainer'], os.getloadavg()[0]))


if __name__ == '__main__':
  main()
