"""Evaluator throughput: TFMA per-head evaluation against raw batched inference.

On the same serialized tf.Examples (default 200k) and the same SavedModel
(three heads: multi-class, masked binary with a weight column, masked
regression), it measures in one run:

  raw inference   the `head_outputs` signature alone, and with
                  `transform_features` (what TFMA calls), on batches of 1000
  TFMA            components.evaluate.run_evaluation with the heads config's
                  EvalConfig (overall + one slice), DirectRunner in_memory with
                  1 worker, then multi_processing with 2 workers

and prints examples/s, the TFMA / raw ratio and 2 workers against 1. Run:

  .venv/bin/python -m benchmarks.evaluator_throughput [--rows 200000] [--shards 4]

The data is written in shards, as ExampleGen writes it: Beam reads a TFRecord
file in one piece, so workers share the work file by file. TFMA's times are
wall times of whole Beam pipelines, start-up included.
"""

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components import body  # noqa: E402
from components import config as config_lib  # noqa: E402
from components import evaluate  # noqa: E402
from components import schema  # noqa: E402
from components import signatures  # noqa: E402

CONFIG = """
heads:
  - {name: species, type: multi_class, label: species, label_vocabulary: [a, b, c]}
  - {name: heavy, type: binary, label: heavy, weight_column: w, missing_label: mask}
  - {name: mass, type: regression, label: mass, missing_label: mask}
model:
  features: [x1, x2, x3, {name: island, kind: categorical_vocabulary, vocabulary: [p, q, r]}]
  hidden_units: [32, 16]
evaluation:
  thresholds:
    species: [{metric: accuracy, lower_bound: 0.5}]
  slicing: [[], [island]]
"""
BATCH = 1000
TRAIN_ROWS = 5000


def make_records(n, seed=0):
  """n serialized examples; 20% of heavy and 10% of mass labels are missing."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  species = np.argmax(x @ rng.normal(size=(3, 3)) + rng.normal(size=(n, 3)), axis=1)
  heavy = (x[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(np.int64)
  mass = (2 * x[:, 1] + rng.normal(scale=0.3, size=n)).astype(np.float32)
  weight = rng.uniform(0.5, 2, size=n).astype(np.float32)
  island = rng.integers(0, 3, size=n)
  heavy_known = rng.random(n) > 0.2
  mass_known = rng.random(n) > 0.1

  def floats(v):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[v]))

  def strings(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

  records = []
  for i in range(n):
    feature = {'x1': floats(x[i, 0]), 'x2': floats(x[i, 1]), 'x3': floats(x[i, 2]),
               'w': floats(weight[i]), 'island': strings(b'pqr'[island[i]:island[i] + 1]),
               'species': strings(b'abc'[species[i]:species[i] + 1])}
    if heavy_known[i]:
      feature['heavy'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[heavy[i]]))
    if mass_known[i]:
      feature['mass'] = floats(mass[i])
    records.append(tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString())
  return records


def train_and_export(config, records, export_dir, steps=200):
  """A briefly trained model of the config, exported with the TFMA signatures."""
  keras.utils.set_random_seed(0)
  parsed = tf.io.parse_example(tf.constant(records), schema.full_spec(config))
  labels = {head.name: parsed.pop(head.label) for head in config.heads}
  model = body.build_model(config)
  model(parsed)
  optimizer = keras.optimizers.Adam(0.01)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = model.head.loss(labels, model(parsed, training=True), parsed)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))

  for _ in range(steps):
    step()
  signatures.export(model, config, export_dir)


def write_shards(records, directory, shards):
  """Writes the records round-robin into `shards` TFRecord files; returns their glob pattern."""
  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, 'eval-{:05d}.tfrecord'.format(i)))
             for i in range(shards)]
  for i, record in enumerate(records):
    writers[i % shards].write(record)
  for writer in writers:
    writer.close()
  return os.path.join(directory, 'eval-*.tfrecord')


def raw_inference(model_dir, data_pattern, signature_names):
  """examples/s of calling the signatures on batches read from the TFRecord files."""
  loaded = tf.saved_model.load(model_dir)
  functions = [loaded.signatures[name] for name in signature_names]
  files = sorted(tf.io.gfile.glob(data_pattern))
  batches = tf.data.TFRecordDataset(files).batch(BATCH).prefetch(2)
  for function in functions:  # warm up
    function(examples=next(iter(batches)))
  count, started = 0, time.perf_counter()
  for batch in batches:
    for function in functions:
      function(examples=batch)
    count += int(batch.shape[0])
  return count / (time.perf_counter() - started)


def tfma_throughput(model_dir, data_pattern, output_dir, config, rows, workers):
  started = time.perf_counter()
  evaluate.run_evaluation(model_dir, data_pattern, output_dir, config,
                          pipeline_options=evaluate.direct_runner_options(workers))
  return rows / (time.perf_counter() - started)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--rows', type=int, default=200000)
  parser.add_argument('--shards', type=int, default=4, help='TFRecord files of the data')
  parser.add_argument('--workdir', default=None, help='kept if given (default: a temp dir)')
  args = parser.parse_args(argv)
  workdir = args.workdir or tempfile.mkdtemp(prefix='evaluator-throughput-')
  os.makedirs(workdir, exist_ok=True)
  config = config_lib.load_config(CONFIG)
  load_before = os.getloadavg()[0]

  started = time.perf_counter()
  records = make_records(args.rows)
  data_path = write_shards(records, os.path.join(workdir, 'data'), args.shards)
  model_dir = os.path.join(workdir, 'model')
  train_and_export(config, records[:TRAIN_ROWS], model_dir)
  del records
  print('{} examples in {} files and the model ready in {:.0f}s ({})'.format(
      args.rows, args.shards, time.perf_counter() - started, workdir))

  predict = raw_inference(model_dir, data_path, [signatures.HEAD_OUTPUTS_SIGNATURE])
  both = raw_inference(model_dir, data_path, [signatures.HEAD_OUTPUTS_SIGNATURE,
                                              signatures.TRANSFORM_FEATURES_SIGNATURE])
  print('raw inference, head_outputs:                       {:>10,.0f} examples/s'.format(
      predict))
  print('raw inference, head_outputs + transform_features:  {:>10,.0f} examples/s'.format(both))
  one = tfma_throughput(model_dir, data_path, os.path.join(workdir, 'tfma_1'), config,
                        args.rows, workers=1)
  print('TFMA, DirectRunner in_memory, 1 worker:            {:>10,.0f} examples/s'.format(one))
  two = tfma_throughput(model_dir, data_path, os.path.join(workdir, 'tfma_2'), config,
                        args.rows, workers=2)
  print('TFMA, DirectRunner multi_processing, 2 workers:    {:>10,.0f} examples/s'.format(two))
  print('ratio TFMA (1 worker) / raw inference (both signatures): {:.4f} (raw is {:.0f}x '
        'faster)'.format(one / both, both / one))
  print('ratio TFMA (1 worker) / raw inference (head_outputs):    {:.4f}'.format(one / predict))
  print('ratio 2 workers / 1 worker: {:.2f}'.format(two / one))
  print('CPUs: {}; load average (1 min) at the start: {:.1f}, at the end: {:.1f} (other '
        'processes competing for the CPUs lower the 2-worker figure most)'.format(
            os.cpu_count(), load_before, os.getloadavg()[0]))
  if not args.workdir:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
  main()
